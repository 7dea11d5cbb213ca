package io.mambaflink.operators.cache;

import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.function.Consumer;

/** A least-recently-used {@link StateCache} over slots {@code 0 .. capacity-1}. */
public final class LruStateCache implements StateCache {
    /** Cached streams in access order, least recently used first. */
    private final LinkedHashMap<Object, CachedStream> streams;
    /** Slots not in use. */
    private final ArrayDeque<Integer> free;
    private final int capacity;

    public LruStateCache(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("cache capacity must be > 0, found " + capacity);
        }
        this.capacity = capacity;
        this.streams = new LinkedHashMap<>(Math.min(capacity, 1 << 16), 0.75f, true);
        this.free = new ArrayDeque<>(capacity);
        for (int s = 0; s < capacity; s++) {
            free.add(s);
        }
    }

    @Override
    public CachedStream get(Object key) {
        CachedStream s = streams.get(key);
        if (s != null) {
            s.pinned = true;
        }
        return s;
    }

    @Override
    public CachedStream add(Object key, Consumer<CachedStream> writeBack) {
        if (streams.containsKey(key)) {
            throw new IllegalStateException("key " + key + " is already cached");
        }
        if (free.isEmpty()) {
            evictOne(writeBack);
        }
        CachedStream s = new CachedStream(key, free.pop());
        s.pinned = true;
        streams.put(key, s);
        return s;
    }

    private void evictOne(Consumer<CachedStream> writeBack) {
        Iterator<CachedStream> it = streams.values().iterator();
        while (it.hasNext()) {
            CachedStream victim = it.next();
            if (!victim.pinned) {
                writeBack.accept(victim);
                it.remove();
                free.push(victim.slot);
                return;
            }
        }
        throw new IllegalStateException("all " + capacity + " cached streams are in use by this flush; "
                + "the cache must hold at least as many streams as one flush has keys");
    }

    @Override
    public CachedStream remove(Object key) {
        CachedStream s = streams.remove(key);
        if (s != null) {
            free.push(s.slot);
        }
        return s;
    }

    @Override
    public Collection<CachedStream> streams() {
        return streams.values();
    }

    @Override
    public int size() {
        return streams.size();
    }

    @Override
    public int capacity() {
        return capacity;
    }
}
