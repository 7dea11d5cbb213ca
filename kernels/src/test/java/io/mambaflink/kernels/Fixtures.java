package io.mambaflink.kernels;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.List;

/** The reference fixtures copied into test resources (see fixtures/PROVENANCE.md). */
public final class Fixtures {
    public static final List<String> MODELS = List.of("mamba1-lm-tiny", "mamba2-lm-tiny", "mamba1-telemetry-tiny", "mamba2-speech-tiny");

    private Fixtures() {}

    public static Path dir(String name) {
        URL url = Fixtures.class.getResource("/fixtures/" + name);
        if (url == null) {
            throw new IllegalStateException("test resource fixtures/" + name + " is missing");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Path golden(String name) {
        return dir(name).resolve("golden.safetensors");
    }

    public static MambaModel model(String name) {
        return MambaModel.load(dir(name));
    }
}
