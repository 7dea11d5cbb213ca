package io.mambaflink.kernels.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.engine.CpuStepEngine;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.golden.GoldenVerifier;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CheckpointLoaderTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void readsEveryMathFieldOfBothArchitectures() {
        MambaConfig m1 = Fixtures.model("mamba1-lm-tiny").config();
        assertThat(m1.arch()).isEqualTo(Arch.MAMBA1);
        assertThat(m1.dModel()).isEqualTo(48);
        assertThat(m1.dInner()).isEqualTo(96);
        assertThat(m1.dState()).isEqualTo(8);
        assertThat(m1.nLayers()).isEqualTo(3);
        assertThat(m1.dConv()).isEqualTo(4);
        assertThat(m1.dtRank()).isEqualTo(3);
        assertThat(m1.vocabSize()).isEqualTo(97);
        assertThat(m1.tieWordEmbeddings()).isTrue();
        assertThat(m1.useConvBias()).isTrue();
        assertThat(m1.useBias()).isFalse();

        MambaConfig m2 = Fixtures.model("mamba2-lm-tiny").config();
        assertThat(m2.arch()).isEqualTo(Arch.MAMBA2);
        assertThat(m2.nHeads()).isEqualTo(8);
        assertThat(m2.headDim()).isEqualTo(16);
        assertThat(m2.nGroups()).isEqualTo(2);
        assertThat(m2.dInner()).isEqualTo(128);
        assertThat(m2.timeStepMin()).isEqualTo(0f);
        assertThat(m2.timeStepMax()).isEqualTo(Float.POSITIVE_INFINITY); // the bare JSON token Infinity
        assertThat(m2.convDim()).isEqualTo(128 + 2 * 2 * 16);

        MambaConfig speech = Fixtures.model("mamba2-speech-tiny").config();
        assertThat(speech.io().inputDim()).isEqualTo(80);
        assertThat(speech.outputDim()).isEqualTo(29);
        assertThat(speech.tieWordEmbeddings()).isFalse();
    }

    @Test
    void timeStepRankAutoIsCeilHiddenOver16() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        // hidden 48 -> auto rank 3, same as the stored value, so the weights still fit
        editConfig(dir, c -> c.put("time_step_rank", "auto"));
        assertThat(MambaModel.load(dir).config().dtRank()).isEqualTo(3);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F64", "F16", "BF16"})
    void everyFloatDtypeLoadsAsTheSameFloat32(DType dtype) throws IOException {
        // Round the fixture's weights to the narrow type first, so both files hold the same values exactly.
        Path src = Fixtures.dir("mamba1-lm-tiny");
        Path asF32 = tmp.resolve("f32");
        Path asDtype = tmp.resolve("other");
        Files.createDirectories(asF32);
        Files.createDirectories(asDtype);
        Map<String, SafeTensorsWriter.Tensor> f32 = new LinkedHashMap<>();
        Map<String, SafeTensorsWriter.Tensor> other = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(src.resolve("model.safetensors"))) {
            for (var e : f.entries().values()) {
                float[] v = f.floats(e.name());
                for (int i = 0; i < v.length; i++) {
                    v[i] = switch (dtype) {
                        case F16 -> DType.halfToFloat(SafeTensorsWriter.floatToHalf(v[i]));
                        case BF16 -> Float.intBitsToFloat(SafeTensorsWriter.bf16Bits(v[i]) << 16);
                        default -> v[i];
                    };
                }
                f32.put(e.name(), SafeTensorsWriter.Tensor.of(DType.F32, v, e.shape()));
                other.put(e.name(), SafeTensorsWriter.Tensor.of(dtype, v, e.shape()));
            }
        }
        SafeTensorsWriter.write(asF32.resolve("model.safetensors"), f32);
        SafeTensorsWriter.write(asDtype.resolve("model.safetensors"), other);
        Files.copy(src.resolve("config.json"), asF32.resolve("config.json"));
        Files.copy(src.resolve("config.json"), asDtype.resolve("config.json"));
        MambaModel a = MambaModel.load(asF32);
        MambaModel b = MambaModel.load(asDtype);
        assertThat(b.weights().layers().get(1).inProj()).containsExactly(a.weights().layers().get(1).inProj());
        assertThat(b.fingerprint()).isEqualTo(a.fingerprint());
        if (dtype == DType.F64) {
            assertThat(a.fingerprint()).isEqualTo(Fixtures.model("mamba1-lm-tiny").fingerprint());
        }
    }

    @Test
    void shardedCheckpointLoadsLikeTheSingleFile() throws IOException {
        Path src = Fixtures.dir("mamba2-lm-tiny");
        Path dir = tmp.resolve("sharded");
        Files.createDirectories(dir);
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        Map<String, SafeTensorsWriter.Tensor> s1 = new LinkedHashMap<>();
        Map<String, SafeTensorsWriter.Tensor> s2 = new LinkedHashMap<>();
        ObjectNode index = JSON.createObjectNode();
        ObjectNode map = index.putObject("weight_map");
        try (SafeTensorsFile f = SafeTensorsFile.open(src.resolve("model.safetensors"))) {
            int i = 0;
            for (var e : f.entries().values()) {
                boolean first = i++ % 2 == 0;
                (first ? s1 : s2).put(e.name(), SafeTensorsWriter.Tensor.of(DType.F32, f.floats(e.name()), e.shape()));
                map.put(e.name(), first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            }
        }
        SafeTensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), s1);
        SafeTensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), s2);
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        assertThat(MambaModel.load(dir).fingerprint()).isEqualTo(Fixtures.model("mamba2-lm-tiny").fingerprint());
    }

    @Test
    void bareBackboneNamesLoadLikeCausalLmNames() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        rewriteTensors(dir, name -> name.startsWith("backbone.") ? name.substring("backbone.".length()) : name);
        MambaModel bare = MambaModel.load(dir);
        GoldenFile golden = GoldenFile.read(Fixtures.golden("mamba1-lm-tiny"));
        try (CpuStepEngine engine = new CpuStepEngine(bare, EngineOptions.cpu(golden.b(), golden.b(), 1))) {
            assertThat(GoldenVerifier.run(engine, golden).error()).isLessThanOrEqualTo(1e-4);
        }
    }

    // ---- faults: each one a single clear CheckpointException naming the file and the fault ----

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editHeader(dir, h -> h.remove("backbone.layers.1.mixer.D"));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("missing tensor backbone.layers.1.mixer.D");
    }

    @Test
    void wrongShapeSaysExpectedAndFound() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        // same byte count, different shape
        editHeader(dir, h -> {
            ArrayNode shape = ((ObjectNode) h.get("backbone.layers.0.mixer.A_log")).putArray("shape");
            shape.add(192).add(4);
        });
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors")
                .hasMessageContaining("tensor backbone.layers.0.mixer.A_log: expected shape (96, 8), found (192, 4)");
    }

    @Test
    void headerLengthPastEndOfFile() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("model.safetensors").toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        }
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors").hasMessageContaining("runs past the end of the file");
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editHeader(dir, h -> {
            ArrayNode offs = ((ObjectNode) h.get("backbone.norm_f.weight")).putArray("data_offsets");
            offs.add(100).add(40);
        });
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("tensor backbone.norm_f.weight").hasMessageContaining("out of range");
    }

    @Test
    void overlappingOffsets() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editHeader(dir, h -> {
            ObjectNode a = (ObjectNode) h.get("backbone.layers.0.norm.weight");
            ObjectNode b = (ObjectNode) h.get("backbone.layers.1.norm.weight");
            b.set("data_offsets", a.get("data_offsets").deepCopy());
        });
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class).hasMessageContaining("overlap");
    }

    @Test
    void truncatedData() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        Path file = dir.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() - 1000);
        }
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.safetensors").hasMessageContaining("truncated");
    }

    @Test
    void unknownDtype() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editHeader(dir, h -> ((ObjectNode) h.get("backbone.norm_f.weight")).put("dtype", "F8_E4M3"));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("tensor backbone.norm_f.weight: unknown dtype F8_E4M3");
    }

    @Test
    void unknownModelType() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editConfig(dir, c -> c.put("model_type", "jamba"));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json").hasMessageContaining("unknown model_type 'jamba'");
    }

    @Test
    void missingConfigField() throws IOException {
        Path dir = copyFixture("mamba2-lm-tiny");
        editConfig(dir, c -> c.remove("num_heads"));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json").hasMessageContaining("field 'num_heads' is missing");
    }

    @Test
    void configFieldOfWrongType() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editConfig(dir, c -> c.put("hidden_size", "48"));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("field 'hidden_size' has the wrong type: expected an integer");
        editConfig(dir, c -> c.put("hidden_size", 48).put("use_conv_bias", "yes"));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("field 'use_conv_bias' has the wrong type: expected a boolean");
    }

    @Test
    void untiedModelWithoutLmHeadNamesTheTensor() throws IOException {
        Path dir = copyFixture("mamba1-lm-tiny");
        editConfig(dir, c -> c.put("tie_word_embeddings", false));
        assertThatThrownBy(() -> MambaModel.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("missing tensor lm_head.weight");
    }

    // ---- helpers ----

    private Path copyFixture(String name) throws IOException {
        Path src = Fixtures.dir(name);
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(src.resolve(f), dir.resolve(f));
        }
        return dir;
    }

    private static void editConfig(Path dir, Consumer<ObjectNode> edit) throws IOException {
        Path f = dir.resolve("config.json");
        // the fixture configs contain the bare token Infinity
        ObjectMapper lenient = com.fasterxml.jackson.databind.json.JsonMapper.builder()
                .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
        ObjectNode c = (ObjectNode) lenient.readTree(Files.readAllBytes(f));
        edit.accept(c);
        Files.writeString(f, lenient.writeValueAsString(c));
    }

    /** Rewrites the JSON header, keeping the data section byte for byte. */
    private static void editHeader(Path dir, Consumer<ObjectNode> edit) throws IOException {
        Path f = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectNode h = (ObjectNode) JSON.readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        edit.accept(h);
        byte[] nh = JSON.writeValueAsBytes(h);
        ByteBuffer out = ByteBuffer.allocate(8 + nh.length + all.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(nh.length).put(nh).put(all, 8 + (int) n, all.length - 8 - (int) n);
        Files.write(f, out.array());
    }

    private static void rewriteTensors(Path dir, java.util.function.UnaryOperator<String> rename) throws IOException {
        Path f = dir.resolve("model.safetensors");
        Map<String, SafeTensorsWriter.Tensor> out = new LinkedHashMap<>();
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            for (var e : st.entries().values()) {
                out.put(rename.apply(e.name()), SafeTensorsWriter.Tensor.of(DType.F32, st.floats(e.name()), e.shape()));
            }
        }
        SafeTensorsWriter.write(f, out);
    }
}
