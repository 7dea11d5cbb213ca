package io.mambaflink.operators;

import static org.apache.flink.util.Preconditions.checkNotNull;

import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions.MatmulPrecision;
import java.time.Duration;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SideOutputDataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.util.OutputTag;

/**
 * Adds the Mamba operator to a DataStream job.
 *
 * <pre>{@code
 * SingleOutputStreamOperator<StreamResult> results = MambaInference.builder()
 *         .setModelPath("/models/telemetry")
 *         .setMaxBatchSize(256)
 *         .build()
 *         .apply(events);
 * DataStream<RejectedEvent> rejected = MambaInference.rejected(results);
 * }</pre>
 */
public final class MambaInference {
    /** Side output of {@link #apply}'s result stream. */
    public static final OutputTag<RejectedEvent> REJECTED = MambaStreamOperator.REJECTED;

    private final MambaOperatorConfig config;
    private final String uid;
    private final String name;

    private MambaInference(MambaOperatorConfig config, String uid, String name) {
        this.config = config;
        this.uid = uid;
        this.name = name;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder preset from the {@code mamba.*} options in {@code conf}. */
    public static Builder fromConfiguration(ReadableConfig conf) {
        Builder b = new Builder()
                .setBackend(Backend.parse(conf.get(MambaOptions.BACKEND)))
                .setMaxBatchSize(conf.get(MambaOptions.BATCH_MAX_SIZE))
                .setMaxBatchDelay(conf.get(MambaOptions.BATCH_MAX_DELAY))
                .setCacheMaxStates(conf.get(MambaOptions.CACHE_MAX_STATES))
                .setFingerprintPolicy(conf.get(MambaOptions.FINGERPRINT_POLICY))
                .setCpuThreads(conf.get(MambaOptions.CPU_THREADS))
                .setCudaMatmulPrecision(conf.get(MambaOptions.CUDA_MATMUL_PRECISION))
                .setCudaDevice(conf.get(MambaOptions.CUDA_DEVICE));
        conf.getOptional(MambaOptions.MODEL_PATH).ifPresent(b::setModelPath);
        conf.getOptional(MambaOptions.STATE_TTL).ifPresent(b::setStateTtl);
        return b;
    }

    public MambaOperatorConfig config() {
        return config;
    }

    /** A new operator instance for {@code keyedStream.transform(...)}. */
    public MambaStreamOperator createOperator() {
        return new MambaStreamOperator(config);
    }

    /**
     * The key selector {@link #apply} uses: {@link StreamEvent#key}, with "" for a missing key so that the event reaches
     * the operator and is rejected there instead of failing the job in the key hash.
     */
    public static String keyOf(StreamEvent e) {
        return e.key == null ? "" : e.key;
    }

    /** Keys {@code events} by {@link #keyOf} and runs the operator over them. */
    public SingleOutputStreamOperator<StreamResult> apply(DataStream<StreamEvent> events) {
        return events.keyBy(MambaInference::keyOf)
                .transform(name, TypeInformation.of(StreamResult.class), createOperator())
                .uid(uid);
    }

    /** The rejected events of a stream returned by {@link #apply}. */
    public static SideOutputDataStream<RejectedEvent> rejected(SingleOutputStreamOperator<StreamResult> results) {
        return results.getSideOutput(REJECTED);
    }

    /** Collects and validates settings; defaults are those of {@link MambaOptions}. */
    public static final class Builder {
        private ModelSource model;
        private Backend backend = Backend.parse(MambaOptions.BACKEND.defaultValue());
        private int maxBatchSize = MambaOptions.BATCH_MAX_SIZE.defaultValue();
        private Duration maxBatchDelay = MambaOptions.BATCH_MAX_DELAY.defaultValue();
        private Integer cacheMaxStates;
        private Duration stateTtl;
        private FingerprintPolicy fingerprintPolicy = MambaOptions.FINGERPRINT_POLICY.defaultValue();
        private int cpuThreads = MambaOptions.CPU_THREADS.defaultValue();
        private MatmulPrecision cudaMatmul = MambaOptions.CUDA_MATMUL_PRECISION.defaultValue();
        private int cudaDevice = MambaOptions.CUDA_DEVICE.defaultValue();
        private String uid = "mamba-inference";
        private String name = "Mamba inference";

        private Builder() {}

        public Builder setModelPath(String dir) {
            this.model = ModelSource.path(checkNotNull(dir, "model path is null"));
            return this;
        }

        /** Any model recipe, e.g. a random model for benchmarks. */
        public Builder setModel(ModelSource model) {
            this.model = checkNotNull(model, "model is null");
            return this;
        }

        public Builder setBackend(Backend backend) {
            this.backend = checkNotNull(backend, "backend is null");
            return this;
        }

        public Builder setMaxBatchSize(int maxBatchSize) {
            this.maxBatchSize = maxBatchSize;
            return this;
        }

        public Builder setMaxBatchDelay(Duration maxBatchDelay) {
            this.maxBatchDelay = maxBatchDelay;
            return this;
        }

        /** Defaults to the larger of {@link MambaOptions#CACHE_MAX_STATES}' default and the max batch size. */
        public Builder setCacheMaxStates(int cacheMaxStates) {
            this.cacheMaxStates = cacheMaxStates;
            return this;
        }

        public Builder setStateTtl(Duration stateTtl) {
            this.stateTtl = stateTtl;
            return this;
        }

        public Builder setFingerprintPolicy(FingerprintPolicy fingerprintPolicy) {
            this.fingerprintPolicy = fingerprintPolicy;
            return this;
        }

        public Builder setCpuThreads(int cpuThreads) {
            this.cpuThreads = cpuThreads;
            return this;
        }

        /** CUDA device ordinal, or -1 for automatic ({@link MambaOptions#CUDA_DEVICE}). */
        public Builder setCudaDevice(int device) {
            this.cudaDevice = device;
            return this;
        }

        /** Operand precision of the CUDA engine's batched matrix products ({@link MambaOptions#CUDA_MATMUL_PRECISION}). */
        public Builder setCudaMatmulPrecision(MatmulPrecision precision) {
            this.cudaMatmul = checkNotNull(precision, "precision is null");
            return this;
        }

        /** Operator uid: keep it stable across job versions, or savepoints cannot be restored. */
        public Builder setUid(String uid) {
            this.uid = checkNotNull(uid, "uid is null");
            return this;
        }

        public Builder setName(String name) {
            this.name = checkNotNull(name, "name is null");
            return this;
        }

        /** @throws IllegalArgumentException naming the option that is missing or out of range */
        public MambaInference build() {
            int cache = cacheMaxStates != null ? cacheMaxStates
                    : Math.max(MambaOptions.CACHE_MAX_STATES.defaultValue(), maxBatchSize);
            return new MambaInference(new MambaOperatorConfig(model, backend, maxBatchSize, maxBatchDelay, cache,
                    stateTtl, fingerprintPolicy, cpuThreads, cudaMatmul, cudaDevice), uid, name);
        }
    }
}
