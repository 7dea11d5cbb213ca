package io.mambaflink.kernels.engine;

import io.mambaflink.kernels.MambaConfig;

/**
 * One engine call's inputs and outputs, preallocated for {@code maxSize} rows and reused for every step.
 * Row i advances the stream in {@code slots[i]} by one event; slots within a batch are distinct.
 */
public final class StepBatch {
    private final int maxSize;
    private final int inputDim;
    private final int outputDim;
    private final boolean tokenInput;
    /** (maxSize) state slot of each row. */
    private final int[] slots;
    /** (maxSize) token id of each row, token models only. */
    private final int[] tokens;
    /** (maxSize, inputDim) feature vector of each row, feature models only. */
    private final float[] features;
    /** (maxSize, outputDim) written by the engine. */
    private final float[] outputs;
    private int size;

    public StepBatch(MambaConfig config, int maxSize) {
        if (maxSize <= 0) {
            throw new IllegalArgumentException("batch maxSize must be > 0, found " + maxSize);
        }
        this.maxSize = maxSize;
        this.tokenInput = config.io().tokenInput();
        this.inputDim = config.inputDim();
        this.outputDim = config.outputDim();
        this.slots = new int[maxSize];
        this.tokens = tokenInput ? new int[maxSize] : new int[0];
        this.features = tokenInput ? new float[0] : new float[maxSize * inputDim];
        this.outputs = new float[maxSize * outputDim];
    }

    public void clear() {
        size = 0;
    }

    public int size() {
        return size;
    }

    public int maxSize() {
        return maxSize;
    }

    public boolean isFull() {
        return size == maxSize;
    }

    public boolean tokenInput() {
        return tokenInput;
    }

    public int inputDim() {
        return inputDim;
    }

    public int outputDim() {
        return outputDim;
    }

    /** Adds a token row; returns its row index. */
    public int addToken(int slot, int token) {
        if (!tokenInput) {
            throw new IllegalStateException("this model takes feature vectors, not token ids");
        }
        int row = nextRow();
        slots[row] = slot;
        tokens[row] = token;
        return row;
    }

    /** Adds a feature row copied from {@code src[off .. off + inputDim)}; returns its row index. */
    public int addFeatures(int slot, float[] src, int off) {
        if (tokenInput) {
            throw new IllegalStateException("this model takes token ids, not feature vectors");
        }
        int row = nextRow();
        slots[row] = slot;
        System.arraycopy(src, off, features, row * inputDim, inputDim);
        return row;
    }

    private int nextRow() {
        if (size == maxSize) {
            throw new IllegalStateException("batch is full (" + maxSize + " rows)");
        }
        return size++;
    }

    public int[] slots() {
        return slots;
    }

    public int[] tokens() {
        return tokens;
    }

    public float[] features() {
        return features;
    }

    public float[] outputs() {
        return outputs;
    }

    /** Offset of row {@code row}'s output in {@link #outputs()}. */
    public int outputOffset(int row) {
        return row * outputDim;
    }

    /** True when every output value of the row is finite. */
    public boolean outputFinite(int row) {
        for (int i = row * outputDim, end = i + outputDim; i < end; i++) {
            if (!Float.isFinite(outputs[i])) {
                return false;
            }
        }
        return true;
    }
}
