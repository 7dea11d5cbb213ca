package io.mambaflink.kernels.cuda;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The driver calls the engine makes, each wrapped so that a failure becomes a {@link CudaEngineException} naming the
 * call and its purpose. JCuda's own exceptions are switched on in {@link CudaSupport}, so every call either succeeds
 * or throws.
 */
final class Cu {
    private Cu() {}

    static CudaEngineException fail(String call, String what, RuntimeException e) {
        return new CudaEngineException(call + "(" + what + "): " + e.getMessage(), e);
    }

    static CUdeviceptr alloc(String what, long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        try {
            JCudaDriver.cuMemAlloc(p, Math.max(bytes, 4));
        } catch (CudaException e) {
            throw fail("cuMemAlloc", what + ", " + bytes + " bytes", e);
        }
        return p;
    }

    static void free(CUdeviceptr p) {
        if (p != null) {
            JCudaDriver.cuMemFree(p);
        }
    }

    /** Page-locked host memory, so that asynchronous copies really are asynchronous. */
    static Pointer allocHost(String what, long bytes) {
        Pointer p = new Pointer();
        try {
            JCudaDriver.cuMemAllocHost(p, Math.max(bytes, 4));
        } catch (CudaException e) {
            throw fail("cuMemAllocHost", what + ", " + bytes + " bytes", e);
        }
        return p;
    }

    static void freeHost(Pointer p) {
        if (p != null) {
            JCudaDriver.cuMemFreeHost(p);
        }
    }

    static void htod(String what, CUdeviceptr dst, Pointer src, long bytes) {
        try {
            JCudaDriver.cuMemcpyHtoD(dst, src, bytes);
        } catch (CudaException e) {
            throw fail("cuMemcpyHtoD", what, e);
        }
    }

    static void dtoh(String what, Pointer dst, CUdeviceptr src, long bytes) {
        try {
            JCudaDriver.cuMemcpyDtoH(dst, src, bytes);
        } catch (CudaException e) {
            throw fail("cuMemcpyDtoH", what, e);
        }
    }

    static void htodAsync(String what, CUdeviceptr dst, Pointer src, long bytes, CUstream s) {
        try {
            JCudaDriver.cuMemcpyHtoDAsync(dst, src, bytes, s);
        } catch (CudaException e) {
            throw fail("cuMemcpyHtoDAsync", what, e);
        }
    }

    static void dtohAsync(String what, Pointer dst, CUdeviceptr src, long bytes, CUstream s) {
        try {
            JCudaDriver.cuMemcpyDtoHAsync(dst, src, bytes, s);
        } catch (CudaException e) {
            throw fail("cuMemcpyDtoHAsync", what, e);
        }
    }

    static void zeroAsync(String what, CUdeviceptr dst, long floats, CUstream s) {
        try {
            JCudaDriver.cuMemsetD32Async(dst, 0, floats, s);
        } catch (CudaException e) {
            throw fail("cuMemsetD32Async", what, e);
        }
    }

    static void sync(String what, CUstream s) {
        try {
            JCudaDriver.cuStreamSynchronize(s);
        } catch (CudaException e) {
            throw fail("cuStreamSynchronize", what, e);
        }
    }

    static void launch(String kernel, CUfunction f, int gx, int gy, int gz, int block, int smemBytes, CUstream s,
            Pointer params) {
        try {
            JCudaDriver.cuLaunchKernel(f, gx, gy, gz, block, 1, 1, smemBytes, s, params, null);
        } catch (CudaException e) {
            throw fail("cuLaunchKernel", kernel + ", grid " + gx + "x" + gy + "x" + gz + ", block " + block, e);
        }
    }

    static void eventRecord(String what, CUevent e, CUstream s) {
        try {
            JCudaDriver.cuEventRecord(e, s);
        } catch (CudaException ex) {
            throw fail("cuEventRecord", what, ex);
        }
    }

    static void streamWait(String what, CUstream s, CUevent e) {
        try {
            JCudaDriver.cuStreamWaitEvent(s, e, 0);
        } catch (CudaException ex) {
            throw fail("cuStreamWaitEvent", what, ex);
        }
    }
}
