package io.mambaflink.jobs.anomaly;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class AnomalyJobOptionsTest {

    @Test
    void flagsOverrideThePropertiesFile(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("job.properties");
        Files.writeString(file, "bootstrap.servers=a:9092\ninput.topic=in\nparallelism=3\nthreshold=7.5\n"
                + "mamba.batch.max-delay=25\ncheckpoint.interval=1000\nmamba.cuda.device=1\n");
        JobFlags flags = new JobFlags();
        new CommandLine(flags).parseArgs("--properties", file.toString(), "--bootstrap-servers", "b:9092", "--batch-size", "64");
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
