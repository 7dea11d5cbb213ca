package io.mambaflink.operators;

import io.mambaflink.kernels.engine.EngineCapacityException;
import org.apache.flink.runtime.throwable.ThrowableAnnotation;
import org.apache.flink.runtime.throwable.ThrowableType;

/**
 * The operator's hot-state cache ({@link MambaOptions#CACHE_MAX_STATES}) exceeds all of the engine's memory: the JVM's
 * maximum heap for the CPU engine, the GPU's total memory for the CUDA engine ({@link EngineCapacityException#permanent()}).
 * No attempt with these settings can succeed, so the job fails at once with this message instead of restarting until
 * its restart strategy gives up ({@link ThrowableType#NonRecoverableError}, as Flink's own
 * {@code SuppressRestartsException}). A cache that only exceeds the memory free at the moment fails the task with the
 * same figures (an {@link IllegalStateException} from {@link #of}), and Flink restarts it as usual: a previous
 * attempt's engine may still hold that memory.
 */
@ThrowableAnnotation(ThrowableType.NonRecoverableError)
public final class CacheCapacityException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private CacheCapacityException(String message, EngineCapacityException cause) {
        super(message, cause);
    }

    /** The exception for the operator to throw: this one when {@code cause} is permanent, else a restartable one. */
    static RuntimeException of(int cacheMaxStates, int maxBatchSize, EngineCapacityException cause) {
        String message = MambaOptions.CACHE_MAX_STATES.key() + " = " + cacheMaxStates + " does not fit: " + cause.getMessage()
                + ". Lower " + MambaOptions.CACHE_MAX_STATES.key() + " (at least " + MambaOptions.BATCH_MAX_SIZE.key() + " = "
                + maxBatchSize + ") or, with CUDA, " + MambaOptions.BATCH_MAX_SIZE.key() + " (its batch buffers), or give each task "
                + "more memory (heap for the CPU engine, GPU memory for CUDA)";
        return cause.permanent() ? new CacheCapacityException(message + ". Not restarted: no attempt can fit", cause)
                : new IllegalStateException(message + ". The task restarts: memory held now may be free then", cause);
    }
}
