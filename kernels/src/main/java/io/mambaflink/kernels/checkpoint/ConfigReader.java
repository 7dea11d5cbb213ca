package io.mambaflink.kernels.checkpoint;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.StreamIo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Reads a Hugging Face {@code config.json} of {@code model_type} mamba or mamba2 into a {@link MambaConfig}.
 * Optional fields take the defaults of transformers' {@code MambaConfig} / {@code Mamba2Config}; a field of the wrong
 * type is always an error.
 */
public final class ConfigReader {
    /** Real Mamba-2 configs hold the bare token {@code Infinity} in time_step_limit. */
    private static final ObjectMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final Path file;
    private final JsonNode root;

    private ConfigReader(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    public static MambaConfig read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read config: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(file + ": config is not a JSON object");
        }
        return new ConfigReader(file, root).parse();
    }

    private MambaConfig parse() {
        String modelType = string("model_type");
        Arch arch = switch (modelType) {
            case "mamba" -> Arch.MAMBA1;
            case "mamba2" -> Arch.MAMBA2;
            default -> throw fault("unknown model_type '" + modelType + "' (supported: mamba, mamba2)");
        };
        int dModel = integer("hidden_size");
        int dInner;
        if (arch == Arch.MAMBA1 && root.has("intermediate_size")) {
            dInner = integer("intermediate_size");
        } else {
            double expand = number("expand", 2.0);
            dInner = (int) (expand * dModel);
        }
        int dState = integer("state_size");
        int nLayers = integer("num_hidden_layers");
        int dConv = integer("conv_kernel");
        int dtRank = 0;
        int nHeads = 0;
        int headDim = 0;
        int nGroups = 1;
        float tsMin = 0f;
        float tsMax = Float.POSITIVE_INFINITY;
        if (arch == Arch.MAMBA1) {
            dtRank = timeStepRank(dModel);
        } else {
            nHeads = integer("num_heads");
            headDim = integer("head_dim");
            nGroups = root.has("n_groups") ? integer("n_groups") : 1;
            if (root.has("time_step_limit") && !root.get("time_step_limit").isNull()) {
                JsonNode lim = root.get("time_step_limit");
                if (!lim.isArray() || lim.size() != 2 || !lim.get(0).isNumber() || !lim.get(1).isNumber()) {
                    throw fault("field 'time_step_limit' has the wrong type: expected [min, max], found " + lim);
                }
                tsMin = (float) lim.get(0).asDouble();
                tsMax = (float) lim.get(1).asDouble();
            }
        }
        int vocab = root.has("vocab_size") ? integer("vocab_size") : 0;
        StreamIo io = streamIo(vocab);
        try {
            return new MambaConfig(arch, dModel, dInner, dState, nLayers, dConv, dtRank, nHeads, headDim, nGroups, vocab,
                    bool("use_bias", false), bool("use_conv_bias", true), (float) number("layer_norm_epsilon", 1e-5),
                    bool("residual_in_fp32", true), bool("tie_word_embeddings", true), tsMin, tsMax, io);
        } catch (IllegalArgumentException e) {
            throw fault(e.getMessage());
        }
    }

    private int timeStepRank(int dModel) {
        JsonNode n = root.get("time_step_rank");
        if (n == null || n.isNull() || (n.isTextual() && n.asText().equals("auto"))) {
            return (dModel + 15) / 16;
        }
        if (!n.isIntegralNumber()) {
            throw fault("field 'time_step_rank' has the wrong type: expected an integer or \"auto\", found " + n);
        }
        return n.asInt();
    }

    private StreamIo streamIo(int vocab) {
        JsonNode s = root.get("stream_io");
        if (s == null || s.isNull()) {
            if (vocab <= 0) {
                throw fault("field 'vocab_size' is missing (a language model needs it)");
            }
            return StreamIo.languageModel(vocab);
        }
        if (!s.isObject()) {
            throw fault("field 'stream_io' has the wrong type: expected an object, found " + s);
        }
        ConfigReader sub = new ConfigReader(file, s);
        String input = sub.string("input");
        if (!input.equals("features")) {
            throw fault("stream_io.input '" + input + "' is not supported (supported: features)");
        }
        String output = sub.string("output");
        StreamIo.Output out = switch (output.toLowerCase(Locale.ROOT)) {
            case "regression" -> StreamIo.Output.REGRESSION;
            case "ctc" -> StreamIo.Output.CTC;
            default -> throw fault("stream_io.output '" + output + "' is not supported (supported: regression, ctc)");
        };
        return new StreamIo(StreamIo.Input.FEATURES, sub.integer("input_dim"), out, sub.integer("output_dim"));
    }

    private JsonNode required(String field) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            throw fault("field '" + field + "' is missing");
        }
        return n;
    }

    private int integer(String field) {
        JsonNode n = required(field);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw fault("field '" + field + "' has the wrong type: expected an integer, found " + n);
        }
        return n.asInt();
    }

    private String string(String field) {
        JsonNode n = required(field);
        if (!n.isTextual()) {
            throw fault("field '" + field + "' has the wrong type: expected a string, found " + n);
        }
        return n.asText();
    }

    private double number(String field, double dflt) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber()) {
            throw fault("field '" + field + "' has the wrong type: expected a number, found " + n);
        }
        return n.asDouble();
    }

    private boolean bool(String field, boolean dflt) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw fault("field '" + field + "' has the wrong type: expected a boolean, found " + n);
        }
        return n.asBoolean();
    }

    private CheckpointException fault(String what) {
        return new CheckpointException(file + ": " + what);
    }
}
