package io.mambaflink.jobs.anomaly;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mambaflink.jobs.Main;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local run end to end, against a broker given with --bootstrap-servers (the external-Kafka path). */
class DemoCommandITCase {

    @Test
    void runsAgainstAnExternalBrokerAndWritesTheSummary(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("summary.json");
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            int rc = Main.run("demo", "--bootstrap-servers", kafka.bootstrapServers(), "--devices", "50", "--rate", "1000",
                    "--duration", "12s", "--anomaly-rate", "0.02", "--bad-rate", "0.01", "--checkpoint-interval-ms", "500",
                    "--web-port", "18081", "--summary-json", json.toString());
            assertThat(rc).isZero();
        }
        JsonNode s = new ObjectMapper().readTree(json.toFile());
        for (String k : new String[] {"events_in", "scored", "rejected", "dead_lettered", "events_per_s", "p50_ms", "p99_ms",
                "injected", "flagged", "precision", "recall"}) {
            assertThat(s.has(k)).as("summary has %s", k).isTrue();
        }
        assertThat(s.get("events_in").asLong()).isGreaterThan(1000);
        assertThat(s.get("scored").asLong() + s.get("dead_lettered").asLong()).isEqualTo(s.get("events_in").asLong());
        assertThat(s.get("dead_lettered").asLong()).isPositive();
        assertThat(s.get("rejected").asLong()).isLessThanOrEqualTo(s.get("dead_lettered").asLong());
        assertThat(s.get("p99_ms").asLong()).isGreaterThanOrEqualTo(s.get("p50_ms").asLong());
    }
}
