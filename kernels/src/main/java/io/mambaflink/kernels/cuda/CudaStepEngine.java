package io.mambaflink.kernels.cuda;

import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.engine.BatchChecker;
import io.mambaflink.kernels.engine.EngineCapacityException;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.state.StateLayout;
import io.mambaflink.kernels.state.StreamState;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Arrays;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CUDA step engine: one batched step of N streams per call, float32 state, the step of {@code mamba_ssm}
 * {@code Mamba.step} / {@code Mamba2.step} as a short sequence of kernels per layer, captured once per batch-size
 * bucket (1, 2, 4, ... maxBatch) into a CUDA graph and replayed with one launch.
 *
 * <p>Per step: one graph launch, which copies the batch's control block (row count, slots, token ids) and features to
 * the device, runs the step and copies the outputs back (large outputs, such as a big batch's logits, are copied
 * straight into the batch's array after it); in host state mode also the batch's states up before and back after the
 * graph. Host buffers are page-locked, so all of that is asynchronous on one stream with a single synchronization.
 *
 * <p>Kernels per layer: [rmsnorm] + in_proj, [conv1d_update], then Mamba-1: x_proj, [dt_proj], ssm1_update; Mamba-2:
 * ssm2_update, gated_rmsnorm; then out_proj with the residual add. The bracketed kernels run only for buckets above
 * {@link LinearKernel#GEMV_MAX_ROWS} rows (Mamba-1's conv step and x_proj are one kernel, conv_xproj, in launches of
 * at least {@link #CONV_XPROJ_MIN_ROWS} rows, after the zeroing of its atomically summed output); below, the pre-norm
 * and the conv step are fused into the in_proj GEMV and dt_proj into ssm1_update, four launches per layer (dt_proj
 * stays inside the state update up to {@link #DT_FUSED_MAX_ROWS} rows, and inside ssm1_stream_dtw where that runs).
 * Products on wgmma (sm_90a) read their input as bf16 halves, which the norm or the state update before them writes
 * ({@link #producersSplit}), else a bf16_split_rows pass makes.
 *
 * <p>Buckets of at least {@link #DEFAULT_LANE_MIN_ROWS} rows run as two lanes: the first and second half of the rows
 * each run the whole step on a stream of its own (two branches of the graph), so that the hardware may run one half's
 * matrix products beside the other half's state updates ({@code -Dmambaflink.cuda.lanes} sets more lanes; four measured
 * no faster than two on the H100). Rows are independent, so each lane reads and writes only its own rows of every
 * buffer, with its own row count in the control block.
 *
 * <p>Resident slots keep each layer's conv windows as rings ({@link ConvRing}): a step writes only the new input's
 * column, and {@link #load} / {@link #store} convert from and to the canonical layout, so callers never see the ring.
 *
 * <p>After a CUDA error the engine refuses further work: its device state is unknown, so the caller must fail and
 * restore from a checkpoint rather than emit numbers.
 */
public final class CudaStepEngine implements StepEngine {
    private static final Logger LOG = LoggerFactory.getLogger(CudaStepEngine.class);
    private static final int MAX_GRID_ROWS = 65535;
    /**
     * Outputs above this size (language-model logits of large batches) are copied outside the graph, in chunks through
     * {@link OutputCopier}; smaller ones inside it, into one page-locked buffer.
     */
    private static final long DIRECT_OUTPUT_BYTES = 1L << 20;
    /**
     * Buckets of at least this many rows run as two lanes ({@code -Dmambaflink.cuda.lane-min-rows}, 0: never). Measured on
     * the H100, Mamba-1 130M, device ms per step with two lanes against one: 0.89x at 1024 rows, 0.95x at 2048, 0.94x at
     * 4096, but 1.05x at 512.
     */
    static final int DEFAULT_LANE_MIN_ROWS = 1024;
    /** Lanes (of a bucket run as several) from this many rows take the producers' bf16 halves: {@link #producersSplit}. */
    static final int SPLIT_INPUTS_MIN_LANE_ROWS = 1024;

    private final MambaModel model;
    private final MambaConfig c;
    private final StateLayout layout;
    /**
     * Default of {@code -Dmambaflink.cuda.dt-fused-max-rows}: Mamba-1 launches of up to this many rows run dt_proj inside
     * the state update (ssm1_update_dtw), larger ones as a matmul before it. Measured on the H100 (Mamba-1 130M, device
     * ms, matmul -> fused, same call): batch 64 1.476 -> 1.431, 512 3.365 -> 3.437, 4096 18.58 -> 19.86 (there in place
     * of ssm1_stream, which takes dt from the matmul).
     */
    static final int DT_FUSED_MAX_ROWS = 64;
    private final int capacity;
    private final int maxBatch;
    private final boolean resident;
    private final boolean useGraphs;
    /**
     * Step graphs with programmatic edges between their kernels (ProgrammaticEdges): sm_90+, -Dmambaflink.cuda.pdl;
     * buckets that run as lanes keep plain edges (H100, same call: Mamba-1 4096 19.09 ms with them, 17.91 without;
     * Mamba-2 1024 18.00 / 17.81), as a waiting kernel's blocks hold SM room the other lane's kernels would use.
     */
    private final boolean programmatic;
    /** Kernel-to-kernel edges made programmatic, over every graph captured so far (for the tests). */
    private int programmaticEdges;
    private final boolean refKernels;
    /**
     * Norms and Mamba-1's state update write the input of a following wgmma product as its bf16 halves, instead of
     * float32 that bf16_split_rows then splits ({@code -Dmambaflink.cuda.split-inputs=false}: the separate split).
     */
    private final boolean splitInputs;
    /**
     * Mamba-1's conv step and x_proj as one kernel (conv_xproj) in launches of at least {@link #CONV_XPROJ_MIN_ROWS}
     * rows ({@code -Dmambaflink.cuda.conv-xproj=false}: conv1d_update, then x_proj as a matmul, everywhere).
     */
    private final boolean convXProj;
    /**
     * conv_xproj's blocks are 64 rows tall: at 64 rows its 24 blocks (d_inner 1536) measured slower than the two kernels
     * (H100, device ms 1.469 vs 1.434), from 512 rows faster (3.273 vs 3.361 at 512, 17.90 vs 18.25 at 4096); 128 and 256
     * rows were not measured.
     */
    static final int CONV_XPROJ_MIN_ROWS = 512;
    /**
     * Resident slots keep their conv windows as rings ({@link ConvRing}: a step writes one column instead of the whole
     * window; {@code -Dmambaflink.cuda.conv-ring=false}: the canonical layout, as host mode always has).
     */
    private final boolean convRing;
    /** Each batch row's ring phase (the control block's last maxBatch ints) where {@link #convRing}, else NONE. */
    private final Dev phasesDev;
    /** Where {@link #convRing}: a state converted for {@link #load}, and a layer's windows for {@link #store}. */
    private final float[] ringState;
    private final float[] ringScratch;
    /** Mamba-1 launches of up to this many rows run dt_proj inside the state update; see {@link #DT_FUSED_MAX_ROWS}. */
    private final int dtFusedMaxRows;
    /** Matrix products above the GEMV's rows in bfloat16 operands (EngineOptions.MatmulPrecision.BF16). */
    private final boolean bf16Operands;
    /** The weights' bf16 splits for the tensor-core GEMMs; null when maxBatch fits the GEMV. */
    private final java.util.Map<Dev, LinearKernel.Split> splits;
    /** Floats per stream state. */
    private final int stateFloats;
    private final long[] positions;
    /** Batch size, slot range, distinct slots and token ids, checked before anything reaches the device. */
    private final BatchChecker checker;

    private final CudaDevice device;
    private final CUstream stream = new CUstream();
    /** The lanes' streams (lane 0's is the engine's), and the events that fork lanes 1.. and join them back; or null. */
    private final CUstream[] laneStreams;
    private final CUevent fork;
    private final CUevent join;
    /** Buckets of at least this many rows run as {@link #lanes} lanes of an equal share of the rows each (0: never). */
    private final int laneMinRows;
    private final int lanes;
    private final DeviceWeights w;
    private final HostStatePool hostPool;

    /** Resident: (capacity, stateFloats) slot pool; host: (maxBatch, stateFloats) staging rows. */
    private final Dev states;
    private final long stateRows;
    /** int32 control block: [n | slots (maxBatch) | tokens (maxBatch) | n of each lane (lanes) | ring phases (maxBatch)]. */
    private final Dev ctrl;
    private final Dev nRows;
    private final Dev slotsDev;
    private final Dev tokensDev;
    private final Pointer ctrlHost;
    private final IntBuffer ctrlView;
    /** (maxBatch, inputDim) feature rows, feature models. */
    private final Dev features;
    private final Pointer featuresHost;
    private final FloatBuffer featuresView;
    /** (maxBatch, outputDim). */
    private final Dev out;
    private final Pointer outHost;
    /** Large outputs' copier (two page-locked chunks and copying threads), or null when every bucket's outputs are small. */
    private final OutputCopier bigOutputs;
    private final FloatBuffer outView;
    /** Activations, (maxBatch, width) each. */
    private final Dev hidden;
    private final Dev normed;
    private final Dev proj;
    private final Dev xc;
    private final Dev dbc;
    private final Dev dtv;
    private final Dev y;
    /** The activations' bf16 halves for the wgmma products, or null. */
    private final Dev xHi;
    private final Dev xLo;
    private final Dev[] allocations;

    private final EmbedKernel embed;
    private final RmsNormKernel rmsNorm;
    private final LinearKernel linear;
    /** Each lane's launcher (with its own share of the activation-split room), or null. */
    private final LinearKernel[] laneLinear;
    private final Conv1dUpdateKernel conv;
    private final Ssm1UpdateKernel ssm1;
    private final Ssm2UpdateKernel ssm2;
    private final GatedRmsNormKernel gatedNorm;

    /** Bucket sizes, ascending: powers of two below maxBatch, then maxBatch. */
    private final int[] buckets;
    private final CUgraphExec[] graphs;
    private boolean failed;
    private boolean closed;
    private boolean weightsReleased;

    public CudaStepEngine(MambaModel model, EngineOptions options) {
        this.model = model;
        this.c = model.config();
        this.layout = model.layout();
        this.capacity = options.capacity();
        this.maxBatch = options.maxBatch();
        this.resident = options.stateMode() == EngineOptions.StateMode.RESIDENT;
        this.useGraphs = !"false".equals(System.getProperty("mambaflink.cuda.graphs"));
        this.refKernels = "ref".equals(System.getProperty("mambaflink.cuda.kernels"));
        this.splitInputs = !"false".equals(System.getProperty("mambaflink.cuda.split-inputs"));
        this.convXProj = !"false".equals(System.getProperty("mambaflink.cuda.conv-xproj"));
        this.convRing = resident && !"false".equals(System.getProperty("mambaflink.cuda.conv-ring"));
        this.dtFusedMaxRows = Integer.getInteger("mambaflink.cuda.dt-fused-max-rows", DT_FUSED_MAX_ROWS);
        this.bf16Operands = options.matmul() == EngineOptions.MatmulPrecision.BF16;
        this.lanes = Math.max(2, Integer.getInteger("mambaflink.cuda.lanes", 2)); // before ctrlInts()
        this.stateFloats = layout.size();
        this.ringState = convRing ? new float[stateFloats] : null;
        this.ringScratch = convRing ? new float[layout.convSize()] : null;
        if (maxBatch > MAX_GRID_ROWS) {
            throw new IllegalArgumentException("backend cuda: maxBatch " + maxBatch + " exceeds " + MAX_GRID_ROWS);
        }
        if ((long) maxBatch * c.outputDim() * 4 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("backend cuda: maxBatch " + maxBatch + " x output " + c.outputDim()
                    + " floats exceeds the 2 GB output buffer");
        }
        this.positions = new long[capacity];
        this.checker = new BatchChecker(capacity, maxBatch, c.vocabSize());
        this.device = CudaDevice.get(options.device());
        device.makeCurrent();
        this.stateRows = resident ? capacity : maxBatch;
        long stateBytes = 4L * stateFloats * stateRows;
        boolean needSplits = maxBatch > LinearKernel.GEMV_MAX_ROWS && !refKernels;
        Workspace ws = new Workspace(maxBatch, device.wgmma() && maxBatch >= LinearKernel.WG_MIN_ROWS && !refKernels);
        checkCapacity(stateBytes, DeviceWeights.bytesToAdd(device, model, needSplits), 4 * ws.floats());
        try {
            JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        } catch (CudaException e) {
            throw Cu.fail("cuStreamCreate", "engine stream", e);
        }
        this.w = DeviceWeights.acquire(device, model);
        java.util.Map<Dev, LinearKernel.Split> sp = null;
        if (needSplits) {
            try {
                sp = w.splits();
            } catch (RuntimeException e) {
                w.release();
                JCudaDriver.cuStreamDestroy(stream);
                throw e;
            }
        }
        this.splits = sp;
        HostStatePool hp = null;
        Dev[] alloc = new Dev[14];
        int k = 0;
        Pointer ch = null;
        Pointer fh = null;
        Pointer oh = null;
        OutputCopier oc = null;
        try {
            hp = resident ? null : new HostStatePool(capacity, stateFloats);
            alloc[k++] = states = alloc("states", (long) stateFloats * stateRows);
            alloc[k++] = ctrl = alloc("control block", ctrlInts());
            alloc[k++] = features = alloc("features", ws.features);
            alloc[k++] = out = alloc("outputs", ws.out);
            alloc[k++] = hidden = alloc("hidden", ws.hidden);
            alloc[k++] = normed = alloc("normed", ws.hidden);
            alloc[k++] = proj = alloc("in_proj output", ws.proj);
            alloc[k++] = xc = alloc("conv output", ws.xc);
            alloc[k++] = dbc = alloc("x_proj output", ws.dbc);
            alloc[k++] = dtv = alloc("dt_proj output", ws.dt);
            alloc[k++] = y = alloc("ssm output", ws.y);
            alloc[k++] = xHi = ws.half > 0 ? alloc("activations, bf16 hi", ws.half) : null;
            alloc[k++] = xLo = ws.half > 0 ? alloc("activations, bf16 lo", ws.half) : null;
            ch = Cu.allocHost("control block", 4L * ctrlInts());
            fh = Cu.allocHost("features", 4L * ws.features);
            oh = Cu.allocHost("outputs", 4L * ws.out);
            Cu.zeroAsync("state pool", states.ptr(), states.floats(), stream);
            Cu.sync("zeroing the state pool", stream);
            oc = directOutputs(maxBatch) ? new OutputCopier(outputThreads()) : null;
        } catch (RuntimeException e) {
            if (oc != null) {
                oc.close();
            }
            for (Dev d : alloc) {
                if (d != null) {
                    Cu.free(d.ptr());
                }
            }
            Cu.freeHost(ch);
            Cu.freeHost(fh);
            Cu.freeHost(oh);
            if (hp != null) {
                hp.close();
            }
            w.release();
            JCudaDriver.cuStreamDestroy(stream);
            throw e;
        }
        this.allocations = alloc;
        this.hostPool = hp;
        this.nRows = ctrl.slice("n_rows", 0);
        this.slotsDev = ctrl.slice("slots", 1);
        this.tokensDev = ctrl.slice("tokens", 1 + maxBatch);
        this.phasesDev = convRing ? ctrl.slice("phases", phasesAt()) : Dev.NONE;
        this.ctrlHost = ch;
        this.ctrlView = ch.getByteBuffer(0, 4L * ctrlInts()).order(ByteOrder.nativeOrder()).asIntBuffer();
        this.featuresHost = fh;
        this.featuresView = fh.getByteBuffer(0, Math.max(4, 4L * maxBatch * c.inputDim())).order(ByteOrder.nativeOrder()).asFloatBuffer();
        this.outHost = oh;
        this.bigOutputs = oc;
        this.outView = oh.getByteBuffer(0, 4L * maxBatch * c.outputDim()).order(ByteOrder.nativeOrder()).asFloatBuffer();
        if (!resident) {
            for (int i = 0; i < maxBatch; i++) {
                ctrlView.put(1 + i, i); // host mode: batch row i uses staging row i
            }
        }
        this.embed = new EmbedKernel(device);
        this.rmsNorm = new RmsNormKernel(device);
        this.linear = new LinearKernel(device);
        if (xHi != null) {
            linear.setActivationSplit(new LinearKernel.Split(xHi, xLo));
        }
        this.conv = new Conv1dUpdateKernel(device);
        this.ssm1 = new Ssm1UpdateKernel(device);
        this.ssm2 = new Ssm2UpdateKernel(device);
        this.gatedNorm = new GatedRmsNormKernel(device);
        int nb = 0;
        int[] bs = new int[32];
        for (int s = 1; s < maxBatch; s *= 2) {
            bs[nb++] = s;
        }
        bs[nb++] = maxBatch;
        this.buckets = Arrays.copyOf(bs, nb);
        this.graphs = new CUgraphExec[nb];
        // lanes: large buckets as two (or more) part batches on streams of their own, so that one part's matrix products
        // (compute-bound) can run beside another's state updates (memory-bound)
        int lmr = Integer.getInteger("mambaflink.cuda.lane-min-rows", DEFAULT_LANE_MIN_ROWS);
        // each lane above the GEMV's rows, so all lanes run the same kernels as the whole bucket would
        int minRows = Math.max(lmr, lanes * (LinearKernel.GEMV_MAX_ROWS + 8));
        this.laneMinRows = lmr > 0 && maxBatch >= minRows ? minRows : 0;
        if (laneMinRows > 0) {
            this.laneStreams = new CUstream[lanes];
            this.fork = new CUevent();
            this.join = new CUevent();
            try {
                for (int i = 1; i < lanes; i++) {
                    laneStreams[i] = new CUstream();
                    JCudaDriver.cuStreamCreate(laneStreams[i], CUstream_flags.CU_STREAM_NON_BLOCKING);
                }
                JCudaDriver.cuEventCreate(fork, CUevent_flags.CU_EVENT_DISABLE_TIMING);
                JCudaDriver.cuEventCreate(join, CUevent_flags.CU_EVENT_DISABLE_TIMING);
            } catch (CudaException e) {
                close();
                throw Cu.fail("cuStreamCreate / cuEventCreate", "lanes of the engine", e);
            }
            laneStreams[0] = stream;
            this.laneLinear = new LinearKernel[lanes];
            // each lane's share of the bf16 split room; lane rows rounded up to 8 can exceed maxBatch / lanes in a bucket
            // that is not a power of two, and that lane's products then run on mma.sync (usesWgmma checks the room)
            long share = xHi == null ? 0 : xHi.floats() / lanes / 4 * 4;
            for (int i = 0; i < lanes; i++) {
                laneLinear[i] = new LinearKernel(device);
                if (xHi != null) {
                    laneLinear[i].setActivationSplit(new LinearKernel.Split(part(xHi, i, share), part(xLo, i, share)));
                }
            }
        } else {
            this.laneStreams = null;
            this.fork = null;
            this.join = null;
            this.laneLinear = null;
        }
        this.programmatic = useGraphs && device.computeMajor() >= 9 && !"false".equals(System.getProperty("mambaflink.cuda.pdl"))
                && ProgrammaticEdges.available();
        LOG.info("CUDA engine on device {} ({}): {} slots {}, maxBatch {}, {} MB of states on the device, graphs {}", device.ordinal(),
                device.name(), capacity, resident ? "resident" : "on the host", maxBatch, stateBytes >> 20,
                useGraphs ? (programmatic ? "on, with programmatic dependent launch" : "on") : "off");
    }

    /**
     * Floats of the batch buffers beside the states, each sized for maxBatch rows (the allocation reads its sizes from
     * here, so the capacity check counts what is allocated).
     */
    private final class Workspace {
        final long features;
        final long out;
        final long hidden; // and normed
        final long proj;
        final long xc;
        final long dbc;
        final long dt;
        final long y;
        /** Each of the two bf16 halves of a wgmma product's input (maxBatch, widest input); 0 without wgmma. */
        final long half;

        Workspace(int b, boolean wgScratch) {
            boolean m1 = c.arch() == Arch.MAMBA1;
            features = (long) b * c.inputDim();
            out = (long) b * c.outputDim();
            hidden = (long) b * c.dModel();
            proj = (long) b * c.inProjDim();
            xc = (long) b * c.convDim();
            dbc = m1 ? (long) b * dbcDim() : 1;
            dt = m1 ? (long) b * c.dInner() : 1;
            y = (long) b * c.dInner();
            long widest = Math.max(Math.max(c.dModel(), c.dInner()), Math.max(c.inputDim(), c.dtRank()));
            half = wgScratch ? (b * widest + 1) / 2 : 0;
        }

        long floats() {
            return ctrlInts() + features + out + 2 * hidden + proj + xc + dbc + dt + y + 2 * half;
        }
    }

    /**
     * Fails before allocating anything when the states, the weights this engine adds to the device and its batch
     * buffers together exceed the device's free memory: {@link EngineCapacityException#permanent() permanent} when
     * they exceed its total memory, so that no restart can succeed.
     */
    private void checkCapacity(long stateBytes, long weightBytes, long workspaceBytes) {
        long need = stateBytes + weightBytes + workspaceBytes;
        long[] mem = device.memInfo();
        if (need > mem[0]) {
            throw new EngineCapacityException("backend cuda: " + (resident ? "resident slot pool of " : "host-mode staging of ")
                    + EngineCapacityException.poolSize(stateRows, 4L * stateFloats) + ", plus " + (weightBytes >> 20)
                    + " MB of weights to upload and " + (workspaceBytes >> 20) + " MB of batch buffers for maxBatch "
                    + maxBatch + " (" + (need >> 20) + " MB in all): device " + device.ordinal() + " has " + (mem[0] >> 20)
                    + " MB free of " + (mem[1] >> 20) + " MB", need > mem[1]);
        }
    }

    /**
     * What a failed call throws: {@code e}, or where the device's context turns out to be in a sticky error state (see
     * {@link CudaDevice#checkContext}), a {@link CudaDeviceLostException} with e's message.
     */
    private RuntimeException lostOr(RuntimeException e) {
        device.checkContext();
        if (!device.lost() || e instanceof CudaDeviceLostException) {
            return e;
        }
        return new CudaDeviceLostException(e.getMessage() + " (the device is lost to this process: restart it)", e);
    }

    /**
     * Threads that copy large outputs into the Java array (-Dmambaflink.cuda.output-threads): by default half the cores,
     * at most 8, at least 1. The copy, not PCIe, bounds step() at large batches with a big vocabulary.
     */
    private static int outputThreads() {
        int cores = Runtime.getRuntime().availableProcessors();
        return Math.max(1, Integer.getInteger("mambaflink.cuda.output-threads", Math.min(8, cores / 2)));
    }

    /** Floats i * share .. (i + 1) * share of a view. */
    private static Dev part(Dev d, int i, long share) {
        Dev from = d.slice(d.name() + ", lane " + i, i * share);
        return new Dev(from.name(), from.ptr(), from.offset(), share);
    }

    /** Ints in the control block (see {@link #ctrl}). */
    private int ctrlInts() {
        return phasesAt() + maxBatch;
    }

    /** Where the rows' ring phases start in the control block. */
    private int phasesAt() {
        return 1 + 2 * maxBatch + lanes;
    }

    /**
     * Rows per lane of a bucket of {@code r} rows run as {@code lanes} lanes: lane i takes rows i * part .. of the bucket,
     * {@link #laneShare} of them. A multiple of 8, so every lane's rows of every buffer stay 16-byte aligned.
     */
    static int laneRows(int r, int lanes) {
        return ((r + lanes - 1) / lanes + 7) / 8 * 8;
    }

    /** How many of rows 0 .. {@code rows} - 1 fall to lane {@code i} when each lane takes {@code part}: 0 .. part. */
    static int laneShare(int rows, int part, int i) {
        return Math.max(0, Math.min(part, rows - i * part));
    }

    /** True when a bucket of {@code r} rows runs as lanes. */
    private boolean laned(int r) {
        return laneMinRows > 0 && r >= laneMinRows;
    }

    /** Writes the batch's row count (and each lane's) into the control block for bucket {@code bi}. */
    private void putRows(int n, int bi) {
        ctrlView.put(0, n);
        if (laned(buckets[bi])) {
            int part = laneRows(buckets[bi], lanes);
            for (int i = 0; i < lanes; i++) {
                ctrlView.put(1 + 2 * maxBatch + i, laneShare(n, part, i));
            }
        }
    }

    private int dbcDim() {
        return c.dtRank() + 2 * c.dState();
    }

    private static Dev alloc(String name, long floats) {
        return Dev.of(name, Cu.alloc(name, 4 * Math.max(floats, 1)), Math.max(floats, 1));
    }

    @Override
    public MambaModel model() {
        return model;
    }

    @Override
    public String backend() {
        return "cuda";
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public int maxBatch() {
        return maxBatch;
    }

    /** The device this engine runs on. */
    public CudaDevice device() {
        return device;
    }

    /** True when slot states live on the GPU. */
    public boolean resident() {
        return resident;
    }

    @Override
    public void reset(int slot) {
        checkSlot(slot);
        usable();
        onDevice(() -> {
            if (resident) {
                Cu.sync("before reset of slot " + slot, stream);
                Cu.zeroAsync("reset slot " + slot, states.slice("slot " + slot, (long) slot * stateFloats).ptr(), stateFloats, stream);
                Cu.sync("reset of slot " + slot, stream);
            } else {
                hostPool.write(slot, zeros());
            }
        });
        positions[slot] = 0;
    }

    private float[] zeroState;

    private float[] zeros() {
        if (zeroState == null) {
            zeroState = new float[stateFloats];
        }
        return zeroState;
    }

    @Override
    public void load(int slot, StreamState src) {
        checkSlot(slot);
        checkState(src);
        usable();
        onDevice(() -> {
            if (resident) {
                float[] data = src.data();
                if (convRing) {
                    ConvRing.toRing(layout, data, ringState, ConvRing.phase(src.position(), c.dConv()));
                    data = ringState;
                }
                Cu.sync("before load into slot " + slot, stream);
                Cu.htod("load into slot " + slot, states.slice("slot " + slot, (long) slot * stateFloats).ptr(), Pointer.to(data),
                        4L * stateFloats);
            } else {
                hostPool.write(slot, src.data());
            }
        });
        positions[slot] = src.position();
    }

    @Override
    public void store(int slot, StreamState dst) {
        checkSlot(slot);
        checkState(dst);
        usable();
        onDevice(() -> {
            if (resident) {
                Cu.sync("before store of slot " + slot, stream);
                Cu.dtoh("store of slot " + slot, Pointer.to(dst.data()), states.slice("slot " + slot, (long) slot * stateFloats).ptr(),
                        4L * stateFloats);
                if (convRing) {
                    ConvRing.toCanonical(layout, dst.data(), ConvRing.phase(positions[slot], c.dConv()), ringScratch);
                }
            } else {
                hostPool.read(slot, dst.data());
            }
        });
        dst.setPosition(positions[slot]);
    }

    @Override
    public long position(int slot) {
        checkSlot(slot);
        return positions[slot];
    }

    @Override
    public void step(StepBatch batch) {
        int n = batch.size();
        if (n == 0) {
            return;
        }
        usable();
        checker.check(batch);
        int bi = bucketIndex(n);
        int outFloats = n * c.outputDim();
        device.enter();
        try {
            putRows(n, bi);
            if (resident) {
                ctrlView.put(1, batch.slots(), 0, n);
            }
            if (convRing) {
                for (int i = 0; i < n; i++) {
                    ctrlView.put(phasesAt() + i, ConvRing.phase(positions[batch.slots()[i]], c.dConv()));
                }
            }
            if (batch.tokenInput()) {
                ctrlView.put(1 + maxBatch, batch.tokens(), 0, n);
            }
            if (!batch.tokenInput()) {
                featuresView.put(0, batch.features(), 0, n * c.inputDim());
            }
            if (!resident) {
                moveStates(batch.slots(), n, true);
            }
            // the graph copies the control block and features up, runs the step and (small outputs) copies them back
            runBucket(bi);
            if (!resident) {
                moveStates(batch.slots(), n, false);
            }
            if (directOutputs(buckets[bi])) {
                bigOutputs.copy(stream, out.ptr(), batch.outputs(), outFloats);
                Cu.sync("engine step", stream);
            } else {
                Cu.sync("engine step", stream);
                outView.get(0, batch.outputs(), 0, outFloats);
            }
        } catch (RuntimeException e) {
            failed = true; // the device state is unknown now
            throw lostOr(e);
        } catch (Error e) {
            failed = true;
            throw e;
        }
        for (int i = 0; i < n; i++) {
            positions[batch.slots()[i]]++;
        }
    }

    /** Host mode: copies the batch's states from the host pool to staging rows 0..n-1 (up) or back (down). */
    private void moveStates(int[] slots, int n, boolean up) {
        long bytes = 4L * stateFloats;
        int i = 0;
        while (i < n) {
            int s = slots[i];
            int len = 1;
            while (i + len < n && slots[i + len] == s + len && hostPool.sameChunk(s, s + len)) {
                len++;
            }
            if (up) {
                Cu.htodAsync("host-mode state upload", states.ptr().withByteOffset(i * bytes),
                        hostPool.pointer(s), len * bytes, stream);
            } else {
                Cu.dtohAsync("host-mode state write-back", hostPool.pointer(s),
                        states.ptr().withByteOffset(i * bytes), len * bytes, stream);
            }
            i += len;
        }
    }

    private int bucketIndex(int n) {
        for (int i = 0; i < buckets.length; i++) {
            if (buckets[i] >= n) {
                return i;
            }
        }
        throw new IllegalArgumentException("batch of " + n + " rows exceeds maxBatch " + maxBatch);
    }

    /** True when a bucket's outputs go straight from the device into the batch's array, outside the graph. */
    private boolean directOutputs(int bucket) {
        return 4L * bucket * c.outputDim() > DIRECT_OUTPUT_BYTES;
    }

    /** Kernel-to-kernel edges of the step graphs captured so far that are programmatic (0 without them). */
    int programmaticEdges() {
        return programmaticEdges;
    }

    /**
     * Runs bucket {@code bi}'s step: its CUDA graph, captured on first use (or direct launches with graphs off). The
     * graph holds the copies of the control block and features from their page-locked buffers and, for outputs of up
     * to {@link #DIRECT_OUTPUT_BYTES}, the copy of the outputs back: one launch per step.
     */
    private void runBucket(int bi) {
        if (!useGraphs) {
            enqueueWithCopies(buckets[bi]);
            return;
        }
        if (graphs[bi] == null) {
            CUgraph g = new CUgraph();
            try {
                JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
            } catch (CudaException e) {
                throw Cu.fail("cuStreamBeginCapture", "step graph of bucket " + buckets[bi], e);
            }
            try {
                enqueueWithCopies(buckets[bi]);
            } finally {
                JCudaDriver.cuStreamEndCapture(stream, g);
            }
            CUgraphExec exec = new CUgraphExec();
            try {
                if (programmatic && !laned(buckets[bi])) {
                    programmaticEdges += ProgrammaticEdges.apply(g, "step graph of bucket " + buckets[bi]);
                }
                JCudaDriver.cuGraphInstantiate(exec, g, 0);
            } catch (CudaException e) {
                throw Cu.fail("cuGraphInstantiate", "step graph of bucket " + buckets[bi], e);
            } finally {
                JCudaDriver.cuGraphDestroy(g);
            }
            graphs[bi] = exec;
        }
        try {
            JCudaDriver.cuGraphLaunch(graphs[bi], stream);
        } catch (CudaException e) {
            throw Cu.fail("cuGraphLaunch", "step graph of bucket " + buckets[bi], e);
        }
    }

    /** Inputs up, the step's kernels, small outputs back, for a bucket of {@code r} rows. */
    private void enqueueWithCopies(int r) {
        Cu.htodAsync("step control block", ctrl.ptr(), ctrlHost, 4L * ctrlInts(), stream);
        if (!c.io().tokenInput()) {
            Cu.htodAsync("step features", features.ptr(), featuresHost, 4L * r * c.inputDim(), stream);
        }
        if (!laned(r)) {
            enqueueStep(new Lane(stream, linear, nRows, 0, r, false));
        } else {
            // fork: lanes 1.. on their own streams from here (edges in the captured graph), then join them back
            int part = laneRows(r, lanes);
            int used = 0;
            while (used < lanes && laneShare(r, part, used) > 0) {
                used++;
            }
            Cu.eventRecord("lane fork", fork, stream);
            for (int i = 1; i < used; i++) {
                Cu.streamWait("lane fork", laneStreams[i], fork);
            }
            for (int i = 0; i < used; i++) {
                enqueueStep(new Lane(laneStreams[i], laneLinear[i], ctrl.slice("n_rows, lane " + i, 1 + 2L * maxBatch + i), i * part,
                        laneShare(r, part, i), true));
            }
            for (int i = 1; i < used; i++) {
                Cu.eventRecord("lane join", join, laneStreams[i]);
                Cu.streamWait("lane join", stream, join);
            }
        }
        if (!directOutputs(r)) {
            Cu.dtohAsync("step outputs", outHost, out.ptr(), 4L * r * c.outputDim(), stream);
        }
    }

    /**
     * Rows off .. off + rows of the step's buffers, launched on one stream with one launcher; nRows is the device int
     * with the lane's rows of this batch; oneOfSeveral when the bucket runs as lanes.
     */
    private record Lane(CUstream s, LinearKernel lin, Dev nRows, int off, int rows, boolean oneOfSeveral) {
        /** The lane's rows of a (maxBatch, width) buffer. */
        Dev of(Dev buf, long width) {
            return off == 0 ? buf : buf.slice(buf.name(), off * width);
        }
    }

    /** The step's launch sequence for a lane's rows. */
    void enqueueStep(Lane ln) {
        int r = ln.rows();
        LinearKernel.Variant lv = refKernels ? LinearKernel.Variant.REF : LinearKernel.pick(r, bf16Operands);
        boolean small = lv == LinearKernel.Variant.GEMV;
        int dModel = c.dModel();
        int dInner = c.dInner();
        int inProjDim = c.inProjDim();
        int convDim = c.convDim();
        float eps = c.layerNormEps();
        long stride = stateFloats;
        Dev nr = ln.nRows();
        Dev slots = ln.of(slotsDev, 1);
        Dev phases = convRing ? ln.of(phasesDev, 1) : Dev.NONE;
        Dev hid = ln.of(hidden, dModel);
        Dev pr = ln.of(proj, inProjDim);
        Dev xcv = ln.of(xc, convDim);
        Dev dbcv = c.arch() == Arch.MAMBA1 ? ln.of(dbc, dbcDim()) : dbc;
        Dev dtvv = c.arch() == Arch.MAMBA1 ? ln.of(dtv, dInner) : dtv;
        Dev yv = ln.of(y, dInner);
        CUstream s = ln.s();
        // embed
        if (c.io().tokenInput()) {
            embed.launch(s, nr, r, ln.of(tokensDev, 1), w.embeddings, c.vocabSize(), dModel, hid);
        } else {
            matmul(ln, lv, ln.of(features, c.inputDim()), c.inputDim(), w.inputProj, w.inputProjBias, c.inputDim(), dModel, hid, dModel,
                    false);
        }
        for (int li = 0; li < c.nLayers(); li++) {
            LinearKernel.Split yHalves = null;
            DeviceWeights.Layer l = w.layers.get(li);
            // pre-norm, in_proj, conv window on x (Mamba-1: in_proj[:, :dInner]; Mamba-2: xBC = in_proj[:, dInner : dInner + convDim])
            int convLo = c.arch() == Arch.MAMBA1 ? 0 : dInner;
            LinearKernel.Split xProjSplit = splits == null || c.arch() != Arch.MAMBA1 ? null : splits.get(l.xProj());
            boolean xProjFused = convXProj && r >= CONV_XPROJ_MIN_ROWS && !refKernels && xProjSplit != null
                    && Conv1dUpdateKernel.xprojFits(states, stride, layout.convOffset(li), l.conv(), c.dConv(), convDim, dbcDim(),
                            xProjSplit);
            if (small && c.dConv() <= LinearKernel.MAX_FUSED_D_CONV) {
                LinearKernel.ConvFusion cf = new LinearKernel.ConvFusion(slots, phases, states, stateRows, stride, layout.convOffset(li),
                        l.conv(), l.convBias(), convLo, convDim, c.dConv(), xcv, convDim);
                ln.lin().launch(s, lv, nr, r, hid, dModel, l.norm(), eps, l.inProj(), null, l.inProjBias(), dModel, inProjDim,
                        pr, inProjDim, false, cf);
            } else if (xProjFused) {
                // the conv step and x_proj: [dt_low_rank | B | C] in one kernel
                normLinear(ln, lv, l.norm(), l.inProj(), l.inProjBias(), inProjDim, pr);
                conv.launchXProj(s, lv == LinearKernel.Variant.BF16X3, nr, r, slots, phases, states, stateRows, stride, layout.convOffset(li),
                        pr.slice("conv input", convLo), inProjDim, l.conv(), l.convBias(), convDim, c.dConv(), xcv, convDim, xProjSplit,
                        dbcDim(), dbcv);
            } else {
                normLinear(ln, lv, l.norm(), l.inProj(), l.inProjBias(), inProjDim, pr);
                conv.launch(s, nr, r, slots, phases, states, stateRows, stride, layout.convOffset(li), pr.slice("conv input", convLo),
                        inProjDim, l.conv(), l.convBias(), convDim, c.dConv(), xcv, convDim);
            }
            if (c.arch() == Arch.MAMBA1) {
                if (!xProjFused) {
                    // x_proj: [dt_low_rank | B | C]
                    matmul(ln, lv, xcv, convDim, l.xProj(), Dev.NONE, dInner, dbcDim(), dbcv, dbcDim(), false);
                }
                Dev dtW = l.dtProj();
                boolean fast = !refKernels && Ssm1UpdateKernel.fastFits(c.dState(), stride, layout.ssmOffset(li), states);
                if (!small && r > dtFusedMaxRows && !(fast && ssm1.streamsDt(r, c.dState(), c.dtRank()))) {
                    // dt_proj as a matmul (above DT_FUSED_MAX_ROWS, where ssm1_stream_dtw does not run it); the state update
                    // then only adds softplus
                    matmul(ln, lv, dbcv, dbcDim(), l.dtProj(), l.dtProjBias(), c.dtRank(), dInner, dtvv, dInner, false);
                    dtW = Dev.NONE;
                }
                // discretize, state update, readout, skip, gate
                // y straight into out_proj's bf16 halves where out_proj runs on wgmma
                yHalves = producersSplit(ln) ? ln.lin().wgInput(lv, r, dInner, dModel) : null;
                ssm1.launch(s, fast, nr, r, slots, states, stateRows, stride, layout.ssmOffset(li), xcv, convDim, dbcv, dbcDim(),
                        dtW, dtW.isNone() ? Dev.NONE : l.dtProjBias(), dtvv, dInner, l.a(), l.d(), pr.slice("z", dInner), inProjDim,
                        dInner, c.dState(), c.dtRank(), yv, dInner, yHalves);
            } else {
                // discretize, state update, readout, skip
                ssm2.launch(s, !refKernels, nr, r, slots, states, stateRows, stride, layout.ssmOffset(li), xcv, convDim, pr,
                        inProjDim, dInner + convDim, l.dtBias(), l.a(), l.d(), c.nHeads(), c.headDim(), c.dState(), c.nGroups(),
                        c.timeStepMin(), c.timeStepMax(), yv, dInner);
                // gate, then RMSNorm per group
                gatedNorm.launch(s, nr, r, yv, dInner, pr, inProjDim, l.gatedNorm(), dInner, c.nGroups(), eps);
            }
            // out_proj and the residual add
            if (yHalves != null) {
                ln.lin().launchWg(s, lv, nr, r, l.outProj(), splits.get(l.outProj()), l.outProjBias(), dInner, dModel, hid, dModel, true);
            } else {
                matmul(ln, lv, yv, dInner, l.outProj(), l.outProjBias(), dInner, dModel, hid, dModel, true);
            }
        }
        // final norm and head
        Dev headW = c.io().tokenInput() ? w.lmHead : w.head;
        Dev headB = c.io().tokenInput() ? Dev.NONE : w.headBias;
        normLinear(ln, lv, w.normF, headW, headB, c.outputDim(), ln.of(out, c.outputDim()));
    }

    /**
     * Whether this lane's norms and state update write the wgmma products' inputs as bf16 halves (see splitInputs):
     * everywhere but in lanes of fewer than {@link #SPLIT_INPUTS_MIN_LANE_ROWS} rows, where two such lanes (bucket 1024)
     * measured slower with them (H100: 5.785 vs 5.567 ms device, twice) though one lane of 512 rows measured faster.
     */
    private boolean producersSplit(Lane ln) {
        return splitInputs && splits != null && (!ln.oneOfSeveral() || ln.rows() >= SPLIT_INPUTS_MIN_LANE_ROWS);
    }

    /** y = RMSNorm(hidden) * normW @ W^T + bias: fused in the GEMV, else rmsnorm_rows then the matmul. */
    private void normLinear(Lane ln, LinearKernel.Variant lv, Dev normW, Dev weight, Dev bias, int outDim, Dev dst) {
        int dModel = c.dModel();
        Dev hid = ln.of(hidden, dModel);
        if (lv == LinearKernel.Variant.GEMV) {
            ln.lin().launch(ln.s(), lv, ln.nRows(), ln.rows(), hid, dModel, normW, c.layerNormEps(), weight, bias, dModel, outDim, dst, outDim,
                    false);
        } else {
            Dev nv = ln.of(normed, dModel);
            // the normed rows straight into the product's bf16 halves where it runs on wgmma
            LinearKernel.Split halves = producersSplit(ln) ? ln.lin().wgInput(lv, ln.rows(), dModel, outDim) : null;
            rmsNorm.launch(ln.s(), ln.nRows(), ln.rows(), hid, dModel, normW, c.layerNormEps(), dModel, nv, dModel, halves);
            if (halves != null) {
                ln.lin().launchWg(ln.s(), lv, ln.nRows(), ln.rows(), weight, splits.get(weight), bias, dModel, outDim, dst, outDim, false);
            } else {
                matmul(ln, lv, nv, dModel, weight, bias, dModel, outDim, dst, outDim, false);
            }
        }
    }

    /** dst = x W^T + bias (+ dst when accumulating), with W's bf16 split for the tensor-core versions. */
    private void matmul(Lane ln, LinearKernel.Variant lv, Dev x, int xStride, Dev weight, Dev bias, int in, int outDim, Dev dst,
            int dstStride, boolean accumulate) {
        LinearKernel.Split split = splits == null ? null : splits.get(weight);
        ln.lin().launch(ln.s(), lv, ln.nRows(), ln.rows(), x, xStride, Dev.NONE, 0f, weight, split, bias, in, outDim, dst, dstStride, accumulate,
                null);
    }

    private void checkSlot(int slot) {
        if (slot < 0 || slot >= capacity) {
            throw new IllegalArgumentException("slot " + slot + " out of range 0.." + (capacity - 1));
        }
    }

    private void checkState(StreamState s) {
        if (s.data().length != stateFloats) {
            throw new IllegalArgumentException("state of " + s.data().length + " floats, this model's states have " + stateFloats);
        }
    }

    private void usable() {
        if (closed) {
            throw new IllegalStateException("CUDA engine is closed");
        }
        if (failed) {
            throw new IllegalStateException("CUDA engine failed earlier; its device state is unknown: restore from a checkpoint");
        }
    }

    /**
     * Runs work on the device's or page-locked memory; any failure marks the engine failed, so it is never used again
     * (and tells a lost device from a call that failed on its own).
     */
    private void onDevice(Runnable work) {
        device.enter();
        try {
            work.run();
        } catch (RuntimeException e) {
            failed = true;
            throw lostOr(e);
        } catch (Error e) {
            failed = true;
            throw e;
        }
    }

    /**
     * Milliseconds one graph replay of a bucket takes on the device (inputs up, the step, small outputs back), averaged
     * over {@code iters}: for benchmarks.
     */
    public double deviceStepMillis(int rows, int iters) {
        usable();
        device.enter();
        int bi = bucketIndex(rows);
        putRows(rows, bi);
        runBucket(bi);
        Cu.sync("benchmark warm-up", stream);
        GpuTimer t = new GpuTimer(stream);
        t.start();
        for (int i = 0; i < iters; i++) {
            runBucket(bi);
        }
        return t.stopMillis() / iters;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (!device.lost()) {
            device.makeCurrent();
            try {
                JCudaDriver.cuStreamSynchronize(stream);
            } catch (CudaException e) {
                LOG.warn("CUDA engine close: stream synchronization failed: {}", e.getMessage());
                device.checkContext();
            }
        }
        if (!device.lost()) {
            try {
                freeAll();
            } catch (CudaException e) {
                LOG.warn("CUDA engine close: freeing failed: {}", e.getMessage());
                device.checkContext();
            }
        }
        if (device.lost()) {
            abandon();
        }
    }

    /**
     * close() on a lost device: its context refuses every call, frees included (the process's exit frees it all), so
     * only the copying threads and the weights' reference are this engine's to end.
     */
    private void abandon() {
        LOG.warn("CUDA engine close on lost device {}: its memory is freed with the process", device.ordinal());
        if (bigOutputs != null) {
            bigOutputs.stopThreads();
        }
        if (!weightsReleased) {
            weightsReleased = true;
            w.release(); // frees nothing on a lost device
        }
    }

    private void freeAll() {
        for (CUgraphExec g : graphs) {
            if (g != null) {
                JCudaDriver.cuGraphExecDestroy(g);
            }
        }
        for (Dev d : allocations) {
            if (d != null) {
                Cu.free(d.ptr());
            }
        }
        Cu.freeHost(ctrlHost);
        Cu.freeHost(featuresHost);
        Cu.freeHost(outHost);
        if (bigOutputs != null) {
            bigOutputs.close();
        }
        if (hostPool != null) {
            hostPool.close();
        }
        weightsReleased = true;
        w.release();
        if (laneStreams != null) {
            try {
                JCudaDriver.cuEventDestroy(fork);
                JCudaDriver.cuEventDestroy(join);
                for (int i = 1; i < laneStreams.length; i++) {
                    if (laneStreams[i] != null) {
                        JCudaDriver.cuStreamDestroy(laneStreams[i]);
                    }
                }
            } catch (CudaException e) {
                LOG.warn("CUDA engine close: a lane's stream or events not destroyed: {}", e.getMessage());
            }
        }
        JCudaDriver.cuStreamDestroy(stream);
    }
}
