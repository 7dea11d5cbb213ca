package io.mambaflink.kernels;

/** The two Mamba block families. */
public enum Arch {
    /** Mamba-1 selective SSM block ({@code model_type: mamba}, mamba_ssm {@code Mamba}). */
    MAMBA1,
    /** Mamba-2 SSD block ({@code model_type: mamba2}, mamba_ssm {@code Mamba2}). */
    MAMBA2
}
