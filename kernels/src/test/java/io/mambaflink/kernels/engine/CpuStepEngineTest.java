package io.mambaflink.kernels.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.state.StateCodec;
import io.mambaflink.kernels.state.StreamState;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

class CpuStepEngineTest {

    /** Outputs of stepping each golden row alone, one event per call: the baseline. */
    private static float[] oneByOne(MambaModel model, GoldenFile g) {
        int o = g.outputDim();
        float[] out = new float[g.b() * g.t() * o];
        try (StepEngine e = new CpuStepEngine(model, EngineOptions.cpu(1, 1, 1))) {
            StepBatch batch = e.newBatch();
            for (int s = 0; s < g.b(); s++) {
                e.reset(0);
                for (int t = 0; t < g.t(); t++) {
                    batch.clear();
                    add(batch, g, 0, s, t);
                    e.step(batch);
                    System.arraycopy(batch.outputs(), 0, out, (s * g.t() + t) * o, o);
                }
                assertThat(e.position(0)).isEqualTo(g.t());
            }
        }
        return out;
    }

    private static void add(StepBatch batch, GoldenFile g, int slot, int s, int t) {
        if (g.tokenInput()) {
            batch.addToken(slot, (int) g.tokens()[s * g.t() + t]);
        } else {
            batch.addFeatures(slot, g.features(), (s * g.t() + t) * g.featureDim());
        }
    }

    @Test
    void slotPoolLargerThanTheHeapFailsWithItsSize() {
        MambaModel model = Fixtures.model("mamba1-telemetry-tiny");
        long stateBytes = 4L * model.layout().size();
        int capacity = (int) (Runtime.getRuntime().maxMemory() / stateBytes + 1);
        assertThatThrownBy(() -> new CpuStepEngine(model, EngineOptions.cpu(capacity, 1, 1)))
                .isInstanceOf(EngineCapacityException.class)
                .hasMessageContaining("slot pool of " + capacity + " states x " + stateBytes + " bytes")
                .hasMessageContaining("exceeds the JVM's maximum heap of " + (Runtime.getRuntime().maxMemory() >> 20) + " MB")
                .satisfies(e -> assertThat(((EngineCapacityException) e).permanent()).isTrue());
    }

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void continuingFromADecodedStateEqualsNeverStopping(String name) {
        MambaModel model = Fixtures.model(name);
        GoldenFile g = GoldenFile.read(Fixtures.golden(name));
        float[] expected = oneByOne(model, g);
        int o = g.outputDim();
        int cut = g.t() / 3;
        for (int s = 0; s < g.b(); s++) {
            byte[] saved;
            try (StepEngine first = new CpuStepEngine(model, EngineOptions.cpu(4, 4, 1))) {
                StepBatch batch = first.newBatch();
                first.reset(2);
                for (int t = 0; t < cut; t++) {
                    batch.clear();
                    add(batch, g, 2, s, t);
                    first.step(batch);
                }
                StreamState st = new StreamState(model.layout());
                first.store(2, st);
                saved = StateCodec.encode(st, model.fingerprint());
            }
            // a fresh engine, another slot: as after a restore on another task
            try (StepEngine second = new CpuStepEngine(model, EngineOptions.cpu(8, 8, 2))) {
                StreamState st = new StreamState(model.layout());
                StateCodec.decode(saved, model.fingerprint(), st);
                assertThat(st.position()).isEqualTo(cut);
                second.load(5, st);
                StepBatch batch = second.newBatch();
                for (int t = cut; t < g.t(); t++) {
                    batch.clear();
                    add(batch, g, 5, s, t);
                    second.step(batch);
                    float[] got = java.util.Arrays.copyOfRange(batch.outputs(), 0, o);
                    float[] want = java.util.Arrays.copyOfRange(expected, (s * g.t() + t) * o, (s * g.t() + t + 1) * o);
                    assertThat(got).as("%s stream %d position %d", name, s, t).containsExactly(want);
                }
                assertThat(second.position(5)).isEqualTo(g.t());
            }
        }
    }

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void catchingUpSeveralEventsAtOnceEqualsOneByOne(String name) {
        MambaModel model = Fixtures.model(name);
        GoldenFile g = GoldenFile.read(Fixtures.golden(name));
        float[] expected = oneByOne(model, g);
        int o = g.outputDim();
        // Deliver the golden rows' events in random bursts: each burst holds several pending events per stream.
        SplittableRandom rnd = new SplittableRandom(42);
        int[] next = new int[g.b()];
        try (StepEngine engine = new CpuStepEngine(model, EngineOptions.cpu(g.b(), 2, 2))) {
            StreamStepper stepper = new StreamStepper(engine);
            for (int s = 0; s < g.b(); s++) {
                engine.reset(s);
            }
            int remaining = g.b() * g.t();
            while (remaining > 0) {
                List<int[]> burst = new ArrayList<>(); // (stream, position)
                int size = 1 + rnd.nextInt(12);
                for (int k = 0; k < size && remaining > 0; k++) {
                    int s = rnd.nextInt(g.b());
                    if (next[s] < g.t()) {
                        burst.add(new int[] {s, next[s]++});
                        remaining--;
                    }
                }
                int n = burst.size();
                int[] slots = new int[n];
                int[] tokens = g.tokenInput() ? new int[n] : null;
                float[] feats = g.tokenInput() ? null : new float[n * g.featureDim()];
                for (int i = 0; i < n; i++) {
                    int s = burst.get(i)[0];
                    int t = burst.get(i)[1];
                    slots[i] = s;
                    if (tokens != null) {
                        tokens[i] = (int) g.tokens()[s * g.t() + t];
                    } else {
                        System.arraycopy(g.features(), (s * g.t() + t) * g.featureDim(), feats, i * g.featureDim(), g.featureDim());
                    }
                }
                float[] out = new float[n * o];
                stepper.run(n, slots, tokens, feats, out);
                for (int i = 0; i < n; i++) {
                    int s = burst.get(i)[0];
                    int t = burst.get(i)[1];
                    assertThat(java.util.Arrays.copyOfRange(out, i * o, (i + 1) * o)).as("%s stream %d position %d", name, s, t)
                            .containsExactly(java.util.Arrays.copyOfRange(expected, (s * g.t() + t) * o, (s * g.t() + t + 1) * o));
                }
            }
        }
    }

    @ParameterizedTest
    @FieldSource("io.mambaflink.kernels.Fixtures#MODELS")
    void zeroStateIsTheStartOfAStream(String name) {
        MambaModel model = Fixtures.model(name);
        GoldenFile g = GoldenFile.read(Fixtures.golden(name));
        float[] expected = oneByOne(model, g);
        try (StepEngine e = new CpuStepEngine(model, EngineOptions.cpu(1, 1, 1))) {
            StepBatch batch = e.newBatch();
            add(batch, g, 0, 0, 0);
            e.step(batch); // dirty the slot, then reset it
            e.reset(0);
            assertThat(e.position(0)).isZero();
            batch.clear();
            add(batch, g, 0, 1, 0);
            e.step(batch);
            assertThat(java.util.Arrays.copyOf(batch.outputs(), g.outputDim()))
                    .containsExactly(java.util.Arrays.copyOfRange(expected, g.t() * g.outputDim(), (g.t() + 1) * g.outputDim()));
        }
    }

    /**
     * Batches smaller than the thread count split each large product by columns over the threads (a model of
     * d_model 256: in_proj has 262,144 weights); outputs and states stay bit for bit those of one thread, over steps
     * that mix column-split batches (up to 15 rows on 4 threads) with row-split ones (16 rows: four a thread).
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"mamba1", "mamba2"})
    void columnSplitSmallBatchesGiveTheBitsOfOneThread(String arch) {
        MambaModel model = io.mambaflink.kernels.RandomModel.create("mamba1".equals(arch)
                ? io.mambaflink.kernels.RandomModel.mamba1Lm(256, 2, 16, 1000)
                : io.mambaflink.kernels.RandomModel.mamba2Lm(256, 2, 32, 1, 1000), 7);
        SplittableRandom rnd = new SplittableRandom(3);
        try (StepEngine one = new CpuStepEngine(model, EngineOptions.cpu(16, 16, 1));
                StepEngine four = new CpuStepEngine(model, EngineOptions.cpu(16, 16, 4))) {
            StepBatch b1 = one.newBatch();
            StepBatch b4 = four.newBatch();
            int[] sizes = {1, 3, 16, 15, 9, 5, 16, 2};
            for (int step = 0; step < sizes.length; step++) {
                b1.clear();
                b4.clear();
                for (int r = 0; r < sizes[step]; r++) {
                    int token = rnd.nextInt(1000);
                    b1.addToken(r, token);
                    b4.addToken(r, token);
                }
                one.step(b1);
                four.step(b4);
                int n = sizes[step] * b1.outputDim();
                assertThat(java.util.Arrays.copyOf(b4.outputs(), n)).as("%s step %d (%d rows)", arch, step, sizes[step])
                        .containsExactly(java.util.Arrays.copyOf(b1.outputs(), n));
            }
            for (int slot = 0; slot < 16; slot++) {
                StreamState s1 = new StreamState(model.layout());
                StreamState s4 = new StreamState(model.layout());
                one.store(slot, s1);
                four.store(slot, s4);
                assertThat(StateCodec.encode(s4, model.fingerprint())).as("%s slot %d state", arch, slot)
                        .isEqualTo(StateCodec.encode(s1, model.fingerprint()));
            }
        }
    }

    @Test
    void rejectsTokenOutsideVocabularyAndDuplicateSlots() {
        MambaModel model = Fixtures.model("mamba1-lm-tiny");
        try (StepEngine e = new CpuStepEngine(model, EngineOptions.cpu(2, 2, 1))) {
            StepBatch batch = e.newBatch();
            batch.addToken(0, 97);
            assertThatThrownBy(() -> e.step(batch)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("token id 97 outside the vocabulary 0..96");
            assertThatThrownBy(() -> batch.addFeatures(0, new float[6], 0)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("takes token ids");
            // two rows on one slot would race on one state when the rows run on different threads
            batch.clear();
            batch.addToken(1, 3);
            batch.addToken(1, 4);
            assertThatThrownBy(() -> e.step(batch)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("row 1: slot 1 appears twice in one batch");
            assertThat(e.position(1)).isZero();
        }
    }
}
