package io.mambaflink.kernels.audio;

import java.util.List;

/**
 * Greedy (best-path) CTC decoding of per-frame logits, one frame at a time: a frame's label is its argmax (the first of
 * equal maxima, as {@code torch.argmax}); a label is emitted when it is not the blank (index 0) and differs from the
 * previous frame's label, so repeats collapse unless a blank separates them. A stream's whole decoding state is the
 * previous frame's label ({@link #accept}'s {@code previous}), so it fits in checkpointed state beside the model's.
 */
public final class CtcGreedyDecoder {
    /** The blank label's index. */
    public static final int BLANK = 0;

    private final List<String> labels; // (nLabels) label 0 is the blank

    public CtcGreedyDecoder(List<String> labels) {
        if (labels.size() < 2) {
            throw new IllegalArgumentException("CTC labels: expected the blank and at least one more, found " + labels.size());
        }
        this.labels = List.copyOf(labels);
    }

    public int size() {
        return labels.size();
    }

    public String label(int i) {
        return labels.get(i);
    }

    /**
     * The argmax of logits[off .. off + size()). Throws IllegalArgumentException for a NaN logit (naming its label), so a
     * broken model output never decodes to text silently.
     */
    public int argmax(float[] logits, int off) {
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < labels.size(); i++) {
            float v = logits[off + i];
            if (Float.isNaN(v)) {
                throw new IllegalArgumentException("CTC logits: NaN for label " + i + " (" + labels.get(i) + ")");
            }
            if (v > max) {
                max = v;
                best = i;
            }
        }
        return best;
    }

    /**
     * One frame: returns the label to emit, or -1 (blank or a repeat). {@code previous} is the label of the stream's
     * previous frame ({@link #BLANK} at its start); the caller keeps {@link #argmax} of this frame as the next one's.
     */
    public static int accept(int previous, int label) {
        return label != BLANK && label != previous ? label : -1;
    }

    /** A whole sequence of frames, (frames, size()) row-major: the concatenated labels emitted. */
    public String decode(float[] logits, int frames) {
        if (logits.length < (long) frames * labels.size()) {
            throw new IllegalArgumentException("CTC logits: " + logits.length + " values, expected " + frames + " x " + labels.size());
        }
        StringBuilder text = new StringBuilder();
        int previous = BLANK;
        for (int t = 0; t < frames; t++) {
            int label = argmax(logits, t * labels.size());
            int emit = accept(previous, label);
            if (emit >= 0) {
                text.append(labels.get(emit));
            }
            previous = label;
        }
        return text.toString();
    }
}
