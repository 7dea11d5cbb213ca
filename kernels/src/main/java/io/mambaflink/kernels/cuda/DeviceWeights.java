package io.mambaflink.kernels.cuda;

import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.LayerWeights;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.MambaWeights;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model's float32 weights on one device, in the checkpoint's layout (row-major, never transposed), packed into one
 * allocation with every tensor 256-byte aligned. Uploaded once per model per device: engines of the same model on the
 * same device share one copy, counted by reference.
 */
final class DeviceWeights {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceWeights.class);
    private static final Map<String, DeviceWeights> CACHE = new HashMap<>();
    private static final int ALIGN_FLOATS = 64;

    /** One block's tensors; absent optional tensors are {@link Dev#NONE}. Shapes as in {@link LayerWeights}. */
    record Layer(Dev norm, Dev inProj, Dev inProjBias, Dev conv, Dev convBias, Dev xProj, Dev dtProj, Dev dtProjBias, Dev dtBias,
            Dev a, Dev d, Dev gatedNorm, Dev outProj, Dev outProjBias) {}

    private final String key;
    private final CudaDevice device;
    private final CUdeviceptr base;
    private final long bytes;
    private int references;
    /** The bf16 splits' allocation, once made. */
    private CUdeviceptr splitBase;
    private Map<Dev, LinearKernel.Split> splits;
    /** Elements of each weight view (its view's floats run to the end of the allocation). */
    private final Map<Dev, Long> matrixFloats = new IdentityHashMap<>();
    final List<Layer> layers = new ArrayList<>();
    /** (vocabSize, dModel) or NONE. */
    final Dev embeddings;
    /** (dModel). */
    final Dev normF;
    /** (vocabSize, dModel): the embeddings when tied; or NONE. */
    final Dev lmHead;
    /** (dModel, inputDim) and (dModel), feature models. */
    final Dev inputProj;
    final Dev inputProjBias;
    /** (outputDim, dModel) and (outputDim), feature models. */
    final Dev head;
    final Dev headBias;

    static synchronized DeviceWeights acquire(CudaDevice device, MambaModel model) {
        String key = device.ordinal() + "/" + model.fingerprintHex();
        DeviceWeights w = CACHE.get(key);
        if (w == null) {
            w = new DeviceWeights(key, device, model);
            CACHE.put(key, w);
        }
        w.references++;
        return w;
    }

    /** Drops an engine's reference; the last one frees the weights, except on a lost device, whose context refuses it. */
    synchronized void release() {
        synchronized (DeviceWeights.class) {
            if (--references == 0) {
                CACHE.remove(key);
                if (!device.lost()) {
                    device.makeCurrent();
                    Cu.free(base);
                    Cu.free(splitBase);
                }
            }
        }
    }

    /** The matrices the linear kernels multiply by, each (out, in): every layer's projections, then the head(s). */
    private List<Dev> matrices() {
        List<Dev> m = new ArrayList<>();
        for (Layer l : layers) {
            m.add(l.inProj());
            m.add(l.xProj());
            m.add(l.dtProj());
            m.add(l.outProj());
        }
        m.add(lmHead);
        m.add(inputProj);
        m.add(head);
        m.removeIf(Dev::isNone);
        return m;
    }

    /**
     * The bfloat16 split of every weight matrix ({@link LinearKernel.Split}) for the bf16 tensor-core GEMMs, made on
     * the device on first request (engines that never run a batch above the GEMV's rows never pay its memory: as much
     * again as the float32 matrices) and kept with the weights.
     */
    synchronized Map<Dev, LinearKernel.Split> splits() {
        if (splits != null) {
            return splits;
        }
        List<Dev> mats = matrices();
        long total = 0;
        long[] offsets = new long[mats.size()];
        for (int i = 0; i < mats.size(); i++) {
            offsets[i] = total;
            total += 2 * align(halves(mats.get(i)));
        }
        device.makeCurrent();
        CUdeviceptr sb = Cu.alloc("bf16 weight splits of " + key, 4 * total);
        Map<Dev, LinearKernel.Split> map = new IdentityHashMap<>();
        try {
            Dev all = Dev.of("bf16 splits", sb, total);
            LinearKernel.Splitter splitter = new LinearKernel.Splitter(device);
            for (int i = 0; i < mats.size(); i++) {
                Dev m = mats.get(i);
                long h = align(halves(m));
                LinearKernel.Split sp = new LinearKernel.Split(all.slice(m.name() + " (bf16 hi)", offsets[i]),
                        all.slice(m.name() + " (bf16 lo)", offsets[i] + h));
                splitter.split(m, matrixFloats.get(m), sp);
                map.put(m, sp);
            }
            splitter.finish();
        } catch (RuntimeException e) {
            Cu.free(sb);
            throw e;
        }
        splitBase = sb;
        splits = map;
        LOG.info("split {} weight matrices of {} into bfloat16 halves on CUDA device {} ({} MB)", map.size(), key, device.ordinal(),
                (4 * total) >> 20);
        return splits;
    }

    /** Floats that hold one bf16 half of matrix {@code m}. */
    private long halves(Dev m) {
        return (matrixFloats.get(m) + 1) / 2;
    }

    /** Floats rounded up to the 256-byte alignment of every tensor. */
    private static long align(long floats) {
        return (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }

    long bytes() {
        return bytes;
    }

    private DeviceWeights(String key, CudaDevice device, MambaModel model) {
        this.key = key;
        this.device = device;
        MambaConfig c = model.config();
        Packer pk = plan(model);
        List<Integer> layerStart = pk.layerStart;
        this.bytes = 4 * pk.total;
        device.makeCurrent();
        this.base = Cu.alloc("weights of " + model.source(), bytes);
        Dev all = Dev.of("weights", base, pk.total);
        Dev[] views = new Dev[pk.names.size()];
        try {
            for (int i = 0; i < views.length; i++) {
                float[] arr = pk.arrays.get(i);
                if (arr == null) {
                    views[i] = Dev.NONE;
                    continue;
                }
                views[i] = all.slice(pk.names.get(i), pk.offsets.get(i));
                matrixFloats.put(views[i], (long) arr.length);
                if (pk.firstUse.get(i)) {
                    Cu.htod("upload " + pk.names.get(i), views[i].ptr(), Pointer.to(arr), 4L * arr.length);
                }
            }
        } catch (RuntimeException e) {
            Cu.free(base);
            throw e;
        }
        for (int i = 0; i < c.nLayers(); i++) {
            int s = layerStart.get(i);
            layers.add(new Layer(views[s], views[s + 1], views[s + 2], views[s + 3], views[s + 4], views[s + 5], views[s + 6],
                    views[s + 7], views[s + 8], views[s + 9], views[s + 10], views[s + 11], views[s + 12], views[s + 13]));
        }
        this.embeddings = views[pk.gEmb];
        this.normF = views[pk.gNorm];
        this.lmHead = views[pk.gLm];
        this.inputProj = views[pk.gIn];
        this.inputProjBias = views[pk.gInB];
        this.head = views[pk.gHead];
        this.headBias = views[pk.gHeadB];
        LOG.info("uploaded {} MB of weights of {} to CUDA device {} ({})", bytes >> 20, model.source(), device.ordinal(), device.name());
    }

    /** Every tensor with its expected length, in upload order; tied arrays are stored once. */
    private static Packer plan(MambaModel model) {
        MambaConfig c = model.config();
        MambaWeights w = model.weights();
        boolean m1 = c.arch() == Arch.MAMBA1;
        int dbcDim = c.dtRank() + 2 * c.dState();
        Packer pk = new Packer();
        for (int i = 0; i < c.nLayers(); i++) {
            LayerWeights l = w.layers().get(i);
            String p = "backbone.layers." + i + ".";
            pk.layerStart.add(pk.size());
            pk.add(p + "norm.weight", l.norm(), c.dModel(), true);
            pk.add(p + "mixer.in_proj.weight", l.inProj(), (long) c.inProjDim() * c.dModel(), true);
            pk.add(p + "mixer.in_proj.bias", l.inProjBias(), c.inProjDim(), c.useBias());
            pk.add(p + "mixer.conv1d.weight", l.convWeight(), (long) c.convDim() * c.dConv(), true);
            pk.add(p + "mixer.conv1d.bias", l.convBias(), c.convDim(), c.useConvBias());
            pk.add(p + "mixer.x_proj.weight", l.xProj(), (long) dbcDim * c.dInner(), m1);
            pk.add(p + "mixer.dt_proj.weight", l.dtProj(), (long) c.dInner() * c.dtRank(), m1);
            pk.add(p + "mixer.dt_proj.bias", l.dtProjBias(), c.dInner(), m1);
            pk.add(p + "mixer.dt_bias", l.dtBias(), c.nHeads(), !m1);
            pk.add(p + "mixer.A_log (as A)", l.a(), m1 ? (long) c.dInner() * c.dState() : c.nHeads(), true);
            pk.add(p + "mixer.D", l.d(), m1 ? c.dInner() : c.nHeads(), true);
            pk.add(p + "mixer.norm.weight", l.gatedNorm(), c.dInner(), !m1);
            pk.add(p + "mixer.out_proj.weight", l.outProj(), (long) c.dModel() * c.dInner(), true);
            pk.add(p + "mixer.out_proj.bias", l.outProjBias(), c.dModel(), c.useBias());
            pk.matrices(l.inProj(), l.xProj(), l.dtProj(), l.outProj());
        }
        boolean tokens = c.io().tokenInput();
        pk.gEmb = pk.add("backbone.embeddings.weight", w.embeddings(), (long) c.vocabSize() * c.dModel(), tokens);
        pk.gNorm = pk.add("backbone.norm_f.weight", w.normF(), c.dModel(), true);
        pk.gLm = pk.add("lm_head.weight", w.lmHead(), (long) c.vocabSize() * c.dModel(), tokens);
        pk.gIn = pk.add("input_proj.weight", w.inputProj(), (long) c.dModel() * c.inputDim(), !tokens);
        pk.gInB = pk.add("input_proj.bias", w.inputProjBias(), c.dModel(), !tokens && w.inputProjBias() != null);
        pk.gHead = pk.add("head.weight", w.head(), (long) c.outputDim() * c.dModel(), !tokens);
        pk.gHeadB = pk.add("head.bias", w.headBias(), c.outputDim(), !tokens && w.headBias() != null);
        pk.matrices(tokens ? w.lmHead() : null, tokens ? null : w.inputProj(), tokens ? null : w.head());
        return pk;
    }

    /**
     * Device bytes a new engine of {@code model} on {@code device} adds for weights: the float32 weights unless
     * another engine on this device holds them already, plus their bf16 splits when the engine needs them and they
     * are not made yet (the same sizes {@link #splits} allocates). Throws as the upload would on tensors that do
     * not fit the model.
     */
    static synchronized long bytesToAdd(CudaDevice device, MambaModel model, boolean withSplits) {
        DeviceWeights w = CACHE.get(device.ordinal() + "/" + model.fingerprintHex());
        if (w != null && (w.splits != null || !withSplits)) {
            return 0;
        }
        Packer pk = plan(model);
        return (w == null ? 4 * pk.total : 0) + (withSplits ? 4 * pk.splitFloats : 0);
    }

    /** Assigns aligned offsets; checks each present tensor's length and names it when wrong. */
    private static final class Packer {
        final List<String> names = new ArrayList<>();
        final List<float[]> arrays = new ArrayList<>();
        final List<Long> offsets = new ArrayList<>();
        final List<Boolean> firstUse = new ArrayList<>();
        final Map<float[], Long> seen = new IdentityHashMap<>();
        final List<Integer> layerStart = new ArrayList<>();
        long total;
        /** Floats of the bf16 splits of the matrices named by {@link #matrices}: what {@link #splits} allocates. */
        long splitFloats;
        int gEmb;
        int gNorm;
        int gLm;
        int gIn;
        int gInB;
        int gHead;
        int gHeadB;

        void matrices(float[]... mats) {
            for (float[] m : mats) {
                if (m != null) {
                    splitFloats += 2 * align((m.length + 1L) / 2);
                }
            }
        }

        int size() {
            return names.size();
        }

        int add(String name, float[] arr, long expected, boolean required) {
            int index = names.size();
            names.add(name);
            if (arr == null) {
                if (required) {
                    throw new IllegalArgumentException("tensor " + name + " is missing (expected " + expected + " floats)");
                }
                arrays.add(null);
                offsets.add(0L);
                firstUse.add(false);
                return index;
            }
            if (arr.length != expected) {
                throw new IllegalArgumentException("tensor " + name + ": expected " + expected + " floats, found " + arr.length);
            }
            arrays.add(arr);
            Long prior = seen.get(arr);
            if (prior != null) {
                offsets.add(prior);
                firstUse.add(false);
            } else {
                offsets.add(total);
                firstUse.add(true);
                seen.put(arr, total);
                total += align(arr.length);
            }
            return index;
        }
    }
}
