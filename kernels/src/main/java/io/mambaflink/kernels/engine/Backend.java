package io.mambaflink.kernels.engine;

import java.util.Locale;

/** Which engine runs the step. */
public enum Backend {
    /** CUDA when a device is present, else the CPU. */
    AUTO,
    CPU,
    CUDA;

    public static Backend parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown backend '" + s + "', expected one of auto, cpu, cuda");
        }
    }
}
