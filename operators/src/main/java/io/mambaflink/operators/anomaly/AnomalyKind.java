package io.mambaflink.operators.anomaly;

/** The anomalies {@link SyntheticTelemetry} injects. The code is what the exported dataset's {@code labels} hold. */
public enum AnomalyKind {
    /** A normal reading. */
    NONE(0),
    /** One reading far off the signal. */
    SPIKE(1),
    /** The feature jumps by a constant offset for a while. */
    LEVEL_SHIFT(2),
    /** The sensor repeats its last value, without noise, for a while. */
    STUCK(3),
    /** The periodic component runs several times faster for a while. */
    FREQUENCY(4);

    public final int code;

    AnomalyKind(int code) {
        this.code = code;
    }

    public static AnomalyKind ofCode(int code) {
        for (AnomalyKind k : values()) {
            if (k.code == code) {
                return k;
            }
        }
        throw new IllegalArgumentException("anomaly code must be 0..4, found " + code);
    }
}
