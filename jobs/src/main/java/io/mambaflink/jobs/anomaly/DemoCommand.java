package io.mambaflink.jobs.anomaly;

import io.mambaflink.operators.LocalCheckpoints;
import io.mambaflink.operators.anomaly.DetectionStats;
import io.mambaflink.operators.anomaly.SyntheticTelemetry;
import io.mambaflink.schemas.AnomalyScore;
import io.mambaflink.schemas.RejectedEnvelope;
import io.mambaflink.schemas.TelemetryEvent;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The one-command local run: an in-process KRaft broker, a telemetry generator with injected anomalies, the anomaly
 * job on a local MiniCluster (RocksDB, checkpoints in a temporary folder, web UI) and a read_committed consumer of the
 * scores that prints live figures and a summary.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = {
            "Starts a Kafka broker in this JVM (or uses --bootstrap-servers), generates sensor telemetry for many devices",
            "with injected anomalies, runs the anomaly job on a local Flink MiniCluster (RocksDB, web UI on",
            "localhost:8081 or the next free port) and reads the scores back with read_committed. Prints a live line",
            "every few seconds and a summary at the end; stops after --duration or on Ctrl-C and cleans up."
        })
public final class DemoCommand implements Callable<Integer> {

    @Mixin
    JobFlags flags;

    @Option(names = "--devices", defaultValue = "10000", description = "simulated devices (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--duration", defaultValue = "180s", converter = DurationConverter.class,
            description = "how long to generate, e.g. 90s, 5m (default: ${DEFAULT-VALUE}); Ctrl-C stops earlier")
    Duration duration;

    @Option(names = "--rate", defaultValue = "5000", description = "events per second sent, all devices together (default: ${DEFAULT-VALUE})")
    int rate;

    @Option(names = "--anomaly-rate", defaultValue = "0.004",
            description = "per-event probability that an anomaly starts on a device (default: ${DEFAULT-VALUE})")
    double anomalyRate;

    @Option(names = "--bad-rate", defaultValue = "0.001",
            description = "per-event probability of an extra bad record (undecodable bytes or a NaN reading) (default: ${DEFAULT-VALUE})")
    double badRate;

    @Option(names = "--seed", defaultValue = "42", description = "generator seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--partitions", defaultValue = "4", description = "partitions of the demo topics (default: ${DEFAULT-VALUE})")
    int partitions;

    @Option(names = "--report-every", defaultValue = "5s", converter = DurationConverter.class,
            description = "live line interval (default: ${DEFAULT-VALUE})")
    Duration reportEvery;

    @Option(names = "--web-port", defaultValue = "8081", description = "first port tried for the Flink web UI (default: ${DEFAULT-VALUE})")
    int webPort;

    @Option(names = "--summary-json", paramLabel = "FILE", description = "also write the final figures as JSON")
    Path summaryJson;

    @Option(names = "--verbose", description = "keep Kafka's and Flink's warnings")
    boolean verbose;

    /** "90s", "5m", "500ms", "1h" or ISO-8601 "PT90S". */
    public static final class DurationConverter implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String s) {
            String v = s.trim().toLowerCase(Locale.ROOT);
            if (v.startsWith("pt")) {
                return Duration.parse(v.toUpperCase(Locale.ROOT));
            }
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            long n = Long.parseLong(v.substring(0, v.length() - 1));
            return switch (v.charAt(v.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                default -> throw new IllegalArgumentException("expected a duration like 90s, 5m or 500ms, found '" + s + "'");
            };
        }
    }

    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong sentBad = new AtomicLong();
    private final AtomicLong scored = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong deadLettered = new AtomicLong();
    private final AtomicLong flagged = new AtomicLong();
    private final DetectionStats stats = new DetectionStats();
    /** End-to-end latencies (generation to committed read), ms; guarded by itself. */
    private final Latencies latencies = new Latencies();
    private volatile boolean stopGenerating;
    private volatile boolean stopConsuming;
    private volatile long firstSendMs;
    private volatile long lastReadMs;

    @Override
    public Integer call() throws Exception {
        if (!verbose) {
            Configurator.setLevel("org.apache.kafka", Level.ERROR);
            Configurator.setLevel("kafka", Level.ERROR);
            Configurator.setLevel("org.apache.flink", Level.ERROR);
            // The CUDA probe of backend auto explains at length why there is no GPU; the demo says which backend runs.
            Configurator.setLevel("io.mambaflink.kernels.cuda", Level.WARN);
        }
        if (devices <= 0 || rate <= 0 || partitions <= 0) {
            System.err.println("demo: --devices, --rate and --partitions must be > 0");
            return 2;
        }
        Properties props = flags.toProperties();
        boolean embedded = props.getProperty("bootstrap.servers") == null;
        Path tmp = Files.createTempDirectory("mamba-flink-demo");
        CountDownLatch finished = new CountDownLatch(1);
        Thread main = Thread.currentThread();
        Thread hook = new Thread(() -> {
            stopGenerating = true;
            main.interrupt();
            try {
                finished.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "demo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        Object previousCtrlC = interceptCtrlC(main);
        EmbeddedKafka kafka = null;
        JobClient job = null;
        Thread generator = null;
        Thread consumer = null;
        try {
            if (embedded) {
                System.out.println("starting a Kafka broker (KRaft) in this JVM ...");
                kafka = verbose ? EmbeddedKafka.start() : quietly(EmbeddedKafka::start);
                props.setProperty("bootstrap.servers", kafka.bootstrapServers());
            } else {
                // A fresh set of topics per run, so that an external cluster's old data does not count.
                String run = Long.toString(System.currentTimeMillis(), 36);
                props.putIfAbsent("input.topic", "demo-telemetry-" + run);
                props.putIfAbsent("output.topic", "demo-anomaly-scores-" + run);
                props.putIfAbsent("dead-letter.topic", "demo-dead-letter-" + run);
                props.putIfAbsent("transactional-id-prefix", "demo-" + run);
                props.putIfAbsent("group.id", "demo-" + run);
            }
            props.putIfAbsent("parallelism", "2");
            // Every device is hot: the generator visits them round robin, the worst case for a smaller LRU cache.
            int perSubtask = devices / Integer.parseInt(props.getProperty("parallelism").trim()) + 1;
            props.putIfAbsent("mamba.cache.max-states", Integer.toString(Math.max(4096, 2 * perSubtask)));
            AnomalyJobOptions o = AnomalyJobOptions.fromProperties(props).validate();
            EmbeddedKafka.createTopics(o.bootstrapServers, partitions, o.inputTopic, o.outputTopic, o.deadLetterTopic);
            Path model = o.modelPath != null ? Path.of(o.modelPath) : BundledModel.extractTelemetry(tmp.resolve("model"));

            Configuration conf = AnomalyJob.flinkConfiguration(o, tmp.resolve("checkpoints"));
            int port = freePort(webPort);
            if (port > 0) {
                conf.set(RestOptions.PORT, port);
            }
            StreamExecutionEnvironment env = port > 0 ? StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(conf)
                    : StreamExecutionEnvironment.createLocalEnvironment(conf);
            AnomalyJob.build(env, o, model, null);
            job = env.executeAsync("mamba-anomaly-demo");
            System.out.printf("Kafka %s%s | topics %s -> %s, dead letters %s%n", o.bootstrapServers,
                    embedded ? " (in-process)" : "", o.inputTopic, o.outputTopic, o.deadLetterTopic);
            System.out.printf("Flink job %s, parallelism %d, RocksDB + checkpoints every %d ms in %s%n", job.getJobID(),
                    o.parallelism, o.checkpointIntervalMs, o.checkpointDir != null ? o.checkpointDir : tmp.resolve("checkpoints"));
            System.out.println(port > 0 ? "Flink web UI: http://localhost:" + port
                    : "Flink web UI: off (no free port in " + webPort + ".." + (webPort + 19) + ")");
            System.out.printf("model %s | %d devices, %d events/s, anomaly rate %s, bad-record rate %s, for %s%n%n", model,
                    devices, rate, anomalyRate, badRate, duration);

            // Generate only once the tasks run, so that start-up time does not count as latency.
            long deployDeadline = System.currentTimeMillis() + 60_000;
            while (job.getJobStatus().get() != JobStatus.RUNNING && System.currentTimeMillis() < deployDeadline) {
                Thread.sleep(100);
            }
            Thread.sleep(2000);
            AnomalyJobOptions opts = o;
            consumer = new Thread(() -> consume(opts), "demo-consumer");
            consumer.setDaemon(true);
            consumer.start();
            generator = new Thread(() -> generate(opts), "demo-generator");
            generator.setDaemon(true);
            generator.start();

            long start = System.currentTimeMillis();
            long end = start + duration.toMillis();
            long nextReport = start + reportEvery.toMillis();
            long lastDone = 0;
            long lastT = start;
            while (!stopGenerating && System.currentTimeMillis() < end) {
                try {
                    Thread.sleep(Math.max(1, Math.min(end, nextReport) - System.currentTimeMillis()));
                } catch (InterruptedException e) {
                    break;
                }
                long now = System.currentTimeMillis();
                if (now >= nextReport) {
                    long in = sent.get() + sentBad.get();
                    long done = scored.get() + deadLettered.get();
                    printLive(now - start, in, (done - lastDone) * 1000.0 / Math.max(1, now - lastT));
                    lastDone = done;
                    lastT = now;
                    nextReport += reportEvery.toMillis();
                }
            }
            stopGenerating = true;
            if (generator != null) {
                generator.join(10_000);
            }
            // Drain: what was sent is scored and committed within a checkpoint or two, or, when the job has fallen
            // behind the generator, once it works off its backlog: wait as long as results keep arriving
            long eventsIn = sent.get() + sentBad.get();
            long quietMs = Math.max(15_000, 5 * o.checkpointIntervalMs);
            System.out.println("stopping the generator; waiting for the last events to be committed ...");
            long drained = -1;
            long lastProgress = System.currentTimeMillis();
            long nextLine = lastProgress + reportEvery.toMillis();
            while (scored.get() + deadLettered.get() < eventsIn) {
                long now = System.currentTimeMillis();
                long done = scored.get() + deadLettered.get();
                if (done > drained) {
                    drained = done;
                    lastProgress = now;
                } else if (now - lastProgress >= quietMs) {
                    System.out.printf(Locale.ROOT, "no result for %d s: %,d events not read back%n", quietMs / 1000, eventsIn - done);
                    break;
                }
                if (now >= nextLine) {
                    System.out.printf(Locale.ROOT, "draining: %,d of %,d read back (the job fell behind the generator)%n", done, eventsIn);
                    nextLine += reportEvery.toMillis();
                }
                Thread.sleep(200);
            }
            stopConsuming = true;
            if (consumer != null) {
                consumer.join(5_000);
            }
            printSummary(eventsIn, o);
            return 0;
        } finally {
            stopGenerating = true;
            stopConsuming = true;
            if (job != null) {
                try {
                    job.cancel().get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    // On Ctrl-C the MiniCluster's own shutdown hook may have stopped it already.
                    System.err.println("demo: cancelling the job: " + e);
                }
            }
            // Before stopping Kafka: on Ctrl-C the JVM may not wait for all of a slow shutdown.
            if (!LocalCheckpoints.delete(tmp)) {
                System.err.println("demo: could not delete all of " + tmp);
            }
            if (kafka != null) {
                try {
                    kafka.close();
                } catch (Exception e) {
                    System.err.println("demo: stopping Kafka: " + e);
                }
            }
            System.out.println("stopped; removed " + tmp);
            restoreCtrlC(previousCtrlC);
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // already shutting down (Ctrl-C)
            }
        }
    }

    private void generate(AnomalyJobOptions o) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrapServers);
        p.put(ProducerConfig.ACKS_CONFIG, "1");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "65536");
        SyntheticTelemetry.Device[] ds = new SyntheticTelemetry.Device[devices];
        byte[][] ids = new byte[devices][];
        for (int i = 0; i < devices; i++) {
            ds[i] = new SyntheticTelemetry.Device(seed, i, anomalyRate);
            ids[i] = SyntheticTelemetry.deviceId(i).getBytes(StandardCharsets.UTF_8);
        }
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5DEECE66DL);
        float[] x = new float[SyntheticTelemetry.FEATURES.length];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            long start = System.nanoTime();
            firstSendMs = System.currentTimeMillis();
            long n = 0;
            long lastTs = 0;
            while (!stopGenerating) {
                for (int i = 0; i < devices && !stopGenerating; i++) {
                    String id = SyntheticTelemetry.deviceId(i);
                    ds[i].next(x);
                    if (ds[i].startedEpisode()) {
                        stats.recordEpisode(id, ds[i].episodeStart(), ds[i].episodeEnd(), ds[i].episodeKind());
                    }
                    // Event time is the wall clock, so end-to-end latency is read time minus event time.
                    long ts = Math.max(System.currentTimeMillis(), lastTs);
                    lastTs = ts;
                    TelemetryEvent.Builder b = TelemetryEvent.newBuilder().setEntityId(id).setEventTimeMs(ts);
                    for (int f = 0; f < x.length; f++) {
                        b.putFeatures(SyntheticTelemetry.FEATURES[f], x[f]);
                    }
                    producer.send(new ProducerRecord<>(o.inputTopic, null, ts, ids[i], b.build().toByteArray()));
                    sent.incrementAndGet();
                    if (badRate > 0 && rnd.nextDouble() < badRate) {
                        // An extra record that must end on the dead-letter topic; it does not advance the device's stream.
                        byte[] bad = rnd.nextBoolean() ? new byte[] {(byte) 0xff, (byte) 0xfe, 0x00, 0x13}
                                : b.putFeatures(SyntheticTelemetry.FEATURES[rnd.nextInt(x.length)], Double.NaN).build().toByteArray();
                        producer.send(new ProducerRecord<>(o.inputTopic, null, ts, ids[i], bad));
                        sentBad.incrementAndGet();
                    }
                    if (++n % 200 == 0) {
                        long due = start + (long) (n * 1e9 / rate);
                        long wait = due - System.nanoTime();
                        if (wait > 0) {
                            TimeUnit.NANOSECONDS.sleep(wait);
                        }
                    }
                }
            }
            producer.flush();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            System.err.println("demo: generator stopped: " + e);
        }
    }

    private void consume(AnomalyJobOptions o) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrapServers);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (String t : List.of(o.outputTopic, o.deadLetterTopic)) {
                c.partitionsFor(t).forEach(pi -> parts.add(new TopicPartition(t, pi.partition())));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            while (!stopConsuming) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                    long now = System.currentTimeMillis();
                    lastReadMs = now;
                    if (r.topic().equals(o.outputTopic)) {
                        AnomalyScore s = AnomalyScore.parseFrom(r.value());
                        scored.incrementAndGet();
                        if (s.getAnomalous()) {
                            flagged.incrementAndGet();
                        }
                        stats.recordScore(s.getEntityId(), s.getPosition(), s.getAnomalous());
                        latencies.add(now - s.getEventTimeMs());
                    } else {
                        RejectedEnvelope d = RejectedEnvelope.parseFrom(r.value());
                        deadLettered.incrementAndGet();
                        if (!d.getReason().equals(DeadLetters.UNDECODABLE) && !d.getReason().equals(DeadLetters.MISSING_FEATURE)) {
                            rejected.incrementAndGet();
                        }
                    }
                }
            }
        } catch (Exception e) {
            if (!stopConsuming) {
                System.err.println("demo: consumer stopped: " + e);
            }
        }
    }

    private void printLive(long elapsedMs, long in, double perSecond) {
        DetectionStats.Summary s = stats.summary();
        System.out.printf(Locale.ROOT,
                "[%4ds] in %,d | scored %,d | rejected %,d | dead-lettered %,d | %,.0f events/s | p99 %,d ms | flagged %,d (in an anomaly: %,d) | injected %,d (flagged %,d)%n",
                elapsedMs / 1000, in, scored.get(), rejected.get(), deadLettered.get(), perSecond,
                latencies.recentPercentile(0.99), s.flagged(), s.truePositiveFlags(), s.started(), s.startedDetected());
    }

    private void printSummary(long eventsIn, AnomalyJobOptions o) throws IOException {
        DetectionStats.Summary s = stats.summary();
        double seconds = Math.max(1, lastReadMs - firstSendMs) / 1000.0;
        long done = scored.get() + deadLettered.get();
        double eps = done / seconds;
        long p50 = latencies.percentile(0.50);
        long p99 = latencies.percentile(0.99);
        System.out.println();
        System.out.println("== summary ==");
        System.out.printf(Locale.ROOT, "events in      %,d (%,d readings + %,d bad records)%n", eventsIn, sent.get(), sentBad.get());
        System.out.printf(Locale.ROOT, "scored         %,d%n", scored.get());
        System.out.printf(Locale.ROOT, "dead-lettered  %,d (rejected by the operator: %,d; undecodable: %,d)%n",
                deadLettered.get(), rejected.get(), deadLettered.get() - rejected.get());
        System.out.printf(Locale.ROOT, "in = scored + dead-lettered: %s%n", eventsIn == done ? "yes" : "no (" + (eventsIn - done) + " not read back)");
        System.out.printf(Locale.ROOT, "throughput     %,.0f events/s over %.1f s (%d devices, parallelism %d)%n", eps, seconds,
                devices, o.parallelism);
        System.out.printf(Locale.ROOT, "latency        p50 %,d ms, p99 %,d ms (event generated -> score read with read_committed; "
                + "includes waiting for the checkpoint that commits it, every %d ms)%n", p50, p99, o.checkpointIntervalMs);
        System.out.printf(Locale.ROOT, "anomalies      injected %,d, detected %,d; flagged %,d events, %,d of them inside an anomaly%n",
                s.injected(), s.detected(), s.flagged(), s.truePositiveFlags());
        System.out.printf(Locale.ROOT, "precision      %.3f (flagged events inside an injected anomaly, +%d events)%n", s.precision(),
                DetectionStats.GRACE);
        System.out.printf(Locale.ROOT, "recall         %.3f (injected anomalies, seen to their end, flagged at least once): %s%n", s.recall(),
                s.recallByKind());
        System.out.printf(Locale.ROOT, "               (counting the anomalies cut off by the end of the run too: %,d of %,d flagged)%n",
                s.startedDetected(), s.started());
        if (summaryJson != null) {
            String json = String.format(Locale.ROOT,
                    "{\n  \"events_in\": %d,\n  \"scored\": %d,\n  \"rejected\": %d,\n  \"dead_lettered\": %d,\n"
                            + "  \"events_per_s\": %.1f,\n  \"p50_ms\": %d,\n  \"p99_ms\": %d,\n  \"injected\": %d,\n"
                            + "  \"detected\": %d,\n  \"started\": %d,\n  \"started_detected\": %d,\n  \"flagged\": %d,\n  \"precision\": %s,\n  \"recall\": %s,\n"
                            + "  \"devices\": %d,\n  \"duration_s\": %d,\n  \"parallelism\": %d\n}\n",
                    eventsIn, scored.get(), rejected.get(), deadLettered.get(), eps, p50, p99, s.injected(), s.detected(),
                    s.started(), s.startedDetected(), s.flagged(), jsonNumber(s.precision()), jsonNumber(s.recall()), devices, duration.toSeconds(), o.parallelism);
            Files.writeString(summaryJson, json);
            System.out.println("wrote " + summaryJson);
        }
    }

    /**
     * Ctrl-C stops the run in order (drain, summary, clean-up) instead of starting the JVM's shutdown, during which
     * Flink's and Kafka's own hooks tear everything down under us. A second Ctrl-C exits at once.
     */
    @SuppressWarnings("sunapi")
    private Object interceptCtrlC(Thread main) {
        try {
            return sun.misc.Signal.handle(new sun.misc.Signal("INT"), sig -> {
                if (stopGenerating) {
                    Runtime.getRuntime().halt(130);
                }
                System.out.println();
                System.out.println("Ctrl-C: stopping (again to exit at once) ...");
                stopGenerating = true;
                main.interrupt();
            });
        } catch (IllegalArgumentException | UnsupportedOperationException | LinkageError e) {
            return null; // no SIGINT here: the shutdown hook still cleans up
        }
    }

    /** Puts back the Ctrl-C handler that was there before the run (when the command runs inside another program). */
    @SuppressWarnings("sunapi")
    private static void restoreCtrlC(Object previous) {
        if (previous instanceof sun.misc.SignalHandler h) {
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), h);
        }
    }

    /** Runs {@code start} with System.out muted: Kafka's test kit prints its formatting steps there. */
    private static EmbeddedKafka quietly(Callable<EmbeddedKafka> start) throws Exception {
        PrintStream out = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        try {
            return start.call();
        } finally {
            System.setOut(out);
        }
    }

    private static String jsonNumber(double v) {
        return Double.isNaN(v) ? "null" : String.format(Locale.ROOT, "%.4f", v);
    }

    /** The first port from {@code first} on that is free, or -1 when none of 20 is. */
    private static int freePort(int first) {
        for (int port = first; port < first + 20; port++) {
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                s.setReuseAddress(true);
                return port;
            } catch (IOException taken) {
                // try the next one
            }
        }
        return -1;
    }

    /** Latency samples: all of them for the summary (at most {@link #MAX} kept), the recent ones for the live line. */
    static final class Latencies {
        static final int MAX = 5_000_000;
        private long[] all = new long[1 << 16];
        private int n;
        private long[] recent = new long[1 << 14];
        private int r;

        synchronized void add(long ms) {
            if (n < MAX) {
                if (n == all.length) {
                    all = Arrays.copyOf(all, all.length * 2);
                }
                all[n++] = ms;
            }
            if (r == recent.length) {
                recent = Arrays.copyOf(recent, recent.length * 2);
            }
            recent[r++] = ms;
        }

        synchronized long percentile(double q) {
            return pick(Arrays.copyOf(all, n), q);
        }

        /** Percentile of the samples since the last call, which starts a new window. */
        synchronized long recentPercentile(double q) {
            long v = pick(Arrays.copyOf(recent, r), q);
            r = 0;
            return v;
        }

        private static long pick(long[] a, double q) {
            if (a.length == 0) {
                return 0;
            }
            Arrays.sort(a);
            int rank = (int) Math.ceil(q * a.length); // nearest-rank percentile, 1-based
            return a[Math.max(0, Math.min(a.length, rank) - 1)];
        }
    }
}
