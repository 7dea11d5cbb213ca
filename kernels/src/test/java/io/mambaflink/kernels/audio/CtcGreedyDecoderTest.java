package io.mambaflink.kernels.audio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class CtcGreedyDecoderTest {
    private static final CtcGreedyDecoder DEC = new CtcGreedyDecoder(List.of("_", "a", "b", " "));

    /** One-hot-ish frames: label l scores 1, the rest 0 (label -1: all equal, so the first, the blank, wins). */
    private static float[] frames(int... best) {
        float[] x = new float[best.length * 4];
        for (int t = 0; t < best.length; t++) {
            if (best[t] >= 0) {
                x[t * 4 + best[t]] = 1f;
            }
        }
        return x;
    }

    @Test
    void repeatsCollapseUnlessABlankSeparatesThem() {
        assertThat(DEC.decode(frames(0, 1, 1, 0, 1, 2, 2, 3, 3, 0, 2, -1), 12)).isEqualTo("aab b");
        assertThat(DEC.decode(frames(), 0)).isEmpty();
        assertThat(DEC.decode(frames(0, 0, 0), 3)).isEmpty();
        assertThat(DEC.decode(frames(2, 2, 2), 3)).isEqualTo("b");
    }

    @Test
    void frameByFrameEqualsTheWholeSequence() {
        float[] x = frames(0, 1, 1, 0, 1, 2, 2, 3, 3, 0, 2);
        StringBuilder text = new StringBuilder();
        int previous = CtcGreedyDecoder.BLANK;
        for (int t = 0; t < 11; t++) {
            int label = DEC.argmax(x, t * 4);
            int emit = CtcGreedyDecoder.accept(previous, label);
            if (emit >= 0) {
                text.append(DEC.label(emit));
            }
            previous = label;
        }
        assertThat(text.toString()).isEqualTo(DEC.decode(x, 11));
    }

    @Test
    void tiesGoToTheFirstLabelAndInfinitiesCount() {
        assertThat(DEC.argmax(new float[] {0, 2, 2, 1}, 0)).isEqualTo(1);
        assertThat(DEC.argmax(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY,
            Float.NEGATIVE_INFINITY}, 0)).isEqualTo(0);
        assertThat(DEC.argmax(new float[] {0, 0, Float.POSITIVE_INFINITY, 0}, 0)).isEqualTo(2);
    }

    @Test
    void badLogitsAndLabelsAreRejected() {
        assertThatThrownBy(() -> DEC.argmax(new float[] {0, Float.NaN, 0, 0}, 0)).hasMessageContaining("NaN for label 1 (a)");
        assertThatThrownBy(() -> DEC.decode(new float[7], 2)).hasMessageContaining("7 values, expected 2 x 4");
        assertThatThrownBy(() -> new CtcGreedyDecoder(List.of("_"))).hasMessageContaining("found 1");
    }
}
