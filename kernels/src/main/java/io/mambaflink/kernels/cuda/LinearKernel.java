package io.mambaflink.kernels.cuda;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.JCudaDriver;
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
        /**
         * linear_tf32x3: 64 x 64 tiles on tensor cores (128 x 128, linear_tf32x3_big, from {@link #BIG_TILE_MIN_ROWS}
         * rows), float32 accuracy through the 3xTF32 split.
         */
        TF32X3
    }

    public static final int GEMV_MAX_ROWS = 8;
    /** Buckets above this many rows use the 128 x 128 tile (linear_tf32x3_big), below the 64 x 64 one. */
    public static final int BIG_TILE_MIN_ROWS = 257;
    /** Rows of W up to this length, in matrices of at least GEMV_OPW2_MIN_OUT rows, go two to a warp in linear_gemv. */
    private static final int GEMV_OPW2_MAX_IN = 768;
    private static final int GEMV_OPW2_MIN_OUT = 16384;
    /** Rows of W at least this long (without fused norm or conv) go to linear_gemv_ksplit. */
    private static final int GEMV_KSPLIT_MIN_IN = 1024;
    /** Widest conv window the GEMV's fused conv step holds in registers. */
    public static final int MAX_FUSED_D_CONV = 8;
    private static final int TILE_K = 32;

    /**
     * The conv step fused into an in_proj GEMV (see linear.cu): proj columns convLo .. convLo + convDim are the conv's
     * input channels.
     *
     * @param slots  (rows) int32 state row of each batch row
     * @param states (stateRows, stateStride), the window (convDim, dConv) at convOff in each
     * @param weight (convDim, dConv); bias (convDim) or NONE
     * @param xc     (rows, convDim) stride xcStride: silu(conv) output
     */
    public record ConvFusion(Dev slots, Dev states, long stateRows, long stateStride, int convOff, Dev weight, Dev bias, int convLo,
            int convDim, int dConv, Dev xc, int xcStride) {}

    private final CUfunction ref;
    private final CUfunction gemv;
    private final CUfunction gemvShort;
    private final CUfunction gemvKsplit;
    private final CUfunction tc;
    private final CUfunction tcBig;
    private final int multiprocessors;

    public LinearKernel(CudaDevice device) {
        this.ref = device.function("linear_ref");
        this.gemv = device.function("linear_gemv");
        this.gemvShort = device.function("linear_gemv_short");
        this.gemvKsplit = device.function("linear_gemv_ksplit");
        this.tc = device.function("linear_tf32x3");
        this.tcBig = device.function("linear_tf32x3_big");
        this.multiprocessors = device.multiprocessors();
        try {
            JCudaDriver.cuFuncSetAttribute(tcBig, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smemBytes(true));
        } catch (CudaException e) {
            throw Cu.fail("cuFuncSetAttribute", "linear_tf32x3_big, " + smemBytes(true) + " bytes of dynamic shared memory", e);
        }
    }

    /** Dynamic shared memory of the tensor-core kernels: two stages of both tiles, and each warp's epilogue tile. */
    private static int smemBytes(boolean big) {
        int tile = big ? 128 : 64;
        int warps = big ? 8 : 4;
        return 4 * (2 * (tile + tile) * (TILE_K + 4) + 256 * warps);
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
        launch(s, v, nRows, rows, x, xStride, normW, eps, w, bias, in, out, y, yStride, accumulate, null);
    }

    /** As above, with the conv step fused into the GEMV ({@code conv} non-null needs {@link Variant#GEMV}). */
    public void launch(CUstream s, Variant v, Dev nRows, int rows, Dev x, int xStride, Dev normW, float eps, Dev w, Dev bias,
            int in, int out, Dev y, int yStride, boolean accumulate, ConvFusion conv) {
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
        if (conv != null) {
            if (v != Variant.GEMV) {
                throw new IllegalArgumentException(name + ": only linear_gemv fuses the conv step");
            }
            conv.slots().checkVector(name, rows);
            conv.states().checkMatrix(name, conv.stateRows(), conv.stateStride(), conv.stateStride());
            if (conv.convOff() < 0 || conv.convOff() + (long) conv.convDim() * conv.dConv() > conv.stateStride()) {
                throw new IllegalArgumentException(name + ": conv window (" + conv.convDim() + ", " + conv.dConv() + ") at " + conv.convOff()
                        + " does not fit a state of " + conv.stateStride() + " floats");
            }
            if (conv.convLo() < 0 || conv.convLo() + conv.convDim() > out) {
                throw new IllegalArgumentException(name + ": conv channels " + conv.convLo() + ".." + (conv.convLo() + conv.convDim())
                        + " outside the " + out + " outputs");
            }
            conv.weight().checkMatrix(name, conv.convDim(), conv.dConv(), conv.dConv());
            conv.bias().checkOptionalVector(name, conv.convDim());
            conv.xc().checkMatrix(name, rows, conv.convDim(), conv.xcStride());
            if (accumulate) {
                throw new IllegalArgumentException(name + ": the fused conv step needs accumulate = false");
            }
            if (conv.dConv() > MAX_FUSED_D_CONV) {
                throw new IllegalArgumentException(name + ": the fused conv step takes d_conv <= " + MAX_FUSED_D_CONV + ", found "
                        + conv.dConv());
            }
        }
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
                if (vec && in >= GEMV_KSPLIT_MIN_IN && normW.isNone() && conv == null) {
                    // long rows (out_proj, x_proj): four warps share each output's row
                    Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), w.arg(), bias.arg(),
                            Pointer.to(new int[] {in}), Pointer.to(new int[] {out}), y.arg(), Pointer.to(new int[] {yStride}),
                            Pointer.to(new int[] {accumulate ? 1 : 0}));
                    Cu.launch("linear_gemv_ksplit", gemvKsplit, out, 1, 1, 128, 0, s, p);
                    return;
                }
                // two outputs per warp for the short, numerous rows of an LM head (measured on the H100: 62 us instead
                // of 73 for 768 -> 50280); one for a layer's matrices, where two measured slower (0.63 ms a step, not 0.58)
                int opw = in <= GEMV_OPW2_MAX_IN && out >= GEMV_OPW2_MIN_OUT ? 2 : 1;
                Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), normW.arg(),
                        Pointer.to(new float[] {eps}), w.arg(), bias.arg(), Pointer.to(new int[] {in}), Pointer.to(new int[] {out}),
                        y.arg(), Pointer.to(new int[] {yStride}), Pointer.to(new int[] {accumulate ? 1 : 0}),
                        Pointer.to(new int[] {vec ? 1 : 0}),
                        conv == null ? Dev.NONE.arg() : conv.slots().arg(), conv == null ? Dev.NONE.arg() : conv.states().arg(),
                        Pointer.to(new long[] {conv == null ? 0 : conv.stateStride()}), Pointer.to(new int[] {conv == null ? 0 : conv.convOff()}),
                        conv == null ? Dev.NONE.arg() : conv.weight().arg(), conv == null ? Dev.NONE.arg() : conv.bias().arg(),
                        Pointer.to(new int[] {conv == null ? 0 : conv.convLo()}), Pointer.to(new int[] {conv == null ? 0 : conv.convDim()}),
                        Pointer.to(new int[] {conv == null ? 0 : conv.dConv()}), conv == null ? Dev.NONE.arg() : conv.xc().arg(),
                        Pointer.to(new int[] {conv == null ? 0 : conv.xcStride()}), Pointer.to(new int[] {opw}));
                // rows of in <= 768 outside an LM head: the half-register version, one resident wave of warps
                boolean shortRows = opw == 1 && in <= GEMV_OPW2_MAX_IN;
                Cu.launch(shortRows ? "linear_gemv_short" : name, shortRows ? gemvShort : gemv, (out + 4 * opw - 1) / (4 * opw), 1, 1,
                        128, 0, s, p);
            }
            case TF32X3 -> {
                boolean big = rows >= BIG_TILE_MIN_ROWS;
                boolean vecTiles = in % 4 == 0 && xStride % 4 == 0 && x.aligned16() && w.aligned16();
                int tile = big ? 128 : 64;
                int gx = (out + tile - 1) / tile;
                int gy = (rows + tile - 1) / tile;
                int splits = 1;
                int blocks = gx * gy;
                int target = big ? multiprocessors : 2 * multiprocessors; // the big tile fits one block per SM
                if (blocks < target && in >= 4 * TILE_K) {
                    splits = Math.min((target + blocks - 1) / blocks, in / (2 * TILE_K));
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
                        Pointer.to(new int[] {accumulate ? 1 : 0}), Pointer.to(new int[] {kPer}),
                        Pointer.to(new int[] {vecTiles ? 1 : 0}));
                Cu.launch(big ? "linear_tf32x3_big" : name, big ? tcBig : tc, gx, gy, splits, big ? 256 : 128, smemBytes(big), s, p);
            }
            default -> throw new IllegalStateException();
        }
    }
}
