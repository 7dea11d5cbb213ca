package io.mambaflink.jobs.anomaly;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.engine.EngineOptions.MatmulPrecision;
import io.mambaflink.operators.FingerprintPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class AnomalyJobOptionsTest {

    @Test
    void flagsOverrideThePropertiesFile(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("job.properties");
        Files.writeString(file, "bootstrap.servers=a:9092\ninput.topic=in\nparallelism=3\nthreshold=7.5\n"
                + "mamba.batch.max-delay=25\ncheckpoint.interval=1000\nmamba.cuda.device=1\nmamba.cuda.matmul-precision=bf16\n"
                + "mamba.cpu.threads=2\nmamba.state.ttl=3600000\nmamba.state.fingerprint-policy=RESET\n");
        JobFlags flags = new JobFlags();
        new CommandLine(flags).parseArgs("--properties", file.toString(), "--bootstrap-servers", "b:9092", "--batch-size", "64",
                "--cpu-threads", "4");
        AnomalyJobOptions o = AnomalyJobOptions.fromProperties(flags.toProperties()).validate();
        assertThat(o.bootstrapServers).isEqualTo("b:9092");
        assertThat(o.inputTopic).isEqualTo("in");
        assertThat(o.outputTopic).isEqualTo("anomaly-scores");
        assertThat(o.parallelism).isEqualTo(3);
        assertThat(o.threshold).isEqualTo(7.5);
        assertThat(o.batchMaxSize).isEqualTo(64);
        assertThat(o.batchMaxDelayMs).isEqualTo(25);
        assertThat(o.checkpointIntervalMs).isEqualTo(1000);
        assertThat(o.cudaDevice).isEqualTo(1);
        assertThat(o.cudaMatmul()).isEqualTo(MatmulPrecision.BF16);
        assertThat(o.cpuThreads).isEqualTo(4);
        assertThat(o.stateTtl()).isEqualTo(Duration.ofHours(1));
        assertThat(o.fingerprint()).isEqualTo(FingerprintPolicy.RESET);
        AnomalyJobOptions defaults = AnomalyJobOptions.fromProperties(new Properties());
        assertThat(defaults.cudaMatmul()).isEqualTo(MatmulPrecision.FLOAT32);
        assertThat(defaults.cpuThreads).isEqualTo(1);
        assertThat(defaults.stateTtl()).isNull();
        assertThat(defaults.fingerprint()).isEqualTo(FingerprintPolicy.FAIL);
    }

    @Test
    void badValuesAreNamedByTheirKey(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("job.properties");
        Files.writeString(file, "bootstrap.servers=a:9092\nparalelism=3\n");
        assertThatThrownBy(() -> AnomalyJobOptions.readProperties(file)).hasMessageContaining("unknown key 'paralelism'");
        Properties p = new Properties();
        assertThatThrownBy(() -> AnomalyJobOptions.fromProperties(p).validate()).hasMessageContaining("bootstrap.servers is required");
        p.setProperty("bootstrap.servers", "a:9092");
        p.setProperty("parallelism", "two");
        assertThatThrownBy(() -> AnomalyJobOptions.fromProperties(p)).hasMessageContaining("parallelism must be an integer, found 'two'");
        p.setProperty("parallelism", "0");
        assertThatThrownBy(() -> AnomalyJobOptions.fromProperties(p).validate()).hasMessageContaining("parallelism must be > 0, found 0");
        p.setProperty("parallelism", "1");
        p.setProperty("starting-offsets", "newest");
        assertThatThrownBy(() -> AnomalyJobOptions.fromProperties(p).validate())
                .hasMessageContaining("starting-offsets must be earliest, latest or committed, found 'newest'");
        p.remove("starting-offsets");
        for (String[] bad : new String[][] {{"mamba.cuda.matmul-precision", "tf32", "must be FLOAT32 or BF16, found 'tf32'"},
                {"mamba.cpu.threads", "0", "mamba.cpu.threads must be > 0, found 0"},
                {"mamba.state.ttl", "0", "mamba.state.ttl must be > 0, found 0"},
                {"mamba.state.fingerprint-policy", "ignore", "must be FAIL or RESET, found 'ignore'"}}) {
            Properties q = (Properties) p.clone();
            q.setProperty(bad[0], bad[1]);
            assertThatThrownBy(() -> AnomalyJobOptions.fromProperties(q).validate()).as(bad[0]).hasMessageContaining(bad[2]);
        }
        assertThat(AnomalyJobOptions.fromProperties(p).validate()).isNotNull();
    }

    @Test
    void durationsReadLikePeopleWriteThem() {
        DemoCommand.DurationConverter c = new DemoCommand.DurationConverter();
        assertThat(c.convert("90s").toSeconds()).isEqualTo(90);
        assertThat(c.convert("5m").toMinutes()).isEqualTo(5);
        assertThat(c.convert("500ms").toMillis()).isEqualTo(500);
        assertThat(c.convert("PT2M").toSeconds()).isEqualTo(120);
    }
}
