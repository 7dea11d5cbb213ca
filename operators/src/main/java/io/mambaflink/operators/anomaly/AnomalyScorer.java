package io.mambaflink.operators.anomaly;

import io.mambaflink.operators.StreamResult;
import java.io.Serializable;

/**
 * The anomaly score of one event: the error of the prediction the model made at the stream's previous event
 * ({@link StreamResult#previousOutput}, kept in the stream's state by the operator) against what arrived
 * ({@link StreamResult#input}), normalized per feature:
 *
 * <pre>
 *   z_f   = |observed_f - predicted_f| / residual_scale_f
 *   score = max_f z_f
 *   flag  = score &gt;= threshold  and  position &gt;= warmup
 * </pre>
 *
 * {@code residual_scale_f} is the RMS prediction error of feature f on held-out normal data (see
 * {@link ScoringConfig}), so z is a per-feature z-score and one threshold fits every feature. The maximum, not a mean,
 * so that an anomaly in one sensor is not diluted by the others. The first event of a stream has no prediction: score 0.
 */
public final class AnomalyScorer implements Serializable {
    private static final long serialVersionUID = 1L;

    private final double[] scale;
    private final double threshold;
    private final int warmup;

    public AnomalyScorer(ScoringConfig config, double threshold) {
        if (!(threshold > 0)) {
            throw new IllegalArgumentException("threshold must be > 0, found " + threshold);
        }
        this.scale = config.residualScale().clone();
        this.threshold = threshold;
        this.warmup = config.warmup();
    }

    /** One event's score. */
    public record Score(double score, boolean anomalous, double[] predicted, double[] observed, double[] featureScores) {}

    public Score score(StreamResult r) {
        int n = scale.length;
        if (r.input == null || r.input.length != n) {
            throw new IllegalArgumentException("scoring " + r.key + " at position " + r.position + ": expected " + n
                    + " observed features, found " + (r.input == null ? "none" : r.input.length));
        }
        double[] observed = new double[n];
        for (int f = 0; f < n; f++) {
            observed[f] = r.input[f];
        }
        if (r.previousOutput == null) {
            return new Score(0, false, new double[0], observed, new double[0]);
        }
        if (r.previousOutput.length != n) {
            throw new IllegalArgumentException("scoring " + r.key + " at position " + r.position + ": expected " + n
                    + " predicted features, found " + r.previousOutput.length);
        }
        double[] predicted = new double[n];
        double[] z = new double[n];
        double max = 0;
        for (int f = 0; f < n; f++) {
            predicted[f] = r.previousOutput[f];
            z[f] = Math.abs(observed[f] - predicted[f]) / scale[f];
            max = Math.max(max, z[f]);
        }
        return new Score(max, max >= threshold && r.position >= warmup, predicted, observed, z);
    }

    public double threshold() {
        return threshold;
    }
}
