package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/** Launcher of conv1d_update.cu {@code conv1d_update}: shift each stream's conv window, depthwise conv, silu. */
public final class Conv1dUpdateKernel {
    static final String NAME = "conv1d_update";
    private final CUfunction fn;

    public Conv1dUpdateKernel(CudaDevice device) {
        this.fn = device.function(NAME);
    }

    /**
     * @param slots       (rows) int32 state row of each batch row in {@code states}
     * @param states      (stateRows, stateStride) stream states; the window (convDim, dConv) at convOff in each
     * @param stateRows   rows of the state pool (slots are checked on the host against it)
     * @param x           (rows, convDim) stride xStride: the new column
     * @param weight      (convDim, dConv)
     * @param bias        (convDim) or {@link Dev#NONE}
     * @param xc          (rows, convDim) stride xcStride: output after silu
     */
    public void launch(CUstream s, Dev nRows, int rows, Dev slots, Dev states, long stateRows, long stateStride, int convOff,
            Dev x, int xStride, Dev weight, Dev bias, int convDim, int dConv, Dev xc, int xcStride) {
        launch(s, nRows, rows, slots, states, stateRows, stateStride, convOff, x, xStride, weight, bias, convDim, dConv, xc, xcStride,
                true);
    }

    /** As above; {@code allowVec} false keeps the scalar path where the float4 one would run (tests, benchmarks). */
    void launch(CUstream s, Dev nRows, int rows, Dev slots, Dev states, long stateRows, long stateStride, int convOff,
            Dev x, int xStride, Dev weight, Dev bias, int convDim, int dConv, Dev xc, int xcStride, boolean allowVec) {
        nRows.checkVector(NAME, 1);
        slots.checkVector(NAME, rows);
        states.checkMatrix(NAME, stateRows, stateStride, stateStride);
        if (convOff < 0 || convOff + (long) convDim * dConv > stateStride) {
            throw new IllegalArgumentException(NAME + ": conv window (" + convDim + ", " + dConv + ") at " + convOff
                    + " does not fit a state of " + stateStride + " floats");
        }
        x.checkMatrix(NAME, rows, convDim, xStride);
        weight.checkMatrix(NAME, convDim, dConv, dConv);
        bias.checkOptionalVector(NAME, convDim);
        xc.checkMatrix(NAME, rows, convDim, xcStride);
        Pointer p = Pointer.to(nRows.arg(), slots.arg(), states.arg(), Pointer.to(new long[] {stateStride}),
                Pointer.to(new int[] {convOff}), x.arg(), Pointer.to(new int[] {xStride}), weight.arg(), bias.arg(),
                Pointer.to(new int[] {convDim}), Pointer.to(new int[] {dConv}), xc.arg(), Pointer.to(new int[] {xcStride}),
                Pointer.to(new int[] {allowVec && vec4(states, stateStride, convOff, weight, dConv) ? 1 : 0}));
        Cu.launch(NAME, fn, (convDim + 127) / 128, rows, 1, 128, 0, s, p);
    }

    /** True when every window and weight row is four floats on a 16-byte boundary: one float4 each. */
    static boolean vec4(Dev states, long stateStride, int convOff, Dev weight, int dConv) {
        return dConv == 4 && stateStride % 4 == 0 && convOff % 4 == 0 && states.aligned16() && weight.aligned16();
    }
}
