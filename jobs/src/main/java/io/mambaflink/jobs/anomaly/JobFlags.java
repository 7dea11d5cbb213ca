package io.mambaflink.jobs.anomaly;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Properties;
import picocli.CommandLine.Option;

/** The anomaly job's command-line flags, shared by {@code anomaly} and {@code demo}: a properties file, flags on top. */
public final class JobFlags {
    @Option(names = "--properties", paramLabel = "FILE",
            description = "job settings as a properties file; flags override it. Keys: bootstrap.servers, input.topic, "
                    + "output.topic, dead-letter.topic, group.id, starting-offsets, transactional-id-prefix, model.path, "
                    + "mamba.backend, mamba.batch.max-size, mamba.batch.max-delay, mamba.cache.max-states, mamba.cuda.device, "
                    + "mamba.cuda.matmul-precision, mamba.cpu.threads, mamba.state.ttl, mamba.state.fingerprint-policy, checkpoint.interval, checkpoint.dir, "
                    + "parallelism, threshold, max-out-of-orderness, restart.attempts")
    Path properties;

    @Option(names = "--bootstrap-servers", paramLabel = "HOSTS", description = "Kafka bootstrap servers")
    String bootstrapServers;

    @Option(names = "--input-topic", description = "TelemetryEvent topic (default telemetry)")
    String inputTopic;

    @Option(names = "--output-topic", description = "AnomalyScore topic (default anomaly-scores)")
    String outputTopic;

    @Option(names = "--dead-letter-topic", description = "RejectedEnvelope topic (default anomaly-dead-letter)")
    String deadLetterTopic;

    @Option(names = "--group-id", description = "source consumer group (default mamba-anomaly)")
    String groupId;

    @Option(names = "--model", paramLabel = "DIR",
            description = "model folder: config.json, model.safetensors, scoring.json (default: the bundled telemetry model)")
    String model;

    @Option(names = "--backend", description = "cpu, cuda or auto (default auto)")
    String backend;

    @Option(names = "--batch-size", description = "events per engine batch (default 256)")
    Integer batchSize;

    @Option(names = "--batch-delay-ms", description = "longest wait of a buffered event, ms (default 10)")
    Long batchDelayMs;

    @Option(names = "--cache-states", description = "hot stream states in memory per subtask (default 4096)")
    Integer cacheStates;

    @Option(names = "--cpu-threads", description = "CPU engine worker threads per subtask (default 1)")
    Integer cpuThreads;

    @Option(names = "--checkpoint-interval-ms", description = "checkpoint interval, ms; output commits at each (default 2000)")
    Long checkpointIntervalMs;

    @Option(names = "--checkpoint-dir", paramLabel = "URI", description = "checkpoint directory (default: a temporary folder)")
    String checkpointDir;

    @Option(names = "--parallelism", description = "job parallelism (default 1)")
    Integer parallelism;

    @Option(names = "--threshold", description = "anomaly threshold on the score (default: the model's, from scoring.json)")
    Double threshold;

    /** The properties file (if any) with the flags given on top. */
    public Properties toProperties() throws IOException {
        Properties p = properties != null ? AnomalyJobOptions.readProperties(properties) : new Properties();
        put(p, "bootstrap.servers", bootstrapServers);
        put(p, "input.topic", inputTopic);
        put(p, "output.topic", outputTopic);
        put(p, "dead-letter.topic", deadLetterTopic);
        put(p, "group.id", groupId);
        put(p, "model.path", model);
        put(p, "mamba.backend", backend);
        put(p, "mamba.batch.max-size", batchSize);
        put(p, "mamba.batch.max-delay", batchDelayMs);
        put(p, "mamba.cache.max-states", cacheStates);
        put(p, "mamba.cpu.threads", cpuThreads);
        put(p, "checkpoint.interval", checkpointIntervalMs);
        put(p, "checkpoint.dir", checkpointDir);
        put(p, "parallelism", parallelism);
        put(p, "threshold", threshold);
        return p;
    }

    private static void put(Properties p, String key, Object value) {
        if (value != null) {
            p.setProperty(key, value.toString());
        }
    }
}
