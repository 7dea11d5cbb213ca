package io.mambaflink.operators;

import static io.mambaflink.operators.TestStreams.relErr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.cuda.CudaSupport;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once state across a failure and across a savepoint rescale, on a MiniCluster with RocksDB. With the CPU
 * engine (the default, CI) the results equal the engine driven directly bit for bit. {@code
 * -Dmambaflink.test.itcase-backend=CUDA} runs the same jobs on the CUDA engine (kernels/gpu/run.sh itests: two and
 * three subtasks' engines on one GPU, a restart and a rescale); results then agree with the CPU reference within 1e-4
 * (max |diff| / max |ref| per output, verify's figure), and a result replayed after the restart within the same, since
 * a replay may step in another batch composition (another bucket's kernels).
 */
class MambaOperatorITCase {
    static final Backend BACKEND = Backend.valueOf(System.getProperty("mambaflink.test.itcase-backend", "CPU"));
    /** 0 on the CPU engine: bit for bit. */
    static final double TOLERANCE = BACKEND == Backend.CPU ? 0 : 1e-4;

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(4).build());

    private static final int KEYS = 12;
    private static final int STEPS = 80;
    private static final int EVENTS = KEYS * STEPS;

    /** Results per test run, written by {@link CollectSink}. */
    static final Map<String, ConcurrentLinkedQueue<StreamResult>> RESULTS = new ConcurrentHashMap<>();
    static final AtomicBoolean FAILED_ONCE = new AtomicBoolean();

    @TempDir
    Path tmp;

    /** Event i: key i % KEYS at step i / KEYS, with features that are a fixed function of both. */
    static StreamEvent event(long i) {
        int k = (int) (i % KEYS);
        int t = (int) (i / KEYS);
        float[] f = new float[6];
        for (int j = 0; j < f.length; j++) {
            f[j] = (float) Math.sin(0.37 * t + 1.3 * k + 0.7 * j);
        }
        return StreamEvent.features("k" + k, t, f);
    }

    /** (KEYS, STEPS) outputs of the engine driven directly. */
    static float[][][] reference() {
        MambaModel m = Fixtures.model(TestStreams.TELEMETRY);
        float[][][] out = new float[KEYS][STEPS][];
        try (StepEngine e = Engines.create(m, EngineOptions.cpu(KEYS, KEYS, 1))) {
            StepBatch b = e.newBatch();
            for (int k = 0; k < KEYS; k++) {
                e.reset(k);
            }
            for (int t = 0; t < STEPS; t++) {
                b.clear();
                for (int k = 0; k < KEYS; k++) {
                    b.addFeatures(k, event((long) t * KEYS + k).features, 0);
                }
                e.step(b);
                for (int k = 0; k < KEYS; k++) {
                    out[k][t] = java.util.Arrays.copyOfRange(b.outputs(), b.outputOffset(k), b.outputOffset(k) + b.outputDim());
                }
            }
        }
        return out;
    }

    private StreamExecutionEnvironment env(int parallelism, String restorePath) {
        Configuration conf = new Configuration();
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, tmp.resolve("checkpoints").toUri().toString());
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(200));
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        if (restorePath != null) {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, restorePath);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        env.setMaxParallelism(128);
        return env;
    }

    /** Source (parallelism 1, so each key's events keep their order) → operator → optional failing map → sink. */
    private static void pipeline(StreamExecutionEnvironment env, double eventsPerSecond, boolean failOnce, String run) {
        DataGeneratorSource<StreamEvent> source = new DataGeneratorSource<>(MambaOperatorITCase::event, EVENTS,
                RateLimiterStrategy.perSecond(eventsPerSecond), TypeInformation.of(StreamEvent.class));
        DataStream<StreamEvent> events = env.fromSource(source, WatermarkStrategy.noWatermarks(), "events")
                .setParallelism(1).uid("events");
        SingleOutputStreamOperator<StreamResult> results = MambaInference.builder()
                .setModel(TestStreams.fixture(TestStreams.TELEMETRY))
                .setBackend(BACKEND) // the reference is the CPU engine, compared bit for bit on the CPU
                .setMaxBatchSize(8)
                .setMaxBatchDelay(Duration.ofMillis(20))
                .setCacheMaxStates(8) // fewer than the keys: evictions and reloads under checkpoints
                .build()
                .apply(events);
        DataStream<StreamResult> out = failOnce ? results.map(new FailOnce()).uid("fail-once") : results;
        out.sinkTo(new CollectSink(run)).uid("sink");
    }

    /** Throws once, after some results and a completed checkpoint, so the restart restores real state. */
    static final class FailOnce implements MapFunction<StreamResult, StreamResult>, CheckpointListener {
        private boolean checkpointed;
        private int seen;

        @Override
        public StreamResult map(StreamResult r) {
            if (++seen > EVENTS / 8 && checkpointed && !FAILED_ONCE.getAndSet(true)) {
                throw new RuntimeException("test failure after " + seen + " results");
            }
            return r;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            checkpointed = true;
        }
    }

    /** At-least-once into a static queue: replays after a restart show up as duplicates, checked by the tests. */
    static final class CollectSink implements Sink<StreamResult> {
        private final String run;

        CollectSink(String run) {
            this.run = run;
        }

        @Override
        public SinkWriter<StreamResult> createWriter(WriterInitContext context) {
            ConcurrentLinkedQueue<StreamResult> q = RESULTS.computeIfAbsent(run, r -> new ConcurrentLinkedQueue<>());
            return new SinkWriter<>() {
                @Override
                public void write(StreamResult r, Context c) {
                    q.add(r);
                }

                @Override
                public void flush(boolean endOfInput) {}

                @Override
                public void close() {}
            };
        }
    }

    /** Per key, position → output; a position seen twice (a replay) must carry the same result. */
    private static Map<String, TreeMap<Long, StreamResult>> dedup(Iterable<StreamResult> results) {
        Map<String, TreeMap<Long, StreamResult>> byKey = new HashMap<>();
        for (StreamResult r : results) {
            StreamResult prev = byKey.computeIfAbsent(r.key, k -> new TreeMap<>()).putIfAbsent(r.position, r);
            if (prev != null) {
                if (TOLERANCE == 0) {
                    assertThat(r).as("replayed result of %s at %d", r.key, r.position).isEqualTo(prev);
                } else {
                    assertThat(relErr(r.output, prev.output)).as("replayed result of %s at %d", r.key, r.position)
                            .isLessThanOrEqualTo(TOLERANCE);
                }
            }
        }
        return byKey;
    }

    private static void assertEqualsReference(Map<String, TreeMap<Long, StreamResult>> byKey) {
        float[][][] ref = reference();
        double worst = 0;
        assertThat(byKey).hasSize(KEYS);
        for (int k = 0; k < KEYS; k++) {
            TreeMap<Long, StreamResult> rs = byKey.get("k" + k);
            assertThat(rs.keySet()).as("positions of k%d", k).hasSize(STEPS).first().isEqualTo(1L);
            assertThat(rs.lastKey()).isEqualTo(STEPS);
            for (StreamResult r : rs.values()) {
                int t = (int) r.position - 1;
                assertThat(r.ts).isEqualTo(t);
                if (TOLERANCE == 0) {
                    assertThat(r.output).as("k%d position %d", k, r.position).isEqualTo(ref[k][t]);
                    assertThat(r.previousOutput).isEqualTo(t == 0 ? null : ref[k][t - 1]);
                } else {
                    double err = relErr(r.output, ref[k][t]);
                    worst = Math.max(worst, err);
                    assertThat(err).as("k%d position %d", k, r.position).isLessThanOrEqualTo(TOLERANCE);
                    assertThat(r.previousOutput == null).isEqualTo(t == 0);
                    if (t > 0) {
                        assertThat(relErr(r.previousOutput, ref[k][t - 1])).isLessThanOrEqualTo(TOLERANCE);
                    }
                }
            }
        }
        if (TOLERANCE > 0) {
            System.out.printf("%s engine: largest difference from the CPU reference %.2e%n", BACKEND, worst);
        }
    }

    @BeforeEach
    void gpu() {
        if (BACKEND == Backend.CUDA) {
            assumeTrue(CudaSupport.available(), CudaSupport::unavailableReason);
        }
    }

    @Test
    void failureMidStreamGivesTheOutputsOfAFailureFreeRun() throws Exception {
        FAILED_ONCE.set(false);
        StreamExecutionEnvironment env = env(2, null);
        pipeline(env, 400, true, "failover");
        env.execute("failover");

        assertThat(FAILED_ONCE).isTrue();
        assertEqualsReference(dedup(RESULTS.get("failover")));
    }

    @Test
    void savepointAtParallelismTwoRestoredAtThreeContinuesEveryKey() throws Exception {
        StreamExecutionEnvironment env2 = env(2, null);
        pipeline(env2, 300, false, "before");
        JobClient job = env2.executeAsync("before rescale");
        ConcurrentLinkedQueue<StreamResult> before = RESULTS.computeIfAbsent("before", r -> new ConcurrentLinkedQueue<>());
        while (before.size() < EVENTS / 3) {
            Thread.sleep(20);
        }
        String savepoint = job.stopWithSavepoint(false, tmp.resolve("savepoints").toUri().toString(),
                SavepointFormatType.CANONICAL).get();
        job.getJobExecutionResult().get();

        StreamExecutionEnvironment env3 = env(3, savepoint);
        pipeline(env3, 2000, false, "after");
        env3.execute("after rescale");

        Map<String, TreeMap<Long, StreamResult>> first = dedup(RESULTS.get("before"));
        Map<String, TreeMap<Long, StreamResult>> second = dedup(RESULTS.get("after"));
        assertThat(first.values().stream().mapToInt(Map::size).sum()).isLessThan(EVENTS);
        for (var e : second.entrySet()) {
            TreeMap<Long, StreamResult> done = first.get(e.getKey());
            long continuesAt = done == null ? 1 : done.lastKey() + 1;
            assertThat(e.getValue().firstKey()).as("first position of %s after the rescale", e.getKey()).isEqualTo(continuesAt);
        }
        List<StreamResult> all = new ArrayList<>(RESULTS.get("before"));
        all.addAll(RESULTS.get("after"));
        assertEqualsReference(dedup(all));
    }

    @Test
    void cacheThatCannotFitFailsTheJobWithoutRestarts() {
        long stateBytes = 4L * Fixtures.model(TestStreams.TELEMETRY).layout().size();
        int cache = (int) (Runtime.getRuntime().maxMemory() / stateBytes + 1);
        StreamExecutionEnvironment env = env(1, null);
        DataStream<StreamEvent> events = env.fromSource(new DataGeneratorSource<>(MambaOperatorITCase::event, EVENTS,
                RateLimiterStrategy.perSecond(1000), TypeInformation.of(StreamEvent.class)), WatermarkStrategy.noWatermarks(), "events");
        MambaInference.builder().setModel(TestStreams.fixture(TestStreams.TELEMETRY)).setBackend(Backend.CPU)
                .setCacheMaxStates(cache).build().apply(events).sinkTo(new CollectSink("too-large"));

        // the restart strategy allows 3 restarts: a recoverable failure would end "Recovery is suppressed by ..."
        assertThatThrownBy(() -> env.execute("cache too large"))
                .satisfies(e -> assertThat(ExceptionUtils.findThrowable(e, CacheCapacityException.class)).isPresent())
                .satisfies(e -> assertThat(ExceptionUtils.findThrowableWithMessage(e, "The failure is not recoverable")).isPresent());
        assertThat(RESULTS.getOrDefault("too-large", new ConcurrentLinkedQueue<>())).isEmpty();
    }
}
