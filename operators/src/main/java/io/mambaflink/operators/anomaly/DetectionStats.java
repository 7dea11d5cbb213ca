package io.mambaflink.operators.anomaly;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Precision and recall of flagged events against injected anomalies, the way the training script computes them.
 *
 * <ul>
 *   <li>An injected anomaly covers the stream positions [start, end] (1-based, as {@code StreamResult.position}); its
 *       detection window runs {@link #GRACE} positions past its end, because the model saw the anomalous input and
 *       needs a few events to recover.</li>
 *   <li>Recall: injected anomalies with at least one flag in their window / injected anomalies whose whole window was
 *       scored (an anomaly cut off by the end of a run is not counted either way).</li>
 *   <li>Precision: flags inside some window / all flags.</li>
 * </ul>
 *
 * Thread-safe: the local run's generator records episodes while its consumer records scores.
 */
public final class DetectionStats {
    /** Positions after an anomaly's end that still count as its window. */
    public static final int GRACE = 5;

    private static final class Episode {
        final long start;
        final long end;
        final AnomalyKind kind;
        boolean detected;

        Episode(long start, long end, AnomalyKind kind) {
            this.start = start;
            this.end = end;
            this.kind = kind;
        }
    }

    private final Map<String, List<Episode>> episodes = new HashMap<>();
    private final Map<String, Long> maxScored = new HashMap<>();
    private long flagged;
    private long truePositiveFlags;
    private long scored;

    /** An anomaly injected into {@code entity}'s stream at positions [start, end]. */
    public synchronized void recordEpisode(String entity, long start, long end) {
        recordEpisode(entity, start, end, AnomalyKind.NONE);
    }

    /** An anomaly of a known kind, for recall by kind. */
    public synchronized void recordEpisode(String entity, long start, long end, AnomalyKind kind) {
        episodes.computeIfAbsent(entity, k -> new ArrayList<>()).add(new Episode(start, end, kind));
    }

    /** A score of {@code entity}'s event at {@code position}. Episodes must be recorded before their scores. */
    public synchronized void recordScore(String entity, long position, boolean isFlagged) {
        scored++;
        maxScored.merge(entity, position, Math::max);
        if (!isFlagged) {
            return;
        }
        flagged++;
        List<Episode> list = episodes.get(entity);
        if (list == null) {
            return;
        }
        for (int i = list.size() - 1; i >= 0; i--) {
            Episode e = list.get(i);
            if (position >= e.start && position <= e.end + GRACE) {
                e.detected = true;
                truePositiveFlags++;
                return;
            }
        }
    }

    /** The figures so far. */
    public synchronized Summary summary() {
        long injected = 0;
        long detected = 0;
        long started = 0;
        long startedDetected = 0;
        Map<AnomalyKind, long[]> byKind = new EnumMap<>(AnomalyKind.class);
        for (Map.Entry<String, List<Episode>> e : episodes.entrySet()) {
            long max = maxScored.getOrDefault(e.getKey(), 0L);
            for (Episode ep : e.getValue()) {
                if (ep.start <= max) {
                    started++;
                    startedDetected += ep.detected ? 1 : 0;
                }
                if (ep.end + GRACE <= max) {
                    injected++;
                    long[] k = byKind.computeIfAbsent(ep.kind, x -> new long[2]);
                    k[0]++;
                    if (ep.detected) {
                        detected++;
                        k[1]++;
                    }
                }
            }
        }
        return new Summary(scored, injected, detected, flagged, truePositiveFlags, byKind, started, startedDetected);
    }

    /**
     * @param scored            scores seen
     * @param injected          anomalies whose whole window was scored
     * @param detected          of those, flagged at least once in their window
     * @param flagged           flagged scores
     * @param truePositiveFlags flagged scores inside some anomaly's window
     * @param byKind            per anomaly kind: {injected, detected}
     * @param started           anomalies whose first event was scored, cut off by the end of the run or not
     * @param startedDetected   of those, flagged so far
     */
    public record Summary(long scored, long injected, long detected, long flagged, long truePositiveFlags,
            Map<AnomalyKind, long[]> byKind, long started, long startedDetected) {
        /** NaN when nothing was flagged. */
        public double precision() {
            return flagged == 0 ? Double.NaN : (double) truePositiveFlags / flagged;
        }

        /** NaN when nothing was injected. */
        public double recall() {
            return injected == 0 ? Double.NaN : (double) detected / injected;
        }

        /** e.g. "SPIKE 1.00 (120), STUCK 0.41 (98)": recall (injected) per kind. */
        public String recallByKind() {
            StringBuilder b = new StringBuilder();
            byKind.forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(' ')
                    .append(String.format(java.util.Locale.ROOT, "%.2f", (double) v[1] / v[0])).append(" (").append(v[0]).append(')'));
            return b.toString();
        }
    }
}
