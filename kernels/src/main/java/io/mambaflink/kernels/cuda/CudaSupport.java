package io.mambaflink.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the CUDA engine can run here: the kernels' fatbin was built into this jar (nvcc was present at build time),
 * JCuda's natives load, and the driver reports a device. Checked once per JVM; the reason for a "no" is logged once.
 */
public final class CudaSupport {
    /** Classpath resource that the kernels module's {@code cuda} profile writes with nvcc. */
    public static final String FATBIN_RESOURCE = "io/mambaflink/kernels/cuda/mamba.fatbin";
    /** The same kernels built for sm_90a (with the wgmma ones): loaded instead on compute capability 9.0 devices. */
    public static final String FATBIN_SM90A_RESOURCE = "io/mambaflink/kernels/cuda/mamba_sm90a.fatbin";

    private static final Logger LOG = LoggerFactory.getLogger(CudaSupport.class);

    private static boolean checked;
    private static boolean available;
    private static String reason = "not checked";
    private static int deviceCount;

    private CudaSupport() {}

    /** True when the CUDA engine was built and at least one CUDA device can be opened. */
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
            available = true;
            reason = "available";
        } catch (LinkageError e) {
            reason = "no CUDA device: JCuda's native library could not be loaded (" + firstLine(e.getMessage()) + ")";
        } catch (RuntimeException e) {
            reason = "no CUDA device: cuInit failed (" + firstLine(e.getMessage()) + ")";
        }
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
