package io.mambaflink.operators;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.golden.GoldenVerifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

/** Fixture streams, reference outputs and harnesses shared by the operator tests. */
final class TestStreams {
    static final String TELEMETRY = "mamba1-telemetry-tiny";
    static final String LM = "mamba2-lm-tiny";

    private TestStreams() {}

    static ModelSource fixture(String name) {
        return () -> Fixtures.model(name);
    }

    static GoldenFile golden(String name) {
        return GoldenFile.read(Fixtures.golden(name));
    }

    static MambaOperatorConfig config(ModelSource model, int maxBatch, Duration delay, int cache) {
        return new MambaOperatorConfig(model, Backend.CPU, maxBatch, delay, cache, null, FingerprintPolicy.FAIL, 1);
    }

    static KeyedOneInputStreamOperatorTestHarness<String, StreamEvent, StreamResult> harness(MambaOperatorConfig c)
            throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, StreamEvent, StreamResult> h =
                new KeyedOneInputStreamOperatorTestHarness<>(new MambaStreamOperator(c), MambaInference::keyOf, Types.STRING);
        h.setStateBackend(new EmbeddedRocksDBStateBackend(true));
        return h;
    }

    static MambaStreamOperator operator(KeyedOneInputStreamOperatorTestHarness<String, StreamEvent, StreamResult> h) {
        return (MambaStreamOperator) h.getOperator();
    }

    static String key(int row) {
        return "s" + row;
    }

    /** Event t of golden row b, with ts = t. */
    static StreamEvent event(GoldenFile g, int b, int t) {
        if (g.tokenInput()) {
            return StreamEvent.token(key(b), t, (int) g.tokens()[b * g.t() + t]);
        }
        int f = g.featureDim();
        int off = (b * g.t() + t) * f;
        return StreamEvent.features(key(b), t, Arrays.copyOfRange(g.features(), off, off + f));
    }

    /** Every golden row as one key, the rows interleaved in a seeded random order that keeps each row's order. */
    static List<StreamEvent> interleaved(GoldenFile g, long seed) {
        Random rnd = new Random(seed);
        int[] next = new int[g.b()];
        List<StreamEvent> out = new ArrayList<>();
        int left = g.b() * g.t();
        while (left > 0) {
            int b = rnd.nextInt(g.b());
            if (next[b] < g.t()) {
                out.add(event(g, b, next[b]++));
                left--;
            }
        }
        return out;
    }

    /** (B, T, O) outputs of the engine driven directly: one batch of all rows per position (GoldenVerifier's run). */
    static float[][][] engineOutputs(MambaModel m, GoldenFile g) {
        float[] flat;
        try (StepEngine e = Engines.create(m, EngineOptions.cpu(g.b(), g.b(), 1))) {
            flat = GoldenVerifier.run(e, g).outputs();
        }
        int o = g.outputDim();
        float[][][] out = new float[g.b()][g.t()][];
        for (int b = 0; b < g.b(); b++) {
            for (int t = 0; t < g.t(); t++) {
                out[b][t] = Arrays.copyOfRange(flat, (b * g.t() + t) * o, (b * g.t() + t + 1) * o);
            }
        }
        return out;
    }

    static Duration hour() {
        return Duration.ofHours(1);
    }

    /** max |a - b| / max |b| (verify's figure), NaN counting as infinitely wrong. */
    static double relErr(float[] a, float[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < b.length; i++) {
            double d = Math.abs(a[i] - b[i]);
            if (!(d <= maxDiff)) {
                maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
            }
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }
}
