package io.mambaflink.kernels.state;

/** An encoded stream state that cannot be applied to this model. {@link #reason()} says which check failed. */
public final class StateFormatException extends RuntimeException {

    /** Which check failed. */
    public enum Reason { MAGIC, VERSION, FINGERPRINT, LENGTH }

    private final Reason reason;

    public StateFormatException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
