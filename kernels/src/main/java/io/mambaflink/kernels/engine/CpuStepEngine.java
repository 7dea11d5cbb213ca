package io.mambaflink.kernels.engine;

import static io.mambaflink.kernels.engine.CpuMath.matmulT;
import static io.mambaflink.kernels.engine.CpuMath.rmsNorm;
import static io.mambaflink.kernels.engine.CpuMath.silu;
import static io.mambaflink.kernels.engine.CpuMath.transpose;

import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.LayerWeights;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.MambaWeights;
import io.mambaflink.kernels.state.StateLayout;
import io.mambaflink.kernels.state.StreamState;
import java.util.Arrays;

/**
 * The CPU step engine: float32, allocation-free per step, the batch split over its own worker threads (never the
 * common ForkJoinPool: it runs inside Flink task slots).
 *
 * <p>Each thread takes a contiguous chunk of the batch and runs it layer by layer, so every weight matrix is streamed
 * once per chunk rather than once per row. Matmuls use transposed weights, four rows at a time (so each weight loaded
 * serves four rows), in loops C2 vectorizes. Small batches of a large model split the other way (column-split steps):
 * the calling thread runs every row, and each product, conv and state update is split over the threads by output
 * columns, channels or heads, with the same bits. The step follows {@code mamba_ssm} {@code Mamba.step} and
 * {@code Mamba2.step}.
 */
public final class CpuStepEngine implements StepEngine {
    private final MambaModel model;
    private final MambaConfig c;
    private final StateLayout layout;
    private final int maxBatch;
    /** (capacity, layout.size()) slot states. */
    private final float[][] slots;
    /** (capacity) events consumed per slot. */
    private final long[] positions;
    private final Layer[] layers;
    /** (vocabSize, dModel) token embeddings, token models only. */
    private final float[] embeddings;
    /** (dModel) final norm. */
    private final float[] normF;
    /** Output head transposed: (dModel, outputDim) = lm_head^T or head^T. */
    private final float[] headT;
    /** (outputDim) or null. */
    private final float[] headBias;
    /** (inputDim, dModel) = input_proj^T, feature models only. */
    private final float[] inputProjT;
    /** (dModel) feature models only. */
    private final float[] inputProjBias;
    private final Scratch[] scratch;
    private final WorkerPool pool;
    /**
     * Models whose in_proj has at least this many weights (1 MB of float32) take column-split steps for small batches
     * ({@link #columnSplitRows(int)}); in smaller ones the dispatches (a wake-up of every worker, ~4 a layer) would
     * cost more than they save.
     */
    private static final long COLUMN_SPLIT_MIN_WEIGHTS = 1 << 18;
    /** In a column-split step, products from this many weights split too (Mamba-1's x_proj: 123K at d_model 768). */
    private static final long PRODUCT_SPLIT_MIN_WEIGHTS = 1 << 14;
    /**
     * Steps of up to this many rows are column-split ({@link #columnSplitRows(int)}); 0 when the model's products are
     * too small for it (see {@link #COLUMN_SPLIT_MIN_WEIGHTS}) or there is one thread.
     */
    private final int columnSplitRows;
    /** This step is small ({@link #columnSplitRows}): thread 0 runs its rows, the pool splits large products by columns. */
    private boolean columnSplit;
    private final ColumnProduct columnProduct = new ColumnProduct();
    private final MixerJob mixerJob = new MixerJob();
    private final BatchChecker checker;

    /** Per-layer weights in the engine's layout. */
    private record Layer(
            float[] norm, // (dModel)
            float[] inProjT, // (dModel, inProjDim)
            float[] inProjBias, // (inProjDim) or null
            float[] conv, // (convDim, dConv)
            float[] convBias, // (convDim) or null
            float[] xProjT, // (dInner, dtRank + 2 * dState)  Mamba-1
            float[] dtProj, // (dInner, dtRank)  Mamba-1
            float[] dtProjBias, // (dInner)  Mamba-1
            float[] dtBias, // (nHeads)  Mamba-2
            float[] a, // Mamba-1 (dInner, dState); Mamba-2 (nHeads)
            float[] d, // Mamba-1 (dInner); Mamba-2 (nHeads)
            float[] gatedNorm, // (dInner)  Mamba-2
            float[] outProjT, // (dInner, dModel)
            float[] outProjBias) {} // (dModel) or null

    /** One thread's working memory for up to {@code rows} batch rows. */
    private static final class Scratch {
        final float[] hidden; // (rows, dModel) residual stream
        final float[] normed; // (rows, dModel)
        final float[] proj; // (rows, inProjDim)
        final float[] xc; // (rows, convDim) conv output after silu
        final float[] dbc; // (rows, dtRank + 2 * dState)  Mamba-1
        final float[] y; // (rows, dInner)
        final float[] out; // (rows, dModel)
        // this thread's scratch for the state update and the activations (CpuMath.exp, silu, softplus)
        final float[] dt; // (dInner) Mamba-1 dt per channel; (nHeads) Mamba-2 dt per head
        final float[] decay; // Mamba-1 (dInner, dState) exp(A dt); Mamba-2 (nHeads)
        final float[] t; // (widest activation run: convDim, dInner) activations' scratch
        final float[] g; // (dInner) silu(z) of the gate
        final float[] m; // (the larger of decay and t) CpuMath.exp's scratch
        final float[][] acc; // (ROW_GROUP, widest matmul output) matmul accumulators

        Scratch(MambaConfig c, int rows) {
            boolean m1 = c.arch() == Arch.MAMBA1;
            int dbcDim = m1 ? c.dtRank() + 2 * c.dState() : 0;
            hidden = new float[rows * c.dModel()];
            normed = new float[rows * c.dModel()];
            proj = new float[rows * c.inProjDim()];
            xc = new float[rows * c.convDim()];
            dbc = new float[rows * dbcDim];
            y = new float[rows * c.dInner()];
            out = new float[rows * c.dModel()];
            dt = new float[m1 ? c.dInner() : c.nHeads()];
            decay = new float[m1 ? c.dInner() * c.dState() : c.nHeads()];
            t = new float[Math.max(c.convDim(), c.dInner())];
            g = new float[c.dInner()];
            m = new float[Math.max(decay.length, t.length)];
            acc = CpuMath.accumulators(Math.max(Math.max(c.dModel(), c.inProjDim()), Math.max(dbcDim, c.outputDim())));
        }
    }

    public CpuStepEngine(MambaModel model, EngineOptions options) {
        this.model = model;
        this.c = model.config();
        this.layout = model.layout();
        this.maxBatch = options.maxBatch();
        this.slots = allocateSlots(options.capacity(), layout.size());
        this.positions = new long[options.capacity()];
        MambaWeights w = model.weights();
        this.layers = new Layer[c.nLayers()];
        for (int i = 0; i < layers.length; i++) {
            LayerWeights l = w.layers().get(i);
            layers[i] = new Layer(l.norm(), transpose(l.inProj(), c.inProjDim(), c.dModel()), l.inProjBias(),
                    l.convWeight(), l.convBias(),
                    l.xProj() == null ? null : transpose(l.xProj(), c.dtRank() + 2 * c.dState(), c.dInner()),
                    l.dtProj(), l.dtProjBias(), l.dtBias(), l.a(), l.d(), l.gatedNorm(),
                    transpose(l.outProj(), c.dModel(), c.dInner()), l.outProjBias());
        }
        this.embeddings = w.embeddings();
        this.normF = w.normF();
        if (c.io().tokenInput()) {
            this.headT = transpose(w.lmHead(), c.vocabSize(), c.dModel());
            this.headBias = null;
            this.inputProjT = null;
            this.inputProjBias = null;
        } else {
            this.headT = transpose(w.head(), c.outputDim(), c.dModel());
            this.headBias = w.headBias();
            this.inputProjT = transpose(w.inputProj(), c.dModel(), c.io().inputDim());
            this.inputProjBias = w.inputProjBias();
        }
        // a model with large products keeps every thread, for batches smaller than the pool (split by columns)
        boolean columnSplitModel = (long) c.inProjDim() * c.dModel() >= COLUMN_SPLIT_MIN_WEIGHTS && options.threads() > 1;
        int threads = columnSplitModel ? options.threads() : Math.min(options.threads(), maxBatch);
        this.columnSplitRows = columnSplitModel ? columnSplitRows(threads) : 0;
        int rowsPerThread = (maxBatch + threads - 1) / threads;
        this.scratch = new Scratch[threads];
        for (int t = 0; t < threads; t++) {
            // thread 0 runs every row of a column-split batch
            int rows = t == 0 && columnSplitModel ? Math.max(rowsPerThread, Math.min(maxBatch, columnSplitRows)) : rowsPerThread;
            scratch[t] = new Scratch(c, rows);
        }
        this.pool = new WorkerPool(threads, this::runChunk);
        this.checker = new BatchChecker(slots.length, maxBatch, c.vocabSize());
    }

    /**
     * (capacity, stateFloats) slots, or an {@link EngineCapacityException} that gives the pool's size and the heap's
     * when they cannot be had: at once when the pool alone exceeds the heap's maximum, else when the allocation fails.
     */
    static float[][] allocateSlots(int capacity, int stateFloats) {
        long max = Runtime.getRuntime().maxMemory();
        String pool = "backend cpu: slot pool of " + EngineCapacityException.poolSize(capacity, 4L * stateFloats);
        if (4L * stateFloats * capacity > max) {
            throw new EngineCapacityException(pool + " exceeds the JVM's maximum heap of " + (max >> 20) + " MB", true);
        }
        try {
            return new float[capacity][stateFloats];
        } catch (OutOfMemoryError e) {
            Runtime rt = Runtime.getRuntime();
            throw new EngineCapacityException(pool + " does not fit the JVM heap (" + ((rt.totalMemory() - rt.freeMemory()) >> 20)
                    + " MB used of " + (max >> 20) + " MB)", false, e);
        }
    }

    @Override
    public MambaModel model() {
        return model;
    }

    @Override
    public String backend() {
        return "cpu";
    }

    @Override
    public int capacity() {
        return slots.length;
    }

    @Override
    public int maxBatch() {
        return maxBatch;
    }

    @Override
    public void reset(int slot) {
        Arrays.fill(slots[slot], 0f);
        positions[slot] = 0;
    }

    @Override
    public void load(int slot, StreamState src) {
        System.arraycopy(src.data(), 0, slots[slot], 0, layout.size());
        positions[slot] = src.position();
    }

    @Override
    public void store(int slot, StreamState dst) {
        System.arraycopy(slots[slot], 0, dst.data(), 0, layout.size());
        dst.setPosition(positions[slot]);
    }

    @Override
    public long position(int slot) {
        return positions[slot];
    }

    @Override
    public void step(StepBatch batch) {
        int n = batch.size();
        if (n == 0) {
            return;
        }
        checker.check(batch);
        columnSplit = n <= columnSplitRows;
        if (columnSplit) {
            runChunk(0, batch, 0, n);
        } else {
            pool.run(batch, n);
        }
        for (int i = 0; i < n; i++) {
            positions[batch.slots()[i]]++;
        }
    }

    /**
     * y = bias + W x for the chunk's rows ({@link CpuMath#matmulT}); in a column-split step, a product of at least
     * {@link #PRODUCT_SPLIT_MIN_WEIGHTS} weights runs over the whole pool, each thread a range of output columns (the
     * same bits as one thread: each element is computed the same way).
     */
    private void product(Scratch s, float[] wt, int in, int out, float[] bias, float[] x, int xOff, int xStride, int rows,
            float[] y, int yOff, int yStride) {
        if (columnSplit && (long) in * out >= PRODUCT_SPLIT_MIN_WEIGHTS) {
            columnProduct.set(wt, in, out, bias, x, xOff, xStride, rows, y, yOff, yStride);
            pool.columns(out, 16, columnProduct); // 16 floats: one cache line of output per range bound
        } else {
            matmulT(wt, in, out, bias, x, xOff, xStride, rows, y, yOff, yStride, s.acc);
        }
    }

    /**
     * Batches of up to this many rows split products by columns: below a group of four rows per thread, a row split
     * streams every weight once per thread for fewer than four rows, where a column split streams each weight once for
     * up to four rows (and each thread's slice of a product stays in its cache across the row groups). Measured on 16
     * threads (the H100 host, m1-768, engine alone; workers spinning briefly before they park): ahead of the row split
     * at 1, 8, 16 and 32 rows (~6x, ~2x, 1.05-1.24x, 1.3-1.7x). {@code -Dmambaflink.cpu.column-split-rows=N} sets
     * another limit (0: never), for comparisons.
     */
    private static int columnSplitRows(int threads) {
        return Integer.getInteger("mambaflink.cpu.column-split-rows", CpuMath.ROW_GROUP * threads - 1);
    }

    /** The one column job of a column-split step, its operands set before each dispatch (no allocation per step). */
    private final class ColumnProduct implements WorkerPool.Columns {
        private float[] wt;
        private int in;
        private int out;
        private float[] bias;
        private float[] x;
        private int xOff;
        private int xStride;
        private int rows;
        private float[] y;
        private int yOff;
        private int yStride;

        void set(float[] wt, int in, int out, float[] bias, float[] x, int xOff, int xStride, int rows, float[] y, int yOff,
                int yStride) {
            this.wt = wt;
            this.in = in;
            this.out = out;
            this.bias = bias;
            this.x = x;
            this.xOff = xOff;
            this.xStride = xStride;
            this.rows = rows;
            this.y = y;
            this.yOff = yOff;
            this.yStride = yStride;
        }

        @Override
        public void run(int t, int c0, int c1) {
            CpuMath.matmulCols(wt, in, out, c0, c1, bias, x, xOff, xStride, rows, y, yOff, yStride, scratch[t].acc);
        }
    }

    /** Runs rows [r0, r1) of the batch on thread {@code t}. */
    private void runChunk(int t, StepBatch batch, int r0, int r1) {
        Scratch s = scratch[t];
        int rows = r1 - r0;
        int dModel = c.dModel();
        // embed: token embedding or input_proj
        if (batch.tokenInput()) {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(embeddings, batch.tokens()[r0 + r] * dModel, s.hidden, r * dModel, dModel);
            }
        } else {
            int in = c.io().inputDim();
            product(s, inputProjT, in, dModel, inputProjBias, batch.features(), r0 * in, in, rows, s.hidden, 0, dModel);
        }
        for (int li = 0; li < layers.length; li++) {
            Layer l = layers[li];
            // pre-norm, then the mixer; residual added after
            for (int r = 0; r < rows; r++) {
                rmsNorm(s.hidden, r * dModel, l.norm, 0, c.layerNormEps(), s.normed, r * dModel, dModel);
            }
            product(s, l.inProjT, dModel, c.inProjDim(), l.inProjBias, s.normed, 0, dModel, rows, s.proj, 0, c.inProjDim());
            boolean m1 = c.arch() == Arch.MAMBA1;
            // the conv window: on x (Mamba-1: the first dInner of in_proj) or on xBC (Mamba-2: after z), per channel
            if (columnSplit) {
                mixerJob.set(true, l, s, r0, rows, batch, li);
                pool.columns(c.convDim(), 16, mixerJob);
            } else {
                conv(l, s, s, r0, rows, batch, li, 0, c.convDim());
            }
            if (m1) {
                // x_proj over the chunk, then dt_proj, discretization and the state update per channel
                product(s, l.xProjT, c.dInner(), dbcDim(), null, s.xc, 0, c.dInner(), rows, s.dbc, 0, dbcDim());
            }
            // the state update: channels (Mamba-1) or heads (Mamba-2) are independent, so a column-split step splits
            // them over the pool too; each is computed the same either way
            if (columnSplit) {
                mixerJob.set(false, l, s, r0, rows, batch, li);
                pool.columns(m1 ? c.dInner() : c.nHeads(), m1 ? 16 : 1, mixerJob);
            } else {
                ssm(l, s, s, r0, rows, batch, li, 0, m1 ? c.dInner() : c.nHeads());
            }
            if (!m1) {
                for (int r = 0; r < rows; r++) {
                    mixer2Gate(l, s, r);
                }
            }
            product(s, l.outProjT, c.dInner(), dModel, l.outProjBias, s.y, 0, c.dInner(), rows, s.out, 0, dModel);
            for (int k = 0, end = rows * dModel; k < end; k++) {
                s.hidden[k] += s.out[k];
            }
        }
        // final norm and head
        for (int r = 0; r < rows; r++) {
            rmsNorm(s.hidden, r * dModel, normF, 0, c.layerNormEps(), s.normed, r * dModel, dModel);
        }
        int outDim = c.outputDim();
        product(s, headT, dModel, outDim, headBias, s.normed, 0, dModel, rows, batch.outputs(), r0 * outDim, outDim);
    }

    /**
     * The conv step of rows [r0, r0 + rows), channels [ch0, ch1): shift in the newest column of each window, depthwise
     * causal conv, silu; writes xc[r, ch0 .. ch1). {@code t}: the running thread's scratch.
     */
    private void conv(Layer l, Scratch s, Scratch t, int r0, int rows, StepBatch batch, int li, int ch0, int ch1) {
        int convDim = c.convDim();
        int k = c.dConv();
        int convOff = layout.convOffset(li);
        for (int r = 0; r < rows; r++) {
            float[] state = slots[batch.slots()[r0 + r]];
            int projOff = r * c.inProjDim() + (c.arch() == Arch.MAMBA1 ? 0 : c.dInner());
            int xo = r * convDim;
            for (int ch = ch0; ch < ch1; ch++) {
                int w = convOff + ch * k;
                for (int j = 0; j < k - 1; j++) {
                    state[w + j] = state[w + j + 1];
                }
                state[w + k - 1] = s.proj[projOff + ch];
                float acc = l.convBias == null ? 0f : l.convBias[ch];
                for (int j = 0; j < k; j++) {
                    acc += state[w + j] * l.conv[ch * k + j];
                }
                s.xc[xo + ch] = acc;
            }
            silu(s.xc, xo + ch0, s.xc, xo + ch0, ch1 - ch0, t.t, t.m);
        }
    }

    private int dbcDim() {
        return c.dtRank() + 2 * c.dState();
    }

    /**
     * The state update of rows [r0, r0 + rows) of the chunk whose buffers are {@code s}, over channels [u0, u1)
     * (Mamba-1) or heads [u0, u1) (Mamba-2); {@code t} is the running thread's scratch.
     */
    private void ssm(Layer l, Scratch s, Scratch t, int r0, int rows, StepBatch batch, int li, int u0, int u1) {
        int ssmOff = layout.ssmOffset(li);
        for (int r = 0; r < rows; r++) {
            float[] state = slots[batch.slots()[r0 + r]];
            if (c.arch() == Arch.MAMBA1) {
                ssm1Row(l, s, t, r, state, ssmOff, u0, u1);
            } else {
                ssm2Row(l, s, t, r, state, ssmOff, u0, u1);
            }
        }
    }

    /** Mamba-1, one row, channels [ch0, ch1): dt_proj + softplus, discretize, state update, C readout, D skip, gate by silu(z). */
    private void ssm1Row(Layer l, Scratch s, Scratch t, int r, float[] state, int ssmOff, int ch0, int ch1) {
        int dInner = c.dInner();
        int dState = c.dState();
        int dtRank = c.dtRank();
        int nch = ch1 - ch0;
        int dbc = r * dbcDim();
        int bOff = dbc + dtRank;
        int cOff = bOff + dState;
        int yo = r * dInner;
        // discretize: dt = softplus(dt_proj(dt_low_rank) + bias), (nch)
        float[] dt = t.dt;
        for (int ch = ch0; ch < ch1; ch++) {
            float v = l.dtProjBias[ch];
            for (int k = 0; k < dtRank; k++) {
                v += l.dtProj[ch * dtRank + k] * s.dbc[dbc + k];
            }
            dt[ch - ch0] = v;
        }
        CpuMath.softplus(dt, nch, t.t, t.m);
        // decay dA = exp(A dt), (nch, dState): dt spread over each channel's dState, times A, then one exp pass
        float[] dA = t.decay;
        for (int i = 0; i < nch; i++) {
            for (int n = 0, o = i * dState; n < dState; n++) {
                dA[o + n] = dt[i];
            }
        }
        for (int i = 0, a0 = ch0 * dState, e = nch * dState; i < e; i++) {
            dA[i] *= l.a[a0 + i];
        }
        CpuMath.exp(dA, nch * dState, t.m);
        // state update h = dA h + dt B x, readout y = C h, D skip
        for (int i = 0; i < nch; i++) {
            int ch = ch0 + i;
            float x = s.xc[yo + ch];
            float dtx = dt[i] * x;
            int h = ssmOff + ch * dState;
            int o = i * dState;
            float y = 0f;
            for (int n = 0; n < dState; n++) {
                float hv = state[h + n] * dA[o + n] + dtx * s.dbc[bOff + n];
                state[h + n] = hv;
                y += hv * s.dbc[cOff + n];
            }
            s.y[yo + ch] = y + l.d[ch] * x;
        }
        // gate by silu(z)
        silu(s.proj, r * c.inProjDim() + dInner + ch0, t.g, 0, nch, t.t, t.m);
        for (int i = 0; i < nch; i++) {
            s.y[yo + ch0 + i] *= t.g[i];
        }
    }

    /**
     * Mamba-2, one row, heads [h0, h1) (after the conv on xBC): dt = softplus(dt + dt_bias) clamped to
     * time_step_limit, per-head decay, state update, C readout, D skip. {@link #mixer2Gate} follows.
     */
    private void ssm2Row(Layer l, Scratch s, Scratch t, int r, float[] state, int ssmOff, int h0, int h1) {
        int dInner = c.dInner();
        int dState = c.dState();
        int nHeads = c.nHeads();
        int headDim = c.headDim();
        int nGroups = c.nGroups();
        int nh = h1 - h0;
        int p = r * c.inProjDim();
        // in_proj split: z (dInner), xBC (convDim), dt (nHeads)
        int dtOff = p + dInner + c.convDim();
        int xo = r * c.convDim();
        int bOff = xo + dInner;
        int cOff = bOff + nGroups * dState;
        int headsPerGroup = nHeads / nGroups;
        int yo = r * dInner;
        // discretize, (nh): dt = clamp(softplus(dt + dt_bias)), dA = exp(dt A)
        float[] dt = t.dt;
        float[] dA = t.decay;
        for (int i = 0; i < nh; i++) {
            dt[i] = s.proj[dtOff + h0 + i] + l.dtBias[h0 + i];
        }
        CpuMath.softplus(dt, nh, t.t, t.m);
        for (int i = 0; i < nh; i++) {
            dt[i] = Math.min(Math.max(dt[i], c.timeStepMin()), c.timeStepMax());
            dA[i] = dt[i] * l.a[h0 + i];
        }
        CpuMath.exp(dA, nh, t.m);
        for (int h = h0; h < h1; h++) {
            float hdt = dt[h - h0];
            float hdA = dA[h - h0];
            int g = h / headsPerGroup;
            int b = bOff + g * dState;
            int cc = cOff + g * dState;
            for (int hp = 0; hp < headDim; hp++) {
                float x = s.xc[xo + h * headDim + hp];
                float dtx = hdt * x;
                int st = ssmOff + (h * headDim + hp) * dState;
                // state update and readout
                float y = 0f;
                for (int n = 0; n < dState; n++) {
                    float hv = state[st + n] * hdA + dtx * s.xc[b + n];
                    state[st + n] = hv;
                    y += hv * s.xc[cc + n];
                }
                s.y[yo + h * headDim + hp] = y + l.d[h] * x;
            }
        }
    }

    /** Mamba-2, one row: gate by silu(z), then RMSNorm per group of dInner / nGroups channels (the original definition). */
    private void mixer2Gate(Layer l, Scratch s, int r) {
        int dInner = c.dInner();
        int zOff = r * c.inProjDim();
        int yo = r * dInner;
        silu(s.proj, zOff, s.g, 0, dInner, s.t, s.m);
        for (int k = 0; k < dInner; k++) {
            s.y[yo + k] *= s.g[k];
        }
        int groupSize = dInner / c.nGroups();
        for (int g = 0; g < c.nGroups(); g++) {
            int go = yo + g * groupSize;
            rmsNorm(s.y, go, l.gatedNorm, g * groupSize, c.layerNormEps(), s.y, go, groupSize);
        }
    }

    /** The mixer job of a column-split step: the conv or the state update, channel or head ranges of all its rows. */
    private final class MixerJob implements WorkerPool.Columns {
        private boolean conv;
        private Layer l;
        private Scratch s;
        private int r0;
        private int rows;
        private StepBatch batch;
        private int li;

        void set(boolean conv, Layer l, Scratch s, int r0, int rows, StepBatch batch, int li) {
            this.conv = conv;
            this.l = l;
            this.s = s;
            this.r0 = r0;
            this.rows = rows;
            this.batch = batch;
            this.li = li;
        }

        @Override
        public void run(int t, int u0, int u1) {
            if (conv) {
                conv(l, s, scratch[t], r0, rows, batch, li, u0, u1);
            } else {
                ssm(l, s, scratch[t], r0, rows, batch, li, u0, u1);
            }
        }
    }

    @Override
    public void close() {
        pool.close();
    }
}
