package io.mambaflink.operators;

import io.mambaflink.kernels.cuda.CudaDeviceLostException;

/**
 * The CUDA device is lost to this TaskManager's process ({@link CudaDeviceLostException}: a kernel fault left its context
 * in a sticky error state, and the driver opens no new context in the process). A plain task failure would restart the
 * task in the same process, onto the same dead device, until the restart strategy gives up. This error is an
 * {@link InternalError}, which Flink's Task treats as fatal to the JVM ("Encountered fatal error ... terminating the
 * JVM"): the TaskManager exits, its supervisor (Kubernetes, YARN, systemd) starts a new one, and the JobManager restores
 * the job from the last checkpoint. No wrong number is emitted on the way: the engines refuse all work once the device
 * is lost.
 */
public final class CudaDeviceLostError extends InternalError {
    public CudaDeviceLostError(CudaDeviceLostException cause) {
        super("CUDA device lost to this TaskManager: " + cause.getMessage() + ". Ending the TaskManager's JVM so that a new"
                + " process restores the job from the last checkpoint", cause);
    }
}
