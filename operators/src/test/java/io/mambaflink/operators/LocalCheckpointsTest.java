package io.mambaflink.operators;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalCheckpointsTest {
    @TempDir
    Path tmp;

    @Test
    void deletesTheWholeTree() throws Exception {
        Path dir = tmp.resolve("checkpoints");
        Files.createDirectories(dir.resolve("job/chk-1"));
        Files.createDirectories(dir.resolve("job/shared"));
        Files.writeString(dir.resolve("job/chk-1/_metadata"), "m");
        Files.writeString(dir.resolve("job/shared/0001.sst"), "s");

        assertThat(LocalCheckpoints.delete(dir)).isTrue();
        assertThat(dir).doesNotExist();
    }

    @Test
    void whatFlinkRemovedAlreadyCountsAsDeleted() {
        assertThat(LocalCheckpoints.delete(tmp.resolve("removed-by-flink"))).isTrue();
    }
}
