package io.mambaflink.kernels.engine;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.state.StreamState;

/** A step engine that hands every call to another one; subclasses override the calls they watch or change. */
public abstract class ForwardingStepEngine implements StepEngine {
    protected final StepEngine delegate;

    protected ForwardingStepEngine(StepEngine delegate) {
        this.delegate = delegate;
    }

    @Override
    public MambaModel model() {
        return delegate.model();
    }

    @Override
    public String backend() {
        return delegate.backend();
    }

    @Override
    public int capacity() {
        return delegate.capacity();
    }

    @Override
    public int maxBatch() {
        return delegate.maxBatch();
    }

    @Override
    public void reset(int slot) {
        delegate.reset(slot);
    }

    @Override
    public void load(int slot, StreamState src) {
        delegate.load(slot, src);
    }

    @Override
    public void store(int slot, StreamState dst) {
        delegate.store(slot, dst);
    }

    @Override
    public long position(int slot) {
        return delegate.position(slot);
    }

    @Override
    public void step(StepBatch batch) {
        delegate.step(batch);
    }

    @Override
    public StepBatch newBatch() {
        return delegate.newBatch();
    }

    @Override
    public void close() {
        delegate.close();
    }
}
