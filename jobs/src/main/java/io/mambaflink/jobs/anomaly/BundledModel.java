package io.mambaflink.jobs.anomaly;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** The telemetry model shipped in the jar ({@code models/telemetry/}), copied out to a folder the engine can map. */
public final class BundledModel {
    /** Files of a model folder the job needs. */
    private static final String[] FILES = {"config.json", "model.safetensors", "scoring.json"};

    private BundledModel() {}

    /** Copies the bundled telemetry model into {@code dir} (created if needed) and returns it. */
    public static Path extractTelemetry(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String f : FILES) {
            String res = "/models/telemetry/" + f;
            try (InputStream in = BundledModel.class.getResourceAsStream(res)) {
                if (in == null) {
                    throw new IOException("resource " + res + " is missing from the classpath");
                }
                Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dir;
    }
}
