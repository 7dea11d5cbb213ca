package io.mambaflink.kernels.cuda;

/**
 * A CUDA call failed. The message names the call and what it was doing ("cuLaunchKernel(ssm1_update, grid 12x1x1):
 * CUDA_ERROR_ILLEGAL_ADDRESS"). The engine that threw must not be used further: the operator fails the task and Flink
 * restarts it from the last checkpoint, so no wrong numbers are ever emitted.
 */
public class CudaEngineException extends RuntimeException {
    public CudaEngineException(String message) {
        super(message);
    }

    public CudaEngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
