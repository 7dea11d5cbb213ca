package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Launcher of conv1d_update.cu: {@code conv1d_update} (advance each stream's conv window, depthwise conv, silu) and
 * {@code conv_xproj_*} (the same step with Mamba-1's x_proj fused in, which the engine runs in launches of
 * {@link CudaStepEngine#CONV_XPROJ_MIN_ROWS} rows and more).
 */
public final class Conv1dUpdateKernel {
    static final String NAME = "conv1d_update";
    /** Rows and channels of one conv_xproj block (CX_BM, CX_CH in conv1d_update.cu). */
    private static final int XPROJ_ROWS = 64;
    private static final int XPROJ_CHANNELS = 64;
    /** x_proj outputs the narrow conv_xproj builds take (6 n tiles of 8 a warp, two warps a row tile); the _w builds 256. */
    private static final int XPROJ_NARROW_OUT = 96;
    private static final int XPROJ_MAX_OUT = 256;
    private final CUfunction fn;
    /** conv_xproj builds [x3, x1, x3_w, x1_w]. */
    private final CUfunction[] xproj = new CUfunction[4];

    public Conv1dUpdateKernel(CudaDevice device) {
        this.fn = device.function(NAME);
        for (int i = 0; i < 4; i++) {
            String name = xprojName(i);
            xproj[i] = device.function(name);
            LinearKernel.allowSmem(xproj[i], name, xprojSmemBytes(i % 2 == 0 ? 2 : 1, i >= 2 ? XPROJ_MAX_OUT : XPROJ_NARROW_OUT));
        }
    }

    private static String xprojName(int i) {
        return (i % 2 == 0 ? "conv_xproj_x3" : "conv_xproj_x1") + (i >= 2 ? "_w" : "");
    }

    /** Dynamic shared memory of a conv_xproj build: the xc tile and W's slice, bf16 rows of CX_CH + 8, once per half. */
    private static int xprojSmemBytes(int halves, int maxOut) {
        return halves * (XPROJ_ROWS + maxOut) * (XPROJ_CHANNELS + 8) * 2;
    }

    /**
     * @param slots       (rows) int32 state row of each batch row in {@code states}
     * @param phases      (rows) int32 ring phase of each row (its stream's position % dConv) where the layer's windows are
     *                    rings (dConv, convDim), or {@link Dev#NONE} where they are canonical (convDim, dConv), newest
     *                    column last (common.cuh, mf_win_at)
     * @param states      (stateRows, stateStride) stream states; the layer's windows at convOff in each
     * @param stateRows   rows of the state pool (slots are checked on the host against it)
     * @param x           (rows, convDim) stride xStride: the new column
     * @param weight      (convDim, dConv)
     * @param bias        (convDim) or {@link Dev#NONE}
     * @param xc          (rows, convDim) stride xcStride: output after silu
     */
    public void launch(CUstream s, Dev nRows, int rows, Dev slots, Dev phases, Dev states, long stateRows, long stateStride, int convOff,
            Dev x, int xStride, Dev weight, Dev bias, int convDim, int dConv, Dev xc, int xcStride) {
        launch(s, nRows, rows, slots, phases, states, stateRows, stateStride, convOff, x, xStride, weight, bias, convDim, dConv, xc, xcStride,
                true);
    }

    /** As above; {@code allowVec} false keeps the scalar path where the float4 one would run (tests, benchmarks). */
    void launch(CUstream s, Dev nRows, int rows, Dev slots, Dev phases, Dev states, long stateRows, long stateStride, int convOff,
            Dev x, int xStride, Dev weight, Dev bias, int convDim, int dConv, Dev xc, int xcStride, boolean allowVec) {
        check(NAME, nRows, rows, slots, phases, states, stateRows, stateStride, convOff, x, xStride, weight, bias, convDim, dConv, xc, xcStride);
        Pointer p = Pointer.to(nRows.arg(), slots.arg(), phases.arg(), states.arg(), Pointer.to(new long[] {stateStride}),
                Pointer.to(new int[] {convOff}), x.arg(), Pointer.to(new int[] {xStride}), weight.arg(), bias.arg(),
                Pointer.to(new int[] {convDim}), Pointer.to(new int[] {dConv}), xc.arg(), Pointer.to(new int[] {xcStride}),
                Pointer.to(new int[] {allowVec && vec4(states, stateStride, convOff, weight, dConv) ? 1 : 0}));
        Cu.launch(NAME, fn, (convDim + 127) / 128, rows, 1, 128, 0, s, p);
    }

    private static void check(String name, Dev nRows, int rows, Dev slots, Dev phases, Dev states, long stateRows, long stateStride,
            int convOff, Dev x, int xStride, Dev weight, Dev bias, int convDim, int dConv, Dev xc, int xcStride) {
        nRows.checkVector(name, 1);
        phases.checkOptionalVector(name, rows);
        Dev.checkStateRegion(name, slots, rows, states, stateRows, stateStride, convOff, (long) convDim * dConv,
                "conv window (" + convDim + ", " + dConv + ")");
        x.checkMatrix(name, rows, convDim, xStride);
        weight.checkMatrix(name, convDim, dConv, dConv);
        bias.checkOptionalVector(name, convDim);
        xc.checkMatrix(name, rows, convDim, xcStride);
    }

    /** True when every window and weight row is four floats on a 16-byte boundary: one float4 each. */
    static boolean vec4(Dev states, long stateStride, int convOff, Dev weight, int dConv) {
        return dConv == 4 && stateStride % 4 == 0 && convOff % 4 == 0 && states.aligned16() && weight.aligned16();
    }

    /**
     * True when {@link #launchXProj} takes a layer: float4 windows ({@link #vec4}), channels a multiple of 8 (W's rows in
     * 16-byte pieces) and at most {@link #XPROJ_MAX_OUT} x_proj outputs.
     */
    static boolean xprojFits(Dev states, long stateStride, int convOff, Dev weight, int dConv, int convDim, int nOut,
            LinearKernel.Split w) {
        return vec4(states, stateStride, convOff, weight, dConv) && convDim % 8 == 0 && nOut <= XPROJ_MAX_OUT && w != null
                && w.hi().aligned16() && w.lo().aligned16();
    }

    /**
     * The conv step as {@link #launch}, with x_proj fused in (conv_xproj_*): dbc = xc xProj^T, from xc's tiles in shared
     * memory, added atomically into dbc, which this zeroes first (rows x nOut). Shapes as {@link #launch}, and
     *
     * @param three  bf16x3 products (float32-accurate), else bf16x1
     * @param xProj  x_proj's (nOut, convDim) weight as its bf16 split
     * @param dbc    (rows, nOut), dense: [dt_low_rank | B | C]
     */
    public void launchXProj(CUstream s, boolean three, Dev nRows, int rows, Dev slots, Dev phases, Dev states, long stateRows, long stateStride,
            int convOff, Dev x, int xStride, Dev weight, Dev bias, int convDim, int dConv, Dev xc, int xcStride, LinearKernel.Split xProj,
            int nOut, Dev dbc) {
        int build = (three ? 0 : 1) + (nOut > XPROJ_NARROW_OUT ? 2 : 0);
        String name = xprojName(build);
        check(name, nRows, rows, slots, phases, states, stateRows, stateStride, convOff, x, xStride, weight, bias, convDim, dConv, xc, xcStride);
        if (!xprojFits(states, stateStride, convOff, weight, dConv, convDim, nOut, xProj)) {
            throw new IllegalArgumentException(name + ": needs d_conv 4 in 16-byte aligned windows, conv_dim % 8 == 0 and at most "
                    + XPROJ_MAX_OUT + " outputs, found d_conv " + dConv + ", conv_dim " + convDim + ", " + nOut + " outputs");
        }
        xProj.hi().checkMatrix(name, nOut, convDim / 2, convDim / 2);
        xProj.lo().checkMatrix(name, nOut, convDim / 2, convDim / 2);
        dbc.checkMatrix(name, rows, nOut, nOut);
        Cu.zeroAsync(name + " output " + dbc.name(), dbc.ptr(), (long) rows * nOut, s);
        Pointer p = Pointer.to(nRows.arg(), slots.arg(), phases.arg(), states.arg(), Pointer.to(new long[] {stateStride}),
                Pointer.to(new int[] {convOff}), x.arg(), Pointer.to(new int[] {xStride}), weight.arg(), bias.arg(), Pointer.to(new int[] {convDim}), xc.arg(),
                Pointer.to(new int[] {xcStride}), xProj.hi().arg(), three ? xProj.lo().arg() : Dev.NONE.arg(), Pointer.to(new int[] {nOut}),
                dbc.arg(), Pointer.to(new int[] {nOut}));
        Cu.launch(name, xproj[build], (convDim + XPROJ_CHANNELS - 1) / XPROJ_CHANNELS, (rows + XPROJ_ROWS - 1) / XPROJ_ROWS, 1, 256,
                xprojSmemBytes(three ? 2 : 1, build >= 2 ? XPROJ_MAX_OUT : XPROJ_NARROW_OUT), s, p);
    }
}
