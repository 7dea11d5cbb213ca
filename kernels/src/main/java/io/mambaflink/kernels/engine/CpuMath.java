package io.mambaflink.kernels.engine;

/** Float kernels of the CPU engine, written so that C2 vectorizes their inner loops (no reductions). */
final class CpuMath {
    private CpuMath() {}

    /** Batch rows a matmul advances together, so each W^T element loaded serves this many rows. */
    static final int ROW_GROUP = 4;

    /** (out, in) row-major to (in, out) row-major. */
    static float[] transpose(float[] w, int out, int in) {
        float[] t = new float[w.length];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                t[i * out + o] = w[o * in + i];
            }
        }
        return t;
    }

    /** The accumulator rows {@link #matmulT} needs: {@link #ROW_GROUP} separate arrays of the widest output. */
    static float[][] accumulators(int widestOut) {
        float[][] acc = new float[ROW_GROUP][];
        for (int j = 0; j < ROW_GROUP; j++) {
            acc[j] = new float[widestOut];
        }
        return acc;
    }

    /**
     * y[r, :] = bias + W x[r, :] for rows r in [0, rows), with W given transposed.
     *
     * <p>Rows go in groups of four (a last group of two or three padded with copies of its last row; a last single row
     * alone), inputs in pairs: each pass over a W^T row pair updates four accumulator rows, so one load of W serves
     * four rows and each accumulator load and store two inputs. The accumulators are separate arrays, so C2
     * vectorizes the four updates of the inner loop (into one array at four offsets it cannot rule out overlap, and
     * measured slower). Every row is computed by the same expression, acc += x[i] w[i] + x[i+1] w[i+1] over the pairs
     * in order, whichever group it falls in, so a row's result does not depend on the batch it is in.
     *
     * @param wt   W^T (in, out)
     * @param bias (out) or null
     * @param x    rows of length in, row r at xOff + r * xStride
     * @param y    rows of length out, row r at yOff + r * yStride
     * @param acc  {@link #accumulators} of at least out floats each
     */
    static void matmulT(float[] wt, int in, int out, float[] bias, float[] x, int xOff, int xStride, int rows,
            float[] y, int yOff, int yStride, float[][] acc) {
        matmulCols(wt, in, out, 0, out, bias, x, xOff, xStride, rows, y, yOff, yStride, acc);
    }

    /**
     * Output columns [c0, c1) of {@link #matmulT}, for every row: each element computed exactly as matmulT computes
     * it, so threads that split the columns between them give matmulT's bits. acc needs c1 - c0 floats per array.
     */
    static void matmulCols(float[] wt, int in, int out, int c0, int c1, float[] bias, float[] x, int xOff, int xStride,
            int rows, float[] y, int yOff, int yStride, float[][] acc) {
        int n = c1 - c0;
        int last = rows - 1;
        int r = 0;
        for (; r + 1 < rows; r += 4) {
            // a group of four rows; a last group of two or three repeats its last row, whose copies are dropped (one
            // more row of arithmetic instead of one more pass over W per row)
            rows4(wt, in, out, c0, n, bias, x, xOff + r * xStride, xOff + Math.min(r + 1, last) * xStride,
                    xOff + Math.min(r + 2, last) * xStride, xOff + Math.min(r + 3, last) * xStride, acc);
            for (int j = 0; j < 4 && r + j < rows; j++) {
                System.arraycopy(acc[j], 0, y, yOff + (r + j) * yStride + c0, n);
            }
        }
        if (r < rows) {
            row1(wt, in, out, c0, n, bias, x, xOff + r * xStride, acc[0]);
            System.arraycopy(acc[0], 0, y, yOff + r * yStride + c0, n);
        }
    }

    private static void init(float[] t, float[] bias, int c0, int n) {
        if (bias != null) {
            System.arraycopy(bias, c0, t, 0, n);
        } else {
            java.util.Arrays.fill(t, 0, n, 0f);
        }
    }

    /** acc[0..3][0, n) = columns [c0, c0 + n) of bias + W x for the four rows of x at x0 .. x3. */
    private static void rows4(float[] wt, int in, int out, int c0, int n, float[] bias, float[] x, int x0, int x1, int x2,
            int x3, float[][] acc) {
        float[] t0 = acc[0];
        float[] t1 = acc[1];
        float[] t2 = acc[2];
        float[] t3 = acc[3];
        init(t0, bias, c0, n);
        init(t1, bias, c0, n);
        init(t2, bias, c0, n);
        init(t3, bias, c0, n);
        int i = 0;
        for (; i + 2 <= in; i += 2) {
            float a0 = x[x0 + i];
            float a1 = x[x0 + i + 1];
            float b0 = x[x1 + i];
            float b1 = x[x1 + i + 1];
            float e0 = x[x2 + i];
            float e1 = x[x2 + i + 1];
            float d0 = x[x3 + i];
            float d1 = x[x3 + i + 1];
            int w0 = i * out + c0;
            int w1 = w0 + out;
            for (int k = 0; k < n; k++) {
                float u = wt[w0 + k];
                float v = wt[w1 + k];
                t0[k] += a0 * u + a1 * v;
                t1[k] += b0 * u + b1 * v;
                t2[k] += e0 * u + e1 * v;
                t3[k] += d0 * u + d1 * v;
            }
        }
        if (i < in) { // odd input count: the last input alone, for every row
            float a = x[x0 + i];
            float b = x[x1 + i];
            float e = x[x2 + i];
            float d = x[x3 + i];
            int w0 = i * out + c0;
            for (int k = 0; k < n; k++) {
                float u = wt[w0 + k];
                t0[k] += a * u;
                t1[k] += b * u;
                t2[k] += e * u;
                t3[k] += d * u;
            }
        }
    }

    /** t[0, n) = columns [c0, c0 + n) of bias + W x for the row at xo: the same expression per row as {@link #rows4}. */
    private static void row1(float[] wt, int in, int out, int c0, int n, float[] bias, float[] x, int xo, float[] t) {
        init(t, bias, c0, n);
        int i = 0;
        for (; i + 2 <= in; i += 2) {
            float a0 = x[xo + i];
            float a1 = x[xo + i + 1];
            int w0 = i * out + c0;
            int w1 = w0 + out;
            for (int k = 0; k < n; k++) {
                t[k] += a0 * wt[w0 + k] + a1 * wt[w1 + k];
            }
        }
        if (i < in) {
            float a = x[xo + i];
            int w0 = i * out + c0;
            for (int k = 0; k < n; k++) {
                t[k] += a * wt[w0 + k];
            }
        }
    }

    /** out[oo ..+n) = x * rsqrt(mean(x^2) + eps) * weight[wo ..+n), over x[xo ..+n). */
    static void rmsNorm(float[] x, int xo, float[] weight, int wo, float eps, float[] out, int oo, int n) {
        float ss = 0f;
        for (int k = 0; k < n; k++) {
            float v = x[xo + k];
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        for (int k = 0; k < n; k++) {
            out[oo + k] = x[xo + k] * inv * weight[wo + k];
        }
    }

    /*
     * The activations below work on arrays: one scalar call per element (a branch, a float-to-int conversion) kept C2
     * from vectorizing them, and in small models (d_model 32-64, d_state 8) the state update's exp(A dt) alone was a
     * third of a step. Each runs as short, branch-free loops over scratch arrays at offset 0, which C2 vectorizes
     * (measured on this 2-core AVX-512 box, Java 17: ~0.8 ns against ~2.5-3 ns an element for exp). Each element is
     * computed by the same expression whatever n is, so a result does not depend on how a row's channels are split.
     */

    private static final float LOG2E = 1.44269504f;
    /** 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    /** The float bits of ROUND, whose low mantissa bits then hold the rounded integer. */
    private static final int ROUND_BITS = 0x4B400000;

    /**
     * v[i] = e^v[i] for i in [0, n), in place: inputs clamped to [-88, 88], so e^88 = 1.65e38 at the top and exactly 0
     * below about -87.7 (2^-127 would not be a normal float); NaN stays NaN. Range reduction by ln 2 (ln 2 in two
     * parts) and a degree-6 polynomial on [-ln2/2, ln2/2]: within 2.3e-7 relative of Math.exp. {@code m}: n floats of
     * scratch.
     */
    static void exp(float[] v, int n, float[] m) {
        for (int i = 0; i < n; i++) {
            v[i] = Math.min(Math.max(v[i], -88f), 88f);
        }
        for (int i = 0; i < n; i++) {
            float x = v[i];
            float rounded = x * LOG2E + ROUND; // k = round(x / ln 2), kept in the low bits
            float k = rounded - ROUND;
            float r = x - k * 0.693145752f - k * 1.42860677e-6f;
            float p = 1.3888949e-3f;
            p = p * r + 8.3333377e-3f;
            p = p * r + 4.1666638e-2f;
            p = p * r + 1.6666667e-1f;
            p = p * r + 0.5f;
            p = p * r + 1f;
            p = p * r + 1f;
            v[i] = p;
            m[i] = rounded;
        }
        for (int i = 0; i < n; i++) {
            // 2^k as float bits: (k + 127) << 23, where k = bits(rounded) - ROUND_BITS; k = -127 gives +0
            v[i] *= Float.intBitsToFloat((Float.floatToRawIntBits(m[i]) + (127 - ROUND_BITS)) << 23);
        }
    }

    /**
     * y[yo + i] = silu(x[xo + i]) = x / (1 + e^-x) for i in [0, n); y may be x at the same offset. {@code t}, {@code m}:
     * n floats of scratch each.
     */
    static void silu(float[] x, int xo, float[] y, int yo, int n, float[] t, float[] m) {
        for (int i = 0; i < n; i++) {
            t[i] = -x[xo + i];
        }
        exp(t, n, m);
        for (int i = 0; i < n; i++) {
            y[yo + i] = x[xo + i] / (1f + t[i]);
        }
    }

    /**
     * v[i] = softplus(v[i]) for i in [0, n), in place: torch.nn.functional.softplus, log(1 + e^v), as max(v, 0) +
     * log1p(e^-|v|), with log1p(u) = 2 atanh(u / (2 + u)) by its series to s^15 (s <= 1/3, so the next term is below
     * 4e-9 relative): within 2.8e-7 relative of the double result. Above torch's threshold of 20 the log1p term is below
     * half an ulp of v, so the result is v there, as torch's. {@code u}, {@code m}: n floats of scratch each.
     */
    static void softplus(float[] v, int n, float[] u, float[] m) {
        for (int i = 0; i < n; i++) {
            u[i] = -Math.abs(v[i]);
        }
        exp(u, n, m);
        for (int i = 0; i < n; i++) {
            float e = u[i];
            float s = e / (2f + e);
            float s2 = s * s;
            float q = 1f / 15f;
            q = q * s2 + 1f / 13f;
            q = q * s2 + 1f / 11f;
            q = q * s2 + 1f / 9f;
            q = q * s2 + 1f / 7f;
            q = q * s2 + 1f / 5f;
            q = q * s2 + 1f / 3f;
            q = q * s2 + 1f;
            v[i] = Math.max(v[i], 0f) + 2f * s * q;
        }
    }
}
