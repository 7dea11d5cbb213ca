package io.mambaflink.kernels.engine;

/**
 * Advances a list of events in which one stream may have several pending events: event i belongs to slot
 * {@code slots[i]}; events of one slot are applied in index order. Events are grouped into rounds (round k holds each
 * slot's k-th pending event) and every round is stepped in batches of at most {@code engine.maxBatch()} rows.
 * Buffers grow to the largest call and are reused.
 */
public final class StreamStepper {
    private final StepEngine engine;
    private final StepBatch batch;
    private final int outputDim;
    private final int inputDim;
    /** (capacity) pending events seen so far per slot in the current call. */
    private final int[] seen;
    /** (n) round of each event. */
    private int[] round = new int[0];
    /** (maxBatch) event index of each batch row. */
    private final int[] rowEvent;

    public StreamStepper(StepEngine engine) {
        this.engine = engine;
        this.batch = engine.newBatch();
        this.outputDim = batch.outputDim();
        this.inputDim = batch.inputDim();
        this.seen = new int[engine.capacity()];
        this.rowEvent = new int[engine.maxBatch()];
    }

    /**
     * @param n        events
     * @param slots    (n) slot of each event
     * @param tokens   (n) token ids, or null for feature models
     * @param features (n, inputDim) feature vectors, or null for token models
     * @param outputs  (n, outputDim) written: the output of each event
     */
    public void run(int n, int[] slots, int[] tokens, float[] features, float[] outputs) {
        if (round.length < n) {
            round = new int[Math.max(n, 2 * round.length)];
        }
        int rounds = 0;
        for (int i = 0; i < n; i++) {
            round[i] = seen[slots[i]]++;
            rounds = Math.max(rounds, round[i] + 1);
        }
        for (int i = 0; i < n; i++) {
            seen[slots[i]] = 0;
        }
        for (int r = 0; r < rounds; r++) {
            batch.clear();
            for (int i = 0; i < n; i++) {
                if (round[i] != r) {
                    continue;
                }
                rowEvent[batch.size()] = i;
                if (batch.tokenInput()) {
                    batch.addToken(slots[i], tokens[i]);
                } else {
                    batch.addFeatures(slots[i], features, i * inputDim);
                }
                if (batch.isFull()) {
                    flush(outputs);
                }
            }
            flush(outputs);
        }
    }

    private void flush(float[] outputs) {
        if (batch.size() == 0) {
            return;
        }
        engine.step(batch);
        for (int row = 0; row < batch.size(); row++) {
            System.arraycopy(batch.outputs(), batch.outputOffset(row), outputs, rowEvent[row] * outputDim, outputDim);
        }
        batch.clear();
    }
}
