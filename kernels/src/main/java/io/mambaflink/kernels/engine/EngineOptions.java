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
 * @param matmul    operand precision of the CUDA engine's matrix products above 8 rows; the CPU engine always computes
 *                  in float32
 */
public record EngineOptions(Backend backend, int capacity, int maxBatch, int threads, StateMode stateMode, int device,
        MatmulPrecision matmul) {

    /** Operand precision of the CUDA tensor-core matrix products (accumulation and states are float32 in both). */
    public enum MatmulPrecision {
        /**
         * float32-accurate products (the default): bfloat16 tensor cores on operands split into high and low halves,
         * three products each (~1e-5 relative error, within the 1e-4 the engines are held to).
         */
        FLOAT32,
        /**
         * bfloat16 operands, one product each: about 1.8x faster matrix products at batch 4096 on an H100, ~2e-3 relative error
         * per product. Opt-in, for models that tolerate it.
         */
        BF16
    }

    /** float32-accurate matrix products. */
    public EngineOptions(Backend backend, int capacity, int maxBatch, int threads, StateMode stateMode, int device) {
        this(backend, capacity, maxBatch, threads, stateMode, device, MatmulPrecision.FLOAT32);
    }

    /** Where the CUDA engine keeps slot states. */
    public enum StateMode {
        /** On the GPU in a slot pool; only loads and stores cross PCIe. */
        RESIDENT,
        /** On the host; uploaded with each batch and written back after it. */
        HOST
    }

    public EngineOptions {
        if (backend == null || stateMode == null || matmul == null) {
            throw new IllegalArgumentException("backend, stateMode and matmul precision are required");
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
        return new EngineOptions(b, capacity, maxBatch, threads, stateMode, device, matmul);
    }

    public EngineOptions withMatmul(MatmulPrecision p) {
        return new EngineOptions(backend, capacity, maxBatch, threads, stateMode, device, p);
    }
}
