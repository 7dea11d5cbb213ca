package io.mambaflink.operators;

import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions.MatmulPrecision;
import java.io.Serializable;
import java.time.Duration;

/**
 * Everything one operator instance needs, validated; built by {@link MambaInference.Builder}.
 *
 * @param model             where to load the model
 * @param backend           step engine
 * @param maxBatchSize      buffered events that trigger a flush
 * @param maxBatchDelay     longest wait of the oldest buffered event
 * @param cacheMaxStates    hot states (engine slots)
 * @param stateTtl          idle timeout, or null for none
 * @param fingerprintPolicy what to do with another model's state
 * @param cpuThreads        CPU engine threads
 * @param cudaMatmul        operand precision of the CUDA engine's batched matrix products
 * @param cudaDevice        CUDA device ordinal, or -1: the GPU Flink assigned to the task, else subtask index modulo
 *                          the visible devices ({@link GpuAssignment})
 */
public record MambaOperatorConfig(ModelSource model, Backend backend, int maxBatchSize, Duration maxBatchDelay,
        int cacheMaxStates, Duration stateTtl, FingerprintPolicy fingerprintPolicy, int cpuThreads, MatmulPrecision cudaMatmul,
        int cudaDevice) implements Serializable {

    /** With float32-accurate CUDA matrix products on the automatically chosen device. */
    public MambaOperatorConfig(ModelSource model, Backend backend, int maxBatchSize, Duration maxBatchDelay, int cacheMaxStates,
            Duration stateTtl, FingerprintPolicy fingerprintPolicy, int cpuThreads) {
        this(model, backend, maxBatchSize, maxBatchDelay, cacheMaxStates, stateTtl, fingerprintPolicy, cpuThreads,
                MatmulPrecision.FLOAT32, -1);
    }

    public MambaOperatorConfig {
        if (model == null) {
            throw new IllegalArgumentException(MambaOptions.MODEL_PATH.key() + " is required");
        }
        if (backend == null) {
            throw new IllegalArgumentException(MambaOptions.BACKEND.key() + " is required");
        }
        if (maxBatchSize <= 0) {
            throw new IllegalArgumentException(MambaOptions.BATCH_MAX_SIZE.key() + " must be > 0, found " + maxBatchSize);
        }
        if (maxBatchDelay == null || maxBatchDelay.isNegative()) {
            throw new IllegalArgumentException(MambaOptions.BATCH_MAX_DELAY.key() + " must be >= 0, found " + maxBatchDelay);
        }
        if (cacheMaxStates < maxBatchSize) {
            throw new IllegalArgumentException(MambaOptions.CACHE_MAX_STATES.key() + " must be at least "
                    + MambaOptions.BATCH_MAX_SIZE.key() + " (" + maxBatchSize + "), found " + cacheMaxStates
                    + ": one flush needs a slot per key");
        }
        if (stateTtl != null && (stateTtl.isNegative() || stateTtl.isZero())) {
            throw new IllegalArgumentException(MambaOptions.STATE_TTL.key() + " must be > 0 when set, found " + stateTtl);
        }
        if (fingerprintPolicy == null) {
            throw new IllegalArgumentException(MambaOptions.FINGERPRINT_POLICY.key() + " is required");
        }
        if (cpuThreads <= 0) {
            throw new IllegalArgumentException(MambaOptions.CPU_THREADS.key() + " must be > 0, found " + cpuThreads);
        }
        if (cudaMatmul == null) {
            throw new IllegalArgumentException(MambaOptions.CUDA_MATMUL_PRECISION.key() + " is required");
        }
        if (cudaDevice < -1) {
            throw new IllegalArgumentException(MambaOptions.CUDA_DEVICE.key() + " must be a device ordinal >= 0, or -1 for automatic, found "
                    + cudaDevice);
        }
    }
}
