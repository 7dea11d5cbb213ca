package io.mambaflink.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.flink.api.common.externalresource.ExternalResourceInfo;
import org.junit.jupiter.api.Test;

class GpuAssignmentTest {

    @Test
    void configuredDeviceWinsAndMustExist() {
        assertThat(GpuAssignment.pick(1, List.of(0, 3), 5, 4)).isEqualTo(1);
        assertThatThrownBy(() -> GpuAssignment.pick(4, List.of(), 0, 4))
                .hasMessage("mamba.cuda.device = 4, but this TaskManager sees 4 CUDA device(s)");
    }

    @Test
    void flinkAssignedGpusAreSharedOutBySubtaskInIndexOrder() {
        List<Integer> assigned = List.of(3, 1);
        assertThat(GpuAssignment.pick(-1, assigned, 0, 4)).isEqualTo(1);
        assertThat(GpuAssignment.pick(-1, assigned, 1, 4)).isEqualTo(3);
        assertThat(GpuAssignment.pick(-1, assigned, 2, 4)).isEqualTo(1);
        assertThatThrownBy(() -> GpuAssignment.pick(-1, List.of(2), 0, 1)).hasMessageContaining("Flink assigned GPU 2")
                .hasMessageContaining("CUDA_VISIBLE_DEVICES");
    }

    @Test
    void withoutAssignmentSubtasksGoRoundTheVisibleDevices() {
        assertThat(GpuAssignment.pick(-1, List.of(), 0, 2)).isZero();
        assertThat(GpuAssignment.pick(-1, List.of(), 5, 2)).isEqualTo(1);
        assertThat(GpuAssignment.pick(-1, List.of(), 7, 1)).isZero();
    }

    @Test
    void readsTheIndexPropertyOfFlinksGpuInfos() {
        Collection<ExternalResourceInfo> infos = Set.of(gpu("2"), gpu(" 0 "));
        assertThat(GpuAssignment.indexes(infos)).containsExactlyInAnyOrder(2, 0);
        assertThatThrownBy(() -> GpuAssignment.indexes(Set.of(gpu("x")))).hasMessageContaining("non-numeric index 'x'");
    }

    /** What Flink's GPU driver hands a task: an info with its "index" property. */
    private static ExternalResourceInfo gpu(String index) {
        return new ExternalResourceInfo() {
            @Override
            public Optional<String> getProperty(String key) {
                return "index".equals(key) ? Optional.of(index) : Optional.empty();
            }

            @Override
            public Collection<String> getKeys() {
                return Set.of("index");
            }
        };
    }
}
