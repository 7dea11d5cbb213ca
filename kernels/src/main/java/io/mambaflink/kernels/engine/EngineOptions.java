package io.mambaflink.kernels.engine;

/**
 * How to build an engine.
 *
 * @param backend   cpu, cuda or auto
 * @param capacity  number of state slots
 * @param maxBatch  largest batch per step
 * @param threads   CPU worker threads (the calling thread counts as one); ignored by CUDA
 * @param stateMode where CUDA keeps slot states; ignored by the CPU engine
 * @param device    CUDA device ordinal
 */
public record EngineOptions(Backend backend, int capacity, int maxBatch, int threads, StateMode stateMode, int device) {

    /** Where the CUDA engine keeps slot states. */
    public enum StateMode {
        /** On the GPU in a slot pool; only loads and stores cross PCIe. */
        RESIDENT,
        /** On the host; uploaded with each batch and written back after it. */
        HOST
    }

    public EngineOptions {
        if (backend == null || stateMode == null) {
            throw new IllegalArgumentException("backend and stateMode are required");
        }
        if (capacity <= 0) {
            throw new IllegalArgumentException("engine capacity must be > 0, found " + capacity);
        }
        if (maxBatch <= 0 || maxBatch > capacity) {
            throw new IllegalArgumentException("engine maxBatch must be in 1.." + capacity + ", found " + maxBatch);
        }
        if (threads <= 0) {
            throw new IllegalArgumentException("engine threads must be > 0, found " + threads);
        }
    }

    public static EngineOptions cpu(int capacity, int maxBatch, int threads) {
        return new EngineOptions(Backend.CPU, capacity, maxBatch, threads, StateMode.RESIDENT, 0);
    }

    public EngineOptions withBackend(Backend b) {
        return new EngineOptions(b, capacity, maxBatch, threads, stateMode, device);
    }
}
