package io.mambaflink.jobs.anomaly;

import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.operators.MambaInference;
import io.mambaflink.operators.StreamEvent;
import io.mambaflink.operators.StreamResult;
import io.mambaflink.operators.anomaly.AnomalyScorer;
import io.mambaflink.operators.anomaly.ScoringConfig;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/**
 * Kafka in, Kafka out anomaly scoring. Wiring only:
 *
 * <pre>
 * KafkaSource (bytes + coordinates) -> TelemetryDecoder --undecodable--> dead letter
 *   -> event-time watermarks from each event's own timestamp
 *   -> keyBy entity -> Mamba operator (regression model) --rejected--> dead letter
 *   -> ScoreFunction (AnomalyScorer) -> KafkaSink EXACTLY_ONCE (AnomalyScore)
 * </pre>
 *
 * Both sinks are transactional: a consumer with {@code isolation.level=read_committed} sees each score and dead letter
 * exactly once, committed at each checkpoint.
 */
public final class AnomalyJob {
    /** The sinks' transaction timeout, below the broker's default transaction.max.timeout.ms (15 min). */
    static final String TRANSACTION_TIMEOUT_MS = "600000";

    private AnomalyJob() {}

    /** The Flink settings the job needs: RocksDB, incremental checkpoints, restarts, no generic types. */
    public static Configuration flinkConfiguration(AnomalyJobOptions o, Path defaultCheckpointDir) {
        Configuration conf = new Configuration();
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        String dir = o.checkpointDir != null ? o.checkpointDir : defaultCheckpointDir.toUri().toString();
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(o.checkpointIntervalMs));
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        if (o.restartAttempts > 0) {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, o.restartAttempts);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(500));
        } else {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        }
        return conf;
    }

    /**
     * Adds the job to {@code env}.
     *
     * @param modelDir the model folder (config.json, model.safetensors, scoring.json), readable by every task
     * @param eventHook applied to each decoded event before the operator (tests inject a failure there), or null
     */
    public static void build(StreamExecutionEnvironment env, AnomalyJobOptions o, Path modelDir,
            MapFunction<StreamEvent, StreamEvent> eventHook) {
        o.validate();
        ScoringConfig scoring = ScoringConfig.load(modelDir);
        AnomalyScorer scorer = new AnomalyScorer(scoring, o.threshold != null ? o.threshold : scoring.threshold());
        env.setParallelism(o.parallelism);

        KafkaSource<KafkaRecord> source = KafkaSource.<KafkaRecord>builder()
                .setBootstrapServers(o.bootstrapServers)
                .setTopics(o.inputTopic)
                .setGroupId(o.groupId)
                .setStartingOffsets(startingOffsets(o.startingOffsets))
                .setDeserializer(new KafkaRecordDeserializer())
                // Read only committed input, in case the producer is itself transactional.
                .setProperty("isolation.level", "read_committed")
                .setProperty("commit.offsets.on.checkpoint", "true")
                .build();
        SingleOutputStreamOperator<StreamEvent> decoded = env
                .fromSource(source, WatermarkStrategy.noWatermarks(), "Kafka " + o.inputTopic)
                .uid("kafka-source")
                .process(new TelemetryDecoder(scoring.featureNames()))
                .uid("decode")
                .name("Decode TelemetryEvent");
        DataStream<StreamEvent> events = decoded.assignTimestampsAndWatermarks(
                        WatermarkStrategy.<StreamEvent>forBoundedOutOfOrderness(Duration.ofMillis(o.maxOutOfOrdernessMs))
                                .withTimestampAssigner((e, recordTs) -> e.ts)
                                .withIdleness(Duration.ofSeconds(30)))
                .uid("event-time")
                .name("Event-time watermarks");
        if (eventHook != null) {
            events = events.map(eventHook).returns(TypeInformation.of(StreamEvent.class)).uid("event-hook").name("Event hook");
        }

        SingleOutputStreamOperator<StreamResult> results = MambaInference.builder()
                .setModelPath(modelDir.toString())
                .setBackend(Backend.parse(o.backend))
                .setMaxBatchSize(o.batchMaxSize)
                .setMaxBatchDelay(o.batchMaxDelay())
                .setCacheMaxStates(o.cacheMaxStates)
                .setCudaDevice(o.cudaDevice)
                .setCudaMatmulPrecision(o.cudaMatmul())
                .setCpuThreads(o.cpuThreads)
                .setStateTtl(o.stateTtl())
                .setFingerprintPolicy(o.fingerprint())
                .setUid("mamba-inference")
                .setName("Mamba inference")
                .build()
                .apply(events);

        results.flatMap(new ScoreFunction(scorer, scoring.featureNames()))
                .returns(TypeInformation.of(KeyedBytes.class))
                .uid("score")
                .name("Anomaly score")
                .sinkTo(exactlyOnceSink(o, o.outputTopic, "scores"))
                .uid("kafka-scores")
                .name("Kafka " + o.outputTopic);

        DataStream<KeyedBytes> rejected = MambaInference.rejected(results)
                .map(new DeadLetters.FromRejected())
                .returns(TypeInformation.of(KeyedBytes.class))
                .uid("rejected-envelope")
                .name("Rejected envelope");
        decoded.getSideOutput(TelemetryDecoder.DEAD_LETTER)
                .union(rejected)
                .sinkTo(exactlyOnceSink(o, o.deadLetterTopic, "dead-letter"))
                .uid("kafka-dead-letter")
                .name("Kafka " + o.deadLetterTopic);
    }

    private static KafkaSink<KeyedBytes> exactlyOnceSink(AnomalyJobOptions o, String topic, String what) {
        return KafkaSink.<KeyedBytes>builder()
                .setBootstrapServers(o.bootstrapServers)
                .setRecordSerializer(new KeyedBytesSerializer(topic))
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(o.transactionalIdPrefix + "-" + what)
                .setProperty("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS)
                .build();
    }

    private static OffsetsInitializer startingOffsets(String s) {
        return switch (s) {
            case "latest" -> OffsetsInitializer.latest();
            case "committed" -> OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            default -> OffsetsInitializer.earliest();
        };
    }
}
