package io.mambaflink.kernels.golden;

/** A golden file that is malformed or does not fit the model. */
public final class GoldenFormatException extends RuntimeException {
    public GoldenFormatException(String message) {
        super(message);
    }

    public GoldenFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
