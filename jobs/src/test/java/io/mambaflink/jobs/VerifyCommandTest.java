package io.mambaflink.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import io.mambaflink.kernels.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The verify subcommand, run through the CLI entry point as a user runs it. */
class VerifyCommandTest {

    @TempDir
    Path tmp;

    private record Run(int code, String out, String err) {}

    private static Run cli(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void passesOnEveryFixture(String name) {
        Run r = cli("verify", "--model", Fixtures.dir(name).toString(), "--golden", Fixtures.golden(name).toString(), "--backend", "cpu");
        System.out.print(r.out());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(logits|outputs): max\\|out - ref\\| / max\\|ref\\| = \\d\\.\\d{3}e-0[5-9] .* OK");
    }

    @Test
    void exitsOneOutsideTolerance() {
        String name = "mamba1-telemetry-tiny";
        Run r = cli("verify", "--model", Fixtures.dir(name).toString(), "--golden", Fixtures.golden(name).toString(), "--tolerance", "1e-12");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.out()).contains("FAIL (tolerance 1.0E-12)");
    }

    @Test
    void malformedGoldenFileExitsTwoWithAClearMessage() throws IOException {
        Path bad = tmp.resolve("bad.safetensors");
        Files.write(bad, new byte[] {1, 2, 3});
        Run r = cli("verify", "--model", Fixtures.dir("mamba1-lm-tiny").toString(), "--golden", bad.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("bad.safetensors").contains("too short");
    }

    @Test
    void goldenOfAnotherShapeExitsTwo() {
        Run r = cli("verify", "--model", Fixtures.dir("mamba1-telemetry-tiny").toString(), "--golden",
                Fixtures.golden("mamba2-speech-tiny").toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("features have 80 values per event, the model expects 6");
        Run lm = cli("verify", "--model", Fixtures.dir("mamba1-lm-tiny").toString(), "--golden",
                Fixtures.golden("mamba1-telemetry-tiny").toString());
        assertThat(lm.code()).isEqualTo(2);
        assertThat(lm.err()).contains("golden file has features but the model takes token ids");
    }

    @Test
    void badCheckpointExitsTwo() {
        Run r = cli("verify", "--model", tmp.toString(), "--golden", Fixtures.golden("mamba1-lm-tiny").toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("missing config.json");
    }

    @Test
    void helpAndUsageErrors() {
        Run help = cli("verify", "--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("--model").contains("--golden").contains("--backend");
        Run missing = cli("verify", "--golden", "x");
        assertThat(missing.code()).isEqualTo(2);
        assertThat(missing.err()).contains("Missing required option: '--model=DIR'");
    }
}
