package io.mambaflink.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.RandomModel;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineCapacityException;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepEngine;
import org.junit.jupiter.api.Test;

/** Backend auto picks CUDA exactly when a device is present; backend cuda without one fails and says why. Runs anywhere. */
class CudaBackendChoiceTest {
    private final MambaModel model = RandomModel.create(RandomModel.mamba1Lm(16, 1, 4, 10), 1);

    @Test
    void autoPicksCudaOnlyWithADevice() {
        EngineOptions o = new EngineOptions(Backend.AUTO, 2, 2, 1, EngineOptions.StateMode.RESIDENT, 0);
        try (StepEngine e = Engines.create(model, o)) {
            assertThat(e.backend()).isEqualTo(CudaSupport.available() ? "cuda" : "cpu");
        }
        assertThat(Engines.cudaAvailable()).isEqualTo(CudaSupport.available());
    }

    @Test
    void cudaWithoutADeviceFailsClearly() {
        EngineOptions o = new EngineOptions(Backend.CUDA, 2, 2, 1, EngineOptions.StateMode.RESIDENT, 0);
        if (CudaSupport.available()) {
            try (StepEngine e = Engines.create(model, o)) {
                assertThat(e.backend()).isEqualTo("cuda");
            }
        } else {
            assertThat(CudaSupport.unavailableReason()).isNotBlank();
            assertThatThrownBy(() -> Engines.create(model, o)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("backend cuda: ");
        }
    }

    @Test
    void missingDeviceOrdinalIsNamed() {
        if (!CudaSupport.available()) {
            return;
        }
        EngineOptions o = new EngineOptions(Backend.CUDA, 2, 2, 1, EngineOptions.StateMode.RESIDENT, 99);
        assertThatThrownBy(() -> Engines.create(model, o)).hasMessageContaining("CUDA device 99 does not exist");
    }

    @Test
    void slotPoolLargerThanTheDeviceFailsWithItsSizeAndIsPermanent() {
        assumeTrue(CudaSupport.available(), CudaSupport::unavailableReason);
        // 32 x 16,384 floats = 2 MB of state a stream, 50,000 streams = 100 GB: more than any device this runs on
        MambaModel big = RandomModel.create(RandomModel.mamba1Lm(16, 1, 16384, 10), 1);
        EngineOptions o = new EngineOptions(Backend.CUDA, 50_000, 2, 1, EngineOptions.StateMode.RESIDENT, 0);
        assertThatThrownBy(() -> Engines.create(big, o)).isInstanceOf(EngineCapacityException.class)
                .hasMessageStartingWith("backend cuda: resident slot pool of 50000 states x " + 4L * big.layout().size() + " bytes")
                .hasMessageContaining("MB free of ")
                .satisfies(e -> assertThat(((EngineCapacityException) e).permanent()).isTrue());
    }

    @Test
    void statesThatFitOnlyWithoutTheWeightsAndBatchBuffersFailBeforeAllocatingAndArePermanent() {
        assumeTrue(CudaSupport.available(), CudaSupport::unavailableReason);
        // states 1 MB short of the device's total memory; the weights (4 MB, and as much again in bf16 splits) and the
        // batch buffers of maxBatch 4096 (64 MB of logits alone) cannot fit beside them on any device
        MambaModel m = RandomModel.create(RandomModel.mamba1Lm(256, 1, 16, 4096), 1);
        long stateBytes = 4L * m.layout().size();
        long total = CudaDevice.get(0).memInfo()[1];
        int capacity = (int) ((total - (1 << 20)) / stateBytes);
        EngineOptions o = new EngineOptions(Backend.CUDA, capacity, 4096, 1, EngineOptions.StateMode.RESIDENT, 0);
        assertThatThrownBy(() -> Engines.create(m, o)).isInstanceOf(EngineCapacityException.class)
                .hasMessageStartingWith("backend cuda: resident slot pool of " + capacity + " states x " + stateBytes + " bytes")
                .hasMessageContaining(" MB of weights to upload and ")
                .hasMessageContaining(" MB of batch buffers for maxBatch 4096 (")
                .satisfies(e -> assertThat(((EngineCapacityException) e).permanent()).isTrue());
        // nothing was left allocated: an engine of the same model with a small pool still starts
        try (StepEngine e = Engines.create(m, new EngineOptions(Backend.CUDA, 8, 8, 1, EngineOptions.StateMode.RESIDENT, 0))) {
            assertThat(e.backend()).isEqualTo("cuda");
        }
    }
}
