package io.mambaflink.kernels.golden;

import io.mambaflink.kernels.checkpoint.CheckpointException;
import io.mambaflink.kernels.checkpoint.SafeTensorsFile;
import java.nio.file.Path;

/**
 * A golden file in the fixtures' layout: {@code input_ids} (B, T) with {@code logits} (B, T, V), or {@code features}
 * (B, T, F) with {@code outputs} (B, T, O). Row b is one stream; position t its t-th event.
 *
 * @param path       the file
 * @param b          streams
 * @param t          events per stream
 * @param tokens     (B, T) token ids, or null
 * @param features   (B, T, F) feature vectors as float32, or null
 * @param featureDim F, or 0
 * @param expected   (B, T, O) reference outputs, float64
 * @param outputDim  O
 * @param outputName "logits" or "outputs"
 */
public record GoldenFile(Path path, int b, int t, long[] tokens, float[] features, int featureDim, double[] expected,
        int outputDim, String outputName) {

    /** Reads and checks a golden file; a malformed one throws {@link GoldenFormatException}. */
    public static GoldenFile read(Path path) {
        try (SafeTensorsFile f = SafeTensorsFile.open(path)) {
            var e = f.entries();
            if (e.containsKey("input_ids")) {
                long[] ids = shape(f, "input_ids", 2);
                long[] out = shape(f, "logits", 3);
                match(path, ids, out);
                return new GoldenFile(path, (int) ids[0], (int) ids[1], f.longs("input_ids"), null, 0,
                        f.doubles("logits"), (int) out[2], "logits");
            }
            if (e.containsKey("features")) {
                long[] in = shape(f, "features", 3);
                long[] out = shape(f, "outputs", 3);
                match(path, in, out);
                double[] feats = f.doubles("features");
                float[] ff = new float[feats.length];
                for (int i = 0; i < feats.length; i++) {
                    ff[i] = (float) feats[i];
                }
                return new GoldenFile(path, (int) in[0], (int) in[1], null, ff, (int) in[2], f.doubles("outputs"),
                        (int) out[2], "outputs");
            }
            throw new GoldenFormatException(path + ": golden file has neither input_ids nor features, found tensors " + e.keySet());
        } catch (CheckpointException ex) {
            throw new GoldenFormatException(ex.getMessage(), ex);
        }
    }

    private static long[] shape(SafeTensorsFile f, String name, int rank) {
        var entry = f.entries().get(name);
        if (entry == null) {
            throw new GoldenFormatException(f.path() + ": golden file is missing tensor " + name);
        }
        if (entry.shape().length != rank) {
            throw new GoldenFormatException(f.path() + ": tensor " + name + " must have rank " + rank + ", found shape "
                    + entry.shapeString());
        }
        return entry.shape();
    }

    private static void match(Path path, long[] in, long[] out) {
        if (in[0] != out[0] || in[1] != out[1]) {
            throw new GoldenFormatException(path + ": inputs and outputs disagree on (B, T): (" + in[0] + ", " + in[1]
                    + ") vs (" + out[0] + ", " + out[1] + ")");
        }
    }

    public boolean tokenInput() {
        return tokens != null;
    }
}
