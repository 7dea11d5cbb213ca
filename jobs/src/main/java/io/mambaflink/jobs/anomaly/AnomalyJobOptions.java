package io.mambaflink.jobs.anomaly;

import io.mambaflink.kernels.engine.EngineOptions.MatmulPrecision;
import io.mambaflink.operators.FingerprintPolicy;
import java.io.IOException;
import java.io.Reader;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.StringJoiner;

/**
 * The anomaly job's settings. They come from a properties file ({@link #KEYS} are its keys) with command-line flags on
 * top; {@link #validate()} names the key of a bad value.
 */
public final class AnomalyJobOptions implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Property keys with their descriptions, in the order the help lists them. */
    public static final Map<String, String> KEYS = new LinkedHashMap<>();

    static {
        KEYS.put("bootstrap.servers", "Kafka bootstrap servers (required)");
        KEYS.put("input.topic", "topic of TelemetryEvent records (default telemetry)");
        KEYS.put("output.topic", "topic of AnomalyScore records (default anomaly-scores)");
        KEYS.put("dead-letter.topic", "topic of RejectedEnvelope records (default anomaly-dead-letter)");
        KEYS.put("group.id", "consumer group of the source (default mamba-anomaly)");
        KEYS.put("starting-offsets", "earliest, latest or committed (default earliest; a restore uses the checkpoint's)");
        KEYS.put("transactional-id-prefix", "prefix of the sinks' transactional ids (default mamba-anomaly)");
        KEYS.put("model.path", "checkpoint folder with config.json, model.safetensors, scoring.json (default: the bundled telemetry model)");
        KEYS.put("mamba.backend", "cpu, cuda or auto (default auto)");
        KEYS.put("mamba.batch.max-size", "events per engine batch (default 256)");
        KEYS.put("mamba.batch.max-delay", "longest wait of a buffered event, ms (default 10)");
        KEYS.put("mamba.cache.max-states", "hot stream states kept in memory per subtask (default 4096)");
        KEYS.put("mamba.cuda.device", "CUDA device of the cuda backend; -1: Flink's GPU assignment, else subtask modulo devices (default -1)");
        KEYS.put("mamba.cuda.matmul-precision", "FLOAT32 (float32-accurate tensor-core products) or BF16 (faster, ~1e-3 error) (default FLOAT32)");
        KEYS.put("mamba.cpu.threads", "CPU engine worker threads per subtask (default 1)");
        KEYS.put("mamba.state.ttl", "an idle stream's state is removed after this many ms (default: kept)");
        KEYS.put("mamba.state.fingerprint-policy", "a restored state of another model: FAIL the job or RESET the stream (default FAIL)");
        KEYS.put("checkpoint.interval", "checkpoint interval, ms; exactly-once output is committed at each (default 2000)");
        KEYS.put("checkpoint.dir", "checkpoint directory URI or path (default: a temporary folder)");
        KEYS.put("parallelism", "job parallelism (default 1)");
        KEYS.put("threshold", "score at or above which an event is anomalous (default: the model's scoring.json)");
        KEYS.put("max-out-of-orderness", "watermark lag behind the largest event time seen, ms (default 5000)");
        KEYS.put("restart.attempts", "restarts after a failure, from the last checkpoint (default 3)");
    }

    public String bootstrapServers;
    public String inputTopic = "telemetry";
    public String outputTopic = "anomaly-scores";
    public String deadLetterTopic = "anomaly-dead-letter";
    public String groupId = "mamba-anomaly";
    public String startingOffsets = "earliest";
    public String transactionalIdPrefix = "mamba-anomaly";
    /** null: the bundled telemetry model. */
    public String modelPath;
    public String backend = "auto";
    public int batchMaxSize = 256;
    public long batchMaxDelayMs = 10;
    /** Hot states per subtask; beyond it, states go back to RocksDB, least recently used first. */
    public int cacheMaxStates = 4096;
    /** -1: Flink's GPU assignment, else subtask index modulo the visible devices. */
    public int cudaDevice = -1;
    public String cudaMatmulPrecision = "FLOAT32";
    public int cpuThreads = 1;
    /** null: idle streams keep their state. */
    public Long stateTtlMs;
    public String fingerprintPolicy = "FAIL";
    public long checkpointIntervalMs = 2000;
    /** null: a temporary folder. */
    public String checkpointDir;
    public int parallelism = 1;
    /** null: the model's own threshold. */
    public Double threshold;
    public long maxOutOfOrdernessMs = 5000;
    public int restartAttempts = 3;

    /** Reads a properties file; unknown keys are an error (a typo must not be silently ignored). */
    public static Properties readProperties(Path file) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r);
        }
        for (String k : p.stringPropertyNames()) {
            if (!KEYS.containsKey(k)) {
                throw new IllegalArgumentException(file + ": unknown key '" + k + "' (known: " + KEYS.keySet() + ")");
            }
        }
        return p;
    }

    public static AnomalyJobOptions fromProperties(Properties p) {
        AnomalyJobOptions o = new AnomalyJobOptions();
        o.bootstrapServers = p.getProperty("bootstrap.servers", o.bootstrapServers);
        o.inputTopic = p.getProperty("input.topic", o.inputTopic);
        o.outputTopic = p.getProperty("output.topic", o.outputTopic);
        o.deadLetterTopic = p.getProperty("dead-letter.topic", o.deadLetterTopic);
        o.groupId = p.getProperty("group.id", o.groupId);
        o.startingOffsets = p.getProperty("starting-offsets", o.startingOffsets);
        o.transactionalIdPrefix = p.getProperty("transactional-id-prefix", o.transactionalIdPrefix);
        o.modelPath = p.getProperty("model.path", o.modelPath);
        o.backend = p.getProperty("mamba.backend", o.backend);
        o.batchMaxSize = integer(p, "mamba.batch.max-size", o.batchMaxSize);
        o.batchMaxDelayMs = longValue(p, "mamba.batch.max-delay", o.batchMaxDelayMs);
        o.cacheMaxStates = integer(p, "mamba.cache.max-states", o.cacheMaxStates);
        o.cudaDevice = integer(p, "mamba.cuda.device", o.cudaDevice);
        o.cudaMatmulPrecision = p.getProperty("mamba.cuda.matmul-precision", o.cudaMatmulPrecision).trim();
        o.cpuThreads = integer(p, "mamba.cpu.threads", o.cpuThreads);
        if (p.getProperty("mamba.state.ttl") != null) {
            o.stateTtlMs = longValue(p, "mamba.state.ttl", 0);
        }
        o.fingerprintPolicy = p.getProperty("mamba.state.fingerprint-policy", o.fingerprintPolicy).trim();
        o.checkpointIntervalMs = longValue(p, "checkpoint.interval", o.checkpointIntervalMs);
        o.checkpointDir = p.getProperty("checkpoint.dir", o.checkpointDir);
        o.parallelism = integer(p, "parallelism", o.parallelism);
        if (p.getProperty("threshold") != null) {
            o.threshold = number(p, "threshold");
        }
        o.maxOutOfOrdernessMs = longValue(p, "max-out-of-orderness", o.maxOutOfOrdernessMs);
        o.restartAttempts = integer(p, "restart.attempts", o.restartAttempts);
        return o;
    }

    /** @throws IllegalArgumentException naming the key of the first bad value */
    public AnomalyJobOptions validate() {
        if (bootstrapServers == null || bootstrapServers.isBlank()) {
            throw new IllegalArgumentException("bootstrap.servers is required");
        }
        for (String[] t : new String[][] {{"input.topic", inputTopic}, {"output.topic", outputTopic},
                {"dead-letter.topic", deadLetterTopic}, {"group.id", groupId}, {"transactional-id-prefix", transactionalIdPrefix}}) {
            if (t[1] == null || t[1].isBlank()) {
                throw new IllegalArgumentException(t[0] + " must not be empty");
            }
        }
        if (!startingOffsets.equals("earliest") && !startingOffsets.equals("latest") && !startingOffsets.equals("committed")) {
            throw new IllegalArgumentException("starting-offsets must be earliest, latest or committed, found '" + startingOffsets + "'");
        }
        positive("mamba.batch.max-size", batchMaxSize);
        if (batchMaxDelayMs < 0) {
            throw new IllegalArgumentException("mamba.batch.max-delay must be >= 0, found " + batchMaxDelayMs);
        }
        if (cacheMaxStates < batchMaxSize) {
            throw new IllegalArgumentException("mamba.cache.max-states must be at least mamba.batch.max-size ("
                    + batchMaxSize + "), found " + cacheMaxStates);
        }
        cudaMatmul();
        positive("mamba.cpu.threads", cpuThreads);
        if (stateTtlMs != null) {
            positive("mamba.state.ttl", stateTtlMs);
        }
        fingerprint();
        positive("checkpoint.interval", checkpointIntervalMs);
        positive("parallelism", parallelism);
        if (threshold != null && !(threshold > 0)) {
            throw new IllegalArgumentException("threshold must be > 0, found " + threshold);
        }
        if (maxOutOfOrdernessMs < 0) {
            throw new IllegalArgumentException("max-out-of-orderness must be >= 0, found " + maxOutOfOrdernessMs);
        }
        if (restartAttempts < 0) {
            throw new IllegalArgumentException("restart.attempts must be >= 0, found " + restartAttempts);
        }
        return this;
    }

    public Duration batchMaxDelay() {
        return Duration.ofMillis(batchMaxDelayMs);
    }

    public MatmulPrecision cudaMatmul() {
        return constant(MatmulPrecision.class, "mamba.cuda.matmul-precision", cudaMatmulPrecision);
    }

    public FingerprintPolicy fingerprint() {
        return constant(FingerprintPolicy.class, "mamba.state.fingerprint-policy", fingerprintPolicy);
    }

    /** The enum constant named by {@code value} (any case), or an error naming the key and the allowed values. */
    private static <E extends Enum<E>> E constant(Class<E> type, String key, String value) {
        try {
            return Enum.valueOf(type, value.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            StringJoiner allowed = new StringJoiner(" or ");
            for (E c : type.getEnumConstants()) {
                allowed.add(c.name());
            }
            throw new IllegalArgumentException(key + " must be " + allowed + ", found '" + value + "'");
        }
    }

    /** null: idle streams keep their state. */
    public Duration stateTtl() {
        return stateTtlMs == null ? null : Duration.ofMillis(stateTtlMs);
    }

    private static void positive(String key, long v) {
        if (v <= 0) {
            throw new IllegalArgumentException(key + " must be > 0, found " + v);
        }
    }

    private static int integer(Properties p, String key, int dflt) {
        String v = p.getProperty(key);
        try {
            return v == null ? dflt : Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, found '" + v + "'");
        }
    }

    private static long longValue(Properties p, String key, long dflt) {
        String v = p.getProperty(key);
        try {
            return v == null ? dflt : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, found '" + v + "'");
        }
    }

    private static double number(Properties p, String key) {
        String v = p.getProperty(key);
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a number, found '" + v + "'");
        }
    }
}
