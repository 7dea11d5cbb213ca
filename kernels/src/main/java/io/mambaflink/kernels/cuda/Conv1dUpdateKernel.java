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
                Pointer.to(new int[] {convDim}), Pointer.to(new int[] {dConv}), xc.arg(), Pointer.to(new int[] {xcStride}));
        Cu.launch(NAME, fn, (convDim + 127) / 128, rows, 1, 128, 0, s, p);
    }
}
