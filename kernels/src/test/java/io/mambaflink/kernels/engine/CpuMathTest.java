package io.mambaflink.kernels.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.assertj.core.data.Offset;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CpuMathTest {

    /**
     * matmulT against a double-precision product, for batches that fill groups of four rows and leave 1-3 rows over,
     * odd and even input widths, with and without bias; and each row bit for bit what the same row gives alone, so a
     * row's result does not depend on the batch it is stepped in.
     */
    @ParameterizedTest
    @CsvSource({"1, 7, 5, true", "3, 8, 16, false", "4, 33, 10, true", "6, 64, 96, false", "9, 31, 80, true"})
    void rowsMatchADoubleProductAndDoNotDependOnTheirBatch(int rows, int in, int out, boolean withBias) {
        SplittableRandom rnd = new SplittableRandom(rows * 1000L + in);
        float[] w = random(rnd, out * in); // (out, in)
        float[] wt = CpuMath.transpose(w, out, in); // (in, out)
        float[] bias = withBias ? random(rnd, out) : null;
        int xStride = in + 3; // rows with a gap between them, as the engine's strided views have
        float[] x = random(rnd, rows * xStride);
        int yStride = out + 2;
        float[] y = new float[rows * yStride];
        Arrays.fill(y, Float.NaN); // gaps must stay untouched
        float[][] acc = CpuMath.accumulators(out);
        CpuMath.matmulT(wt, in, out, bias, x, 0, xStride, rows, y, 0, yStride, acc);
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double ref = withBias ? bias[o] : 0;
                double scale = Math.abs(ref);
                for (int i = 0; i < in; i++) {
                    ref += (double) w[o * in + i] * x[r * xStride + i];
                    scale += Math.abs((double) w[o * in + i] * x[r * xStride + i]);
                }
                assertThat((double) y[r * yStride + o]).as("row %d output %d", r, o)
                        .isCloseTo(ref, Offset.offset(1e-6 * scale));
            }
            assertThat(y[r * yStride + out]).isNaN();
            float[] alone = new float[out];
            CpuMath.matmulT(wt, in, out, bias, x, r * xStride, xStride, 1, alone, 0, out, acc);
            assertThat(Arrays.copyOfRange(y, r * yStride, r * yStride + out)).as("row %d alone", r).containsExactly(alone);
        }
    }

    /**
     * The vectorized activations against double-precision references over their whole range (decays down to -100,
     * silu and softplus of +-100 and around torch's softplus threshold of 20), the clamped ends (exactly 0 below about
     * -87.7, e^88 at the top, silu of large negative inputs ~0), NaN passed through, and each element the same bits
     * whether it is computed in a run of 1 or of n (so a channel's result does not depend on how a step splits them).
     */
    @Test
    void activationsMatchDoubleReferencesAndDoNotDependOnTheRunLength() {
        SplittableRandom rnd = new SplittableRandom(11);
        int n = 4099;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (i < 64 ? 18 + i / 16.0 : rnd.nextDouble() * 200 - 100); // 18 .. 22 first, then +-100
        }
        float[] m = new float[n];
        float[] t = new float[n];
        // exp, on the decay's range (<= 0) and a little above 0
        float[] e = new float[n];
        for (int i = 0; i < n; i++) {
            e[i] = -Math.abs(x[i]) + (i % 7 == 0 ? 3f : 0f);
        }
        float[] eIn = e.clone();
        CpuMath.exp(e, n, m);
        for (int i = 0; i < n; i++) {
            double ref = Math.exp(eIn[i]);
            if (eIn[i] < -87.7f) {
                assertThat(e[i]).as("exp(%s)", eIn[i]).isEqualTo(0f);
            } else if (ref > 1e-37) {
                assertThat(Math.abs(e[i] - ref) / ref).as("exp(%s)", eIn[i]).isLessThan(3e-7);
            }
        }
        float[] top = {88f, 1000f, -1000f, Float.NaN, 0f};
        CpuMath.exp(top, top.length, m);
        assertThat(top[0]).isCloseTo((float) Math.exp(88), Percentage.withPercentage(1e-4));
        assertThat(top[1]).isEqualTo(top[0]);
        assertThat(top[2]).isEqualTo(0f);
        assertThat(top[3]).isNaN();
        assertThat(top[4]).isEqualTo(1f);
        // silu into another array at an offset
        float[] s = new float[n + 5];
        CpuMath.silu(x, 0, s, 5, n, t, m);
        for (int i = 0; i < n; i++) {
            double ref = x[i] / (1 + Math.exp(-x[i]));
            assertThat(Math.abs(s[5 + i] - ref)).as("silu(%s)", x[i]).isLessThanOrEqualTo(4e-7 * Math.abs(ref) + 1e-30);
        }
        // softplus in place
        float[] sp = x.clone();
        CpuMath.softplus(sp, n, t, m);
        for (int i = 0; i < n; i++) {
            double ref = x[i] > 20 ? x[i] : Math.log1p(Math.exp(x[i]));
            assertThat(Math.abs(sp[i] - ref)).as("softplus(%s)", x[i]).isLessThanOrEqualTo(3e-7 * ref + 1e-38);
        }
        float[] nan = {Float.NaN};
        CpuMath.softplus(nan, 1, t, m);
        assertThat(nan[0]).isNaN();
        // a run of one gives the bits of the run of n
        for (int i = 0; i < n; i += 97) {
            float[] one = {eIn[i]};
            CpuMath.exp(one, 1, m);
            assertThat(Float.floatToRawIntBits(one[0])).as("exp at %d alone", i).isEqualTo(Float.floatToRawIntBits(e[i]));
            float[] so = new float[1];
            CpuMath.silu(x, i, so, 0, 1, t, m);
            assertThat(Float.floatToRawIntBits(so[0])).as("silu at %d alone", i).isEqualTo(Float.floatToRawIntBits(s[5 + i]));
            float[] p = {x[i]};
            CpuMath.softplus(p, 1, t, m);
            assertThat(Float.floatToRawIntBits(p[0])).as("softplus at %d alone", i).isEqualTo(Float.floatToRawIntBits(sp[i]));
        }
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return a;
    }
}
