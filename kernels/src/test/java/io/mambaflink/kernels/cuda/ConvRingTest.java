package io.mambaflink.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.RandomModel;
import io.mambaflink.kernels.state.StateLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The resident slots' ring windows (no GPU needed): conversions, and a step on a ring as the canonical shift. */
class ConvRingTest {
    private static final StateLayout LAYOUT = new StateLayout(RandomModel.mamba1Lm(16, 3, 4, 10));

    private static float[] randomState(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] d = new float[LAYOUT.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rnd.nextDouble(-1, 1);
        }
        return d;
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 2, 3, 6, 1_000_000_007L})
    void toRingThenBackIsTheState(long position) {
        int dConv = LAYOUT.config().dConv();
        int phase = ConvRing.phase(position, dConv);
        assertThat(phase).isEqualTo((int) (position % dConv));
        float[] canonical = randomState(position);
        float[] ring = new float[LAYOUT.size()];
        ConvRing.toRing(LAYOUT, canonical, ring, phase);
        // the SSM states stay where they are; the windows move unless a layer holds one channel
        for (int l = 0; l < LAYOUT.config().nLayers(); l++) {
            for (int i = 0; i < LAYOUT.ssmSize(); i++) {
                assertThat(ring[LAYOUT.ssmOffset(l) + i]).isEqualTo(canonical[LAYOUT.ssmOffset(l) + i]);
            }
        }
        assertThat(ring).isNotEqualTo(canonical);
        ConvRing.toCanonical(LAYOUT, ring, phase, new float[LAYOUT.convSize()]);
        assertThat(ring).containsExactly(canonical);
    }

    /**
     * What the kernels do to a ring (the new input over element 0, nothing else moved), read back with the next
     * position's phase, is the canonical step: the window shifted left with the input as its newest column.
     */
    @ParameterizedTest
    @ValueSource(longs = {0, 1, 2, 3, 41})
    void writingOverElementZeroIsTheShift(long position) {
        MambaConfig c = LAYOUT.config();
        int convDim = c.convDim();
        int dConv = c.dConv();
        float[] canonical = randomState(position + 100);
        float[] ring = new float[LAYOUT.size()];
        int phase = ConvRing.phase(position, dConv);
        ConvRing.toRing(LAYOUT, canonical, ring, phase);
        float[] expected = canonical.clone();
        for (int l = 0; l < c.nLayers(); l++) {
            int off = LAYOUT.convOffset(l);
            for (int ch = 0; ch < convDim; ch++) {
                float input = 10 * l + ch + 0.5f;
                System.arraycopy(canonical, off + ch * dConv + 1, expected, off + ch * dConv, dConv - 1);
                expected[off + ch * dConv + dConv - 1] = input;
                ring[off + phase * convDim + ch] = input; // element 0 of the ring of this phase
            }
        }
        ConvRing.toCanonical(LAYOUT, ring, ConvRing.phase(position + 1, dConv), new float[LAYOUT.convSize()]);
        assertThat(ring).containsExactly(expected);
    }
}
