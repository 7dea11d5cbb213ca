package io.mambaflink.operators;

import io.mambaflink.kernels.MambaModel;
import java.io.Serializable;
import java.nio.file.Path;

/**
 * Where each parallel operator instance gets its model. Shipped with the job graph, so it holds a recipe (a path, a
 * seed), never the weights.
 */
@FunctionalInterface
public interface ModelSource extends Serializable {

    MambaModel load();

    /** A Hugging Face checkpoint folder readable from every task manager. */
    static ModelSource path(String dir) {
        return new PathSource(dir);
    }

    /** Loads a checkpoint folder; its {@code toString} is the path, for messages. */
    record PathSource(String dir) implements ModelSource {
        public PathSource {
            if (dir == null || dir.isBlank()) {
                throw new IllegalArgumentException(MambaOptions.MODEL_PATH.key() + " is required");
            }
        }

        @Override
        public MambaModel load() {
            return MambaModel.load(Path.of(dir));
        }

        @Override
        public String toString() {
            return dir;
        }
    }
}
