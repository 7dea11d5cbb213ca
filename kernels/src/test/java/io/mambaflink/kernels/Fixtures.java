package io.mambaflink.kernels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The reference fixtures copied into test resources (see fixtures/PROVENANCE.md). Other modules read them from this
 * module's test-jar: then they are extracted once per JVM to a temporary folder, since the loader memory-maps files.
 */
public final class Fixtures {
    public static final List<String> MODELS = List.of("mamba1-lm-tiny", "mamba2-lm-tiny", "mamba1-telemetry-tiny", "mamba2-speech-tiny");

    private static final Map<String, Path> EXTRACTED = new ConcurrentHashMap<>();

    private Fixtures() {}

    public static Path dir(String name) {
        URL url = Fixtures.class.getResource("/fixtures/" + name);
        if (url == null) {
            throw new IllegalStateException("test resource fixtures/" + name + " is missing");
        }
        try {
            URI uri = url.toURI();
            if (!"jar".equals(uri.getScheme())) {
                return Path.of(uri);
            }
            return EXTRACTED.computeIfAbsent(name, n -> extract(uri, n));
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path extract(URI uri, String name) {
        try {
            FileSystem fs;
            try {
                fs = FileSystems.newFileSystem(uri, Map.of());
            } catch (FileSystemAlreadyExistsException e) {
                fs = FileSystems.getFileSystem(uri);
            }
            Path src = fs.provider().getPath(uri);
            Path dst = Files.createTempDirectory("mamba-fixture-" + name);
            dst.toFile().deleteOnExit();
            try (Stream<Path> files = Files.list(src)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Path out = dst.resolve(f.getFileName().toString());
                    Files.copy(f, out);
                    out.toFile().deleteOnExit();
                }
            }
            return dst;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract fixture " + name, e);
        }
    }

    public static Path golden(String name) {
        return dir(name).resolve("golden.safetensors");
    }

    public static MambaModel model(String name) {
        return MambaModel.load(dir(name));
    }
}
