package io.mambaflink.operators;

import io.mambaflink.kernels.cuda.CudaDeviceLostException;
import io.mambaflink.kernels.engine.ForwardingStepEngine;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.state.StreamState;
import java.util.function.Supplier;

/** The operator's engine: throws {@link CudaDeviceLostError} where the engine throws {@link CudaDeviceLostException}. */
final class DeviceLostGuard extends ForwardingStepEngine {
    private DeviceLostGuard(StepEngine delegate) {
        super(delegate);
    }

    /** Builds the engine; a device already lost at the start (the task restarted in the same process) is fatal too. */
    static StepEngine create(Supplier<StepEngine> engine) {
        try {
            return new DeviceLostGuard(engine.get());
        } catch (CudaDeviceLostException e) {
            throw new CudaDeviceLostError(e);
        }
    }

    private static void guard(Runnable call) {
        try {
            call.run();
        } catch (CudaDeviceLostException e) {
            throw new CudaDeviceLostError(e);
        }
    }

    @Override
    public void reset(int slot) {
        guard(() -> super.reset(slot));
    }

    @Override
    public void load(int slot, StreamState src) {
        guard(() -> super.load(slot, src));
    }

    @Override
    public void store(int slot, StreamState dst) {
        guard(() -> super.store(slot, dst));
    }

    @Override
    public void step(StepBatch batch) {
        guard(() -> super.step(batch));
    }
}
