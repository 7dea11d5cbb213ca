package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/** Launcher of rmsnorm.cu {@code rmsnorm_rows}: out[r, :] = RMSNorm(x[r, :]) * weight. */
public final class RmsNormKernel {
    static final String NAME = "rmsnorm_rows";
    private final CUfunction fn;

    public RmsNormKernel(CudaDevice device) {
        this.fn = device.function(NAME);
    }

    /** x (rows, n) stride xStride; weight (n); out (rows, n) stride outStride. */
    public void launch(CUstream s, Dev nRows, int rows, Dev x, int xStride, Dev weight, float eps, int n, Dev out,
            int outStride) {
        launch(s, nRows, rows, x, xStride, weight, eps, n, out, outStride, null);
    }

    /**
     * As above; with {@code halves} (from {@link LinearKernel#wgInput}) the output is written as its bf16 halves there
     * instead of into out, for the wgmma product that reads it ({@link LinearKernel#launchWg}).
     */
    public void launch(CUstream s, Dev nRows, int rows, Dev x, int xStride, Dev weight, float eps, int n, Dev out,
            int outStride, LinearKernel.Split halves) {
        nRows.checkVector(NAME, 1);
        x.checkMatrix(NAME, rows, n, xStride);
        weight.checkVector(NAME, n);
        out.checkMatrix(NAME, rows, n, outStride);
        boolean vec = vec(x, xStride, weight, n, out, outStride) && (halves == null || n % 4 == 0);
        Pointer p = Pointer.to(nRows.arg(), x.arg(), Pointer.to(new int[] {xStride}), weight.arg(), Pointer.to(new float[] {eps}),
                Pointer.to(new int[] {n}), out.arg(), Pointer.to(new int[] {outStride}), Pointer.to(new int[] {vec ? 1 : 0}),
                halves == null ? Dev.NONE.arg() : halves.hi().arg(), halves == null ? Dev.NONE.arg() : halves.lo().arg());
        Cu.launch(NAME, fn, (rows + 3) / 4, 1, 1, 128, 0, s, p);
    }

    /** True when rows fit rmsnorm_rows' float4 registers (n % 4 == 0, n <= 1024) on 16-byte boundaries. */
    static boolean vec(Dev x, int xStride, Dev weight, int n, Dev out, int outStride) {
        return n % 4 == 0 && n <= 1024 && xStride % 4 == 0 && outStride % 4 == 0 && x.aligned16() && weight.aligned16() && out.aligned16();
    }
}
