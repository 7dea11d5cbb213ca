package io.mambaflink.kernels.cuda;

/**
 * A CUDA device can no longer be used by this process: a kernel fault (an illegal address, a trap, an uncorrectable ECC
 * error) left the context in a sticky error state. Every later call on the device fails, for every engine on it, and the
 * driver refuses this process a new context as well (cuDevicePrimaryCtxReset, then cuDevicePrimaryCtxRetain or
 * cuCtxCreate, return the same error: checked on the H100 with driver 580, see CudaDeviceLostTest). Only a new process
 * can use the device again, so the Flink operator turns this into an error fatal to the TaskManager (its JVM exits, the
 * cluster starts a new one, and Flink restores the job from the last checkpoint) instead of failing the task into a
 * restart that would meet the same dead context.
 */
public final class CudaDeviceLostException extends CudaEngineException {
    public CudaDeviceLostException(String message) {
        super(message);
    }

    public CudaDeviceLostException(String message, Throwable cause) {
        super(message, cause);
    }
}
