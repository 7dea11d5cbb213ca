package io.mambaflink.kernels;

import io.mambaflink.kernels.checkpoint.ModelFingerprint;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Models with random weights for benchmarks and equality tests, initialized the way mamba_ssm initializes them
 * (A_log = log(1..dState), dt in [0.001, 0.1], unit norms), so activations stay in a realistic range.
 */
public final class RandomModel {
    private RandomModel() {}

    /** A Mamba-1 language model. */
    public static MambaConfig mamba1Lm(int dModel, int nLayers, int dState, int vocab) {
        return new MambaConfig(Arch.MAMBA1, dModel, 2 * dModel, dState, nLayers, 4, (dModel + 15) / 16, 0, 0, 1, vocab,
                false, true, 1e-5f, true, true, 0f, Float.POSITIVE_INFINITY, StreamIo.languageModel(vocab));
    }

    /** A Mamba-2 language model with head_dim 64. */
    public static MambaConfig mamba2Lm(int dModel, int nLayers, int dState, int nGroups, int vocab) {
        int dInner = 2 * dModel;
        return new MambaConfig(Arch.MAMBA2, dModel, dInner, dState, nLayers, 4, 0, dInner / 64, 64, nGroups, vocab, false,
                true, 1e-5f, true, true, 0f, Float.POSITIVE_INFINITY, StreamIo.languageModel(vocab));
    }

    /** A Mamba-1 feature model ({@code stream_io}) with the given input and output widths. */
    public static MambaConfig mamba1Features(int dModel, int nLayers, int dState, int inputDim, StreamIo.Output output, int outputDim) {
        return new MambaConfig(Arch.MAMBA1, dModel, 2 * dModel, dState, nLayers, 4, (dModel + 15) / 16, 0, 0, 1, 1, false,
                true, 1e-5f, true, true, 0f, Float.POSITIVE_INFINITY,
                new StreamIo(StreamIo.Input.FEATURES, inputDim, output, outputDim));
    }

    public static MambaModel create(MambaConfig c, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<LayerWeights> layers = new ArrayList<>();
        boolean m1 = c.arch() == Arch.MAMBA1;
        for (int i = 0; i < c.nLayers(); i++) {
            float[] a;
            if (m1) {
                a = new float[c.dInner() * c.dState()];
                for (int ch = 0; ch < c.dInner(); ch++) {
                    for (int n = 0; n < c.dState(); n++) {
                        a[ch * c.dState() + n] = -(n + 1);
                    }
                }
            } else {
                a = new float[c.nHeads()];
                for (int h = 0; h < c.nHeads(); h++) {
                    a[h] = -(1 + rnd.nextInt(16));
                }
            }
            int dtDim = m1 ? c.dInner() : c.nHeads();
            float[] dtBias = new float[dtDim];
            for (int k = 0; k < dtDim; k++) {
                double dt = Math.exp(rnd.nextDouble() * (Math.log(0.1) - Math.log(0.001)) + Math.log(0.001));
                dtBias[k] = (float) (dt + Math.log(-Math.expm1(-dt))); // inverse softplus
            }
            layers.add(new LayerWeights(
                    ones(c.dModel()),
                    uniform(rnd, c.inProjDim() * c.dModel(), 1 / Math.sqrt(c.dModel())),
                    c.useBias() ? uniform(rnd, c.inProjDim(), 0.01) : null,
                    uniform(rnd, c.convDim() * c.dConv(), 1 / Math.sqrt(c.dConv())),
                    c.useConvBias() ? uniform(rnd, c.convDim(), 0.1) : null,
                    m1 ? uniform(rnd, (c.dtRank() + 2 * c.dState()) * c.dInner(), 1 / Math.sqrt(c.dInner())) : null,
                    m1 ? uniform(rnd, c.dInner() * c.dtRank(), 1 / Math.sqrt(c.dtRank())) : null,
                    m1 ? dtBias : null,
                    m1 ? null : dtBias,
                    a,
                    ones(m1 ? c.dInner() : c.nHeads()),
                    m1 ? null : ones(c.dInner()),
                    uniform(rnd, c.dModel() * c.dInner(), 1 / Math.sqrt(c.dInner()) / Math.sqrt(c.nLayers())),
                    c.useBias() ? uniform(rnd, c.dModel(), 0.01) : null));
        }
        MambaWeights w;
        if (c.io().tokenInput()) {
            float[] emb = uniform(rnd, c.vocabSize() * c.dModel(), 1.0);
            w = new MambaWeights(emb, layers, ones(c.dModel()), emb, null, null, null, null);
        } else {
            int in = c.io().inputDim();
            int out = c.outputDim();
            w = new MambaWeights(null, layers, ones(c.dModel()), null, uniform(rnd, c.dModel() * in, 1 / Math.sqrt(in)),
                    uniform(rnd, c.dModel(), 0.1), uniform(rnd, out * c.dModel(), 1 / Math.sqrt(c.dModel())),
                    uniform(rnd, out, 0.1));
        }
        return new MambaModel(c, w, ModelFingerprint.of(c, w), "random(seed=" + seed + ")");
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }

    private static float[] uniform(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        }
        return a;
    }
}
