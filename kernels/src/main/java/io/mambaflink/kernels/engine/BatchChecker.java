package io.mambaflink.kernels.engine;

import java.util.Arrays;

/**
 * Checks a {@link StepBatch} against an engine before it runs: batch size, slot range, distinct slots (two rows on one
 * slot would race on one state), token ids inside the vocabulary. Allocation-free; one per engine.
 */
public final class BatchChecker {
    private final int capacity;
    private final int maxBatch;
    private final int vocabSize;
    /** (capacity) the stamp of the last batch that used each slot. */
    private final int[] seen;
    private int stamp;

    public BatchChecker(int capacity, int maxBatch, int vocabSize) {
        this.capacity = capacity;
        this.maxBatch = maxBatch;
        this.vocabSize = vocabSize;
        this.seen = new int[capacity];
    }

    /** @throws IllegalArgumentException naming the row and what is wrong with it */
    public void check(StepBatch batch) {
        int n = batch.size();
        if (n > maxBatch) {
            throw new IllegalArgumentException("batch of " + n + " rows exceeds this engine's maxBatch " + maxBatch);
        }
        if (++stamp == 0) {
            Arrays.fill(seen, 0);
            stamp = 1;
        }
        int[] s = batch.slots();
        for (int i = 0; i < n; i++) {
            if (s[i] < 0 || s[i] >= capacity) {
                throw new IllegalArgumentException("row " + i + ": slot " + s[i] + " out of range 0.." + (capacity - 1));
            }
            if (seen[s[i]] == stamp) {
                throw new IllegalArgumentException("row " + i + ": slot " + s[i] + " appears twice in one batch");
            }
            seen[s[i]] = stamp;
            if (batch.tokenInput() && (batch.tokens()[i] < 0 || batch.tokens()[i] >= vocabSize)) {
                throw new IllegalArgumentException("row " + i + ": token id " + batch.tokens()[i] + " outside the vocabulary 0.."
                        + (vocabSize - 1));
            }
        }
    }
}
