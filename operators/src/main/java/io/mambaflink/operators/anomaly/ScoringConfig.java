package io.mambaflink.operators.anomaly;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How to turn a regression model's predictions into anomaly scores: {@code scoring.json} next to the model's
 * {@code config.json}, written by the training script.
 *
 * <pre>
 * {
 *   "feature_names":  ["temperature", "vibration", "pressure", "current"],   // model input/output order
 *   "residual_scale": [0.07, 0.08, 0.07, 0.07],  // per feature: RMS of (observed - predicted) on held-out normal data
 *   "threshold": 6.0,                             // default flag threshold on the score
 *   "warmup": 16                                  // positions below this are scored but never flagged
 * }
 * </pre>
 *
 * @param featureNames  feature names in model order
 * @param residualScale (features) per-feature scale of the prediction error on normal data
 * @param threshold     default threshold
 * @param warmup        events a stream needs before its scores are trusted
 */
public record ScoringConfig(List<String> featureNames, double[] residualScale, double threshold, int warmup) {
    /** The file name next to config.json. */
    public static final String FILE = "scoring.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    public ScoringConfig {
        featureNames = List.copyOf(featureNames);
        if (featureNames.isEmpty()) {
            throw new IllegalArgumentException("scoring: feature_names is empty");
        }
        if (residualScale.length != featureNames.size()) {
            throw new IllegalArgumentException("scoring: residual_scale has " + residualScale.length
                    + " values, expected one per feature (" + featureNames.size() + ")");
        }
        for (int i = 0; i < residualScale.length; i++) {
            if (!(residualScale[i] > 0) || Double.isInfinite(residualScale[i])) {
                throw new IllegalArgumentException("scoring: residual_scale[" + i + "] (" + featureNames.get(i)
                        + ") must be finite and > 0, found " + residualScale[i]);
            }
        }
        if (!(threshold > 0)) {
            throw new IllegalArgumentException("scoring: threshold must be > 0, found " + threshold);
        }
        if (warmup < 0) {
            throw new IllegalArgumentException("scoring: warmup must be >= 0, found " + warmup);
        }
    }

    /** Reads {@code modelDir/scoring.json}. */
    public static ScoringConfig load(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read the scoring config: " + e.getMessage(), e);
        }
        try {
            List<String> names = new ArrayList<>();
            for (JsonNode n : required(root, "feature_names")) {
                names.add(n.asText());
            }
            JsonNode s = required(root, "residual_scale");
            double[] scale = new double[s.size()];
            for (int i = 0; i < scale.length; i++) {
                scale[i] = s.get(i).asDouble();
            }
            return new ScoringConfig(names, scale, required(root, "threshold").asDouble(),
                    root.has("warmup") ? root.get("warmup").asInt() : 0);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode required(JsonNode root, String field) {
        JsonNode n = root == null ? null : root.get(field);
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException("field '" + field + "' is missing");
        }
        return n;
    }

    public int features() {
        return featureNames.size();
    }
}
