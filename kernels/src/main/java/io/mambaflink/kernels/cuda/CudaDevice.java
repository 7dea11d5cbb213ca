package io.mambaflink.kernels.cuda;

import java.util.HashMap;
import java.util.Map;
import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One CUDA device as the engines of this JVM share it: its primary context, and the kernels' module, loaded once per
 * context from the fatbin. Lives as long as the JVM.
 *
 * <p>A kernel fault (an illegal address, a trap, an uncorrectable ECC error) is sticky: every later call in the context
 * fails, for every engine on the device, and the driver gives this process no new context either. An engine that sees a
 * call fail asks {@link #checkContext}; a context that no longer synchronizes marks the device lost. From then on
 * {@link #enter} and {@link #get} throw {@link CudaDeviceLostException}, so no engine computes on it again and the
 * caller (the Flink operator) can end the process.
 */
public final class CudaDevice {
    private static final Logger LOG = LoggerFactory.getLogger(CudaDevice.class);
    private static final Map<Integer, CudaDevice> DEVICES = new HashMap<>();

    private final int ordinal;
    /** Why the context is unusable, or null. */
    private volatile String fault;
    private final CUcontext context = new CUcontext();
    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final String name;
    private final int multiprocessors;
    private final int computeMajor;
    /** True when the sm_90a build is loaded, whose wgmma kernels may run. */
    private final boolean wgmma;

    /** The device with this ordinal; opens its context and loads the kernels on first use. */
    public static synchronized CudaDevice get(int ordinal) {
        if (!CudaSupport.available()) {
            throw new IllegalStateException("backend cuda: " + CudaSupport.unavailableReason());
        }
        if (ordinal < 0 || ordinal >= CudaSupport.deviceCount()) {
            throw new IllegalArgumentException("CUDA device " + ordinal + " does not exist: this machine has "
                    + CudaSupport.deviceCount() + " device(s)");
        }
        String unsupported = CudaSupport.unsupportedDevice(ordinal);
        if (unsupported != null) {
            throw new IllegalArgumentException("backend cuda: " + unsupported);
        }
        CudaDevice d = DEVICES.get(ordinal);
        if (d != null) {
            d.checkContext(); // a fault no engine has met yet (its engines idle or closed)
            d.checkUsable();
            return d;
        }
        d = new CudaDevice(ordinal);
        DEVICES.put(ordinal, d);
        return d;
    }

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        CUdevice device = new CUdevice();
        String deviceName;
        int[] sm = new int[1];
        int[] major = new int[1];
        int[] minor = new int[1];
        try {
            JCudaDriver.cuDeviceGet(device, ordinal);
            deviceName = CudaSupport.deviceName(device);
            JCudaDriver.cuDeviceGetAttribute(sm, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
            JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
            JCudaDriver.cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
            JCudaDriver.cuDevicePrimaryCtxRetain(context, device);
            JCudaDriver.cuCtxSetCurrent(context);
        } catch (CudaException e) {
            throw Cu.fail("cuDevicePrimaryCtxRetain", "device " + ordinal, e);
        }
        // compute capability 9.0 (H100, H200): the sm_90a build, with the wgmma kernels, unless switched off
        byte[] sm90a = major[0] == 9 && minor[0] == 0 && !"false".equals(System.getProperty("mambaflink.cuda.wgmma"))
                ? CudaSupport.fatbin(CudaSupport.FATBIN_SM90A_RESOURCE) : null;
        String resource = sm90a != null ? CudaSupport.FATBIN_SM90A_RESOURCE : CudaSupport.FATBIN_RESOURCE;
        try {
            JCudaDriver.cuModuleLoadData(module, sm90a != null ? sm90a : CudaSupport.fatbin());
        } catch (CudaException e) {
            throw Cu.fail("cuModuleLoadData", resource + " on device " + ordinal, e);
        }
        this.wgmma = sm90a != null;
        this.name = deviceName;
        this.multiprocessors = sm[0];
        this.computeMajor = major[0];
    }

    /** Makes the context current for an engine's work; throws {@link CudaDeviceLostException} once the device is lost. */
    void enter() {
        checkUsable();
        makeCurrent();
    }

    private void checkUsable() {
        String f = fault;
        if (f != null) {
            throw new CudaDeviceLostException("CUDA device " + ordinal + " (" + name + ") is lost to this process after a fault (" + f
                    + "): the driver fails every call in its context and opens no new one; restart the process");
        }
    }

    /** True once a fault has left this device's context unusable. */
    public boolean lost() {
        return fault != null;
    }

    /**
     * After a failed call on this device (and before every engine start): a context that no longer synchronizes is in a
     * sticky error state, and the device is marked lost. A call that failed on its own (bad arguments, out of memory)
     * leaves the context working, and the device usable by the other engines.
     */
    void checkContext() {
        if (fault != null) {
            return;
        }
        try {
            makeCurrent();
            JCudaDriver.cuCtxSynchronize();
        } catch (RuntimeException e) {
            synchronized (this) {
                if (fault == null) {
                    fault = e.getMessage();
                    LOG.error("CUDA device {} ({}) is lost to this process: its context failed after a fault ({})", ordinal, name, fault);
                }
            }
        }
    }

    /** Makes this device's context current on the calling thread (cheap; done at every engine entry). */
    public void makeCurrent() {
        try {
            JCudaDriver.cuCtxSetCurrent(context);
        } catch (CudaException e) {
            throw Cu.fail("cuCtxSetCurrent", "device " + ordinal, e);
        }
    }

    /** A kernel of the fatbin by its extern "C" name. */
    public synchronized CUfunction function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUfunction f = new CUfunction();
            try {
                JCudaDriver.cuModuleGetFunction(f, module, k);
            } catch (CudaException e) {
                throw Cu.fail("cuModuleGetFunction", k, e);
            }
            return f;
        });
    }

    public int ordinal() {
        return ordinal;
    }

    public String name() {
        return name;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    public int computeMajor() {
        return computeMajor;
    }

    /** True when the wgmma kernels (sm_90a build) are loaded on this device. */
    public boolean wgmma() {
        return wgmma;
    }

    /** Free and total device memory in bytes. */
    public long[] memInfo() {
        long[] free = new long[1];
        long[] total = new long[1];
        makeCurrent();
        JCudaDriver.cuMemGetInfo(free, total);
        return new long[] {free[0], total[0]};
    }
}
