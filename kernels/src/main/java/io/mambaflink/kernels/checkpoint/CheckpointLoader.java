package io.mambaflink.kernels.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.LayerWeights;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.MambaWeights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Loads a Hugging Face Mamba checkpoint folder: {@code config.json} plus {@code model.safetensors}, or
 * {@code model.safetensors.index.json} with its shards. Every tensor's shape is checked against the config; floating
 * tensors of any supported dtype become float32 once.
 */
public final class CheckpointLoader implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, SafeTensorsFile> byTensor = new HashMap<>();
    private final List<SafeTensorsFile> files = new ArrayList<>();
    private final Path dir;

    private CheckpointLoader(Path dir) {
        this.dir = dir;
    }

    public static MambaModel load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": not a checkpoint folder (expected config.json and model.safetensors)");
        }
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw new CheckpointException(configFile + ": missing config.json");
        }
        MambaConfig config = ConfigReader.read(configFile);
        try (CheckpointLoader loader = new CheckpointLoader(dir)) {
            loader.openFiles();
            MambaWeights weights = loader.weights(config);
            return new MambaModel(config, weights, ModelFingerprint.of(config, weights), dir.toString());
        }
    }

    private void openFiles() {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(single)) {
            add(SafeTensorsFile.open(single));
        } else if (Files.isRegularFile(index)) {
            JsonNode map;
            try {
                JsonNode root = JSON.readTree(Files.readAllBytes(index));
                map = root == null ? null : root.get("weight_map");
            } catch (IOException e) {
                throw new CheckpointException(index + ": cannot read shard index: " + e.getMessage(), e);
            }
            if (map == null || !map.isObject()) {
                throw new CheckpointException(index + ": missing weight_map object");
            }
            Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shardName = e.getValue().asText();
                Path shardPath = dir.resolve(shardName).normalize();
                if (!shardPath.startsWith(dir.normalize())) {
                    throw new CheckpointException(index + ": shard " + shardName + " lies outside the checkpoint folder");
                }
                SafeTensorsFile shard = shards.get(shardName);
                if (shard == null) {
                    if (!Files.isRegularFile(shardPath)) {
                        throw new CheckpointException(index + ": shard " + shardName + " (for tensor " + e.getKey() + ") is missing");
                    }
                    shard = SafeTensorsFile.open(shardPath);
                    files.add(shard);
                    shards.put(shardName, shard);
                }
                if (!shard.entries().containsKey(e.getKey())) {
                    throw new CheckpointException(shardPath + ": missing tensor " + e.getKey() + " (listed in " + index.getFileName() + ")");
                }
                byTensor.put(e.getKey(), shard);
            }
        } else {
            throw new CheckpointException(dir + ": no model.safetensors or model.safetensors.index.json");
        }
    }

    private void add(SafeTensorsFile f) {
        files.add(f);
        for (String name : f.entries().keySet()) {
            byTensor.put(name, f);
        }
    }

    private boolean has(String name) {
        return byTensor.containsKey(name);
    }

    /** The tensor as float32 after checking its shape; {@code shape} is the expected shape. */
    private float[] tensor(String name, long... shape) {
        SafeTensorsFile f = byTensor.get(name);
        if (f == null) {
            throw new CheckpointException(dir + ": missing tensor " + name);
        }
        SafeTensorsFile.Entry e = f.entry(name);
        if (!Arrays.equals(e.shape(), shape)) {
            throw new CheckpointException(f.path() + ": tensor " + name + ": expected shape "
                    + Arrays.toString(shape).replace('[', '(').replace(']', ')') + ", found " + e.shapeString());
        }
        return f.floats(name);
    }

    private float[] optional(boolean present, String name, long... shape) {
        return present ? tensor(name, shape) : null;
    }

    private MambaWeights weights(MambaConfig c) {
        boolean lm = c.io().tokenInput();
        // *ForCausalLM checkpoints (and stream_io models) nest the backbone under "backbone."; bare MambaModel /
        // Mamba2Model checkpoints do not.
        String b = !has("backbone.norm_f.weight") && has("norm_f.weight") ? "" : "backbone.";
        float[] embeddings = lm ? tensor(b + "embeddings.weight", c.vocabSize(), c.dModel()) : null;
        List<LayerWeights> layers = new ArrayList<>(c.nLayers());
        for (int i = 0; i < c.nLayers(); i++) {
            layers.add(layer(c, b + "layers." + i + "."));
        }
        float[] normF = tensor(b + "norm_f.weight", c.dModel());
        float[] lmHead = null;
        float[] inputProj = null, inputProjBias = null, head = null, headBias = null;
        if (lm) {
            // Tied checkpoints carry no lm_head.weight; the head is the embedding matrix itself.
            lmHead = c.tieWordEmbeddings() ? embeddings : tensor("lm_head.weight", c.vocabSize(), c.dModel());
        } else {
            inputProj = tensor("input_proj.weight", c.dModel(), c.io().inputDim());
            inputProjBias = tensor("input_proj.bias", c.dModel());
            head = tensor("head.weight", c.outputDim(), c.dModel());
            headBias = tensor("head.bias", c.outputDim());
        }
        return new MambaWeights(embeddings, layers, normF, lmHead, inputProj, inputProjBias, head, headBias);
    }

    private LayerWeights layer(MambaConfig c, String p) {
        String m = p + "mixer.";
        float[] norm = tensor(p + "norm.weight", c.dModel());
        float[] inProj = tensor(m + "in_proj.weight", c.inProjDim(), c.dModel());
        float[] inProjBias = optional(c.useBias(), m + "in_proj.bias", c.inProjDim());
        float[] conv = tensor(m + "conv1d.weight", c.convDim(), 1, c.dConv());
        float[] convBias = optional(c.useConvBias(), m + "conv1d.bias", c.convDim());
        float[] outProj = tensor(m + "out_proj.weight", c.dModel(), c.dInner());
        float[] outProjBias = optional(c.useBias(), m + "out_proj.bias", c.dModel());
        if (c.arch() == Arch.MAMBA1) {
            float[] xProj = tensor(m + "x_proj.weight", c.dtRank() + 2L * c.dState(), c.dInner());
            float[] dtProj = tensor(m + "dt_proj.weight", c.dInner(), c.dtRank());
            float[] dtProjBias = tensor(m + "dt_proj.bias", c.dInner());
            float[] a = negExp(tensor(m + "A_log", c.dInner(), c.dState()));
            float[] d = tensor(m + "D", c.dInner());
            return new LayerWeights(norm, inProj, inProjBias, conv, convBias, xProj, dtProj, dtProjBias, null, a, d, null,
                    outProj, outProjBias);
        }
        float[] dtBias = tensor(m + "dt_bias", c.nHeads());
        float[] a = negExp(tensor(m + "A_log", c.nHeads()));
        float[] d = tensor(m + "D", c.nHeads());
        float[] gatedNorm = tensor(m + "norm.weight", c.dInner());
        return new LayerWeights(norm, inProj, inProjBias, conv, convBias, null, null, null, dtBias, a, d, gatedNorm,
                outProj, outProjBias);
    }

    /** A = -exp(A_log), computed once at load, in place. */
    private static float[] negExp(float[] aLog) {
        for (int i = 0; i < aLog.length; i++) {
            aLog[i] = (float) -Math.exp(aLog[i]);
        }
        return aLog;
    }

    @Override
    public void close() {
        for (SafeTensorsFile f : files) {
            f.close();
        }
    }
}
