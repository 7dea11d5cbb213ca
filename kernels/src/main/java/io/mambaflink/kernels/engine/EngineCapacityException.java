package io.mambaflink.kernels.engine;

/**
 * An engine's state slots (its capacity times the model's state bytes) do not fit the memory they live in: the JVM
 * heap for the CPU engine, the device for the CUDA engine. {@link #permanent()} when they exceed all of it (the heap's
 * maximum, the device's total memory), so no attempt with these settings can succeed; otherwise they exceed what is
 * free now, which a later attempt may find freed (a previous task's engine released, garbage collected).
 */
public class EngineCapacityException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    private final boolean permanent;

    public EngineCapacityException(String message, boolean permanent) {
        super(message);
        this.permanent = permanent;
    }

    public EngineCapacityException(String message, boolean permanent, Throwable cause) {
        super(message, cause);
        this.permanent = permanent;
    }

    /** True when the pool exceeds all of the memory it lives in, not only what is free now. */
    public boolean permanent() {
        return permanent;
    }

    /** "N states x B bytes = M MB": the figures every capacity message gives. */
    public static String poolSize(long states, long stateBytes) {
        return states + " states x " + stateBytes + " bytes = " + (states * stateBytes >> 20) + " MB";
    }
}
