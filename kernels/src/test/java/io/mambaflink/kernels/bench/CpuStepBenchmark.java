package io.mambaflink.kernels.bench;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.RandomModel;
import io.mambaflink.kernels.engine.CpuStepEngine;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * CPU engine throughput: one invocation advances {@code batch} streams by one event. JMH reports time per invocation
 * (= per batch step); stream-steps/s = batch / that time. Run (see README):
 * <pre>
 * mvn -B -q -pl kernels test-compile exec:exec -Dexec.classpathScope=test -Dexec.executable=java \
 *   -Dexec.args="-cp %classpath org.openjdk.jmh.Main CpuStepBenchmark"
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgs = {"-Xmx6g", "-XX:+UseParallelGC"})
public class CpuStepBenchmark {

    /**
     * telemetry: the mamba1-telemetry-tiny fixture; mamba1-130m: d_model 768, 24 layers, d_state 16, vocab 50280;
     * speech (not in the default set, {@code -p model=speech}): the mamba2-speech-tiny fixture (d_model 64, 2 layers,
     * 4 heads x 32, d_state 16).
     */
    @Param({"telemetry", "mamba1-130m"})
    public String model;

    @Param({"1", "64"})
    public int batch;

    @Param({"2"})
    public int threads;

    private StepEngine engine;
    private StepBatch stepBatch;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        MambaModel m = switch (model) {
            case "telemetry" -> Fixtures.model("mamba1-telemetry-tiny");
            case "mamba1-130m" -> RandomModel.create(RandomModel.mamba1Lm(768, 24, 16, 50280), 1);
            case "speech" -> Fixtures.model("mamba2-speech-tiny");
            default -> throw new IllegalArgumentException(model);
        };
        engine = new CpuStepEngine(m, EngineOptions.cpu(batch, batch, threads));
        stepBatch = engine.newBatch();
        SplittableRandom rnd = new SplittableRandom(3);
        for (int s = 0; s < batch; s++) {
            if (stepBatch.tokenInput()) {
                stepBatch.addToken(s, rnd.nextInt(m.config().vocabSize()));
            } else {
                float[] x = new float[m.config().io().inputDim()];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                stepBatch.addFeatures(s, x, 0);
            }
        }
    }

    @Benchmark
    public float step() {
        engine.step(stepBatch);
        return stepBatch.outputs()[0];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        engine.close();
    }
}
