package io.mambaflink.operators.bench;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.RandomModel;
import io.mambaflink.kernels.StreamIo;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.state.StreamState;
import io.mambaflink.operators.LocalCheckpoints;
import io.mambaflink.operators.MambaInference;
import io.mambaflink.operators.MambaOptions;
import io.mambaflink.operators.ModelSource;
import io.mambaflink.operators.StoredState;
import io.mambaflink.operators.StreamEvent;
import io.mambaflink.operators.StreamResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Throughput and latency of the Mamba operator on a local MiniCluster with RocksDB and checkpoints, beside a keyed
 * no-op operator that reads and writes a state of the same size (the ceiling); and the per-event cost at stream
 * position 10 and 100,000 beside recomputing the whole history. Not a test: prints markdown tables.
 *
 * <pre>
 * mvn -B -o -q -pl operators exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.mambaflink.operators.bench.OperatorBenchmark -Dexec.args="SCENARIO..."
 * SCENARIO = model:keys:eventsPerKey[:cacheStates][@engine], model = telemetry | 100kb | m1-768, engine = cpuN (the
 *     CPU engine with N threads) | cuda (default: the operator's own, auto, one CPU thread); "o1" for the position
 *     table on the engine path; "o1flink:model:keys:eventsPerKey" for positions ~10 against the last 1,000 on the MiniCluster
 * SCENARIO may also be a setting for the scenarios after it: maxBatch=256, checkpointMs=5000, ceiling=true (false: no
 *     no-op run), parallelism=1 (the operator's subtasks), flink:KEY=VALUE (a Flink option, e.g.
 *     flink:state.backend.rocksdb.writebuffer.size=256mb); -Dbench.maxBatch, -Dbench.checkpointMs, -Dbench.skipCeiling
 *     set them for all
 * </pre>
 *
 * <p>Keys are visited round-robin, so with more keys than the cache holds every event misses the cache: each one pays
 * a RocksDB get, and the eviction a put, like the ceiling operator. Latency is source-to-sink at saturation (the source
 * is not throttled), so it includes queueing in Flink's network buffers.
 */
public final class OperatorBenchmark {
    static final int FEATURES = 6;
    /** Subtasks of the Mamba operator (the source and the sink stay at 1); all share one GPU under CUDA. */
    static int parallelism = 1;
    static int maxBatch = Integer.getInteger("bench.maxBatch", 256);
    static final int CACHE = 4096;
    static long checkpointMs = Long.getLong("bench.checkpointMs", 5000);
    static boolean ceilingRuns = System.getProperty("bench.skipCeiling") == null;
    /** Flink options for the scenarios after a "flink:key=value" setting, over the benchmark's own. */
    static final Map<String, String> FLINK_CONF = new LinkedHashMap<>();

    /** Sink-side latency samples (ns), one per result; the sink runs at parallelism 1. */
    static long[] latencies = new long[0];
    /** Arrival time (ns) and stream position of each result, beside {@link #latencies}. */
    static long[] arrivals = new long[0];
    static long[] positionsSeen = new long[0];
    static final AtomicInteger COUNT = new AtomicInteger();
    static volatile long firstNs;
    static volatile long lastNs;

    private OperatorBenchmark() {}

    static ModelSource modelSource(String name) {
        return switch (name) {
            case "telemetry" -> () -> Fixtures.model("mamba1-telemetry-tiny");
            // Mamba-1, dModel 32, 6 layers, dState 64: 6 x (64 x 4 + 64 x 64) floats = 104,448 bytes per stream
            case "100kb" -> () -> RandomModel.create(
                    RandomModel.mamba1Features(32, 6, 64, FEATURES, StreamIo.Output.REGRESSION, FEATURES), 1);
            // mamba-130m's backbone (d_model 768, 24 layers, d_state 16) with feature input and a regression head:
            // 24 x 1536 x (16 + 4) floats = 2,949,120 bytes per stream; one GPU's work, not a CPU's
            case "m1-768" -> () -> RandomModel.create(
                    RandomModel.mamba1Features(768, 24, 16, FEATURES, StreamIo.Output.REGRESSION, FEATURES), 1);
            default -> throw new IllegalArgumentException("model must be telemetry, 100kb or m1-768, found " + name);
        };
    }

    /** Event i: key i % keys (round-robin), ts = the generation time in ns, for latency. */
    static final class Events implements GeneratorFunction<Long, StreamEvent> {
        private final long keys;

        Events(long keys) {
            this.keys = keys;
        }

        @Override
        public StreamEvent map(Long i) {
            float[] f = new float[FEATURES];
            for (int j = 0; j < FEATURES; j++) {
                f[j] = (float) Math.sin(0.1 * (i / keys) + j);
            }
            return StreamEvent.features(Long.toString(i % keys), System.nanoTime(), f);
        }
    }

    /** Records ns from generation to here. */
    static final class LatencySink implements Sink<StreamResult> {
        @Override
        public SinkWriter<StreamResult> createWriter(WriterInitContext context) {
            return new SinkWriter<>() {
                @Override
                public void write(StreamResult r, Context c) {
                    long now = System.nanoTime();
                    int n = COUNT.getAndIncrement();
                    if (n == 0) {
                        firstNs = now;
                    }
                    lastNs = now;
                    if (n < latencies.length) {
                        latencies[n] = now - r.ts;
                        arrivals[n] = now;
                        positionsSeen[n] = r.position;
                    }
                }

                @Override
                public void flush(boolean endOfInput) {}

                @Override
                public void close() {}
            };
        }
    }

    /** The ceiling: per event, one keyed-state get and one put of {@code bytes} bytes, and a result. */
    static final class StateTouchOperator extends AbstractStreamOperator<StreamResult>
            implements OneInputStreamOperator<StreamEvent, StreamResult> {
        private final int bytes;
        private transient ValueState<byte[]> state;

        StateTouchOperator(int bytes) {
            this.bytes = bytes;
        }

        @Override
        public void open() throws Exception {
            super.open();
            state = getPartitionedState(new ValueStateDescriptor<>("touch", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        }

        @Override
        public void processElement(StreamRecord<StreamEvent> element) throws Exception {
            byte[] v = state.value();
            if (v == null) {
                v = new byte[bytes];
            }
            v[0]++;
            state.update(v);
            StreamResult r = new StreamResult();
            r.key = element.getValue().key;
            r.ts = element.getValue().ts;
            r.position = v[0];
            output.collect(new StreamRecord<>(r));
        }
    }

    /** The engine of a scenario: "@cpuN" (the CPU engine, N threads) or "@cuda"; none: the operator's default. */
    record EngineChoice(Backend backend, int cpuThreads) {
        static final EngineChoice DEFAULT = new EngineChoice(null, 1);

        static EngineChoice parse(String s) {
            if (s.equals("cuda")) {
                return new EngineChoice(Backend.CUDA, 1);
            }
            if (s.matches("cpu[0-9]+")) {
                return new EngineChoice(Backend.CPU, Integer.parseInt(s.substring(3)));
            }
            throw new IllegalArgumentException("engine must be cuda or cpuN (N threads), found " + s);
        }

        @Override
        public String toString() {
            return backend == null ? "default" : backend == Backend.CUDA ? "CUDA" : "CPU " + cpuThreads + " threads";
        }
    }

    record Run(long events, double seconds, double p50Ms, double p99Ms) {
        double perSecond() {
            return events / seconds;
        }
    }

    static Run runJob(String model, EngineChoice engine, long keys, long eventsPerKey, int cache, boolean ceiling,
            int stateBytes) throws Exception {
        long n = keys * eventsPerKey;
        latencies = new long[(int) Math.min(n, 20_000_000)];
        arrivals = new long[latencies.length];
        positionsSeen = new long[latencies.length];
        COUNT.set(0);
        Path checkpoints = Files.createTempDirectory("mamba-bench-checkpoints");
        Configuration conf = new Configuration();
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(checkpointMs));
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("512m"));
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        conf.addAll(Configuration.fromMap(FLINK_CONF));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
        DataStream<StreamEvent> events = env.fromSource(new DataGeneratorSource<>(new Events(keys), n,
                        RateLimiterStrategy.noOp(), TypeInformation.of(StreamEvent.class)),
                WatermarkStrategy.noWatermarks(), "events").setParallelism(1);
        DataStream<StreamResult> results;
        if (ceiling) {
            results = events.keyBy(StreamEvent::getKey)
                    .transform("state get+put", TypeInformation.of(StreamResult.class), new StateTouchOperator(stateBytes));
        } else {
            MambaInference.Builder b = MambaInference.builder();
            if (engine.backend() != null) {
                b.setBackend(engine.backend()).setCpuThreads(engine.cpuThreads());
            }
            results = b
                    .setModel(modelSource(model))
                    .setMaxBatchSize(maxBatch)
                    .setMaxBatchDelay(Duration.ofMillis(10))
                    .setCacheMaxStates(cache)
                    .build()
                    .apply(events);
        }
        results.sinkTo(new LatencySink()).setParallelism(1);
        Thread progress = new Thread(() -> {
            long start = System.nanoTime();
            try {
                while (true) {
                    Thread.sleep(30_000);
                    System.out.printf(Locale.ROOT, "#   %s after %.0f s: %,d results%n", ceiling ? "no-op" : "mamba",
                            (System.nanoTime() - start) / 1e9, COUNT.get());
                }
            } catch (InterruptedException e) {
                // job done
            }
        });
        progress.setDaemon(true);
        progress.start();
        env.execute((ceiling ? "ceiling " : "mamba ") + model + " " + keys);
        progress.interrupt();
        LocalCheckpoints.delete(checkpoints);
        int got = COUNT.get();
        if (got != n) {
            throw new IllegalStateException("expected " + n + " results, got " + got);
        }
        long[] lat = Arrays.copyOf(latencies, (int) Math.min(n, latencies.length));
        Arrays.sort(lat);
        Run run = new Run(n, (lastNs - firstNs) / 1e9, lat[lat.length / 2] / 1e6, lat[(int) (lat.length * 0.99)] / 1e6);
        System.out.printf(Locale.ROOT, "# %s %s%s, %,d keys: %,d events in %.1f s = %,.0f events/s, p50 %.1f ms, p99 %.1f ms%n",
                ceiling ? "no-op get+put" : "mamba", model, ceiling ? "" : " (" + engine + ")", keys, n, run.seconds(),
                run.perSecond(), run.p50Ms(), run.p99Ms());
        return run;
    }

    static int storedBytes(MambaModel m) {
        return StoredState.encodedSize(m.layout(), m.config().outputDim());
    }

    static void throughput(String model, EngineChoice engine, long keys, long eventsPerKey, int cache) throws Exception {
        MambaModel m = modelSource(model).load();
        int bytes = storedBytes(m);
        Run mamba = runJob(model, engine, keys, eventsPerKey, cache, false, bytes);
        double alone = engineAlone(m, engine);
        String engineLabel = engine + (parallelism > 1 ? ", " + parallelism + " subtasks" : "");
        String row = String.format(Locale.ROOT, "| %s | %s | %,d B | %,d | %,d | %,d | %,.0f | %.1f | %.1f | %,.0f (%.2f) |",
                model, engineLabel, m.layout().bytes(), keys, cache, mamba.events(), mamba.perSecond(), mamba.p50Ms(),
                mamba.p99Ms(), alone, mamba.perSecond() / alone);
        if (!ceilingRuns) {
            System.out.println(row + " – | – | – | – |");
            return;
        }
        Run ceiling = runJob(model, engine, keys, eventsPerKey, cache, true, bytes);
        System.out.printf(Locale.ROOT, "%s %,.0f | %.1f | %.1f | %.2f |%n", row, ceiling.perSecond(), ceiling.p50Ms(),
                ceiling.p99Ms(), mamba.perSecond() / ceiling.perSecond());
    }

    /**
     * Stream-steps per second of the engine alone (same model, engine and JVM, after the job): every one of
     * {@link #maxBatch} slots stepped once per step, warmed up, timed over at least 5 steps and 2 s.
     */
    static double engineAlone(MambaModel m, EngineChoice engine) {
        Backend backend = engine.backend() == null ? Backend.parse(MambaOptions.BACKEND.defaultValue()) : engine.backend();
        try (StepEngine e = Engines.create(m, new EngineOptions(backend, maxBatch, maxBatch, engine.cpuThreads(),
                EngineOptions.StateMode.RESIDENT, 0))) {
            StepBatch b = e.newBatch();
            float[] f = new float[FEATURES];
            for (int slot = 0; slot < maxBatch; slot++) {
                e.reset(slot);
            }
            long steps = 0;
            long t0 = 0;
            for (int i = 0; ; i++) {
                if (i == 3) {
                    t0 = System.nanoTime();
                }
                b.clear();
                for (int slot = 0; slot < maxBatch; slot++) {
                    for (int j = 0; j < FEATURES; j++) {
                        f[j] = (float) Math.sin(0.1 * i + j + slot);
                    }
                    b.addFeatures(slot, f, 0);
                }
                e.step(b);
                if (i >= 3 && ++steps >= 5 && System.nanoTime() - t0 > 2_000_000_000L) {
                    return steps * maxBatch / ((System.nanoTime() - t0) / 1e9);
                }
            }
        }
    }

    /**
     * Per-event CPU cost of the operator's path for one stream that misses the cache (decode, load, step, store,
     * encode; RocksDB excluded) at position 10 and 100,000, beside the naive alternative: reset and replay the whole
     * history for every event.
     */
    static void positions(String model) {
        MambaModel m = modelSource(model).load();
        long fp = m.fingerprint();
        try (StepEngine e = Engines.create(m, EngineOptions.cpu(1, 1, 1))) {
            StepBatch b = e.newBatch();
            float[] f = new float[FEATURES];
            StreamState s = new StreamState(m.layout());
            e.reset(0);
            byte[] at10 = null;
            byte[] at100k = null;
            long replay10Ns = 0;
            long t0 = System.nanoTime();
            for (int t = 1; t <= 100_000; t++) {
                step(e, b, f, t);
                if (t == 10) {
                    replay10Ns = System.nanoTime() - t0;
                    e.store(0, s);
                    at10 = StoredState.encode(s, fp, null, 0);
                }
            }
            long replay100kNs = System.nanoTime() - t0;
            e.store(0, s);
            at100k = StoredState.encode(s, fp, null, 0);
            double us10 = perEventUs(e, b, f, s, fp, at10, 11);
            double us100k = perEventUs(e, b, f, s, fp, at100k, 100_001);
            // the naive replay at position 10 is too short to time once: time it many times
            int reps = 2000;
            long r0 = System.nanoTime();
            for (int i = 0; i < reps; i++) {
                e.reset(0);
                for (int t = 1; t <= 10; t++) {
                    step(e, b, f, t);
                }
            }
            double naive10Us = (System.nanoTime() - r0) / 1e3 / reps;
            System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %,.0f | (first 10-step replay %.1f µs) |%n", model,
                    us10, us100k, naive10Us, replay100kNs / 1e3, replay10Ns / 1e3);
        }
    }

    /**
     * O(1) per event through Flink: a few keys, all cached, run to {@code eventsPerKey} events each on the MiniCluster
     * with RocksDB and checkpoints; the results whose stream position lies in [10, 1010) are compared with those in the
     * last 1,000 positions (events/s over their arrival span, and their latency).
     */
    static void positionsInFlink(String model, long keys, long eventsPerKey) throws Exception {
        MambaModel m = modelSource(model).load();
        int cache = (int) Math.max(keys, CACHE);
        runJob(model, EngineChoice.DEFAULT, keys, eventsPerKey, cache, false, storedBytes(m));
        long[][] windows = {{10, 1010}, {eventsPerKey - 1000, eventsPerKey}};
        for (long[] w : windows) {
            int count = 0;
            long first = Long.MAX_VALUE;
            long last = Long.MIN_VALUE;
            long[] lat = new long[latencies.length];
            for (int i = 0; i < latencies.length; i++) {
                if (positionsSeen[i] >= w[0] && positionsSeen[i] < w[1]) {
                    lat[count++] = latencies[i];
                    first = Math.min(first, arrivals[i]);
                    last = Math.max(last, arrivals[i]);
                }
            }
            lat = Arrays.copyOf(lat, count);
            Arrays.sort(lat);
            double seconds = (last - first) / 1e9;
            System.out.printf(Locale.ROOT, "| %s | %,d | %,d | [%,d, %,d) | %,d | %,.0f | %.1f | %.1f | %.1f |%n", model, keys,
                    eventsPerKey, w[0], w[1], count, count / seconds, seconds * 1e6 / count, lat[count / 2] / 1e6,
                    lat[(int) (count * 0.99)] / 1e6);
        }
    }

    private static void step(StepEngine e, StepBatch b, float[] f, long t) {
        for (int j = 0; j < FEATURES; j++) {
            f[j] = (float) Math.sin(0.1 * t + j);
        }
        b.clear();
        b.addFeatures(0, f, 0);
        e.step(b);
    }

    private static double perEventUs(StepEngine e, StepBatch b, float[] f, StreamState s, long fp, byte[] stored, long t) {
        int reps = 3000;
        for (int warm = 0; warm < 2; warm++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < reps; i++) {
                StoredState.decode(stored, fp, s);
                e.load(0, s);
                step(e, b, f, t);
                e.store(0, s);
                StoredState.encode(s, fp, null, 0);
            }
            if (warm == 1) {
                return (System.nanoTime() - t0) / 1e3 / reps;
            }
        }
        throw new AssertionError();
    }

    public static void main(String[] args) throws Exception {
        List<String> scenarios = new ArrayList<>(Arrays.asList(args));
        if (scenarios.isEmpty()) {
            scenarios = List.of("o1", "telemetry:10000:20", "100kb:10000:5", "telemetry:1000000:2");
        }
        System.out.printf("parallelism %d, max batch %d, default cache %d states, checkpoints every %d ms (incremental "
                + "RocksDB), %d cores%n", parallelism, maxBatch, CACHE, checkpointMs, Runtime.getRuntime().availableProcessors());
        boolean header = false;
        for (String s : scenarios) {
            if (s.equals("o1")) {
                System.out.println("| model | per event at position 10 (µs) | per event at position 100,000 (µs) "
                        + "| naive replay at position 10 (µs) | naive replay at position 100,000 (µs) | |");
                System.out.println("| --- | --- | --- | --- | --- | --- |");
                positions("telemetry");
                positions("100kb");
                continue;
            }
            if (s.startsWith("flink:")) {
                String[] kv = s.substring(6).split("=", 2);
                FLINK_CONF.put(kv[0], kv[1]);
                System.out.printf("# %s (Flink configuration %s)%n", s, FLINK_CONF);
                continue;
            }
            if (s.contains("=")) {
                String[] kv = s.split("=", 2);
                switch (kv[0]) {
                    case "maxBatch" -> maxBatch = Integer.parseInt(kv[1]);
                    case "checkpointMs" -> checkpointMs = Long.parseLong(kv[1]);
                    case "ceiling" -> ceilingRuns = Boolean.parseBoolean(kv[1]);
                    case "parallelism" -> parallelism = Integer.parseInt(kv[1]);
                    default -> throw new IllegalArgumentException(
                            "setting must be maxBatch, checkpointMs, ceiling or parallelism: " + s);
                }
                System.out.printf("# %s (max batch %d, checkpoints every %d ms, no-op runs %b, parallelism %d)%n", s, maxBatch,
                        checkpointMs, ceilingRuns, parallelism);
                continue;
            }
            String[] p = s.split(":");
            if (p[0].equals("o1flink")) {
                System.out.println("| model | keys | events per key | positions | events | events/s | µs per event | p50 ms | p99 ms |");
                System.out.println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
                positionsInFlink(p[1], Long.parseLong(p[2]), Long.parseLong(p[3]));
                continue;
            }
            if (!header) {
                System.out.println("| model | engine | state/key | keys | cache | events | Mamba events/s | p50 ms | p99 ms "
                        + "| engine alone, stream-steps/s (Mamba / alone) | no-op get+put events/s | p50 ms | p99 ms "
                        + "| Mamba / no-op |");
                System.out.println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
                header = true;
            }
            String[] at = s.split("@", 2);
            p = at[0].split(":");
            EngineChoice engine = at.length > 1 ? EngineChoice.parse(at[1]) : EngineChoice.DEFAULT;
            throughput(p[0], engine, Long.parseLong(p[1]), Long.parseLong(p[2]), p.length > 3 ? Integer.parseInt(p[3]) : CACHE);
        }
    }
}
