package io.mambaflink.kernels.engine;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.cuda.CudaStepEngine;
import io.mambaflink.kernels.cuda.CudaSupport;

/** Builds the engine that {@link EngineOptions#backend()} asks for. */
public final class Engines {
    private Engines() {}

    public static StepEngine create(MambaModel model, EngineOptions options) {
        return switch (options.backend()) {
            case CPU -> new CpuStepEngine(model, options);
            case CUDA -> createCuda(model, options);
            case AUTO -> cudaAvailable() ? createCuda(model, options) : new CpuStepEngine(model, options);
        };
    }

    /** True when the CUDA engine was built and a CUDA device can be opened. */
    public static boolean cudaAvailable() {
        return CudaSupport.available();
    }

    private static StepEngine createCuda(MambaModel model, EngineOptions options) {
        if (!CudaSupport.available()) {
            throw new IllegalStateException("backend cuda: " + CudaSupport.unavailableReason());
        }
        return new CudaStepEngine(model, options);
    }
}
