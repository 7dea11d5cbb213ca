package io.mambaflink.kernels.checkpoint;

import io.mambaflink.kernels.LayerWeights;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaWeights;

/**
 * A 64-bit identity of a model: its config and the bits of every weight. Not cryptographic; it guards against
 * applying a stream state to a different model, not against an adversary.
 */
public final class ModelFingerprint {
    private ModelFingerprint() {}

    public static long of(MambaConfig config, MambaWeights w) {
        long h = mix(config.toString().hashCode() * 0x9E3779B97F4A7C15L);
        h = add(h, w.embeddings());
        h = add(h, w.normF());
        h = add(h, w.lmHead());
        h = add(h, w.inputProj());
        h = add(h, w.inputProjBias());
        h = add(h, w.head());
        h = add(h, w.headBias());
        for (LayerWeights l : w.layers()) {
            for (float[] a : new float[][] {l.norm(), l.inProj(), l.inProjBias(), l.convWeight(), l.convBias(), l.xProj(),
                    l.dtProj(), l.dtProjBias(), l.dtBias(), l.a(), l.d(), l.gatedNorm(), l.outProj(), l.outProjBias()}) {
                h = add(h, a);
            }
        }
        return mix(h);
    }

    private static long add(long h, float[] a) {
        if (a == null) {
            return mix(h ^ 0x5bd1e995L);
        }
        // Four independent lanes keep the multiply chain short; 130M weights hash in well under a second.
        long h0 = h, h1 = h ^ 0x27d4eb2f165667c5L, h2 = h ^ 0x165667b19e3779f9L, h3 = h ^ 0x85ebca77c2b2ae63L;
        int i = 0;
        for (; i + 3 < a.length; i += 4) {
            h0 = (h0 ^ Float.floatToRawIntBits(a[i])) * 0x100000001b3L;
            h1 = (h1 ^ Float.floatToRawIntBits(a[i + 1])) * 0x100000001b3L;
            h2 = (h2 ^ Float.floatToRawIntBits(a[i + 2])) * 0x100000001b3L;
            h3 = (h3 ^ Float.floatToRawIntBits(a[i + 3])) * 0x100000001b3L;
        }
        for (; i < a.length; i++) {
            h0 = (h0 ^ Float.floatToRawIntBits(a[i])) * 0x100000001b3L;
        }
        return mix(mix(h0) ^ Long.rotateLeft(mix(h1), 17) ^ Long.rotateLeft(mix(h2), 31) ^ Long.rotateLeft(mix(h3), 47) ^ a.length);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
