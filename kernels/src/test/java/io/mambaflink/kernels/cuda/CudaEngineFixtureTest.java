package io.mambaflink.kernels.cuda;

import static io.mambaflink.kernels.cuda.CudaTestSupport.assumeCuda;
import static org.assertj.core.api.Assertions.assertThat;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.golden.GoldenVerifier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The CUDA engine, stepped one event at a time, reproduces every fixture at every [stream, position] within 1e-4
 * (the figure of {@code verify --backend cuda}), with states resident on the GPU and with states on the host, on every
 * device of the machine.
 */
class CudaEngineFixtureTest {

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void reproducesFixtureStepByStep(String name) {
        assumeCuda();
        MambaModel model = Fixtures.model(name);
        GoldenFile golden = GoldenFile.read(Fixtures.golden(name));
        // every device this machine has (device 0 with both state modes; the others resident): each holds its own
        // copy of the weights and its own kernels
        for (int device = 0; device < CudaSupport.deviceCount(); device++) {
            for (EngineOptions.StateMode mode : EngineOptions.StateMode.values()) {
                if (device > 0 && mode == EngineOptions.StateMode.HOST) {
                    continue;
                }
                EngineOptions o = new EngineOptions(Backend.CUDA, golden.b(), golden.b(), 1, mode, device);
                try (StepEngine engine = Engines.create(model, o)) {
                    assertThat(engine.backend()).isEqualTo("cuda");
                    assertThat(((CudaStepEngine) engine).device().ordinal()).isEqualTo(device);
                    GoldenVerifier.Result r = GoldenVerifier.run(engine, golden);
                    System.out.printf("%s cuda device %d %s %s: max|out-ref|/max|ref| = %.3e (max|ref| %.3f, worst at [%d, %d])%n", name,
                            device, mode, r.tensor(), r.error(), r.maxAbsRef(), r.worstRow(), r.worstPos());
                    assertThat(r.error()).isLessThanOrEqualTo(1e-4);
                }
            }
        }
    }
}
