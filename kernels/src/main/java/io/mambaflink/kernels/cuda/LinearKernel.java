package io.mambaflink.kernels.cuda;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.JCudaDriver;
import jcuda.driver.CUstream;

/**
 * Launcher of linear.cu and linear_bf16.cu: y = x' W^T + bias (+ y), with x' = x or RMSNorm(x) * normW. Versions of
 * one product: the plain reference, a weight-streaming GEMV for batches of up to {@link #GEMV_MAX_ROWS} rows (with the
 * pre-norm fused in), and tensor-core GEMMs for larger batches: bf16x3 (float32-accurate through split bfloat16
 * operands, the default), bf16x1 (bfloat16 operands, opt-in) and 3xTF32 (float32-accurate, for shapes the bf16 kernels
 * do not take: {@code in % 8 != 0} or unaligned rows). The bf16 products run on mma.sync (linear_bf16.cu), or, on a
 * compute capability 9.0 device given room for x's bf16 halves ({@link #setActivationSplit}), wide ones on wgmma
 * (linear_wgmma.cu: the persistent, warp-specialized wg_ws_* builds, or with -Dmambaflink.cuda.wgmma-ws=false one block
 * per tile, wg_gemm_*).
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
        TF32X3,
        /**
         * linear_bf16x3: bf16 tensor cores on the weight's {@link Split} (hi and lo) and x split in registers, three
         * products per fragment: float32-accurate (~1e-5 relative). 64 x 64 tiles (linear_bf16x3_s) or 128 x 128 from
         * {@link #BIG_TILE_MIN_ROWS} rows. Falls back to {@link #TF32X3} where in % 8 != 0 or rows are unaligned.
         */
        BF16X3,
        /** linear_bf16x1: as {@link #BF16X3} with one product of the rounded operands: bfloat16 accuracy (~3e-3 relative). */
        BF16X1
    }

    /**
     * A weight matrix (out, in) split into bfloat16 halves by {@link Splitter}: hi = bf16(W), lo = bf16(W - hi), each
     * row-major (out, in) bf16, so each view holds at least out * in / 2 floats.
     */
    public record Split(Dev hi, Dev lo) {}

    /** Runs split_bf16 over weight matrices on a stream of its own; {@link #finish} waits for it and ends the stream. */
    public static final class Splitter {
        private final CUfunction f;
        private final CUstream stream = new CUstream();

        public Splitter(CudaDevice device) {
            this.f = device.function("split_bf16");
            try {
                JCudaDriver.cuStreamCreate(stream, jcuda.driver.CUstream_flags.CU_STREAM_NON_BLOCKING);
            } catch (CudaException e) {
                throw Cu.fail("cuStreamCreate", "split_bf16 stream", e);
            }
        }

        /** Splits the first {@code n} floats of {@code w} into {@code dst}. */
        public void split(Dev w, long n, Split dst) {
            w.checkVector("split_bf16", n);
            dst.hi().checkVector("split_bf16", (n + 1) / 2);
            dst.lo().checkVector("split_bf16", (n + 1) / 2);
            Pointer p = Pointer.to(w.arg(), dst.hi().arg(), dst.lo().arg(), Pointer.to(new long[] {n}));
            Cu.launch("split_bf16", f, (int) Math.min(4096, (n + 255) / 256), 1, 1, 256, 0, stream, p);
        }

        public void finish() {
            try {
                Cu.sync("split_bf16", stream);
            } finally {
                JCudaDriver.cuStreamDestroy(stream);
            }
        }
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
     * @param phases (rows) int32 each row's ring phase (position % dConv) where the windows are rings (dConv, convDim),
     *               or NONE where they are canonical (convDim, dConv) (common.cuh, mf_win_at)
     * @param states (stateRows, stateStride), the layer's windows at convOff in each
     * @param weight (convDim, dConv); bias (convDim) or NONE
     * @param xc     (rows, convDim) stride xcStride: silu(conv) output
     */
    public record ConvFusion(Dev slots, Dev phases, Dev states, long stateRows, long stateStride, int convOff, Dev weight, Dev bias, int convLo,
            int convDim, int dConv, Dev xc, int xcStride) {}

    private final CUfunction ref;
    /**
     * The GEMV's builds by the most batch rows they take, ascending: linear_gemv_r{1,2,4} /
     * linear_gemv_short_r{1,2,4}, then the 8-row linear_gemv / linear_gemv_short. A bucket runs the first that takes
     * its rows; with -Dmambaflink.cuda.gemv-few-rows=false only the 8-row builds are loaded.
     */
    private final int[] gemvRows;
    private final String[] gemvNames;
    private final CUfunction[] gemv;
    private final CUfunction[] gemvShort;
    private final CUfunction gemvKsplit;
    private final CUfunction tc;
    private final CUfunction tcBig;
    /** linear_bf16.cu's builds, by [tile][passes 3, 1]. */
    private final CUfunction[][] bf16 = new CUfunction[BF16_TILES.length][2];
    private final int multiprocessors;
    /** wgmma builds [x3, x1] (linear_wgmma.cu) where the device runs the sm_90a fatbin, else null. */
    private final CUfunction[] wg;
    /** Their 128 x 256 tile builds [x3, x1], or null (also with -Dmambaflink.cuda.wgmma-n256=false). */
    private final CUfunction[] wg256;
    /**
     * The persistent, warp-specialized builds [x3, x1, x3_n256, x1_n256] (wg_ws_*), which run the wgmma products unless
     * -Dmambaflink.cuda.wgmma-ws=false; or null.
     */
    private final CUfunction[] ws;
    private final CUfunction wgSplitRows;
    /** x's bf16 halves for the wgmma products, (rows, in) each; null: the mma.sync kernels run instead. */
    private Split xSplit;

    public LinearKernel(CudaDevice device) {
        this.ref = device.function("linear_ref");
        boolean fewRows = !"false".equals(System.getProperty("mambaflink.cuda.gemv-few-rows"));
        this.gemvRows = fewRows ? new int[] {1, 2, 4, GEMV_MAX_ROWS} : new int[] {GEMV_MAX_ROWS};
        this.gemvNames = new String[gemvRows.length];
        this.gemv = new CUfunction[gemvRows.length];
        this.gemvShort = new CUfunction[gemvRows.length];
        for (int i = 0; i < gemvRows.length; i++) {
            gemvNames[i] = gemvRows[i] == GEMV_MAX_ROWS ? "" : "_r" + gemvRows[i];
            gemv[i] = device.function("linear_gemv" + gemvNames[i]);
            gemvShort[i] = device.function("linear_gemv_short" + gemvNames[i]);
        }
        this.gemvKsplit = device.function("linear_gemv_ksplit");
        this.tc = device.function("linear_tf32x3");
        this.tcBig = device.function("linear_tf32x3_big");
        this.multiprocessors = device.multiprocessors();
        if (device.wgmma()) {
            this.wg = new CUfunction[] {device.function("wg_gemm_x3"), device.function("wg_gemm_x1")};
            allowSmem(wg[0], "wg_gemm_x3", wgSmemBytes(true, 128));
            allowSmem(wg[1], "wg_gemm_x1", wgSmemBytes(false, 128));
            if (!"false".equals(System.getProperty("mambaflink.cuda.wgmma-n256"))) {
                this.wg256 = new CUfunction[] {device.function("wg_gemm_x3_n256"), device.function("wg_gemm_x1_n256")};
                allowSmem(wg256[0], "wg_gemm_x3_n256", wgSmemBytes(true, 256));
                allowSmem(wg256[1], "wg_gemm_x1_n256", wgSmemBytes(false, 256));
            } else {
                this.wg256 = null;
            }
            if (!"false".equals(System.getProperty("mambaflink.cuda.wgmma-ws"))) {
                this.ws = new CUfunction[4];
                for (int i = 0; i < 4; i++) {
                    String name = wsName(i % 2 == 0, i < 2 ? 128 : 256);
                    ws[i] = device.function(name);
                    allowSmem(ws[i], name, wsSmemBytes(i % 2 == 0, i < 2 ? 128 : 256));
                }
            } else {
                this.ws = null;
            }
            this.wgSplitRows = device.function("bf16_split_rows");
        } else {
            this.wg = null;
            this.wg256 = null;
            this.ws = null;
            this.wgSplitRows = null;
        }
        allowSmem(tcBig, "linear_tf32x3_big", smemBytes(true));
        for (int t = 0; t < BF16_TILES.length; t++) {
            for (int p = 0; p < 2; p++) {
                String fn = BF16_TILES[t].kernel(p == 0);
                bf16[t][p] = device.function(fn);
                allowSmem(bf16[t][p], fn, BF16_TILES[t].smemBytes());
            }
        }
    }

    /**
     * A block tile of linear_bf16.cu: rows x outputs per block, threads, shared-memory stages, and the kernel-name
     * suffix of its builds.
     */
    record Bf16Tile(int bm, int bn, int threads, int stages, String suffix) {
        String kernel(boolean threePasses) {
            return (threePasses ? "linear_bf16x3" : "linear_bf16x1") + suffix;
        }

        /** Per stage: x (bm, 40) float32, W hi and lo (bn, 40) bf16. */
        int smemBytes() {
            return stages * (bm * (TILE_K + 8) * 4 + 2 * bn * (TILE_K + 8) * 2);
        }

        int blocks(int rows, int out) {
            return ((rows + bm - 1) / bm) * ((out + bn - 1) / bn);
        }
    }

    /** Largest first: the first that gives every SM two blocks runs a product, else the last (with split-K). */
    static final Bf16Tile[] BF16_TILES = {new Bf16Tile(256, 128, 256, 3, "_w"), new Bf16Tile(128, 128, 256, 2, ""),
        new Bf16Tile(64, 64, 128, 3, "_s")};

    /** The index into {@link #BF16_TILES} for a product. */
    int bf16Tile(int rows, int out) {
        for (int t = 0; t < BF16_TILES.length - 1; t++) {
            if (BF16_TILES[t].blocks(rows, out) >= 2 * multiprocessors) {
                return t;
            }
        }
        return BF16_TILES.length - 1;
    }

    /**
     * Buckets of at least this many rows use the wgmma products (their blocks are 128 rows tall), for products of at
     * least half as many 128 x 128 blocks as the device has SMs; thinner ones (x_proj; out_proj and dt_proj at batch
     * 512) measured faster on the mma.sync kernels with split-K.
     */
    static final int WG_MIN_ROWS = 128;

    /**
     * linear_wgmma.cu's dynamic shared memory for tiles of 128 rows x {@code bn} outputs: stages of 64-wide K tiles, each
     * 128 + bn operand rows (twice for x3) of 64 bf16; x3 3 stages at bn 128, 2 at bn 256; x1 4; plus 1 KB for alignment.
     */
    static int wgSmemBytes(boolean three, int bn) {
        int stages = !three ? 4 : bn == 256 ? 2 : 3;
        return stages * (three ? 2 : 1) * (128 + bn) * 64 * 2 + 1024;
    }

    /** The wg_ws_* build of a product: x3 or x1, 128 x bn tiles. */
    static String wsName(boolean three, int bn) {
        return (three ? "wg_ws_x3" : "wg_ws_x1") + (bn == 256 ? "_n256" : "");
    }

    /**
     * wg_ws_*'s dynamic shared memory: 192 KB of stages (x3: K tiles of 32, 6 stages at bn 128, 4 at 256; x1: K tiles
     * of 64, 6 and 4), 1 KB for alignment, 16 bytes of barriers per stage.
     */
    static int wsSmemBytes(boolean three, int bn) {
        int bk = three ? 32 : 64;
        int stages = bn == 256 ? 4 : 6;
        return stages * (three ? 2 : 1) * (128 + bn) * bk * 2 + 1024 + 16 * stages;
    }

    /** wg_ws_*'s grid: one block per SM, or per tile where there are fewer (tiles of the bucket's rows). */
    static int wsBlocks(int rows, int out, int bn, int multiprocessors) {
        return Math.min(multiprocessors, ((rows + 127) / 128) * ((out + bn - 1) / bn));
    }

    /**
     * True when a wgmma product takes the 128 x 256 tiles: they fill the device at least once. A quarter less operand
     * traffic per product than 128 x 128: on the H100 the LM head at batch 4096 takes 1.58 ms instead of 1.72 (bf16x3,
     * wg_ws; wg_gemm 2.15 and 2.45), in_proj 0.130 instead of 0.141.
     */
    boolean wgWide(int rows, int out) {
        return wg256 != null && ((out + 255) / 256) * ((rows + 127) / 128) >= multiprocessors;
    }

    /**
     * Where the producer of this product's input may write it as bf16 halves: when the product runs on wgmma
     * ({@code v} BF16X3 or BF16X1, {@link #usesWgmma}, in % 8 == 0), this launcher's activation split (lo NONE for
     * BF16X1), which {@link #launchWg} then reads without the bf16_split_rows pass; null otherwise.
     */
    public Split wgInput(Variant v, int rows, int in, int out) {
        if ((v != Variant.BF16X3 && v != Variant.BF16X1) || in % 8 != 0 || !usesWgmma(rows, in, out)) {
            return null;
        }
        return v == Variant.BF16X3 ? xSplit : new Split(xSplit.hi(), Dev.NONE);
    }

    /** y = x W^T + bias (+ y) on wgmma, x's bf16 halves already in {@link #wgInput}'s buffers (shapes as in launch). */
    public void launchWg(CUstream s, Variant v, Dev nRows, int rows, Dev w, Split split, Dev bias, int in, int out, Dev y, int yStride,
            boolean accumulate) {
        String name = v == Variant.BF16X3 ? "wg_gemm_x3" : "wg_gemm_x1";
        if (wgInput(v, rows, in, out) == null || split == null) {
            throw new IllegalArgumentException(name + ": " + rows + " x " + in + " -> " + out + " in " + v + " does not run on wgmma with "
                    + "its input's halves given" + (split == null ? " (" + w.name() + " has no bf16 split)" : ""));
        }
        nRows.checkVector(name, 1);
        w.checkMatrix(name, out, in, in);
        bias.checkOptionalVector(name, out);
        y.checkMatrix(name, rows, out, yStride);
        split.hi().checkMatrix(name, out, in / 2, in / 2);
        split.lo().checkMatrix(name, out, in / 2, in / 2);
        wgProduct(s, v == Variant.BF16X3, nRows, rows, split, bias, in, out, y, yStride, accumulate);
    }

    /** The wgmma product of x's halves in xSplit (one K range: usesWgmma asks for enough blocks to need no split-K). */
    private void wgProduct(CUstream s, boolean three, Dev nRows, int rows, Split split, Dev bias, int in, int out, Dev y, int yStride,
            boolean accumulate) {
        Pointer p = Pointer.to(nRows.arg(), xSplit.hi().arg(), xSplit.lo().arg(), split.hi().arg(), split.lo().arg(), bias.arg(),
                Pointer.to(new int[] {in}), Pointer.to(new int[] {out}), y.arg(), Pointer.to(new int[] {yStride}),
                Pointer.to(new int[] {accumulate ? 1 : 0}), Pointer.to(new int[] {in}));
        int bn = wgWide(rows, out) ? 256 : 128;
        if (ws != null) {
            Cu.launch(wsName(three, bn), ws[(three ? 0 : 1) + (bn == 256 ? 2 : 0)], wsBlocks(rows, out, bn, multiprocessors), 1, 1, 384,
                    wsSmemBytes(three, bn), s, p);
            return;
        }
        Cu.launch((three ? "wg_gemm_x3" : "wg_gemm_x1") + (bn == 256 ? "_n256" : ""), (bn == 256 ? wg256 : wg)[three ? 0 : 1],
                (out + bn - 1) / bn, (rows + 127) / 128, 1, 256, wgSmemBytes(three, bn), s, p);
    }

    /**
     * True when a bf16 product of this shape runs on wgmma: the device has them, x's split room is set and large
     * enough, the bucket has at least {@link #WG_MIN_ROWS} rows and the product at least half as many 128 x 128 blocks
     * as the device has SMs (in % 8 == 0 and aligned rows assumed, as for every bf16 product).
     */
    public boolean usesWgmma(int rows, int in, int out) {
        int wgBlocks = ((out + 127) / 128) * ((rows + 127) / 128);
        return wg != null && xSplit != null && rows >= WG_MIN_ROWS && 2 * wgBlocks >= multiprocessors
                && xSplit.hi().floats() >= (long) rows * in / 2 && xSplit.lo().floats() >= (long) rows * in / 2
                && xSplit.hi().aligned16() && xSplit.lo().aligned16();
    }

    /** True when this device runs the wgmma products (sm_90a build loaded). */
    public boolean wgmma() {
        return wg != null;
    }

    /**
     * Gives the bf16 products room for x's bf16 halves (each at least rows * in / 2 floats of the products to come), which
     * the wgmma kernels read; null, or a device without them, keeps the mma.sync kernels.
     */
    public void setActivationSplit(Split scratch) {
        this.xSplit = scratch;
    }

    /** Lets {@code f} use {@code bytes} of dynamic shared memory (above the default 48 KB). */
    static void allowSmem(CUfunction f, String name, int bytes) {
        try {
            JCudaDriver.cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
        } catch (CudaException e) {
            throw Cu.fail("cuFuncSetAttribute", name + ", " + bytes + " bytes of dynamic shared memory", e);
        }
    }

    /** Dynamic shared memory of the tensor-core kernels: two stages of both tiles, and each warp's epilogue tile. */
    private static int smemBytes(boolean big) {
        int tile = big ? 128 : 64;
        int warps = big ? 8 : 4;
        return 4 * (2 * (tile + tile) * (TILE_K + 4) + 256 * warps);
    }

    /** The version the engine uses for a batch bucket of {@code rows}: the GEMV, else the bf16 GEMM of that precision. */
    public static Variant pick(int rows, boolean bf16Operands) {
        return rows <= GEMV_MAX_ROWS ? Variant.GEMV : bf16Operands ? Variant.BF16X1 : Variant.BF16X3;
    }

    /** True when the bf16 GEMMs take this product (else {@link Variant#TF32X3} runs it). */
    public static boolean bf16Fits(int in, int xStride, Dev x, Split split) {
        return split != null && in % 8 == 0 && xStride % 4 == 0 && x.aligned16() && split.hi().aligned16() && split.lo().aligned16();
    }

    /**
     * Split-K for the tensor-core GEMMs: when a product's {@code blocks} are fewer than {@code target}, K is cut into
     * ranges whose results are added atomically into y (zeroed here first unless accumulating). Returns {splits,
     * k per split}.
     */
    private int[] splitK(String name, CUstream s, int blocks, int target, int rows, int in, int out, Dev y, int yStride,
            boolean accumulate) {
        int splits = 1;
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
        return new int[] {splits, kPer};
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
        launch(s, v, nRows, rows, x, xStride, normW, eps, w, null, bias, in, out, y, yStride, accumulate, null);
    }

    /**
     * As above; {@code split} is W's bf16 split, which {@link Variant#BF16X3} and {@link Variant#BF16X1} need (null
     * otherwise), and {@code conv} the conv step fused into the GEMV (non-null needs {@link Variant#GEMV}).
     */
    public void launch(CUstream s, Variant v, Dev nRows, int rows, Dev x, int xStride, Dev normW, float eps, Dev w, Split split,
            Dev bias, int in, int out, Dev y, int yStride, boolean accumulate, ConvFusion conv) {
        if ((v == Variant.BF16X3 || v == Variant.BF16X1) && !bf16Fits(in, xStride, x, split)) {
            if (split == null) {
                throw new IllegalArgumentException("linear_" + v.name().toLowerCase(java.util.Locale.ROOT) + ": " + w.name()
                        + " has no bf16 split");
            }
            v = Variant.TF32X3; // in % 8 != 0 or unaligned rows: the float32-accurate 3xTF32 kernel
        }
        String name = switch (v) {
            case REF -> "linear_ref";
            case GEMV -> "linear_gemv";
            case TF32X3 -> "linear_tf32x3";
            case BF16X3 -> "linear_bf16x3";
            case BF16X1 -> "linear_bf16x1";
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
            Dev.checkStateRegion(name, conv.slots(), rows, conv.states(), conv.stateRows(), conv.stateStride(), conv.convOff(),
                    (long) conv.convDim() * conv.dConv(), "conv window (" + conv.convDim() + ", " + conv.dConv() + ")");
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
                        conv == null ? Dev.NONE.arg() : conv.slots().arg(), conv == null ? Dev.NONE.arg() : conv.phases().arg(),
                        conv == null ? Dev.NONE.arg() : conv.states().arg(),
                        Pointer.to(new long[] {conv == null ? 0 : conv.stateStride()}), Pointer.to(new int[] {conv == null ? 0 : conv.convOff()}),
                        conv == null ? Dev.NONE.arg() : conv.weight().arg(), conv == null ? Dev.NONE.arg() : conv.bias().arg(),
                        Pointer.to(new int[] {conv == null ? 0 : conv.convLo()}), Pointer.to(new int[] {conv == null ? 0 : conv.convDim()}),
                        Pointer.to(new int[] {conv == null ? 0 : conv.dConv()}), conv == null ? Dev.NONE.arg() : conv.xc().arg(),
                        Pointer.to(new int[] {conv == null ? 0 : conv.xcStride()}), Pointer.to(new int[] {opw}));
                // rows of in <= 768 outside an LM head: the half-register version, one resident wave of warps
                boolean shortRows = opw == 1 && in <= GEMV_OPW2_MAX_IN;
                // the build for the fewest rows that takes the bucket (fewer registers, more warps resident)
                int b = 0;
                while (gemvRows[b] < rows) {
                    b++;
                }
                Cu.launch((shortRows ? "linear_gemv_short" : name) + gemvNames[b], shortRows ? gemvShort[b] : gemv[b],
                        (out + 4 * opw - 1) / (4 * opw), 1, 1, 128, 0, s, p);
            }
            case TF32X3 -> {
                boolean big = rows >= BIG_TILE_MIN_ROWS;
                boolean vecTiles = in % 4 == 0 && xStride % 4 == 0 && x.aligned16() && w.aligned16();
                int tile = big ? 128 : 64;
                int[] k = splitK(name, s, (out + tile - 1) / tile * ((rows + tile - 1) / tile), big ? multiprocessors : 2 * multiprocessors, rows,
                        in, out, y, yStride, accumulate);
                Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), w.arg(), bias.arg(),
                        Pointer.to(new int[] {in}), Pointer.to(new int[] {out}), y.arg(), Pointer.to(new int[] {yStride}),
                        Pointer.to(new int[] {accumulate ? 1 : 0}), Pointer.to(new int[] {k[1]}),
                        Pointer.to(new int[] {vecTiles ? 1 : 0}));
                Cu.launch(big ? "linear_tf32x3_big" : name, big ? tcBig : tc, (out + tile - 1) / tile, (rows + tile - 1) / tile, k[0],
                        big ? 256 : 128, smemBytes(big), s, p);
            }
            case BF16X3, BF16X1 -> {
                split.hi().checkMatrix(name, out, in / 2, in / 2);
                split.lo().checkMatrix(name, out, in / 2, in / 2);
                boolean three = v == Variant.BF16X3;
                if (usesWgmma(rows, in, out)) {
                    // Hopper: x split into bf16 halves once, then the product on wgmma
                    Pointer c = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), Pointer.to(new int[] {in}),
                            xSplit.hi().arg(), three ? xSplit.lo().arg() : Dev.NONE.arg());
                    Cu.launch("bf16_split_rows", wgSplitRows, Math.min(4 * multiprocessors, (rows * (in / 4) + 255) / 256), 1, 1, 256, 0, s,
                            c);
                    wgProduct(s, three, nRows, rows, split, bias, in, out, y, yStride, accumulate);
                    return;
                }
                int ti = bf16Tile(rows, out);
                Bf16Tile t = BF16_TILES[ti];
                int[] k = splitK(name, s, t.blocks(rows, out), 2 * multiprocessors, rows, in, out, y, yStride, accumulate);
                Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), split.hi().arg(), split.lo().arg(),
                        bias.arg(), Pointer.to(new int[] {in}), Pointer.to(new int[] {out}), y.arg(), Pointer.to(new int[] {yStride}),
                        Pointer.to(new int[] {accumulate ? 1 : 0}), Pointer.to(new int[] {k[1]}));
                Cu.launch(t.kernel(three), bf16[ti][three ? 0 : 1], (out + t.bn() - 1) / t.bn(), (rows + t.bm() - 1) / t.bm(), k[0],
                        t.threads(), t.smemBytes(), s, p);
            }
            default -> throw new IllegalStateException();
        }
    }
}
