package io.mambaflink.operators.anomaly;

import java.util.SplittableRandom;

/**
 * Synthetic sensor telemetry: the data the shipped telemetry model was trained on and the local run's generator sends.
 *
 * <p>Each device has {@link #FEATURES} sensors. Sensor f of a device reads, at its k-th event,
 *
 * <pre>
 *   x_f(k) = level_f + drift_f(k) + amp_f * sin(theta_f(k)) + amp2_f * sin(2 * theta_f(k) + phi2_f) + sigma_f * n
 *   theta_f(k) = theta_f(k-1) + 2 pi / period_f          (times {@link #FREQUENCY_FACTOR} during a frequency anomaly)
 *   drift_f(k) = 0.998 * drift_f(k-1) + 0.004 * n'      (a slow mean-reverting drift, stationary sd ~0.063)
 * </pre>
 *
 * with n, n' standard normal and, per device and sensor, level ~ U(-1, 1), amp ~ U(0.5, 1.5), amp2 ~ amp * U(0, 0.3),
 * period ~ U(10, 40) events, theta(0) and phi2 ~ U(0, 2 pi), sigma ~ U(0.03, 0.06). Everything is drawn from one
 * {@link SplittableRandom} per device, seeded from (seed, device index), so a device's sequence depends on nothing else.
 *
 * <p>Anomalies (if {@code anomalyRate > 0}): before each event at position &ge; {@link #INJECT_AFTER} with no anomaly
 * active, one starts with probability {@code anomalyRate}, on one random sensor, of a kind drawn uniformly:
 * SPIKE (1 event, offset ±U(3, 6)), LEVEL_SHIFT (U(20, 60) events, offset ±U(1.5, 3)), STUCK (U(20, 60) events, the
 * sensor repeats its last reading) or FREQUENCY (U(30, 80) events, {@link #FREQUENCY_FACTOR} times faster).
 * Another may start only {@link #COOL_DOWN} events after one ended.
 */
public final class SyntheticTelemetry {
    /** Sensor names, in model order. */
    public static final String[] FEATURES = {"temperature", "vibration", "pressure", "current"};
    /** No anomaly starts before this position (the model needs history to predict). */
    public static final int INJECT_AFTER = 24;
    /** Events after an anomaly's end before the next may start. */
    public static final int COOL_DOWN = 16;
    /** Speed-up of the periodic component during a frequency anomaly. */
    public static final double FREQUENCY_FACTOR = 3.0;

    private SyntheticTelemetry() {}

    /** The id of device {@code index}, e.g. {@code device-00042}. */
    public static String deviceId(int index) {
        return String.format("device-%05d", index);
    }

    /** One device's sensor stream. Not thread-safe. */
    public static final class Device {
        private final int nf = FEATURES.length;
        private final SplittableRandom rnd;
        private final double anomalyRate;
        private final double[] level = new double[nf];
        private final double[] amp = new double[nf];
        private final double[] amp2 = new double[nf];
        private final double[] period = new double[nf];
        private final double[] theta = new double[nf];
        private final double[] phi2 = new double[nf];
        private final double[] sigma = new double[nf];
        private final double[] drift = new double[nf];
        /** (nf) the last emitted reading. */
        private final double[] last = new double[nf];
        private long position;
        private AnomalyKind kind = AnomalyKind.NONE;
        private int feature;
        private int remaining;
        private double magnitude;
        private long coolDownUntil;
        private long episodes;
        private boolean started;
        private AnomalyKind episodeKind = AnomalyKind.NONE;
        private long episodeStart;
        private long episodeEnd;

        public Device(long seed, int index, double anomalyRate) {
            if (!(anomalyRate >= 0 && anomalyRate < 1)) {
                throw new IllegalArgumentException("anomalyRate must be in [0, 1), found " + anomalyRate);
            }
            this.rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
            this.anomalyRate = anomalyRate;
            for (int f = 0; f < nf; f++) {
                level[f] = uniform(-1, 1);
                amp[f] = uniform(0.5, 1.5);
                amp2[f] = amp[f] * uniform(0, 0.3);
                period[f] = uniform(10, 40);
                theta[f] = uniform(0, 2 * Math.PI);
                phi2[f] = uniform(0, 2 * Math.PI);
                sigma[f] = uniform(0.03, 0.06);
            }
        }

        private double uniform(double lo, double hi) {
            return lo + (hi - lo) * rnd.nextDouble();
        }

        /** Writes the next reading into {@code out} (length {@link #FEATURES}) and returns its label. */
        public AnomalyKind next(float[] out) {
            started = false;
            if (kind == AnomalyKind.NONE && anomalyRate > 0 && position >= INJECT_AFTER && position >= coolDownUntil
                    && rnd.nextDouble() < anomalyRate) {
                start();
            }
            AnomalyKind label = kind;
            for (int f = 0; f < nf; f++) {
                drift[f] = 0.998 * drift[f] + 0.004 * rnd.nextGaussian();
                double speed = (kind == AnomalyKind.FREQUENCY && f == feature) ? FREQUENCY_FACTOR : 1.0;
                theta[f] += 2 * Math.PI / period[f] * speed;
                double x = level[f] + drift[f] + amp[f] * Math.sin(theta[f]) + amp2[f] * Math.sin(2 * theta[f] + phi2[f])
                        + sigma[f] * rnd.nextGaussian();
                if (f == feature) {
                    switch (kind) {
                        case SPIKE, LEVEL_SHIFT -> x += magnitude;
                        case STUCK -> x = last[f];
                        default -> { }
                    }
                }
                last[f] = x;
                out[f] = (float) x;
            }
            position++;
            if (kind != AnomalyKind.NONE && --remaining == 0) {
                kind = AnomalyKind.NONE;
                coolDownUntil = position + COOL_DOWN;
            }
            return label;
        }

        private void start() {
            kind = AnomalyKind.ofCode(1 + rnd.nextInt(4));
            feature = rnd.nextInt(nf);
            double sign = rnd.nextBoolean() ? 1 : -1;
            switch (kind) {
                case SPIKE -> {
                    remaining = 1;
                    magnitude = sign * uniform(3, 6);
                }
                case LEVEL_SHIFT -> {
                    remaining = 20 + rnd.nextInt(41);
                    magnitude = sign * uniform(1.5, 3);
                }
                case STUCK -> remaining = 20 + rnd.nextInt(41);
                case FREQUENCY -> remaining = 30 + rnd.nextInt(51);
                default -> throw new IllegalStateException("no anomaly kind " + kind);
            }
            episodes++;
            started = true;
            episodeKind = kind;
            episodeStart = position + 1;
            episodeEnd = position + remaining;
        }

        /** Whether the last {@link #next} started an anomaly. */
        public boolean startedEpisode() {
            return started;
        }

        /** First stream position (1-based, as {@code StreamResult.position}) of the latest anomaly. */
        public long episodeStart() {
            return episodeStart;
        }

        /** Kind of the latest anomaly. */
        public AnomalyKind episodeKind() {
            return episodeKind;
        }

        /** Last stream position (1-based, inclusive) of the latest anomaly. */
        public long episodeEnd() {
            return episodeEnd;
        }

        /** Events emitted so far. */
        public long position() {
            return position;
        }

        /** Anomalies started so far. */
        public long episodes() {
            return episodes;
        }

        /** The sensor the current anomaly affects (meaningful while one is active). */
        public int anomalousFeature() {
            return feature;
        }
    }
}
