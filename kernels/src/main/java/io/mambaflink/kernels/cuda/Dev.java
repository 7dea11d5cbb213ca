package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * A named view of float32 device memory: a pointer, its offset in floats from an allocation's (256-byte aligned)
 * start, and how many floats lie behind it. Launchers check every tensor they pass against this capacity and name it
 * in the error, so a shape mistake throws on the host instead of corrupting device memory.
 *
 * @param name   for messages, e.g. "layers.3.in_proj.weight"
 * @param ptr    first float of the view
 * @param offset floats from the allocation's start to ptr (for alignment checks)
 * @param floats floats available from ptr on
 */
public record Dev(String name, CUdeviceptr ptr, long offset, long floats) {

    /** The null tensor of an optional argument (a bias a model does not have). */
    public static final Dev NONE = new Dev("none", new CUdeviceptr(), 0, 0);

    /** A whole allocation. */
    public static Dev of(String name, CUdeviceptr base, long floats) {
        return new Dev(name, base, 0, floats);
    }

    public boolean isNone() {
        return floats == 0 && offset == 0 && "none".equals(name);
    }

    /** The view starting {@code off} floats in. */
    public Dev slice(String sliceName, long off) {
        if (off < 0 || off > floats) {
            throw new IllegalArgumentException(name + ": slice " + sliceName + " at float " + off + " outside 0.." + floats);
        }
        return new Dev(sliceName, ptr.withByteOffset(4 * off), offset + off, floats - off);
    }

    /** True when ptr is 16-byte aligned (float4 access). */
    public boolean aligned16() {
        return offset % 4 == 0;
    }

    /** Throws unless a (rows, cols) matrix with row stride {@code stride} fits; names the tensor and the shapes. */
    public Dev checkMatrix(String kernel, long rows, long cols, long stride) {
        if (isNone()) {
            throw new IllegalArgumentException(kernel + ": a required tensor is missing (expected (" + rows + ", " + cols + "))");
        }
        if (cols > stride) {
            throw new IllegalArgumentException(kernel + ": " + name + " row stride " + stride + " < columns " + cols);
        }
        long need = rows == 0 ? 0 : (rows - 1) * stride + cols;
        if (need > floats) {
            throw new IllegalArgumentException(kernel + ": " + name + " expected at least (" + rows + ", " + cols + ") with row stride "
                    + stride + " = " + need + " floats, found " + floats);
        }
        return this;
    }

    /** Throws unless a vector of {@code n} floats fits. */
    public Dev checkVector(String kernel, long n) {
        return checkMatrix(kernel, 1, n, n);
    }

    /** Like {@link #checkVector} for an optional tensor: NONE passes. */
    public Dev checkOptionalVector(String kernel, long n) {
        return isNone() ? this : checkVector(kernel, n);
    }

    /**
     * Throws unless a kernel's state-pool operands fit: {@code slots} holds the batch's {@code rows} slots, {@code states}
     * a pool of (stateRows, stateStride), and each state the region {@code what} ({@code floats} floats) at {@code offset}.
     */
    static void checkStateRegion(String kernel, Dev slots, int rows, Dev states, long stateRows, long stateStride, long offset,
            long floats, String what) {
        slots.checkVector(kernel, rows);
        states.checkMatrix(kernel, stateRows, stateStride, stateStride);
        if (offset < 0 || offset + floats > stateStride) {
            throw new IllegalArgumentException(kernel + ": " + what + " at " + offset + " does not fit a state of " + stateStride
                    + " floats");
        }
    }

    Pointer arg() {
        return Pointer.to(ptr);
    }
}
