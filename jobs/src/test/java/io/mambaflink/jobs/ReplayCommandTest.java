package io.mambaflink.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.golden.GoldenFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The replay command end to end on the fixtures: each golden row is one key, the rows interleaved in the file. */
class ReplayCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Through the CLI entry point, as a user runs it. */
    private static int replay(String... args) {
        String[] line = new String[args.length + 1];
        line[0] = "replay";
        System.arraycopy(args, 0, line, 1, args.length);
        return Main.run(line);
    }

    /** Golden rows as keys s0..s{B-1}, interleaved at random (each row in order), then an end for s0. */
    private static List<String> eventLines(GoldenFile g) {
        Random rnd = new Random(3);
        int[] next = new int[g.b()];
        List<String> lines = new ArrayList<>();
        for (int left = g.b() * g.t(); left > 0; ) {
            int b = rnd.nextInt(g.b());
            if (next[b] == g.t()) {
                continue;
            }
            int t = next[b]++;
            left--;
            ObjectNode o = JSON.createObjectNode().put("key", "s" + b).put("ts", 1000L + t);
            if (g.tokenInput()) {
                o.put("token", g.tokens()[b * g.t() + t]);
            } else {
                var a = o.putArray("features");
                for (int f = 0; f < g.featureDim(); f++) {
                    a.add(g.features()[(b * g.t() + t) * g.featureDim() + f]);
                }
            }
            lines.add(o.toString());
        }
        lines.add("{\"key\": \"s0\", \"ts\": 5000, \"control\": \"end\"}");
        return lines;
    }

    @ParameterizedTest
    @ValueSource(strings = {"mamba1-telemetry-tiny", "mamba1-lm-tiny"})
    void replaysEveryFixtureRowAsAKey(String name) throws IOException {
        GoldenFile g = GoldenFile.read(Fixtures.golden(name));
        Path in = tmp.resolve("events.jsonl");
        Path out = tmp.resolve("results.jsonl");
        Files.write(in, eventLines(g));

        int code = replay("--model", Fixtures.dir(name).toString(), "--input", in.toString(), "--output", out.toString(),
                "--parallelism", "2", "--max-batch-size", "7", "--max-batch-delay", "5", "--checkpoint-interval", "200",
                "--backend", "cpu");

        assertThat(code).isZero();
        Map<String, List<JsonNode>> byKey = new HashMap<>();
        for (String line : Files.readAllLines(out)) {
            JsonNode n = JSON.readTree(line);
            byKey.computeIfAbsent(n.get("key").asText(), k -> new ArrayList<>()).add(n);
        }
        assertThat(byKey).hasSize(g.b());
        for (int b = 0; b < g.b(); b++) {
            List<JsonNode> rs = byKey.get("s" + b);
            assertThat(rs).hasSize(b == 0 ? g.t() + 1 : g.t());
            for (int t = 0; t < g.t(); t++) {
                JsonNode r = rs.get(t);
                assertThat(r.get("ts").asLong()).isEqualTo(1000L + t);
                assertThat(r.get("position").asLong()).isEqualTo(t + 1);
                JsonNode output = r.get("output");
                assertThat(output.size()).isEqualTo(g.outputDim());
                for (int o = 0; o < g.outputDim(); o++) {
                    double ref = g.expected()[(b * g.t() + t) * g.outputDim() + o];
                    assertThat(output.get(o).asDouble()).as("s%d position %d output %d", b, t + 1, o)
                            .isCloseTo(ref, within(1e-4 * Math.max(1, Math.abs(ref))));
                }
            }
        }
        JsonNode end = byKey.get("s0").get(g.t());
        assertThat(end.get("end").asBoolean()).isTrue();
        assertThat(end.get("position").asLong()).isEqualTo(g.t());
        assertThat(Files.readAllLines(ReplayCommand.rejectedPath(out))).isEmpty();
    }

    @Test
    void badLinesGoToTheRejectedFileWithTheirReasons() throws IOException {
        String name = "mamba1-telemetry-tiny";
        Path in = tmp.resolve("events.jsonl");
        Path out = tmp.resolve("run.jsonl");
        Files.write(in, List.of(
                "{\"key\": \"a\", \"ts\": 1, \"features\": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}",
                "this is not json",
                "",
                "{\"key\": \"a\", \"ts\": 2, \"features\": [0.1, 0.2]}",
                "{\"key\": \"a\", \"ts\": 3, \"features\": [0.1, NaN, 0.3, 0.4, 0.5, 0.6]}",
                "{\"key\": \"a\", \"ts\": 4, \"control\": \"pause\"}",
                "{\"key\": \"a\", \"ts\": 5, \"token\": 3}",
                "{\"ts\": 6, \"features\": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}",
                "{\"key\": \"a\", \"ts\": 7, \"features\": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}"));

        int code = replay("--model", Fixtures.dir(name).toString(), "--input", in.toString(), "--output", out.toString(),
                "--checkpoint-interval", "200", "--backend", "cpu");

        assertThat(code).isZero();
        assertThat(Files.readAllLines(out)).extracting(l -> JSON.readTree(l).get("position").asLong()).containsExactly(1L, 2L);
        Path rejectedFile = tmp.resolve("run.rejected.jsonl");
        List<JsonNode> rejected = new ArrayList<>();
        for (String line : Files.readAllLines(rejectedFile)) {
            rejected.add(JSON.readTree(line));
        }
        assertThat(rejected).extracting(r -> r.get("reason").asText()).containsExactlyInAnyOrder("UNDECODABLE",
                "WRONG_FEATURE_COUNT", "NON_FINITE_FEATURE", "UNKNOWN_CONTROL", "MISSING_PAYLOAD", "UNDECODABLE");
        assertThat(rejected).filteredOn(r -> r.has("line")).extracting(r -> r.get("line").asText())
                .containsExactlyInAnyOrder("this is not json", "{\"ts\": 6, \"features\": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}");
        assertThat(rejected).filteredOn(r -> r.get("reason").asText().equals("UNKNOWN_CONTROL"))
                .first().satisfies(r -> assertThat(r.get("event").get("control").asText()).isEqualTo("pause"));
    }

    @Test
    void missingModelExitsTwo() throws IOException {
        Path in = tmp.resolve("events.jsonl");
        Files.write(in, List.of("{\"key\": \"a\", \"token\": 1}"));
        int code = replay("--model", tmp.resolve("nope").toString(), "--input", in.toString(), "--output",
                tmp.resolve("o.jsonl").toString());
        assertThat(code).isEqualTo(2);
    }
}
