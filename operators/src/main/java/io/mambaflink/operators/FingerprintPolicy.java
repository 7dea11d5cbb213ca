package io.mambaflink.operators;

/** What the operator does with a stored stream state written by a different model (another fingerprint). */
public enum FingerprintPolicy {
    /** Fail the job with an error naming both fingerprints: a model swap must be deliberate. */
    FAIL,
    /** Start the stream over from a zero state; counted in {@code fingerprintResets} and logged. */
    RESET
}
