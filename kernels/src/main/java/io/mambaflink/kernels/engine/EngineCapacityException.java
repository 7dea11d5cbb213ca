package io.mambaflink.kernels.engine;

/**
 * An engine's state slots (its capacity times the model's state bytes) do not fit the memory they live in: the JVM
 * heap for the CPU engine, the device for the CUDA engine. A setting, not a passing fault: the same settings fail the
 * same way on the next attempt.
 */
public class EngineCapacityException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public EngineCapacityException(String message) {
        super(message);
    }

    public EngineCapacityException(String message, Throwable cause) {
        super(message, cause);
    }

    /** "N states x B bytes = M MB": the figures every capacity message gives. */
    public static String poolSize(int states, long stateBytes) {
        return states + " states x " + stateBytes + " bytes = " + (states * stateBytes >> 20) + " MB";
    }
}
