package io.mambaflink.operators;

import io.mambaflink.kernels.engine.EngineCapacityException;
import org.apache.flink.runtime.throwable.ThrowableAnnotation;
import org.apache.flink.runtime.throwable.ThrowableType;

/**
 * The operator's hot-state cache ({@link MambaOptions#CACHE_MAX_STATES}) does not fit the engine's memory: the JVM heap
 * for the CPU engine, the GPU for the CUDA engine ({@link EngineCapacityException}). The same settings fail the same way
 * on every restart, so the job fails at once with this message instead of restarting until its restart strategy gives
 * up ({@link ThrowableType#NonRecoverableError}, as Flink's own {@code SuppressRestartsException}).
 */
@ThrowableAnnotation(ThrowableType.NonRecoverableError)
public final class CacheCapacityException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    CacheCapacityException(int cacheMaxStates, int maxBatchSize, EngineCapacityException cause) {
        super(MambaOptions.CACHE_MAX_STATES.key() + " = " + cacheMaxStates + " does not fit: " + cause.getMessage()
                + ". Lower " + MambaOptions.CACHE_MAX_STATES.key() + " (at least " + MambaOptions.BATCH_MAX_SIZE.key() + " = "
                + maxBatchSize + "), or give each task more memory (heap for the CPU engine, GPU memory for CUDA). Not"
                + " restarted: the same settings fail the same way", cause);
    }
}
