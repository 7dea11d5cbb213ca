package io.mambaflink.kernels.cuda;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * Copies large step outputs (a big batch's logits: 824 MB at batch 4096 for a 50,280-token vocabulary) from the device
 * into the batch's Java array through two page-locked chunks: chunk i + 1 crosses PCIe while threads copy chunk i into
 * the array. A pageable cuMemcpyDtoH straight into the array is bound by the driver's single staging copy.
 */
final class OutputCopier implements AutoCloseable {
    /** Floats per chunk (16 MB). */
    static final int CHUNK_FLOATS = 4 << 20;
    /** Floats each copying thread takes at least. */
    private static final int MIN_PART_FLOATS = 1 << 18;

    private final Pointer[] host = new Pointer[2];
    private final FloatBuffer[] view = new FloatBuffer[2];
    private final CUevent[] ready = {new CUevent(), new CUevent()};
    private final int threads;
    private final ExecutorService pool;

    OutputCopier(int threads) {
        this.threads = Math.max(1, threads);
        try {
            for (int b = 0; b < 2; b++) {
                host[b] = Cu.allocHost("output chunk " + b, 4L * CHUNK_FLOATS);
                view[b] = host[b].getByteBuffer(0, 4L * CHUNK_FLOATS).order(ByteOrder.nativeOrder()).asFloatBuffer();
                JCudaDriver.cuEventCreate(ready[b], CUevent_flags.CU_EVENT_DISABLE_TIMING);
            }
        } catch (RuntimeException e) {
            close();
            throw e instanceof CudaException ce ? Cu.fail("cuEventCreate", "output chunk events", ce) : e;
        }
        this.pool = this.threads > 1 ? Executors.newFixedThreadPool(this.threads - 1, r -> {
            Thread t = new Thread(r, "mamba-cuda-output-copy");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    /** Copies {@code floats} floats at {@code src} (written by work already on stream {@code s}) into {@code dst}. */
    void copy(CUstream s, CUdeviceptr src, float[] dst, int floats) {
        int chunks = (floats + CHUNK_FLOATS - 1) / CHUNK_FLOATS;
        for (int i = 0; i < Math.min(2, chunks); i++) {
            enqueue(s, src, i, floats);
        }
        for (int i = 0; i < chunks; i++) {
            int b = i & 1;
            try {
                JCudaDriver.cuEventSynchronize(ready[b]);
            } catch (CudaException e) {
                throw Cu.fail("cuEventSynchronize", "output chunk " + i, e);
            }
            int off = i * CHUNK_FLOATS;
            get(view[b], dst, off, Math.min(CHUNK_FLOATS, floats - off));
            if (i + 2 < chunks) {
                enqueue(s, src, i + 2, floats);
            }
        }
    }

    private void enqueue(CUstream s, CUdeviceptr src, int chunk, int floats) {
        int b = chunk & 1;
        long off = (long) chunk * CHUNK_FLOATS;
        long len = Math.min(CHUNK_FLOATS, floats - off);
        Cu.dtohAsync("output chunk " + chunk, host[b], src.withByteOffset(4 * off), 4 * len, s);
        try {
            JCudaDriver.cuEventRecord(ready[b], s);
        } catch (CudaException e) {
            throw Cu.fail("cuEventRecord", "output chunk " + chunk, e);
        }
    }

    /** dst[off .. off + len) = chunk[0 .. len), in parts on the pool and the calling thread. */
    private void get(FloatBuffer chunk, float[] dst, int off, int len) {
        int parts = pool == null ? 1 : Math.max(1, Math.min(threads, len / MIN_PART_FLOATS));
        int per = (len + parts - 1) / parts;
        Future<?>[] f = new Future<?>[parts - 1];
        for (int p = 1; p < parts; p++) {
            int from = p * per;
            int n = Math.min(per, len - from);
            f[p - 1] = pool.submit(() -> chunk.get(from, dst, off + from, n));
        }
        chunk.get(0, dst, off, Math.min(per, len));
        try {
            for (Future<?> x : f) {
                x.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while copying step outputs", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("copying step outputs: " + e.getCause(), e.getCause());
        }
    }

    @Override
    public void close() {
        stopThreads();
        for (int b = 0; b < 2; b++) {
            Cu.freeHost(host[b]);
            host[b] = null;
            try {
                JCudaDriver.cuEventDestroy(ready[b]);
            } catch (RuntimeException e) {
                // never created
            }
        }
    }

    /** Stops the copying threads only: what close() does where the device's context, and so the chunks, are gone. */
    void stopThreads() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}
