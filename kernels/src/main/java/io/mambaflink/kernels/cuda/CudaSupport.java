package io.mambaflink.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the CUDA engine can run here: the kernels' fatbin was built into this jar (nvcc was present at build time),
 * JCuda's natives load, and the driver reports a device of compute capability {@value #MIN_MAJOR}.0 or newer (the
 * tensor-core kernels use bf16 {@code mma.sync}, which older chips lack, and the fatbin holds no code for them).
 * Checked once per JVM; the reason for a "no" is logged once.
 */
public final class CudaSupport {
    /** Classpath resource that the kernels module's {@code cuda} profile writes with nvcc. */
    public static final String FATBIN_RESOURCE = "io/mambaflink/kernels/cuda/mamba.fatbin";
    /** The same kernels built for sm_90a (with the wgmma ones): loaded instead on compute capability 9.0 devices. */
    public static final String FATBIN_SM90A_RESOURCE = "io/mambaflink/kernels/cuda/mamba_sm90a.fatbin";

    /** Oldest compute capability the kernels are built for: 8.0 (Ampere; Ada, Hopper and newer run it too). */
    static final int MIN_MAJOR = 8;

    private static final Logger LOG = LoggerFactory.getLogger(CudaSupport.class);

    private static boolean checked;
    private static boolean available;
    private static String reason = "not checked";
    private static int deviceCount;
    /** Per device ordinal: null when the engine can run on it, else why not. */
    private static String[] unsupported = new String[0];

    private CudaSupport() {}

    /** True when the CUDA engine was built and at least one supported CUDA device can be opened. */
    public static synchronized boolean available() {
        if (!checked) {
            checked = true;
            check();
            if (available) {
                LOG.info("CUDA engine available: {} device(s)", deviceCount);
            } else {
                LOG.info("CUDA engine not available: {}", reason);
            }
        }
        return available;
    }

    /** Why {@link #available()} is false ("no CUDA device: ..."), or "available". */
    public static synchronized String unavailableReason() {
        available();
        return available ? "available" : reason;
    }

    public static synchronized int deviceCount() {
        available();
        return deviceCount;
    }

    /** Why the engine cannot run on device {@code ordinal} (its name and compute capability), or null when it can. */
    static synchronized String unsupportedDevice(int ordinal) {
        available();
        return ordinal >= 0 && ordinal < unsupported.length ? unsupported[ordinal] : null;
    }

    /**
     * Why a device of this compute capability cannot run the engine, or null when it can: the fatbin has cubins for
     * sm_80 and sm_90 and PTX for compute_90, so 8.x and newer run it (8.6 and 8.9 the sm_80 code, 10.x and 12.x the
     * PTX, compiled by the driver at load).
     */
    static String unsupportedCapability(String device, int major, int minor) {
        if (major >= MIN_MAJOR) {
            return null;
        }
        return device + " has compute capability " + major + "." + minor + "; the GPU engine needs " + MIN_MAJOR
                + ".0 or newer (Ampere, Ada, Hopper, Blackwell): its tensor-core kernels use bf16 mma.sync";
    }

    private static void check() {
        if (CudaSupport.class.getClassLoader().getResource(FATBIN_RESOURCE) == null) {
            reason = "the GPU engine is not built into this jar (no " + FATBIN_RESOURCE + ": nvcc was not found when kernels was built)";
            return;
        }
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            deviceCount = count[0];
            if (deviceCount == 0) {
                reason = "no CUDA device: the driver reports 0 devices";
                return;
            }
            unsupported = new String[deviceCount];
            int usable = 0;
            for (int i = 0; i < deviceCount; i++) {
                CUdevice d = new CUdevice();
                JCudaDriver.cuDeviceGet(d, i);
                unsupported[i] = unsupportedCapability("device " + i + " (" + deviceName(d) + ")",
                        attribute(d, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                        attribute(d, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
                usable += unsupported[i] == null ? 1 : 0;
            }
            if (usable == 0) {
                reason = "no supported CUDA device: " + String.join("; ", unsupported);
                return;
            }
            available = true;
            reason = "available";
        } catch (LinkageError e) {
            reason = "no CUDA device: JCuda's native library could not be loaded (" + firstLine(e.getMessage()) + ")";
        } catch (RuntimeException e) {
            reason = "no CUDA device: cuInit failed (" + firstLine(e.getMessage()) + ")";
        }
    }

    /** The driver's name for a device (no context needed). */
    static String deviceName(CUdevice d) {
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, d);
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        return new String(name, 0, len, java.nio.charset.StandardCharsets.US_ASCII);
    }

    private static int attribute(CUdevice d, int attribute) {
        int[] v = new int[1];
        JCudaDriver.cuDeviceGetAttribute(v, attribute, d);
        return v[0];
    }

    /** JCuda's load errors embed whole stack traces in their message; the reason is logged and shown as one line. */
    private static String firstLine(String message) {
        if (message == null) {
            return "no detail";
        }
        int nl = message.indexOf('\n');
        return (nl < 0 ? message : message.substring(0, nl)).strip();
    }

    /** The fatbin's bytes. */
    static byte[] fatbin() {
        byte[] b = fatbin(FATBIN_RESOURCE);
        if (b == null) {
            throw new IllegalStateException("classpath resource " + FATBIN_RESOURCE + " is missing");
        }
        return b;
    }

    /** A fatbin resource's bytes, or null when the jar has none by that name. */
    static byte[] fatbin(String resource) {
        try (InputStream in = CudaSupport.class.getClassLoader().getResourceAsStream(resource)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + resource + ": " + e.getMessage(), e);
        }
    }
}
