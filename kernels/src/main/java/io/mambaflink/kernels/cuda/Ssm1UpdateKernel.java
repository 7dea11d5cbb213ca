package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Launcher of ssm1_update.cu: Mamba-1's discretize, state update, readout, D skip and silu(z) gate for one step.
 * {@code ssm1_update} / {@code ssm1_update_dtw} (d_state / 4 lanes per channel, one float4 of state each, A in registers
 * over 4 rows; the second also runs dt_proj) run when d_state is 4, 8, ..., 128 and the states are 16-byte aligned;
 * {@code ssm1_update_ref} otherwise, and in tests. On compute capability 9.0 and newer, batches of at least
 * {@link #STREAM_MIN_ROWS} rows with dt given run {@code ssm1_stream} instead (the state streamed by bulk copies
 * through a ring in shared memory: 83-84% of copy bandwidth on the H100 at batch 4096 where ssm1_update reaches 78%)
 * when the shapes allow it ({@link #streamFits}); {@code -Dmambaflink.cuda.ssm1-stream=false} turns it off. With
 * dt_proj's weights given, {@code ssm1_stream_dtw} runs dt_proj inside it ({@link #streamsDt}).
 */
public final class Ssm1UpdateKernel {
    private static final int ROWS_PER_BLOCK = 4;
    /**
     * Rows of one launch from which ssm1_stream takes over from ssm1_update: with two lanes, a batch bucket of 2048 and
     * more. Measured in the Mamba-1 130M step on the H100 (device ms, ssm1_update -> ssm1_stream at 512 rows a launch and
     * more, same call): bucket 512 (one lane) 3.504 -> 3.573, 1024 (two lanes of 512) 5.571 -> 5.481, 2048 10.640 ->
     * 10.609, 4096 20.227 -> 19.885; the gains at 1024 and 2048 are within the noise, the loss at 512 too. With dt_proj
     * inside (ssm1_stream_dtw, so no dt_proj matmul) from 256 rows ({@code -Dmambaflink.cuda.ssm1-stream-min-rows=256}),
     * measured later: 3.479 vs 3.261 at 512, 5.434 vs 5.278 at 1024 (bf16 2.973 vs 2.724, 4.715 vs 4.546): still slower.
     */
    static final int STREAM_MIN_ROWS = 1024;
    /** Rows each ssm1_stream block streams (4, 16 and 64 measured; 16 the fastest in the step at 1024 - 4096 rows). */
    private static final int STREAM_BLOCK_ROWS = 16;
    /** Floats of state in one ssm1_stream chunk (16 KB: 4096 / d_state channels), as SS1_STAGE_BYTES in the kernel. */
    private static final int STREAM_CHUNK_FLOATS = 4096;
    /** ssm1_stream's block: SS1_CONS = 256 consumer threads and one producer warp. */
    private static final int STREAM_THREADS = 256 + 32;
    /** ssm1_stream's ring: 4 stages of a 16 KB state chunk plus x, z, dt and B C; one full and one empty barrier each. */
    private static final int STREAM_SMEM = 4 * (4 * STREAM_CHUNK_FLOATS + 4096) + 16 * 4;
    private final CUfunction ref;
    private final CUfunction fast;
    private final CUfunction fastDtw;
    /** ssm1_stream, or null where it cannot run (before compute capability 9.0, or turned off). */
    private final CUfunction stream;
    /**
     * ssm1_stream_dtw (dt_proj inside, so no dt_proj matmul runs before it), or null where ssm1_stream cannot run or with
     * -Dmambaflink.cuda.ssm1-stream-dtw=false. Measured on the H100 (Mamba-1 130M, device ms, dt_proj as a matmul ->
     * inside, same call): 18.59 -> 18.26 at batch 4096 (bf16 15.94 -> 15.77), 10.12 -> 10.05 at 2048.
     */
    private final CUfunction streamDtw;
    private final int streamMinRows;
    /** dt_rank up to which ssm1_stream_dtw keeps a channel's dt_proj row in registers (SS1_DTW_MAX in the kernel). */
    private static final int STREAM_DTW_MAX_RANK = 48;

    /** ssm1_stream from {@link #STREAM_MIN_ROWS} rows, or from {@code -Dmambaflink.cuda.ssm1-stream-min-rows}. */
    public Ssm1UpdateKernel(CudaDevice device) {
        this(device, Integer.getInteger("mambaflink.cuda.ssm1-stream-min-rows", STREAM_MIN_ROWS));
    }

    /** As above, with ssm1_stream from {@code streamMinRows} rows (tests take it at small batches). */
    Ssm1UpdateKernel(CudaDevice device, int streamMinRows) {
        this(device, streamMinRows, !"false".equals(System.getProperty("mambaflink.cuda.ssm1-stream-dtw")));
    }

    /** As above; {@code streamDt}: ssm1_stream_dtw runs where {@link #streamsDt} allows. */
    Ssm1UpdateKernel(CudaDevice device, int streamMinRows, boolean streamDt) {
        this.streamMinRows = streamMinRows;
        this.ref = device.function("ssm1_update_ref");
        this.fast = device.function("ssm1_update");
        this.fastDtw = device.function("ssm1_update_dtw");
        if (device.computeMajor() >= 9 && !"false".equals(System.getProperty("mambaflink.cuda.ssm1-stream"))) {
            this.stream = device.function("ssm1_stream");
            LinearKernel.allowSmem(stream, "ssm1_stream", STREAM_SMEM);
            if (streamDt) {
                this.streamDtw = device.function("ssm1_stream_dtw");
                LinearKernel.allowSmem(streamDtw, "ssm1_stream_dtw", STREAM_SMEM);
            } else {
                this.streamDtw = null;
            }
        } else {
            this.stream = null;
            this.streamDtw = null;
        }
    }

    /**
     * True when ssm1_stream can run on these operands: d_state 16 ... 128 (a 16 KB chunk is 4096 / d_state channels, whose
     * x, z and dt fit 1 KB each), and every bulk copy's address and size a multiple of 16 bytes.
     */
    static boolean streamFits(int dState, int dInner, int dtRank, long stateStride, int ssmOff, Dev states, Dev xc, int xcStride, Dev dbc,
            int dbcStride, Dev dtv, int dtvStride, Dev z, int zStride) {
        return dState >= 16 && dState <= 128 && (dState & (dState - 1)) == 0 && dInner % 4 == 0 && dtRank % 4 == 0 && stateStride % 4 == 0
                && ssmOff % 4 == 0 && xcStride % 4 == 0 && dbcStride % 4 == 0 && dtvStride % 4 == 0 && zStride % 4 == 0 && states.aligned16()
                && xc.aligned16() && dbc.aligned16() && dtv.aligned16() && z.aligned16();
    }

    /**
     * True when a launch of this many rows with dt_proj's weights given runs ssm1_stream_dtw (dt_proj inside the
     * streaming state update), so that the caller need not run dt_proj as a matmul. Where the operands then do not suit
     * {@link #streamFits}, {@link #launch} runs ssm1_update_dtw: the same results, slower.
     */
    public boolean streamsDt(int rows, int dState, int dtRank) {
        return streamDtw != null && rows >= streamMinRows && dtRank <= STREAM_DTW_MAX_RANK && dtRank + 2 * dState <= 256;
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
        launch(s, useFast, nRows, rows, slots, states, stateRows, stateStride, ssmOff, xc, xcStride, dbc, dbcStride, dtW, dtB, dtv, dtvStride,
                a, d, z, zStride, dInner, dState, dtRank, y, yStride, null);
    }

    /**
     * As above; with {@code yHalves} (from {@link LinearKernel#wgInput} for out_proj) y is written as its bf16 halves
     * there (dense, dInner wide) instead of into y, for the wgmma product that reads it ({@link LinearKernel#launchWg}).
     */
    public void launch(CUstream s, boolean useFast, Dev nRows, int rows, Dev slots, Dev states, long stateRows, long stateStride,
            int ssmOff, Dev xc, int xcStride, Dev dbc, int dbcStride, Dev dtW, Dev dtB, Dev dtv, int dtvStride, Dev a, Dev d,
            Dev z, int zStride, int dInner, int dState, int dtRank, Dev y, int yStride, LinearKernel.Split yHalves) {
        String name = !useFast ? "ssm1_update_ref" : dtW.isNone() ? "ssm1_update" : "ssm1_update_dtw";
        nRows.checkVector(name, 1);
        Dev.checkStateRegion(name, slots, rows, states, stateRows, stateStride, ssmOff, (long) dInner * dState,
                "SSM state (" + dInner + ", " + dState + ")");
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
        jcuda.NativePointerObject[] args = {nRows.arg(), slots.arg(), states.arg(), Pointer.to(new long[] {stateStride}),
                Pointer.to(new int[] {ssmOff}), xc.arg(), Pointer.to(new int[] {xcStride}), dbc.arg(), Pointer.to(new int[] {dbcStride}),
                dtW.arg(), dtB.arg(), dtv.arg(), Pointer.to(new int[] {dtvStride}), a.arg(), d.arg(), z.arg(),
                Pointer.to(new int[] {zStride}), Pointer.to(new int[] {dInner}), Pointer.to(new int[] {dState}),
                Pointer.to(new int[] {dtRank}), y.arg(), Pointer.to(new int[] {yStride}),
                yHalves == null ? Dev.NONE.arg() : yHalves.hi().arg(), yHalves == null ? Dev.NONE.arg() : yHalves.lo().arg()};
        Pointer p = Pointer.to(args);
        int gx = (dInner + 127) / 128;
        boolean dtInside = !dtW.isNone();
        if (useFast && stream != null && (!dtInside || streamsDt(rows, dState, dtRank)) && rows >= streamMinRows
                && streamFits(dState, dInner, dtRank, stateStride, ssmOff, states, xc, xcStride, dbc, dbcStride, dtv, dtvStride, z, zStride)) {
            // a block per channel chunk and run of STREAM_BLOCK_ROWS rows, two blocks per SM at a time: the blocks are
            // scheduled as SMs free up (beside the other lane's products), each streaming its rows through its ring
            int channels = STREAM_CHUNK_FLOATS / dState;
            int chunks = (dInner + channels - 1) / channels;
            jcuda.NativePointerObject[] withRows = java.util.Arrays.copyOf(args, args.length + 1);
            withRows[args.length] = Pointer.to(new int[] {STREAM_BLOCK_ROWS});
            Cu.launch(dtInside ? "ssm1_stream_dtw" : "ssm1_stream", dtInside ? streamDtw : stream,
                    chunks * ((rows + STREAM_BLOCK_ROWS - 1) / STREAM_BLOCK_ROWS), 1, 1, STREAM_THREADS, STREAM_SMEM, s, Pointer.to(withRows));
            return;
        }
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
