package io.mambaflink.kernels.golden;

import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;

/**
 * Runs every row of a golden file as its own stream, one engine step per position (all rows batched together), and
 * measures max |out - ref| / max |ref| over every [stream, position].
 */
public final class GoldenVerifier {
    private GoldenVerifier() {}

    /**
     * @param error      max |out - ref| / max |ref|
     * @param maxAbsDiff max |out - ref|
     * @param maxAbsRef  max |ref|
     * @param worstRow   stream of the largest difference
     * @param worstPos   position of the largest difference
     * @param outputs    (B, T, O) engine outputs
     */
    public record Result(String tensor, double error, double maxAbsDiff, double maxAbsRef, int worstRow, int worstPos,
            float[] outputs) {}

    /** Checks that the golden file fits the model; throws {@link GoldenFormatException} naming the mismatch. */
    public static void checkFits(GoldenFile g, MambaConfig c) {
        if (g.tokenInput() != c.io().tokenInput()) {
            throw new GoldenFormatException(g.path() + ": golden file has " + (g.tokenInput() ? "input_ids" : "features")
                    + " but the model takes " + (c.io().tokenInput() ? "token ids" : "feature vectors"));
        }
        if (!g.tokenInput() && g.featureDim() != c.io().inputDim()) {
            throw new GoldenFormatException(g.path() + ": features have " + g.featureDim() + " values per event, the model expects "
                    + c.io().inputDim());
        }
        if (g.outputDim() != c.outputDim()) {
            throw new GoldenFormatException(g.path() + ": " + g.outputName() + " have " + g.outputDim()
                    + " values per event, the model produces " + c.outputDim());
        }
        if (g.tokenInput()) {
            for (long id : g.tokens()) {
                if (id < 0 || id >= c.vocabSize()) {
                    throw new GoldenFormatException(g.path() + ": input_ids holds token " + id + ", outside the vocabulary 0.."
                            + (c.vocabSize() - 1));
                }
            }
        }
    }

    /** Runs the file on an engine with at least {@code g.b()} slots and batch size. Slots 0..B-1 are reset first. */
    public static Result run(StepEngine engine, GoldenFile g) {
        MambaConfig c = engine.model().config();
        checkFits(g, c);
        if (engine.capacity() < g.b() || engine.maxBatch() < g.b()) {
            throw new IllegalArgumentException("engine has " + engine.capacity() + " slots / batch " + engine.maxBatch()
                    + ", the golden file needs " + g.b());
        }
        int o = g.outputDim();
        float[] out = new float[g.b() * g.t() * o];
        StepBatch batch = engine.newBatch();
        for (int s = 0; s < g.b(); s++) {
            engine.reset(s);
        }
        for (int t = 0; t < g.t(); t++) {
            batch.clear();
            for (int s = 0; s < g.b(); s++) {
                if (g.tokenInput()) {
                    batch.addToken(s, (int) g.tokens()[s * g.t() + t]);
                } else {
                    batch.addFeatures(s, g.features(), (s * g.t() + t) * g.featureDim());
                }
            }
            engine.step(batch);
            for (int s = 0; s < g.b(); s++) {
                System.arraycopy(batch.outputs(), batch.outputOffset(s), out, (s * g.t() + t) * o, o);
            }
        }
        return compare(g, out);
    }

    static Result compare(GoldenFile g, float[] out) {
        double maxDiff = 0;
        double maxRef = 0;
        int worst = 0;
        double[] ref = g.expected();
        for (int i = 0; i < ref.length; i++) {
            double d = Math.abs(out[i] - ref[i]);
            if (!(d <= maxDiff)) { // NaN counts as the worst
                maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
                worst = i;
            }
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        int per = g.t() * g.outputDim();
        return new Result(g.outputName(), maxRef == 0 ? maxDiff : maxDiff / maxRef, maxDiff, maxRef, worst / per,
                (worst % per) / g.outputDim(), out);
    }
}
