package io.mambaflink.kernels.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.SplittableRandom;
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
                        .isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-6 * scale));
            }
            assertThat(y[r * yStride + out]).isNaN();
            float[] alone = new float[out];
            CpuMath.matmulT(wt, in, out, bias, x, r * xStride, xStride, 1, alone, 0, out, acc);
            assertThat(Arrays.copyOfRange(y, r * yStride, r * yStride + out)).as("row %d alone", r).containsExactly(alone);
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
