package io.mambaflink.kernels;

import io.mambaflink.kernels.checkpoint.CheckpointLoader;
import io.mambaflink.kernels.state.StateLayout;
import java.nio.file.Path;

/**
 * A loaded model: its config, its float32 weights and a fingerprint that identifies both.
 *
 * @param config      the math-relevant config
 * @param weights     float32 weights
 * @param fingerprint 64-bit hash of the config and every weight; a stream state records it so it is never applied to
 *                    another model
 * @param source      where it came from, for messages
 */
public record MambaModel(MambaConfig config, MambaWeights weights, long fingerprint, String source) {

    /** Loads a Hugging Face checkpoint folder ({@code config.json} + {@code model.safetensors} or a sharded index). */
    public static MambaModel load(Path dir) {
        return CheckpointLoader.load(dir);
    }

    public StateLayout layout() {
        return new StateLayout(config);
    }

    public String fingerprintHex() {
        return String.format("%016x", fingerprint);
    }
}
