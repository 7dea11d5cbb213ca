package io.mambaflink.kernels.checkpoint;

/** A checkpoint that cannot be loaded. The message names the file and the fault. */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
