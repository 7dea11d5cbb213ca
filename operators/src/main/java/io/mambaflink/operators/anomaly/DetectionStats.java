package io.mambaflink.operators.anomaly;

import java.util.ArrayList;
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
 *   <li>Recall: injected anomalies with at least one flag in their window / injected anomalies whose first position
 *       was scored.</li>
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
        boolean detected;

        Episode(long start, long end) {
            this.start = start;
            this.end = end;
        }
    }

    private final Map<String, List<Episode>> episodes = new HashMap<>();
    private final Map<String, Long> maxScored = new HashMap<>();
    private long flagged;
    private long truePositiveFlags;
    private long scored;

    /** An anomaly injected into {@code entity}'s stream at positions [start, end]. */
    public synchronized void recordEpisode(String entity, long start, long end) {
        episodes.computeIfAbsent(entity, k -> new ArrayList<>()).add(new Episode(start, end));
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
        for (Map.Entry<String, List<Episode>> e : episodes.entrySet()) {
            long max = maxScored.getOrDefault(e.getKey(), 0L);
            for (Episode ep : e.getValue()) {
                if (ep.start <= max) {
                    injected++;
                    if (ep.detected) {
                        detected++;
                    }
                }
            }
        }
        return new Summary(scored, injected, detected, flagged, truePositiveFlags);
    }

    /**
     * @param scored            scores seen
     * @param injected          anomalies whose first event was scored
     * @param detected          of those, flagged at least once in their window
     * @param flagged           flagged scores
     * @param truePositiveFlags flagged scores inside some anomaly's window
     */
    public record Summary(long scored, long injected, long detected, long flagged, long truePositiveFlags) {
        /** NaN when nothing was flagged. */
        public double precision() {
            return flagged == 0 ? Double.NaN : (double) truePositiveFlags / flagged;
        }

        /** NaN when nothing was injected. */
        public double recall() {
            return injected == 0 ? Double.NaN : (double) detected / injected;
        }
    }
}
