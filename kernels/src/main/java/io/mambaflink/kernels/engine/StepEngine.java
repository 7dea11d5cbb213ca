package io.mambaflink.kernels.engine;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.state.StreamState;

/**
 * Advances a batch of independent streams by one event each.
 *
 * <p>The engine owns {@link #capacity()} state slots. The CPU engine keeps them on the heap; the CUDA engine keeps them
 * resident on the GPU or on the host (see {@link EngineOptions.StateMode}). A caller maps its streams to slots,
 * {@link #load}s a decoded state into a slot when a stream becomes hot, and {@link #store}s it back when it must be
 * persisted (checkpoint, eviction). Only those two calls move state between the engine and the caller.
 *
 * <p>An instance is used by one thread at a time.
 */
public interface StepEngine extends AutoCloseable {

    MambaModel model();

    /** "cpu" or "cuda". */
    String backend();

    /** Number of state slots. */
    int capacity();

    /** Largest batch one {@link #step} accepts. */
    int maxBatch();

    /** Zeroes a slot: the start of a stream. */
    void reset(int slot);

    /** Copies a host state into a slot. */
    void load(int slot, StreamState src);

    /** Copies a slot's state into {@code dst}. */
    void store(int slot, StreamState dst);

    /** Events the stream in this slot has consumed. */
    long position(int slot);

    /**
     * Advances every row's stream by one event and writes its output. Slots in one batch must be distinct; a stream
     * with several pending events goes through consecutive calls, in order.
     */
    void step(StepBatch batch);

    /** A batch buffer sized for this engine. */
    default StepBatch newBatch() {
        return new StepBatch(model().config(), maxBatch());
    }

    @Override
    void close();
}
