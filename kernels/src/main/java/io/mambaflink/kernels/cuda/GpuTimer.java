package io.mambaflink.kernels.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/** CUDA-event timing on a stream, for benchmarks and kernel experiments. */
public final class GpuTimer {
    private final CUstream stream;
    private final CUevent begin = new CUevent();
    private final CUevent end = new CUevent();

    public GpuTimer(CUstream stream) {
        this.stream = stream;
        JCudaDriver.cuEventCreate(begin, 0);
        JCudaDriver.cuEventCreate(end, 0);
    }

    public void start() {
        JCudaDriver.cuEventRecord(begin, stream);
    }

    /** Waits for the work recorded since {@link #start()} and returns its device time in milliseconds. */
    public double stopMillis() {
        JCudaDriver.cuEventRecord(end, stream);
        JCudaDriver.cuEventSynchronize(end);
        float[] ms = new float[1];
        JCudaDriver.cuEventElapsedTime(ms, begin, end);
        JCudaDriver.cuEventDestroy(begin);
        JCudaDriver.cuEventDestroy(end);
        return ms[0];
    }
}
