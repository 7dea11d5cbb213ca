package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Launcher of linear.cu: y = x' W^T + bias (+ y), with x' = x or RMSNorm(x) * normW. Three versions of one kernel:
 * the plain reference, a weight-streaming GEMV for batches of up to {@link #GEMV_MAX_ROWS} rows (with the pre-norm
 * fused in), and a 3xTF32 tensor-core GEMM for larger batches.
 */
public final class LinearKernel {
    /** Which kernel runs a product. */
    public enum Variant {
        /** linear_ref: one thread per output, sequential k. */
        REF,
        /** linear_gemv: one warp per output row of W, at most {@link #GEMV_MAX_ROWS} batch rows. */
        GEMV,
        /** linear_tf32x3: 64 x 64 tiles on tensor cores, float32 accuracy through the 3xTF32 split. */
        TF32X3
    }

    public static final int GEMV_MAX_ROWS = 8;
    private static final int TILE = 64;
    private static final int TILE_K = 32;

    private final CUfunction ref;
    private final CUfunction gemv;
    private final CUfunction tc;
    private final int multiprocessors;

    public LinearKernel(CudaDevice device) {
        this.ref = device.function("linear_ref");
        this.gemv = device.function("linear_gemv");
        this.tc = device.function("linear_tf32x3");
        this.multiprocessors = device.multiprocessors();
    }

    /** The version the engine uses for a batch bucket of {@code rows}. */
    public static Variant pick(int rows) {
        return rows <= GEMV_MAX_ROWS ? Variant.GEMV : Variant.TF32X3;
    }

    /**
     * @param nRows    device int: rows to compute (at most rows); the rest of the grid returns at once
     * @param rows     grid rows (the batch bucket)
     * @param x        (rows, in) stride xStride
     * @param normW    (in) pre-norm weight, or NONE; only {@link Variant#GEMV} fuses the norm
     * @param w        (out, in) row-major
     * @param bias     (out) or NONE
     * @param y        (rows, out) stride yStride
     * @param accumulate add into y instead of overwriting it
     */
    public void launch(CUstream s, Variant v, Dev nRows, int rows, Dev x, int xStride, Dev normW, float eps, Dev w, Dev bias,
            int in, int out, Dev y, int yStride, boolean accumulate) {
        String name = switch (v) {
            case REF -> "linear_ref";
            case GEMV -> "linear_gemv";
            case TF32X3 -> "linear_tf32x3";
        };
        nRows.checkVector(name, 1);
        if (in <= 0 || out <= 0 || rows <= 0) {
            throw new IllegalArgumentException(name + ": in, out and rows must be > 0, found in " + in + ", out " + out + ", rows " + rows);
        }
        x.checkMatrix(name, rows, in, xStride);
        w.checkMatrix(name, out, in, in);
        bias.checkOptionalVector(name, out);
        normW.checkOptionalVector(name, in);
        y.checkMatrix(name, rows, out, yStride);
        if (!normW.isNone() && v != Variant.GEMV) {
            throw new IllegalArgumentException(name + ": only linear_gemv fuses the pre-norm; run rmsnorm_rows first");
        }
        Pointer common = null;
        switch (v) {
            case REF -> {
                Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), w.arg(), bias.arg(),
                        Pointer.to(new int[] {in}), Pointer.to(new int[] {out}), y.arg(), Pointer.to(new int[] {yStride}),
                        Pointer.to(new int[] {accumulate ? 1 : 0}));
                Cu.launch(name, ref, (out + 127) / 128, rows, 1, 128, 0, s, p);
            }
            case GEMV -> {
                if (rows > GEMV_MAX_ROWS) {
                    throw new IllegalArgumentException(name + ": at most " + GEMV_MAX_ROWS + " rows, found " + rows);
                }
                boolean vec = in % 4 == 0 && xStride % 4 == 0 && x.aligned16() && w.aligned16()
                        && (normW.isNone() || normW.aligned16());
                Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), normW.arg(),
                        Pointer.to(new float[] {eps}), w.arg(), bias.arg(), Pointer.to(new int[] {in}), Pointer.to(new int[] {out}),
                        y.arg(), Pointer.to(new int[] {yStride}), Pointer.to(new int[] {accumulate ? 1 : 0}),
                        Pointer.to(new int[] {vec ? 1 : 0}));
                Cu.launch(name, gemv, (out + 3) / 4, 1, 1, 128, 0, s, p);
            }
            case TF32X3 -> {
                int gx = (out + TILE - 1) / TILE;
                int gy = (rows + TILE - 1) / TILE;
                int splits = 1;
                int blocks = gx * gy;
                if (blocks < 2 * multiprocessors && in >= 4 * TILE_K) {
                    splits = Math.min((2 * multiprocessors + blocks - 1) / blocks, in / (2 * TILE_K));
                }
                int kPer = ((in + splits - 1) / splits + TILE_K - 1) / TILE_K * TILE_K;
                splits = (in + kPer - 1) / kPer;
                if (splits > 1 && !accumulate) {
                    if (yStride != out) {
                        throw new IllegalArgumentException(name + ": split-K into " + y.name() + " needs a dense output, found row stride "
                                + yStride + " for " + out + " columns");
                    }
                    Cu.zeroAsync(name + " split-K output " + y.name(), y.ptr(), (long) rows * out, s);
                }
                Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), w.arg(), bias.arg(),
                        Pointer.to(new int[] {in}), Pointer.to(new int[] {out}), y.arg(), Pointer.to(new int[] {yStride}),
                        Pointer.to(new int[] {accumulate ? 1 : 0}), Pointer.to(new int[] {kPer}));
                Cu.launch(name, tc, gx, gy, splits, 128, 0, s, p);
            }
            default -> throw new IllegalStateException();
        }
    }
}
