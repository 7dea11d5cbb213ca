package io.mambaflink.kernels.cuda;

import static io.mambaflink.kernels.cuda.CudaTestSupport.assumeCuda;
import static io.mambaflink.kernels.cuda.CudaTestSupport.randomState;
import static io.mambaflink.kernels.cuda.CudaTestSupport.relErr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.CpuStepEngine;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.state.StreamState;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A kernel fault on the device (a trap here; an illegal address or an uncorrectable ECC error act the same) is sticky:
 * every later call in the context fails, for every engine on the device, and the driver opens no new context for the
 * process. The engines then throw {@link CudaDeviceLostException} (never a number), closing them throws nothing, and no
 * new engine starts in the process: the operator ends the TaskManager on it, so a new process restores the checkpoint.
 *
 * <p>Each test leaves the device unusable for the rest of its JVM, so they run only with
 * {@code -Dmambaflink.test.device-fault=true}, which kernels/gpu/run.sh sets in a JVM of their own, one per test.
 */
class CudaDeviceLostTest {
    static final String SWITCH = "mambaflink.test.device-fault";
    private static final int SLOTS = 4;

    @BeforeEach
    void gpuAndOwnJvm() {
        assumeCuda();
        assumeTrue(Boolean.getBoolean(SWITCH), "leaves the CUDA device unusable for the rest of the JVM: kernels/gpu/run.sh runs it"
                + " alone, with -D" + SWITCH + "=true");
    }

    /** Launches a kernel that traps, in the device's context, and waits for the fault. */
    private static void trap(CudaDevice device) {
        device.makeCurrent();
        String ptx = ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry mf_test_trap()\n{\n\ttrap;\n\tret;\n}\n";
        CUmodule module = new CUmodule();
        JCudaDriver.cuModuleLoadData(module, (ptx + "\0").getBytes(StandardCharsets.US_ASCII)); // the driver compiles PTX
        CUfunction f = new CUfunction();
        JCudaDriver.cuModuleGetFunction(f, module, "mf_test_trap");
        JCudaDriver.cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, null, null, null);
        assertThatThrownBy(JCudaDriver::cuCtxSynchronize).isInstanceOf(CudaException.class).hasMessageContaining("CUDA_ERROR");
    }

    private static EngineOptions options(EngineOptions.StateMode mode) {
        return new EngineOptions(Backend.CUDA, SLOTS, SLOTS, 1, mode, 0);
    }

    private static StepBatch batch(StepEngine e, int[] tokens) {
        StepBatch b = e.newBatch();
        for (int s = 0; s < SLOTS; s++) {
            b.addToken(s, tokens[s]);
        }
        return b;
    }

    /** Loads the same random states into every engine and steps them together; the GPU engines match the CPU's. */
    private static void runTogether(MambaModel model, CpuStepEngine cpu, CudaStepEngine... gpus) {
        SplittableRandom rnd = new SplittableRandom(5);
        for (int s = 0; s < SLOTS; s++) {
            StreamState st = randomState(model.layout(), rnd, 3);
            cpu.load(s, st);
            for (CudaStepEngine g : gpus) {
                g.load(s, st);
            }
        }
        for (int step = 0; step < 3; step++) {
            int[] tokens = rnd.ints(SLOTS, 0, model.config().vocabSize()).toArray();
            StepBatch ref = batch(cpu, tokens);
            cpu.step(ref);
            for (CudaStepEngine g : gpus) {
                StepBatch b = batch(g, tokens);
                g.step(b);
                assertThat(relErr(b.outputs(), ref.outputs(), 0, SLOTS * ref.outputDim())).isLessThanOrEqualTo(1e-4);
            }
        }
    }

    @Test
    void theEngineThatMeetsTheFaultAndEveryOtherOnTheDeviceThrowDeviceLost() {
        MambaModel model = CudaEngineRandomTest.model("mamba1");
        try (CpuStepEngine cpu = new CpuStepEngine(model, EngineOptions.cpu(SLOTS, SLOTS, 1))) {
            CudaStepEngine hit = new CudaStepEngine(model, options(EngineOptions.StateMode.RESIDENT));
            CudaStepEngine other = new CudaStepEngine(model, options(EngineOptions.StateMode.HOST));
            runTogether(model, cpu, hit, other);
            CudaDevice device = hit.device();

            trap(device);
            // the engine whose call meets the fault names the call, and says the device is lost
            assertThatThrownBy(() -> hit.step(batch(hit, new int[] {1, 2, 3, 4}))).isInstanceOf(CudaDeviceLostException.class)
                    .hasMessageContaining("cuGraphLaunch").hasMessageContaining("CUDA_ERROR").hasMessageContaining("lost");
            assertThat(device.lost()).isTrue();
            StreamState st = new StreamState(model.layout());
            assertThatThrownBy(() -> hit.store(0, st)).hasMessageContaining("failed earlier");
            // the engine that did not meet it refuses all work, host-mode states included
            assertThatThrownBy(() -> other.step(batch(other, new int[] {1, 2, 3, 4}))).isInstanceOf(CudaDeviceLostException.class)
                    .hasMessageContaining("lost to this process");
            assertThatThrownBy(() -> other.store(0, st)).isInstanceOf(CudaDeviceLostException.class);
            assertThatThrownBy(() -> other.load(0, st)).isInstanceOf(CudaDeviceLostException.class);
            assertThatThrownBy(() -> other.reset(0)).isInstanceOf(CudaDeviceLostException.class);
            // no engine starts on it again in this process: the restarted task's must fail the same way
            assertThatThrownBy(() -> new CudaStepEngine(model, options(EngineOptions.StateMode.RESIDENT)))
                    .isInstanceOf(CudaDeviceLostException.class);
            assertThatCode(hit::close).doesNotThrowAnyException();
            assertThatCode(other::close).doesNotThrowAnyException();
            // why the device is given up rather than reset: the driver opens no new context in this process
            CUdevice dev = new CUdevice();
            JCudaDriver.cuDeviceGet(dev, device.ordinal());
            JCudaDriver.cuCtxSetCurrent(new CUcontext()); // none current, as in the probe
            assertThatCode(() -> JCudaDriver.cuDevicePrimaryCtxReset(dev)).doesNotThrowAnyException();
            assertThatThrownBy(() -> JCudaDriver.cuDevicePrimaryCtxRetain(new CUcontext(), dev)).isInstanceOf(CudaException.class);
            assertThatThrownBy(() -> JCudaDriver.cuCtxCreate(new CUcontext(), 0, dev)).isInstanceOf(CudaException.class);
        }
    }

    /** A fault no engine has met (its engines idle) is found when the next engine starts, and closing throws nothing. */
    @Test
    void aFaultNoEngineMetIsFoundWhenTheNextEngineStarts() {
        MambaModel model = CudaEngineRandomTest.model("mamba1");
        try (CpuStepEngine cpu = new CpuStepEngine(model, EngineOptions.cpu(SLOTS, SLOTS, 1))) {
            CudaStepEngine idle = new CudaStepEngine(model, options(EngineOptions.StateMode.RESIDENT));
            runTogether(model, cpu, idle);
            trap(idle.device());
            assertThat(idle.device().lost()).isFalse();
            assertThatThrownBy(() -> new CudaStepEngine(model, options(EngineOptions.StateMode.HOST)))
                    .isInstanceOf(CudaDeviceLostException.class).hasMessageContaining("restart the process");
            assertThat(idle.device().lost()).isTrue();
            assertThatCode(idle::close).doesNotThrowAnyException();
        }
    }
}
