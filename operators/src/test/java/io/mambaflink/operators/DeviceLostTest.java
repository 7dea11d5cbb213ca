package io.mambaflink.operators;

import static io.mambaflink.operators.TestStreams.TELEMETRY;
import static io.mambaflink.operators.TestStreams.config;
import static io.mambaflink.operators.TestStreams.fixture;
import static io.mambaflink.operators.TestStreams.golden;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.cuda.CudaDeviceLostException;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.ForwardingStepEngine;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.golden.GoldenFile;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.legacy.DiscardingSink;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.Test;

/**
 * A CUDA device lost to the process (CudaDeviceLostException: a kernel fault, after which the driver refuses the process
 * every context; kernels' CudaDeviceLostTest shows it on the H100) ends the TaskManager, not just the task: a restart in
 * the same JVM would meet the same dead device. Here an engine throws the exception the CUDA engine throws then, on a
 * machine without a GPU.
 */
class DeviceLostTest {
    static final String INJECTED = "cuGraphLaunch(bucket 4): CUDA_ERROR_LAUNCH_FAILED (injected by the test)";

    /** The operator whose engine loses its device at step {@code lostAt} (0: already at its start). */
    static final class LostDeviceOperator extends MambaStreamOperator {
        private final int lostAt;

        LostDeviceOperator(MambaOperatorConfig config, int lostAt) {
            super(config);
            this.lostAt = lostAt;
        }

        @Override
        protected StepEngine createEngine(MambaModel model, EngineOptions options) {
            if (lostAt == 0) {
                throw new CudaDeviceLostException("CUDA device 0 is lost to this process after a fault (CUDA_ERROR_LAUNCH_FAILED,"
                        + " injected by the test)");
            }
            return new ForwardingStepEngine(super.createEngine(model, options)) {
                private int steps;

                @Override
                public void step(StepBatch batch) {
                    if (++steps == lostAt) {
                        System.out.println("device lost injected at step " + steps);
                        throw new CudaDeviceLostException(INJECTED);
                    }
                    super.step(batch);
                }
            };
        }
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, StreamEvent, StreamResult> harness(int lostAt) throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new LostDeviceOperator(config(fixture(TELEMETRY), 2, Duration.ofHours(1), 8),
                lostAt), MambaInference::keyOf, Types.STRING);
        h.setStateBackend(new EmbeddedRocksDBStateBackend(true));
        return h;
    }

    @Test
    void aDeviceLostInAStepIsAnErrorFlinkTreatsAsFatalToTheJvm() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        try (var h = harness(3)) {
            h.open();
            Throwable thrown = null;
            try {
                for (int t = 0; t < 4; t++) {
                    for (int b = 0; b < 2; b++) {
                        h.processElement(new StreamRecord<>(TestStreams.event(g, b, t)));
                    }
                }
            } catch (Throwable e) {
                thrown = e;
            }
            assertThat(thrown).isInstanceOf(CudaDeviceLostError.class).hasMessageContaining(INJECTED)
                    .hasCauseInstanceOf(CudaDeviceLostException.class);
            assertThat(ExceptionUtils.isJvmFatalError(thrown)).as("Flink's test for errors that end the JVM").isTrue();
            assertThat(h.extractOutputValues()).hasSize(4); // the two steps before it, two rows each
        } catch (CudaDeviceLostError e) {
            // the harness's close flushes through the lost engine again
        }
    }

    @Test
    void aDeviceLostAtTheEnginesStartIsFatalToo() throws Exception {
        var h = harness(0);
        assertThatThrownBy(h::open).isInstanceOf(CudaDeviceLostError.class).hasMessageContaining("injected by the test")
                .satisfies(e -> assertThat(ExceptionUtils.isJvmFatalError(e)).isTrue());
    }

    /**
     * The whole chain on a real (local) cluster, in a JVM of its own: Flink's Task meets the error and halts the JVM
     * (exit status 255) instead of restarting the task in it. Were it an ordinary failure, the job would restart twice and
     * then fail, and the child would print "job ended" and exit 3.
     */
    @Test
    void onAClusterTheTaskManagersJvmExits() throws Exception {
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        Process p = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"), LostDeviceJob.class.getName())
                .redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread reader = new Thread(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (java.io.IOException e) {
                // the process ended
            }
        });
        reader.start();
        boolean ended = p.waitFor(180, TimeUnit.SECONDS);
        if (!ended) {
            p.destroyForcibly();
        }
        reader.join(10_000);
        String log = out.toString(StandardCharsets.UTF_8);
        assertThat(ended).as("child ended within 180 s; its output:%n%s", log).isTrue();
        assertThat(log).contains("device lost injected at step 3").doesNotContain("job ended");
        assertThat(p.exitValue()).as("exit status; output:%n%s", log).isEqualTo(255);
    }

    /** The child of {@link #onAClusterTheTaskManagersJvmExits}: a local cluster job whose engine loses its device. */
    public static final class LostDeviceJob {
        public static void main(String[] args) throws Exception {
            Configuration conf = new Configuration();
            conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 2);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.setParallelism(1);
            GoldenFile g = golden(TELEMETRY);
            List<StreamEvent> events = new java.util.ArrayList<>();
            for (int t = 0; t < g.t(); t++) {
                for (int b = 0; b < g.b(); b++) {
                    events.add(TestStreams.event(g, b, t));
                }
            }
            env.fromData(TypeInformation.of(StreamEvent.class), events.toArray(new StreamEvent[0]))
                    .keyBy(MambaInference::keyOf)
                    .transform("mamba", TypeInformation.of(StreamResult.class),
                            new LostDeviceOperator(config(fixture(TELEMETRY), 2, Duration.ofMillis(10), 8), 3))
                    .addSink(new DiscardingSink<>());
            try {
                env.execute("device lost");
                System.out.println("job ended: finished");
            } catch (Exception e) {
                System.out.println("job ended: " + e);
            }
            System.exit(3);
        }
    }
}
