package io.mambaflink.jobs.anomaly;

import static org.assertj.core.api.Assertions.assertThat;

import io.mambaflink.operators.StreamEvent;
import io.mambaflink.operators.anomaly.SyntheticTelemetry;
import io.mambaflink.schemas.AnomalyScore;
import io.mambaflink.schemas.RejectedEnvelope;
import io.mambaflink.schemas.TelemetryEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The anomaly job against a real in-process KRaft broker, on a local MiniCluster with RocksDB, failing once mid-stream
 * and restarting from its checkpoint: every event is scored exactly once (read_committed), in order per entity, and every
 * undecodable or rejected record lands on the dead-letter topic with its reason.
 */
class AnomalyJobITCase {
    private static final int ENTITIES = 40;
    private static final int EVENTS_PER_ENTITY = 40;
    private static final int GARBAGE = 15;
    private static final int NON_FINITE = 10;
    private static final int MISSING_FEATURE = 5;

    private static EmbeddedKafka kafka;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void startKafka() throws Exception {
        kafka = EmbeddedKafka.start();
    }

    @AfterAll
    static void stopKafka() throws Exception {
        if (kafka != null) {
            kafka.close();
        }
    }

    /** Fails the job once, on the 100th event after the test arms it. JVM-wide state: the MiniCluster runs in-process. */
    static final class FailOnce implements MapFunction<StreamEvent, StreamEvent> {
        static final AtomicBoolean ARMED = new AtomicBoolean();
        static final AtomicBoolean FAILED = new AtomicBoolean();
        static final AtomicInteger SEEN_ARMED = new AtomicInteger();

        @Override
        public StreamEvent map(StreamEvent e) {
            if (ARMED.get() && !FAILED.get() && SEEN_ARMED.incrementAndGet() >= 100 && FAILED.compareAndSet(false, true)) {
                throw new IllegalStateException("test failure in the middle of the stream");
            }
            return e;
        }
    }

    @Test
    void scoresEveryEventExactlyOnceInOrderAcrossAFailureAndDeadLettersTheRest() throws Exception {
        AnomalyJobOptions o = new AnomalyJobOptions();
        o.bootstrapServers = kafka.bootstrapServers();
        o.inputTopic = "it-telemetry";
        o.outputTopic = "it-scores";
        o.deadLetterTopic = "it-dead-letter";
        o.groupId = "it-anomaly";
        o.transactionalIdPrefix = "it-anomaly";
        o.parallelism = 2;
        o.checkpointIntervalMs = 500;
        o.batchMaxSize = 64;
        o.restartAttempts = 2;
        kafka.createTopics(3, o.inputTopic, o.outputTopic, o.deadLetterTopic);
        Path model = BundledModel.extractTelemetry(tmp.resolve("model"));

        // Events of each entity, half before the job starts, half after its first output is committed.
        Map<String, SyntheticTelemetry.Device> devices = new HashMap<>();
        for (int i = 0; i < ENTITIES; i++) {
            devices.put(SyntheticTelemetry.deviceId(i), new SyntheticTelemetry.Device(7, i, 0.01));
        }
        int firstHalf = EVENTS_PER_ENTITY / 2;
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            send(producer, o.inputTopic, devices, 0, firstHalf, true);
            producer.flush();

            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(
                    AnomalyJob.flinkConfiguration(o, tmp.resolve("checkpoints")));
            AnomalyJob.build(env, o, model, new FailOnce());
            JobClient job = env.executeAsync("anomaly-it");
            try {
                await(() -> countCommitted(o.outputTopic) >= ENTITIES * firstHalf, Duration.ofSeconds(90),
                        "first half scored and committed");
                FailOnce.ARMED.set(true);
                send(producer, o.inputTopic, devices, firstHalf, EVENTS_PER_ENTITY, false);
                producer.flush();
                await(() -> countCommitted(o.outputTopic) >= ENTITIES * EVENTS_PER_ENTITY
                        && countCommitted(o.deadLetterTopic) >= GARBAGE + NON_FINITE + MISSING_FEATURE,
                        Duration.ofSeconds(120), "every event scored or dead-lettered");
                Thread.sleep(2 * o.checkpointIntervalMs); // room for a duplicate to show up, if there were one
            } finally {
                job.cancel().get();
            }
        }
        assertThat(FailOnce.FAILED).isTrue();

        List<AnomalyScore> scores = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : readCommitted(o.outputTopic)) {
            AnomalyScore s = AnomalyScore.parseFrom(r.value());
            assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo(s.getEntityId());
            assertThat(r.timestamp()).isEqualTo(s.getEventTimeMs()); // event time travels with the record
            scores.add(s);
        }
        List<RejectedEnvelope> dead = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : readCommitted(o.deadLetterTopic)) {
            dead.add(RejectedEnvelope.parseFrom(r.value()));
        }
        int valid = ENTITIES * EVENTS_PER_ENTITY;
        int eventsIn = valid + GARBAGE + NON_FINITE + MISSING_FEATURE;
        assertThat(scores).hasSize(valid);
        assertThat(scores.size() + dead.size()).isEqualTo(eventsIn);

        // Order per entity: positions 1..n in topic order (one entity's records share a partition), event time rising.
        Map<String, List<AnomalyScore>> byEntity = new HashMap<>();
        for (AnomalyScore s : scores) {
            byEntity.computeIfAbsent(s.getEntityId(), k -> new ArrayList<>()).add(s);
        }
        assertThat(byEntity).hasSize(ENTITIES);
        for (List<AnomalyScore> l : byEntity.values()) {
            for (int i = 0; i < l.size(); i++) {
                assertThat(l.get(i).getPosition()).isEqualTo(i + 1);
                assertThat(l.get(i).getObservedCount()).isEqualTo(SyntheticTelemetry.FEATURES.length);
                if (i > 0) {
                    assertThat(l.get(i).getEventTimeMs()).isGreaterThan(l.get(i - 1).getEventTimeMs());
                    assertThat(l.get(i).getPredictedCount()).isEqualTo(SyntheticTelemetry.FEATURES.length);
                }
            }
        }

        Map<String, Integer> reasons = new HashMap<>();
        for (RejectedEnvelope d : dead) {
            reasons.merge(d.getReason(), 1, Integer::sum);
            assertThat(d.getTopic()).isEqualTo(o.inputTopic);
            assertThat(d.getOriginal().isEmpty()).isFalse();
            assertThat(d.getMessage()).isNotEmpty();
        }
        assertThat(reasons).containsEntry("UNDECODABLE", GARBAGE)
                .containsEntry("NON_FINITE_FEATURE", NON_FINITE)
                .containsEntry("MISSING_FEATURE", MISSING_FEATURE)
                .hasSize(3);
    }

    /** Sends events [from, to) of every entity, interleaved; with {@code extras}, also the bad records. */
    private static void send(KafkaProducer<byte[], byte[]> p, String topic, Map<String, SyntheticTelemetry.Device> devices,
            int from, int to, boolean extras) {
        float[] x = new float[SyntheticTelemetry.FEATURES.length];
        int bad = 0;
        for (int k = from; k < to; k++) {
            for (int i = 0; i < ENTITIES; i++) {
                String id = SyntheticTelemetry.deviceId(i);
                devices.get(id).next(x);
                TelemetryEvent.Builder b = TelemetryEvent.newBuilder().setEntityId(id).setEventTimeMs(1_000_000L + k * 1000L + i);
                for (int f = 0; f < x.length; f++) {
                    b.putFeatures(SyntheticTelemetry.FEATURES[f], x[f]);
                }
                p.send(new ProducerRecord<>(topic, null, b.getEventTimeMs(), id.getBytes(StandardCharsets.UTF_8),
                        b.build().toByteArray()));
                if (!extras || k != from + 3) {
                    continue;
                }
                // Bad records between the good ones: they must not advance the entity's stream.
                if (bad < GARBAGE) {
                    p.send(new ProducerRecord<>(topic, id.getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xff, 0x01, 0x02, (byte) bad}));
                } else if (bad < GARBAGE + NON_FINITE) {
                    TelemetryEvent.Builder nan = b.clone().putFeatures(SyntheticTelemetry.FEATURES[bad % x.length], Double.NaN);
                    p.send(new ProducerRecord<>(topic, null, nan.getEventTimeMs(), id.getBytes(StandardCharsets.UTF_8),
                            nan.build().toByteArray()));
                } else if (bad < GARBAGE + NON_FINITE + MISSING_FEATURE) {
                    TelemetryEvent.Builder missing = b.clone().removeFeatures(SyntheticTelemetry.FEATURES[0]);
                    p.send(new ProducerRecord<>(topic, null, missing.getEventTimeMs(), id.getBytes(StandardCharsets.UTF_8),
                            missing.build().toByteArray()));
                }
                bad++;
            }
        }
    }

    private static KafkaProducer<byte[], byte[]> producer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(String topic) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic)) {
                parts.add(new TopicPartition(topic, pi.partition()));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            long deadline = System.currentTimeMillis() + 20_000;
            while (System.currentTimeMillis() < deadline) {
                boolean done = true;
                for (TopicPartition tp : parts) {
                    done &= c.position(tp) >= end.get(tp);
                }
                if (done) {
                    break;
                }
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    private static int countCommitted(String topic) {
        return readCommitted(topic).size();
    }

    private static void await(BooleanSupplier condition, Duration timeout, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeout.toMillis();
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
            }
            Thread.sleep(500);
        }
    }
}
