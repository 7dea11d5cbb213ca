package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Launcher of ssm1_update.cu: Mamba-1's discretize, state update, readout, D skip and silu(z) gate for one step.
 * {@code ssm1_update} / {@code ssm1_update_dtw} (d_state / 4 lanes per channel, one float4 of state each, A in registers
 * over 4 rows; the second also runs dt_proj) run when d_state is 4, 8, ..., 128 and the states are 16-byte aligned;
 * {@code ssm1_update_ref} otherwise, and in tests.
 */
public final class Ssm1UpdateKernel {
    private static final int ROWS_PER_BLOCK = 4;
    private final CUfunction ref;
    private final CUfunction fast;
    private final CUfunction fastDtw;

    public Ssm1UpdateKernel(CudaDevice device) {
        this.ref = device.function("ssm1_update_ref");
        this.fast = device.function("ssm1_update");
        this.fastDtw = device.function("ssm1_update_dtw");
    }

    /** True when the fast kernel can run on these shapes. */
    public static boolean fastFits(int dState, long stateStride, int ssmOff, Dev states) {
        int lanes = dState / 4;
        return dState % 4 == 0 && lanes <= 32 && (lanes & (lanes - 1)) == 0 && stateStride % 4 == 0 && ssmOff % 4 == 0
                && states.aligned16();
    }

    /**
     * @param slots  (rows) int32 state row of each batch row
     * @param states (stateRows, stateStride); SSM state (dInner, dState) at ssmOff in each
     * @param xc     (rows, dInner) stride xcStride
     * @param dbc    (rows, dtRank + 2 dState) stride dbcStride
     * @param dtW    (dInner, dtRank) with dtB (dInner): dt_proj computed in the kernel; or NONE with dtv given
     * @param dtv    (rows, dInner) stride dtvStride: dt_proj's output incl. bias, when dtW is NONE
     * @param a      (dInner, dState)
     * @param d      (dInner)
     * @param z      (rows, dInner) stride zStride
     * @param y      (rows, dInner) stride yStride
     */
    public void launch(CUstream s, boolean useFast, Dev nRows, int rows, Dev slots, Dev states, long stateRows, long stateStride,
            int ssmOff, Dev xc, int xcStride, Dev dbc, int dbcStride, Dev dtW, Dev dtB, Dev dtv, int dtvStride, Dev a, Dev d,
            Dev z, int zStride, int dInner, int dState, int dtRank, Dev y, int yStride) {
        String name = !useFast ? "ssm1_update_ref" : dtW.isNone() ? "ssm1_update" : "ssm1_update_dtw";
        nRows.checkVector(name, 1);
        slots.checkVector(name, rows);
        states.checkMatrix(name, stateRows, stateStride, stateStride);
        if (ssmOff < 0 || ssmOff + (long) dInner * dState > stateStride) {
            throw new IllegalArgumentException(name + ": SSM state (" + dInner + ", " + dState + ") at " + ssmOff
                    + " does not fit a state of " + stateStride + " floats");
        }
        xc.checkMatrix(name, rows, dInner, xcStride);
        dbc.checkMatrix(name, rows, dtRank + 2L * dState, dbcStride);
        if (dtW.isNone()) {
            dtv.checkMatrix(name, rows, dInner, dtvStride);
        } else {
            dtW.checkMatrix(name, dInner, dtRank, dtRank);
            dtB.checkVector(name, dInner);
        }
        a.checkMatrix(name, dInner, dState, dState);
        d.checkVector(name, dInner);
        z.checkMatrix(name, rows, dInner, zStride);
        y.checkMatrix(name, rows, dInner, yStride);
        if (useFast && !fastFits(dState, stateStride, ssmOff, states)) {
            throw new IllegalArgumentException(name + ": needs d_state in 4, 8, ..., 128 and 16-byte aligned states, found d_state " + dState
                    + ", state stride " + stateStride + ", offset " + ssmOff);
        }
        Pointer p = Pointer.to(nRows.arg(), slots.arg(), states.arg(), Pointer.to(new long[] {stateStride}),
                Pointer.to(new int[] {ssmOff}), xc.arg(), Pointer.to(new int[] {xcStride}), dbc.arg(), Pointer.to(new int[] {dbcStride}),
                dtW.arg(), dtB.arg(), dtv.arg(), Pointer.to(new int[] {dtvStride}), a.arg(), d.arg(), z.arg(),
                Pointer.to(new int[] {zStride}), Pointer.to(new int[] {dInner}), Pointer.to(new int[] {dState}),
                Pointer.to(new int[] {dtRank}), y.arg(), Pointer.to(new int[] {yStride}));
        int gx = (dInner + 127) / 128;
        if (useFast) {
            int smem = ROWS_PER_BLOCK * (dtRank + 2 * dState) * 4;
            if (smem > 48 * 1024) {
                throw new IllegalArgumentException(name + ": dt_rank + 2 d_state = " + (dtRank + 2 * dState) + " is too large");
            }
            int channelsPerBlock = 128 / (dState / 4);
            Cu.launch(name, dtW.isNone() ? fast : fastDtw, (dInner + channelsPerBlock - 1) / channelsPerBlock,
                    (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, 1, 128, smem, s, p);
        } else {
            Cu.launch(name, ref, gx, rows, 1, 128, 0, s, p);
        }
    }
}
