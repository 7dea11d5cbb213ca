package io.mambaflink.kernels.cuda;

import io.mambaflink.kernels.state.StateLayout;

/**
 * The conv windows of a resident slot as rings (common.cuh, mf_win_at), converted from and to the canonical layout that
 * {@link StateLayout}, the CPU engine and the checkpoints keep.
 *
 * <pre>
 * canonical, per layer: window (convDim, dConv) row-major, element j = 0 the oldest, dConv - 1 the newest
 * ring, per layer:      (dConv, convDim), element j of channel ch at [(phase + j) % dConv][ch]
 * phase = the stream's position % dConv
 * </pre>
 *
 * A step then writes only the new input (over element 0, which it drops) instead of shifting the whole window, so a
 * channel's window costs dConv floats of traffic a step instead of 2 dConv. The SSM states are the same in both.
 */
final class ConvRing {
    private ConvRing() {}

    /** The ring phase of a stream that has consumed {@code position} events. */
    static int phase(long position, int dConv) {
        return (int) Math.floorMod(position, (long) dConv);
    }

    /** {@code ring} = {@code canonical} with every layer's windows as rings of {@code phase}; both layout.size() floats. */
    static void toRing(StateLayout layout, float[] canonical, float[] ring, int phase) {
        int convDim = layout.config().convDim();
        int dConv = layout.config().dConv();
        for (int l = 0; l < layout.config().nLayers(); l++) {
            ringOf(canonical, layout.convOffset(l), ring, layout.convOffset(l), convDim, dConv, phase);
            System.arraycopy(canonical, layout.ssmOffset(l), ring, layout.ssmOffset(l), layout.ssmSize());
        }
    }

    /**
     * Turns {@code data}'s rings of {@code phase} back into canonical windows, in place; {@code scratch} holds convSize
     * floats.
     */
    static void toCanonical(StateLayout layout, float[] data, int phase, float[] scratch) {
        int convDim = layout.config().convDim();
        int dConv = layout.config().dConv();
        for (int l = 0; l < layout.config().nLayers(); l++) {
            int off = layout.convOffset(l);
            System.arraycopy(data, off, scratch, 0, layout.convSize());
            canonicalOf(scratch, 0, data, off, convDim, dConv, phase);
        }
    }

    /** One layer's canonical windows at {@code canonical[cOff..]} as a ring of {@code phase} at {@code ring[rOff..]}. */
    static void ringOf(float[] canonical, int cOff, float[] ring, int rOff, int convDim, int dConv, int phase) {
        for (int j = 0; j < dConv; j++) {
            int col = rOff + (phase + j) % dConv * convDim;
            for (int ch = 0; ch < convDim; ch++) {
                ring[col + ch] = canonical[cOff + ch * dConv + j];
            }
        }
    }

    /**
     * The inverse of {@link #ringOf}: a ring of {@code phase} at {@code ring[rOff..]} as canonical windows at
     * {@code canonical[cOff..]}.
     */
    static void canonicalOf(float[] ring, int rOff, float[] canonical, int cOff, int convDim, int dConv, int phase) {
        for (int j = 0; j < dConv; j++) {
            int col = rOff + (phase + j) % dConv * convDim;
            for (int ch = 0; ch < convDim; ch++) {
                canonical[cOff + ch * dConv + j] = ring[col + ch];
            }
        }
    }
}
