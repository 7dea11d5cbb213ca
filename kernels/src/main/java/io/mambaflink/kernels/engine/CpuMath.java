package io.mambaflink.kernels.engine;

/** Float kernels of the CPU engine: written so that C2 vectorizes the inner loops (axpy form, no reductions). */
final class CpuMath {
    private CpuMath() {}

    /** Input rows per block of a transposed matmul, so the block of W^T stays in L2 while every batch row uses it. */
    private static final int BLOCK_BYTES = 192 * 1024;

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

    /**
     * y[r, :] = bias + W x[r, :] for rows r in [0, rows), with W given transposed.
     *
     * @param wt   W^T (in, out)
     * @param bias (out) or null
     * @param x    rows of length in, row r at xOff + r * xStride
     * @param y    rows of length out, row r at yOff + r * yStride
     */
    static void matmulT(float[] wt, int in, int out, float[] bias, float[] x, int xOff, int xStride, int rows,
            float[] y, int yOff, int yStride) {
        for (int r = 0; r < rows; r++) {
            int yo = yOff + r * yStride;
            if (bias != null) {
                System.arraycopy(bias, 0, y, yo, out);
            } else {
                java.util.Arrays.fill(y, yo, yo + out, 0f);
            }
        }
        int block = Math.max(1, BLOCK_BYTES / (4 * out));
        for (int i0 = 0; i0 < in; i0 += block) {
            int i1 = Math.min(in, i0 + block);
            for (int r = 0; r < rows; r++) {
                int xo = xOff + r * xStride;
                int yo = yOff + r * yStride;
                for (int i = i0; i < i1; i++) {
                    float a = x[xo + i];
                    if (a != 0f) {
                        axpy(a, wt, i * out, y, yo, out);
                    }
                }
            }
        }
    }

    /** y[yo ..+n) += a * w[wo ..+n). */
    static void axpy(float a, float[] w, int wo, float[] y, int yo, int n) {
        for (int k = 0; k < n; k++) {
            y[yo + k] += a * w[wo + k];
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

    static float silu(float v) {
        return v / (1f + expf(-v));
    }

    /** torch.nn.functional.softplus with its default threshold of 20: log(1 + e^v), computed as max(v, 0) + log1p(e^-|v|). */
    static float softplus(float v) {
        if (v > 20f) {
            return v;
        }
        float u = expf(-Math.abs(v));
        // log1p(u) for u in (0, 1]: the double log keeps ~1e-9 relative accuracy down to u ~ 1e-7, and below that
        // log1p(u) = u - u^2/2 to float precision.
        float l = u < 1e-4f ? u - 0.5f * u * u : (float) Math.log(1.0 + u);
        return Math.max(v, 0f) + l;
    }

    /** e^v in float: clamps to [-87, 88], then the same reduction and polynomial as {@link #expNeg}. */
    static float expf(float v) {
        if (v > 88f) {
            return Float.POSITIVE_INFINITY;
        }
        return expNeg(v);
    }

    /**
     * e^v for v <= 88 (the SSM decay A * dt is always <= 0): range reduction by ln 2 and a degree-6 polynomial,
     * within a few ulp of Math.exp on [-87, 88], and 0 below -87.
     */
    static float expNeg(float v) {
        if (v < -87f) {
            return 0f;
        }
        // round to nearest by the 1.5 * 2^23 trick: Math.round(float) is not intrinsified and dominated the SSM loop
        float n = (v * 1.44269504f + 12582912f) - 12582912f;
        float r = v - n * 0.693145752f - n * 1.42860677e-6f;
        float p = 1.3888949e-3f;
        p = p * r + 8.3333377e-3f;
        p = p * r + 4.1666638e-2f;
        p = p * r + 1.6666667e-1f;
        p = p * r + 0.5f;
        p = p * r + 1f;
        p = p * r + 1f;
        return p * Float.intBitsToFloat(((int) n + 127) << 23);
    }
}
