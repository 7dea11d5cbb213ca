package io.mambaflink.kernels;

/**
 * What a model consumes and produces per event.
 *
 * <p>Language models take a token id and give next-token logits (vocabSize). Feature models (the {@code stream_io}
 * layout) take a feature vector of {@code inputDim} through {@code input_proj}, run the backbone and give {@code
 * outputDim} values through {@code head}.
 *
 * @param input token ids or feature vectors
 * @param inputDim features per event (0 for token input)
 * @param output what the output vector means
 * @param outputDim values per event output
 */
public record StreamIo(Input input, int inputDim, Output output, int outputDim) {

    /** Per-event input kind. */
    public enum Input { TOKENS, FEATURES }

    /** Per-event output kind. */
    public enum Output {
        /** Next-token logits of a language model. */
        LOGITS,
        /** The next event's features (anomaly scoring). */
        REGRESSION,
        /** Per-frame CTC logits, blank = index 0 (transcription). */
        CTC
    }

    public StreamIo {
        if (input == null || output == null) {
            throw new IllegalArgumentException("stream_io: input and output are required");
        }
        if (input == Input.FEATURES && inputDim <= 0) {
            throw new IllegalArgumentException("stream_io.input_dim must be > 0 for feature input, found " + inputDim);
        }
        if (outputDim <= 0) {
            throw new IllegalArgumentException("stream_io.output_dim must be > 0, found " + outputDim);
        }
    }

    public static StreamIo languageModel(int vocabSize) {
        return new StreamIo(Input.TOKENS, 0, Output.LOGITS, vocabSize);
    }

    public boolean tokenInput() {
        return input == Input.TOKENS;
    }
}
