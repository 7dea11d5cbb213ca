package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Launcher of ssm2_update.cu: Mamba-2's discretize (dt clamped to time_step_limit), per-head state update, readout
 * and D skip for one step. {@code ssm2_update} (a warp per (head, p), lanes over d_state) is the engine's; {@code
 * ssm2_update_ref} (a thread per (head, p)) is the plain reference.
 */
public final class Ssm2UpdateKernel {
    private static final int P_PER_BLOCK = 16;
    private final CUfunction ref;
    private final CUfunction fast;

    public Ssm2UpdateKernel(CudaDevice device) {
        this.ref = device.function("ssm2_update_ref");
        this.fast = device.function("ssm2_update");
    }

    /**
     * @param states (stateRows, stateStride); SSM state (nHeads, headDim, dState) at ssmOff in each
     * @param xc     (rows, dInner + 2 nGroups dState) stride xcStride: [x | B | C] after conv and silu
     * @param proj   (rows, projStride): dt_raw at columns dtOff .. dtOff + nHeads
     * @param dtBias (nHeads), a (nHeads), d (nHeads)
     * @param y      (rows, dInner) stride yStride
     */
    public void launch(CUstream s, boolean useFast, Dev nRows, int rows, Dev slots, Dev states, long stateRows, long stateStride,
            int ssmOff, Dev xc, int xcStride, Dev proj, int projStride, int dtOff, Dev dtBias, Dev a, Dev d, int nHeads, int headDim,
            int dState, int nGroups, float dtMin, float dtMax, Dev y, int yStride) {
        String name = useFast ? "ssm2_update" : "ssm2_update_ref";
        int dInner = nHeads * headDim;
        nRows.checkVector(name, 1);
        if (nGroups <= 0 || nHeads % nGroups != 0) {
            throw new IllegalArgumentException(name + ": n_heads " + nHeads + " is not a multiple of n_groups " + nGroups);
        }
        Dev.checkStateRegion(name, slots, rows, states, stateRows, stateStride, ssmOff, (long) dInner * dState,
                "SSM state (" + nHeads + ", " + headDim + ", " + dState + ")");
        xc.checkMatrix(name, rows, dInner + 2L * nGroups * dState, xcStride);
        proj.checkMatrix(name, rows, (long) dtOff + nHeads, projStride);
        dtBias.checkVector(name, nHeads);
        a.checkVector(name, nHeads);
        d.checkVector(name, nHeads);
        y.checkMatrix(name, rows, dInner, yStride);
        boolean vec = dState % 128 == 0 && stateStride % 4 == 0 && ssmOff % 4 == 0 && states.aligned16() && xcStride % 4 == 0
                && dInner % 4 == 0 && xc.aligned16();
        Pointer p = Pointer.to(nRows.arg(), slots.arg(), states.arg(), Pointer.to(new long[] {stateStride}),
                Pointer.to(new int[] {ssmOff}), xc.arg(), Pointer.to(new int[] {xcStride}), proj.arg(), Pointer.to(new int[] {projStride}),
                Pointer.to(new int[] {dtOff}), dtBias.arg(), a.arg(), d.arg(), Pointer.to(new int[] {nHeads}),
                Pointer.to(new int[] {headDim}), Pointer.to(new int[] {dState}), Pointer.to(new int[] {nGroups}),
                Pointer.to(new float[] {dtMin}), Pointer.to(new float[] {dtMax}), y.arg(), Pointer.to(new int[] {yStride}),
                Pointer.to(new int[] {vec ? 1 : 0}));
        if (useFast) {
            Cu.launch(name, fast, nHeads, (headDim + P_PER_BLOCK - 1) / P_PER_BLOCK, rows, 128, 0, s, p);
        } else {
            Cu.launch(name, ref, (dInner + 127) / 128, rows, 1, 128, 0, s, p);
        }
    }
}
