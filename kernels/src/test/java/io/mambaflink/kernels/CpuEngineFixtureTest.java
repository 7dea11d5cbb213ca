package io.mambaflink.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import io.mambaflink.kernels.engine.CpuStepEngine;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.golden.GoldenVerifier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The CPU engine, stepped one event at a time, reproduces every fixture at every [stream, position]. */
class CpuEngineFixtureTest {

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void reproducesFixtureStepByStep(String name) {
        MambaModel model = Fixtures.model(name);
        GoldenFile golden = GoldenFile.read(Fixtures.golden(name));
        for (int threads : new int[] {1, 2}) {
            try (CpuStepEngine engine = new CpuStepEngine(model, EngineOptions.cpu(golden.b(), golden.b(), threads))) {
                GoldenVerifier.Result r = GoldenVerifier.run(engine, golden);
                System.out.printf("%s cpu threads=%d %s: max|out-ref|/max|ref| = %.3e (max|ref| %.3f, worst at [%d, %d])%n",
                        name, threads, r.tensor(), r.error(), r.maxAbsRef(), r.worstRow(), r.worstPos());
                assertThat(r.error()).isLessThanOrEqualTo(1e-4);
            }
        }
    }
}
