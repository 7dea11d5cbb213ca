package io.mambaflink.operators.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LruStateCacheTest {

    @Test
    void evictsTheLeastRecentlyUsedUnpinnedStreamThroughWriteBack() {
        LruStateCache cache = new LruStateCache(2);
        List<Object> written = new ArrayList<>();
        CachedStream a = cache.add("a", s -> written.add(s.key()));
        CachedStream b = cache.add("b", s -> written.add(s.key()));
        assertThat(a.slot()).isNotEqualTo(b.slot());
        a.unpin();
        b.unpin();
        cache.get("a").unpin(); // a is now the most recently used

        CachedStream c = cache.add("c", s -> written.add(s.key()));
        assertThat(written).containsExactly("b");
        assertThat(c.slot()).isEqualTo(b.slot());
        assertThat(cache.get("b")).isNull();
        assertThat(cache.size()).isEqualTo(2);
    }

    @Test
    void neverEvictsAPinnedStream() {
        LruStateCache cache = new LruStateCache(2);
        cache.add("a", s -> {});
        CachedStream b = cache.add("b", s -> {});
        b.unpin();
        List<Object> written = new ArrayList<>();
        cache.add("c", s -> written.add(s.key()));
        assertThat(written).containsExactly("b");
        assertThatThrownBy(() -> cache.add("d", s -> {}))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("all 2 cached streams are in use");
    }

    @Test
    void removeFreesTheSlotWithoutWriteBack() {
        LruStateCache cache = new LruStateCache(1);
        CachedStream a = cache.add("a", s -> {});
        assertThat(cache.remove("a")).isSameAs(a);
        List<Object> written = new ArrayList<>();
        CachedStream b = cache.add("b", s -> written.add(s.key()));
        assertThat(b.slot()).isEqualTo(a.slot());
        assertThat(written).isEmpty();
        assertThat(cache.remove("zzz")).isNull();
    }
}
