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
 * (the figure of {@code verify --backend cuda}), with states resident on the GPU and with states on the host.
 */
class CudaEngineFixtureTest {

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void reproducesFixtureStepByStep(String name) {
        assumeCuda();
        MambaModel model = Fixtures.model(name);
        GoldenFile golden = GoldenFile.read(Fixtures.golden(name));
        for (EngineOptions.StateMode mode : EngineOptions.StateMode.values()) {
            EngineOptions o = new EngineOptions(Backend.CUDA, golden.b(), golden.b(), 1, mode, 0);
            try (StepEngine engine = Engines.create(model, o)) {
                assertThat(engine.backend()).isEqualTo("cuda");
                GoldenVerifier.Result r = GoldenVerifier.run(engine, golden);
                System.out.printf("%s cuda %s %s: max|out-ref|/max|ref| = %.3e (max|ref| %.3f, worst at [%d, %d])%n", name, mode,
                        r.tensor(), r.error(), r.maxAbsRef(), r.worstRow(), r.worstPos());
                assertThat(r.error()).isLessThanOrEqualTo(1e-4);
            }
        }
    }
}
