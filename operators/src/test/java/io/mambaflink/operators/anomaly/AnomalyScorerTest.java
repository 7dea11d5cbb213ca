package io.mambaflink.operators.anomaly;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.mambaflink.operators.StreamResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AnomalyScorerTest {
    private static final ScoringConfig CONFIG = new ScoringConfig(List.of("a", "b"), new double[] {0.5, 2.0}, 3.0, 4);

    private static StreamResult result(long position, float[] previousOutput, float[] input) {
        StreamResult r = new StreamResult();
        r.key = "k";
        r.position = position;
        r.previousOutput = previousOutput;
        r.input = input;
        r.output = new float[] {0, 0};
        return r;
    }

    @Test
    void scoreIsTheLargestPerFeatureNormalizedError() {
        AnomalyScorer s = new AnomalyScorer(CONFIG, CONFIG.threshold());
        AnomalyScorer.Score score = s.score(result(10, new float[] {1f, 1f}, new float[] {2f, -3f}));
        // |2 - 1| / 0.5 = 2, |-3 - 1| / 2 = 2; then a larger error in the first feature wins.
        assertThat(score.featureScores()).containsExactly(2.0, 2.0);
        assertThat(score.score()).isEqualTo(2.0);
        assertThat(score.anomalous()).isFalse();
        AnomalyScorer.Score high = s.score(result(10, new float[] {1f, 1f}, new float[] {2.5f, 1f}));
        assertThat(high.score()).isCloseTo(3.0, within(1e-9));
        assertThat(high.anomalous()).isTrue();
        assertThat(high.predicted()).containsExactly(1.0, 1.0);
        assertThat(high.observed()).containsExactly(2.5, 1.0);
    }

    @Test
    void firstEventHasNoPredictionAndWarmupEventsAreNeverFlagged() {
        AnomalyScorer s = new AnomalyScorer(CONFIG, CONFIG.threshold());
        AnomalyScorer.Score first = s.score(result(1, null, new float[] {100f, 100f}));
        assertThat(first.score()).isZero();
        assertThat(first.anomalous()).isFalse();
        assertThat(first.predicted()).isEmpty();
        assertThat(s.score(result(3, new float[] {0, 0}, new float[] {100f, 0})).anomalous()).isFalse();
        assertThat(s.score(result(4, new float[] {0, 0}, new float[] {100f, 0})).anomalous()).isTrue();
    }

    @Test
    void thresholdOverridesTheModelsDefault() {
        AnomalyScorer s = new AnomalyScorer(CONFIG, 10.0);
        assertThat(s.score(result(10, new float[] {0, 0}, new float[] {4f, 0})).anomalous()).isFalse();
        assertThat(s.score(result(10, new float[] {0, 0}, new float[] {5f, 0})).anomalous()).isTrue();
    }

    @Test
    void wrongWidthsAreNamed() {
        AnomalyScorer s = new AnomalyScorer(CONFIG, 3.0);
        assertThatThrownBy(() -> s.score(result(2, new float[] {0}, new float[] {1, 2})))
                .hasMessageContaining("expected 2 predicted features, found 1");
        assertThatThrownBy(() -> s.score(result(2, new float[] {0, 0}, new float[] {1})))
                .hasMessageContaining("expected 2 observed features, found 1");
    }

    @Test
    void scoringConfigIsReadAndValidated(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("scoring.json"),
                "{\"feature_names\": [\"x\", \"y\"], \"residual_scale\": [0.1, 0.2], \"threshold\": 5.5, \"warmup\": 16}");
        ScoringConfig c = ScoringConfig.load(dir);
        assertThat(c.featureNames()).containsExactly("x", "y");
        assertThat(c.residualScale()).containsExactly(0.1, 0.2);
        assertThat(c.threshold()).isEqualTo(5.5);
        assertThat(c.warmup()).isEqualTo(16);
        Files.writeString(dir.resolve("scoring.json"),
                "{\"feature_names\": [\"x\", \"y\"], \"residual_scale\": [0.1, 0], \"threshold\": 5.5}");
        assertThatThrownBy(() -> ScoringConfig.load(dir)).hasMessageContaining("residual_scale[1] (y) must be finite and > 0");
        Files.writeString(dir.resolve("scoring.json"), "{\"feature_names\": [\"x\"], \"threshold\": 5.5}");
        assertThatThrownBy(() -> ScoringConfig.load(dir)).hasMessageContaining("field 'residual_scale' is missing");
    }

    @Test
    void detectionStatsCountFlagsInsideAnomalyWindowsAndDetectedAnomalies() {
        DetectionStats d = new DetectionStats();
        d.recordEpisode("a", 30, 40);
        d.recordEpisode("a", 80, 80);
        d.recordEpisode("b", 500, 510); // never reached: not counted as injected
        d.recordScore("a", 10, true); // false positive
        d.recordScore("a", 35, true);
        d.recordScore("a", 45, true); // inside the grace window after 40
        d.recordScore("a", 90, false);
        d.recordScore("b", 20, false);
        DetectionStats.Summary s = d.summary();
        assertThat(s.injected()).isEqualTo(2);
        assertThat(s.detected()).isEqualTo(1);
        assertThat(s.flagged()).isEqualTo(3);
        assertThat(s.truePositiveFlags()).isEqualTo(2);
        assertThat(s.precision()).isCloseTo(2.0 / 3, within(1e-12));
        assertThat(s.recall()).isEqualTo(0.5);
    }

    @Test
    void generatorIsReproducibleAndLabelsItsAnomalies() {
        float[] x = new float[4];
        float[] y = new float[4];
        SyntheticTelemetry.Device a = new SyntheticTelemetry.Device(5, 3, 0.05);
        SyntheticTelemetry.Device b = new SyntheticTelemetry.Device(5, 3, 0.05);
        int anomalous = 0;
        for (int t = 0; t < 2000; t++) {
            AnomalyKind ka = a.next(x);
            AnomalyKind kb = b.next(y);
            assertThat(x).containsExactly(y);
            assertThat(ka).isEqualTo(kb);
            if (t < SyntheticTelemetry.INJECT_AFTER) {
                assertThat(ka).isEqualTo(AnomalyKind.NONE);
            }
            if (a.startedEpisode()) {
                assertThat(a.episodeStart()).isEqualTo(t + 1);
                assertThat(ka).isNotEqualTo(AnomalyKind.NONE);
            }
            anomalous += ka == AnomalyKind.NONE ? 0 : 1;
        }
        assertThat(a.episodes()).isGreaterThan(5);
        assertThat(anomalous).isGreaterThan(0);
    }
}
