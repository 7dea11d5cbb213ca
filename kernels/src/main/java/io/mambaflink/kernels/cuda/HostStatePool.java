package io.mambaflink.kernels.cuda;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import jcuda.Pointer;

/**
 * The slot states of a host-mode engine: page-locked host memory, so the per-batch uploads and write-backs are
 * asynchronous DMA copies. Allocated in chunks of whole slots (a Java buffer view holds at most 2 GB).
 */
final class HostStatePool implements AutoCloseable {
    private static final long CHUNK_BYTES = 1L << 30;

    private final int stateFloats;
    private final int slotsPerChunk;
    /** (chunks) page-locked chunk bases. */
    private final Pointer[] chunks;
    /** (chunks) float views of the chunks. */
    private final FloatBuffer[] views;

    HostStatePool(int capacity, int stateFloats) {
        this.stateFloats = stateFloats;
        long stateBytes = 4L * stateFloats;
        if (stateBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("host state mode: one state of " + stateBytes + " bytes exceeds 2 GB");
        }
        this.slotsPerChunk = (int) Math.max(1, Math.min(capacity, CHUNK_BYTES / stateBytes));
        int n = (capacity + slotsPerChunk - 1) / slotsPerChunk;
        this.chunks = new Pointer[n];
        this.views = new FloatBuffer[n];
        try {
            for (int i = 0; i < n; i++) {
                int slots = Math.min(slotsPerChunk, capacity - i * slotsPerChunk);
                long bytes = slots * stateBytes;
                chunks[i] = Cu.allocHost("host state pool chunk " + i + " of " + n, bytes);
                views[i] = chunks[i].getByteBuffer(0, bytes).order(ByteOrder.nativeOrder()).asFloatBuffer();
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Page-locked address of a slot's state. */
    Pointer pointer(int slot) {
        return chunks[slot / slotsPerChunk].withByteOffset(4L * stateFloats * (slot % slotsPerChunk));
    }

    /** True when slots a and b lie in the same chunk, so one copy can span both. */
    boolean sameChunk(int a, int b) {
        return a / slotsPerChunk == b / slotsPerChunk;
    }

    void write(int slot, float[] src) {
        views[slot / slotsPerChunk].put(stateFloats * (slot % slotsPerChunk), src, 0, stateFloats);
    }

    void read(int slot, float[] dst) {
        views[slot / slotsPerChunk].get(stateFloats * (slot % slotsPerChunk), dst, 0, stateFloats);
    }

    @Override
    public void close() {
        for (int i = 0; i < chunks.length; i++) {
            if (chunks[i] != null) {
                Cu.freeHost(chunks[i]);
                chunks[i] = null;
                views[i] = null;
            }
        }
    }
}
