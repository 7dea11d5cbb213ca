package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/** Launcher of gated_rmsnorm.cu {@code gated_rmsnorm}: Mamba-2's y *= silu(z), then RMSNorm per group, in place. */
public final class GatedRmsNormKernel {
    static final String NAME = "gated_rmsnorm";
    private final CUfunction fn;

    public GatedRmsNormKernel(CudaDevice device) {
        this.fn = device.function(NAME);
    }

    /** y (rows, dInner) stride yStride, in place; z (rows, dInner) stride zStride; weight (dInner). */
    public void launch(CUstream s, Dev nRows, int rows, Dev y, int yStride, Dev z, int zStride, Dev weight, int dInner,
            int nGroups, float eps) {
        nRows.checkVector(NAME, 1);
        if (nGroups <= 0 || dInner % nGroups != 0) {
            throw new IllegalArgumentException(NAME + ": d_inner " + dInner + " is not a multiple of n_groups " + nGroups);
        }
        y.checkMatrix(NAME, rows, dInner, yStride);
        z.checkMatrix(NAME, rows, dInner, zStride);
        weight.checkVector(NAME, dInner);
        Pointer p = Pointer.to(nRows.arg(), y.arg(), Pointer.to(new int[] {yStride}), z.arg(), Pointer.to(new int[] {zStride}),
                weight.arg(), Pointer.to(new int[] {dInner}), Pointer.to(new int[] {nGroups}), Pointer.to(new float[] {eps}));
        Cu.launch(NAME, fn, nGroups, rows, 1, 1024, 0, s, p);
    }
}
