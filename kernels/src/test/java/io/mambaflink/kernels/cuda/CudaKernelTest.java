package io.mambaflink.kernels.cuda;

import static io.mambaflink.kernels.cuda.CudaTestSupport.assumeCuda;
import static io.mambaflink.kernels.cuda.CudaTestSupport.bitDifference;
import static io.mambaflink.kernels.cuda.CudaTestSupport.download;
import static io.mambaflink.kernels.cuda.CudaTestSupport.free;
import static io.mambaflink.kernels.cuda.CudaTestSupport.relErr;
import static io.mambaflink.kernels.cuda.CudaTestSupport.splitOf;
import static io.mambaflink.kernels.cuda.CudaTestSupport.uniform;
import static io.mambaflink.kernels.cuda.CudaTestSupport.upload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each fast kernel against its plain reference kernel, at the sizes the engine runs them. */
class CudaKernelTest {
    private CudaDevice device;
    private CUstream stream;
    private final SplittableRandom rnd = new SplittableRandom(7);

    @BeforeEach
    void open() {
        assumeCuda();
        device = CudaDevice.get(0);
        device.makeCurrent();
        stream = new CUstream();
        JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
    }

    @AfterEach
    void close() {
        if (stream != null) {
            JCudaDriver.cuStreamDestroy(stream);
        }
    }

    private Dev rows(int n) {
        return upload("n_rows", new int[] {n});
    }

    /**
     * y = x W^T + b (+ y0): the GEMV (its builds for buckets of 1, 2, 4 and 8 rows, LM-head width included), and each
     * tensor-core GEMM (3xTF32, bf16x3, bf16x1) against linear_ref; the GEMV's fused pre-norm against rmsnorm + ref.
     */
    @ParameterizedTest(name = "rows {0} of {1}, in {2}, out {3}, accumulate {4}")
    @CsvSource({
        "1, 1, 768, 3072, false", "3, 4, 1536, 768, true", "8, 8, 1536, 80, false", "2, 2, 5120, 10, true",
        "7, 8, 48, 1536, false", "8, 8, 3, 100, false", "5, 8, 6, 29, true", "2, 2, 768, 3072, true", "3, 4, 768, 20000, true",
        "1, 1, 768, 50280, false", "4, 4, 6, 29, false", "1, 2, 48, 1536, true",
        "9, 16, 768, 3072, false", "64, 64, 1536, 768, true", "64, 64, 768, 80, false", "300, 512, 48, 1536, false",
        "1000, 1024, 768, 1000, false", "4096, 4096, 768, 768, true", "37, 64, 5, 29, false", "512, 512, 1536, 768, true",
        "700, 1024, 6, 50, false", "130, 256, 40, 77, true", "129, 512, 768, 50280, false", "2048, 2048, 1536, 768, true",
        "1000, 1024, 48, 3072, false", "700, 1024, 768, 5000, false", "2000, 2048, 1536, 80, false", "500, 512, 1536, 80, true",
        "100, 128, 48, 96, false"})
    void linearVersionsAgree(int n, int rows, int in, int out, boolean accumulate) {
        LinearKernel lin = new LinearKernel(device);
        RmsNormKernel norm = new RmsNormKernel(device);
        Dev nr = rows(n);
        Dev x = upload("x", uniform(rnd, rows * in, 1));
        Dev w = upload("w", uniform(rnd, out * in, 1 / Math.sqrt(in)));
        Dev b = upload("b", uniform(rnd, out, 0.1));
        float[] y0 = uniform(rnd, rows * out, 1);
        Dev yRef = upload("y_ref", y0);
        lin.launch(stream, LinearKernel.Variant.REF, nr, rows, x, in, Dev.NONE, 0f, w, b, in, out, yRef, out, accumulate);
        LinearKernel.Variant picked = LinearKernel.pick(rows, false);
        LinearKernel.Variant[] versions = picked == LinearKernel.Variant.GEMV ? new LinearKernel.Variant[] {picked}
                : new LinearKernel.Variant[] {LinearKernel.Variant.TF32X3, LinearKernel.Variant.BF16X3, LinearKernel.Variant.BF16X1};
        LinearKernel.Split split = splitOf(device, w, out, in);
        Dev yFast = upload("y_fast", y0);
        // on compute capability 9.0, the bf16 versions once more with x's bf16 halves given: the wgmma kernels
        Dev xHi = upload("x bf16 hi", new float[(rows * in + 1) / 2]);
        Dev xLo = upload("x bf16 lo", new float[(rows * in + 1) / 2]);
        lin.setActivationSplit(new LinearKernel.Split(xHi, xLo));
        boolean wgRuns = in % 8 == 0 && lin.usesWgmma(rows, in, out);
        lin.setActivationSplit(null);
        for (int run = 0; run < versions.length + (wgRuns ? 2 : 0); run++) {
            LinearKernel.Variant v = run < versions.length ? versions[run]
                    : run == versions.length ? LinearKernel.Variant.BF16X3 : LinearKernel.Variant.BF16X1;
            lin.setActivationSplit(run < versions.length ? null : new LinearKernel.Split(xHi, xLo));
            Cu.htod("y_fast", yFast.ptr(), jcuda.Pointer.to(y0), 4L * y0.length);
            lin.launch(stream, v, nr, rows, x, in, Dev.NONE, 0f, w, split, b, in, out, yFast, out, accumulate, null);
            Cu.sync("linear test", stream);
            double err = relErr(download(yFast), download(yRef), 0, n * out);
            System.out.printf("linear %s%s rows %d/%d in %d out %d: max rel err %.3e%n", v, run < versions.length ? "" : " (wgmma)", n,
                    rows, in, out, err);
            // bf16x1 rounds both operands to 8 mantissa bits; bf16x3 keeps ~16 of each (in % 8 != 0 runs 3xTF32 instead)
            double bound = v == LinearKernel.Variant.BF16X1 && in % 8 == 0 ? 1e-2
                    : v == LinearKernel.Variant.BF16X3 && in % 8 == 0 ? 3e-5 : 2e-6 * Math.sqrt(in) + 1e-6;
            assertThat(err).as(v.toString()).isLessThanOrEqualTo(bound);
            float[] after = download(yFast);
            // rows past n_rows are never written (split-K without accumulate zeroes the whole output first, so check with it)
            for (int i = n * out; accumulate && i < rows * out; i++) {
                assertThat(after[i]).as("row past n_rows untouched").isEqualTo(y0[i]);
            }
        }
        lin.setActivationSplit(null);
        free(split.hi(), split.lo(), xHi, xLo);
        LinearKernel.Variant v = picked;
        if (v == LinearKernel.Variant.GEMV) {
            Dev nw = upload("norm_w", uniform(rnd, in, 1));
            Dev normed = upload("normed", new float[rows * in]);
            norm.launch(stream, nr, rows, x, in, nw, 1e-5f, in, normed, in);
            lin.launch(stream, LinearKernel.Variant.REF, nr, rows, normed, in, Dev.NONE, 0f, w, b, in, out, yRef, out, false);
            lin.launch(stream, v, nr, rows, x, in, nw, 1e-5f, w, b, in, out, yFast, out, false);
            Cu.sync("fused norm test", stream);
            double e2 = relErr(download(yFast), download(yRef), 0, n * out);
            System.out.printf("linear %s + fused rmsnorm rows %d in %d out %d: max rel err %.3e%n", v, n, in, out, e2);
            assertThat(e2).isLessThanOrEqualTo(2e-6 * Math.sqrt(in) + 1e-6);
            free(nw, normed);
        }
        free(nr, x, w, b, yRef, yFast);
    }

    /** The in_proj GEMV with the conv step fused equals the GEMV followed by conv1d_update (proj, xc and windows). */
    @ParameterizedTest(name = "rows {0} of {1}, conv channels {2} .. +{3}, d_conv {4}")
    @CsvSource({"1, 1, 0, 96, 4", "5, 8, 100, 150, 4", "8, 8, 37, 200, 3"})
    void gemvFusedConvEqualsSeparateConv(int n, int rows, int convLo, int convDim, int dConv) {
        LinearKernel lin = new LinearKernel(device);
        Conv1dUpdateKernel conv = new Conv1dUpdateKernel(device);
        int in = 64;
        int out = convLo + convDim + 11;
        int slotsCap = rows + 2;
        int stride = convDim * dConv + 5;
        int convOff = 3;
        int[] slots = new int[rows];
        for (int i = 0; i < rows; i++) {
            slots[i] = slotsCap - 1 - i;
        }
        float[] st0 = uniform(rnd, slotsCap * stride, 1);
        Dev nr = rows(n);
        Dev sl = upload("slots", slots);
        Dev sRef = upload("states_ref", st0);
        Dev sFused = upload("states_fused", st0);
        Dev x = upload("x", uniform(rnd, rows * in, 1));
        Dev nw = upload("norm_w", uniform(rnd, in, 1));
        Dev w = upload("w", uniform(rnd, out * in, 1 / Math.sqrt(in)));
        Dev cw = upload("conv_w", uniform(rnd, convDim * dConv, 0.5));
        Dev cb = upload("conv_b", uniform(rnd, convDim, 0.1));
        Dev pRef = upload("proj_ref", new float[rows * out]);
        Dev pFused = upload("proj_fused", new float[rows * out]);
        Dev xcRef = upload("xc_ref", new float[rows * convDim]);
        Dev xcFused = upload("xc_fused", new float[rows * convDim]);
        lin.launch(stream, LinearKernel.Variant.GEMV, nr, rows, x, in, nw, 1e-5f, w, Dev.NONE, in, out, pRef, out, false);
        conv.launch(stream, nr, rows, sl, Dev.NONE, sRef, slotsCap, stride, convOff, pRef.slice("conv input", convLo), out, cw, cb, convDim,
                dConv, xcRef, convDim);
        lin.launch(stream, LinearKernel.Variant.GEMV, nr, rows, x, in, nw, 1e-5f, w, null, Dev.NONE, in, out, pFused, out, false,
                new LinearKernel.ConvFusion(sl, Dev.NONE, sFused, slotsCap, stride, convOff, cw, cb, convLo, convDim, dConv, xcFused, convDim));
        Cu.sync("fused conv test", stream);
        assertThat(relErr(download(pFused), download(pRef))).isLessThanOrEqualTo(1e-6);
        assertThat(relErr(download(xcFused), download(xcRef))).isLessThanOrEqualTo(1e-6);
        assertThat(relErr(download(sFused), download(sRef))).isLessThanOrEqualTo(1e-6);
        free(nr, sl, sRef, sFused, x, nw, w, cw, cb, pRef, pFused, xcRef, xcFused);
    }

    /** conv1d_update's float4 path (d_conv 4, aligned windows) equals its scalar path bit for bit. */
    @Test
    void convFloat4PathEqualsScalarPath() {
        Conv1dUpdateKernel conv = new Conv1dUpdateKernel(device);
        int rows = 300;
        int convDim = 200;
        int dConv = 4;
        int stride = convDim * dConv + 12;
        int convOff = 8;
        int slotsCap = rows + 5;
        int[] slots = new int[rows];
        for (int i = 0; i < rows; i++) {
            slots[i] = (i * 7) % slotsCap;
        }
        float[] st0 = uniform(rnd, slotsCap * stride, 1);
        Dev nr = rows(rows - 3);
        Dev sl = upload("slots", slots);
        Dev sVec = upload("states_vec", st0);
        Dev sScalar = upload("states_scalar", st0);
        Dev x = upload("x", uniform(rnd, rows * convDim, 1));
        Dev cw = upload("conv_w", uniform(rnd, convDim * dConv, 0.5));
        Dev cb = upload("conv_b", uniform(rnd, convDim, 0.1));
        Dev xcVec = upload("xc_vec", new float[rows * convDim]);
        Dev xcScalar = upload("xc_scalar", new float[rows * convDim]);
        assertThat(Conv1dUpdateKernel.vec4(sVec, stride, convOff, cw, dConv)).isTrue();
        conv.launch(stream, nr, rows, sl, Dev.NONE, sVec, slotsCap, stride, convOff, x, convDim, cw, cb, convDim, dConv, xcVec, convDim, true);
        conv.launch(stream, nr, rows, sl, Dev.NONE, sScalar, slotsCap, stride, convOff, x, convDim, cw, cb, convDim, dConv, xcScalar, convDim,
                false);
        Cu.sync("conv paths", stream);
        assertThat(download(xcVec)).containsExactly(download(xcScalar));
        float[] after = download(sVec);
        assertThat(after).containsExactly(download(sScalar));
        assertThat(after).isNotEqualTo(st0);
        free(nr, sl, sVec, sScalar, x, cw, cb, xcVec, xcScalar);
    }

    /**
     * conv_xproj (the conv step with Mamba-1's x_proj fused in) against conv1d_update then linear_ref: windows and xc bit
     * for bit, x_proj's outputs within the bf16x3 / bf16x1 bounds of the products; its rows past n_rows zero. Shapes:
     * mamba-130m's (1536 channels, 80 outputs), a part-filled channel block and row block (200 channels, 300 of 320
     * rows), an odd output count (37: a part-filled n tile and single atomics), the wide build (200 and 256 outputs).
     */
    @ParameterizedTest(name = "rows {0} of {1}, conv channels {2}, x_proj outputs {3}, bf16x3 {4}")
    @CsvSource({"1000, 1024, 1536, 80, true", "64, 64, 1536, 80, false", "300, 320, 200, 37, true", "100, 128, 256, 200, true",
        "9, 16, 64, 256, false", "2048, 2048, 1536, 96, true"})
    void convXProjEqualsConvThenXProj(int n, int rows, int convDim, int nOut, boolean three) {
        Conv1dUpdateKernel conv = new Conv1dUpdateKernel(device);
        LinearKernel lin = new LinearKernel(device);
        int dConv = 4;
        int stride = convDim * dConv + 8;
        int convOff = 4;
        int slotsCap = rows + 3;
        int xStride = convDim * 2 + 4;
        int[] slots = new int[rows];
        for (int i = 0; i < rows; i++) {
            slots[i] = (i * 5 + 2) % slotsCap;
        }
        float[] st0 = uniform(rnd, slotsCap * stride, 1);
        Dev nr = rows(n);
        Dev sl = upload("slots", slots);
        Dev sRef = upload("states_ref", st0);
        Dev sFused = upload("states_fused", st0);
        Dev x = upload("x", uniform(rnd, rows * xStride, 1));
        Dev cw = upload("conv_w", uniform(rnd, convDim * dConv, 0.5));
        Dev cb = upload("conv_b", uniform(rnd, convDim, 0.1));
        Dev w = upload("x_proj", uniform(rnd, nOut * convDim, 1 / Math.sqrt(convDim)));
        LinearKernel.Split split = splitOf(device, w, nOut, convDim);
        Dev xcRef = upload("xc_ref", new float[rows * convDim]);
        Dev xcFused = upload("xc_fused", new float[rows * convDim]);
        float[] sentinel = new float[rows * nOut];
        java.util.Arrays.fill(sentinel, 7f);
        Dev dRef = upload("dbc_ref", sentinel);
        Dev dFused = upload("dbc_fused", sentinel);
        assertThat(Conv1dUpdateKernel.xprojFits(sFused, stride, convOff, cw, dConv, convDim, nOut, split)).isTrue();
        conv.launch(stream, nr, rows, sl, Dev.NONE, sRef, slotsCap, stride, convOff, x, xStride, cw, cb, convDim, dConv, xcRef, convDim);
        lin.launch(stream, LinearKernel.Variant.REF, nr, rows, xcRef, convDim, Dev.NONE, 0f, w, Dev.NONE, convDim, nOut, dRef, nOut, false);
        conv.launchXProj(stream, three, nr, rows, sl, Dev.NONE, sFused, slotsCap, stride, convOff, x, xStride, cw, cb, convDim, dConv, xcFused,
                convDim, split, nOut, dFused);
        Cu.sync("conv_xproj test", stream);
        float[] xcF = download(xcFused);
        float[] xcR = download(xcRef);
        assertThat(bitDifference(java.util.Arrays.copyOf(xcF, n * convDim), java.util.Arrays.copyOf(xcR, n * convDim))).as("xc").isEmpty();
        assertThat(bitDifference(download(sFused), download(sRef))).as("conv windows").isEmpty();
        float[] dF = download(dFused);
        double err = relErr(dF, download(dRef), 0, n * nOut);
        System.out.printf("conv_xproj %s rows %d/%d channels %d outputs %d: max rel err %.3e%n", three ? "x3" : "x1", n, rows, convDim, nOut,
                err);
        assertThat(err).isLessThanOrEqualTo(three ? 3e-5 : 1e-2);
        // rows past n_rows: zeroed with the bucket, never summed into
        for (int i = n * nOut; i < rows * nOut; i++) {
            assertThat(dF[i]).as("dbc past n_rows").isZero();
        }
        free(nr, sl, sRef, sFused, x, cw, cb, w, split.hi(), split.lo(), xcRef, xcFused, dRef, dFused);
    }

    /**
     * The conv step on ring windows (resident slots: common.cuh, mf_win_at) against the same step on canonical windows,
     * for conv1d_update (d_conv 4 and 3), conv_xproj and the in_proj GEMV's fused conv: every row its own phase, xc bit
     * for bit, and every slot's windows, turned back into canonical ones with its phase after the step (one more where
     * the row stepped, none where it did not), bit for bit.
     */
    @ParameterizedTest(name = "{0}, d_conv {1}, rows {2} of {3}")
    @CsvSource({"conv1d_update, 4, 300, 320", "conv1d_update, 3, 7, 8", "conv_xproj, 4, 1000, 1024", "gemv, 4, 5, 8", "gemv, 3, 8, 8"})
    void ringWindowsStepAsCanonicalOnes(String kernel, int dConv, int n, int rows) {
        Conv1dUpdateKernel conv = new Conv1dUpdateKernel(device);
        LinearKernel lin = new LinearKernel(device);
        int convDim = kernel.equals("conv1d_update") ? 200 : 256;
        int nOut = 80;
        int in = 64;
        int out = convDim + 16; // the GEMV's outputs: the conv's channels first, then 16 more
        int stride = convDim * dConv + 12;
        int convOff = 8;
        int slotsCap = rows + 5;
        int[] slots = new int[rows];
        int[] slotPhase = new int[slotsCap];
        int[] phases = new int[rows];
        for (int s = 0; s < slotsCap; s++) {
            slotPhase[s] = rnd.nextInt(dConv);
        }
        for (int i = 0; i < rows; i++) {
            slots[i] = (i * 11 + 3) % slotsCap; // distinct: 11 is prime to every slotsCap here
            phases[i] = slotPhase[slots[i]];
        }
        assertThat(java.util.Arrays.stream(slots).distinct().count()).as("distinct slots").isEqualTo(rows);
        float[] canon = uniform(rnd, slotsCap * stride, 1);
        float[] ring = canon.clone();
        for (int s = 0; s < slotsCap; s++) {
            ConvRing.ringOf(canon, s * stride + convOff, ring, s * stride + convOff, convDim, dConv, slotPhase[s]);
        }
        Dev nr = rows(n);
        Dev sl = upload("slots", slots);
        Dev ph = upload("phases", phases);
        Dev sCanon = upload("states_canonical", canon);
        Dev sRing = upload("states_ring", ring);
        Dev x = upload("x", uniform(rnd, rows * out, 1));
        Dev cw = upload("conv_w", uniform(rnd, convDim * dConv, 0.5));
        Dev cb = upload("conv_b", uniform(rnd, convDim, 0.1));
        Dev xcCanon = upload("xc_canonical", new float[rows * convDim]);
        Dev xcRing = upload("xc_ring", new float[rows * convDim]);
        List<Dev> more = new ArrayList<>();
        switch (kernel) {
            case "conv1d_update" -> {
                conv.launch(stream, nr, rows, sl, Dev.NONE, sCanon, slotsCap, stride, convOff, x, out, cw, cb, convDim, dConv, xcCanon,
                        convDim);
                conv.launch(stream, nr, rows, sl, ph, sRing, slotsCap, stride, convOff, x, out, cw, cb, convDim, dConv, xcRing, convDim);
            }
            case "conv_xproj" -> {
                Dev w = upload("x_proj", uniform(rnd, nOut * convDim, 1 / Math.sqrt(convDim)));
                LinearKernel.Split split = splitOf(device, w, nOut, convDim);
                Dev d1 = upload("dbc_canonical", new float[rows * nOut]);
                Dev d2 = upload("dbc_ring", new float[rows * nOut]);
                more.addAll(List.of(w, split.hi(), split.lo(), d1, d2));
                conv.launchXProj(stream, true, nr, rows, sl, Dev.NONE, sCanon, slotsCap, stride, convOff, x, out, cw, cb, convDim, dConv,
                        xcCanon, convDim, split, nOut, d1);
                conv.launchXProj(stream, true, nr, rows, sl, ph, sRing, slotsCap, stride, convOff, x, out, cw, cb, convDim, dConv, xcRing,
                        convDim, split, nOut, d2);
            }
            default -> {
                Dev hid = upload("hidden", uniform(rnd, rows * in, 1));
                Dev nw = upload("norm_w", uniform(rnd, in, 1));
                Dev w = upload("w", uniform(rnd, out * in, 1 / Math.sqrt(in)));
                Dev p1 = upload("proj_canonical", new float[rows * out]);
                Dev p2 = upload("proj_ring", new float[rows * out]);
                more.addAll(List.of(hid, nw, w, p1, p2));
                lin.launch(stream, LinearKernel.Variant.GEMV, nr, rows, hid, in, nw, 1e-5f, w, null, Dev.NONE, in, out, p1, out, false,
                        new LinearKernel.ConvFusion(sl, Dev.NONE, sCanon, slotsCap, stride, convOff, cw, cb, 0, convDim, dConv, xcCanon,
                                convDim));
                lin.launch(stream, LinearKernel.Variant.GEMV, nr, rows, hid, in, nw, 1e-5f, w, null, Dev.NONE, in, out, p2, out, false,
                        new LinearKernel.ConvFusion(sl, ph, sRing, slotsCap, stride, convOff, cw, cb, 0, convDim, dConv, xcRing, convDim));
            }
        }
        Cu.sync("ring test", stream);
        assertThat(bitDifference(download(xcRing), download(xcCanon))).as("xc").isEmpty();
        float[] after = download(sRing);
        boolean[] stepped = new boolean[slotsCap];
        for (int i = 0; i < n; i++) {
            stepped[slots[i]] = true;
        }
        float[] back = after.clone();
        for (int s = 0; s < slotsCap; s++) {
            ConvRing.canonicalOf(after, s * stride + convOff, back, s * stride + convOff, convDim, dConv,
                    (slotPhase[s] + (stepped[s] ? 1 : 0)) % dConv);
        }
        float[] expected = download(sCanon);
        assertThat(expected).isNotEqualTo(canon);
        assertThat(bitDifference(back, expected)).as("windows").isEmpty();
        free(nr, sl, ph, sCanon, sRing, x, cw, cb, xcCanon, xcRing);
        free(more.toArray(new Dev[0]));
    }

    @Test
    void linearRejectsWrongShapesNamingTheTensor() {
        LinearKernel lin = new LinearKernel(device);
        Dev nr = rows(1);
        Dev x = upload("layers.0.normed", new float[10]);
        Dev w = upload("layers.0.in_proj.weight", new float[20]);
        Dev y = upload("layers.0.proj", new float[4]);
        assertThatThrownBy(() -> lin.launch(stream, LinearKernel.Variant.GEMV, nr, 1, x, 10, Dev.NONE, 0f, w, Dev.NONE, 10, 4, y, 4, false))
                .hasMessageContaining("layers.0.in_proj.weight expected at least (4, 10)");
        free(nr, x, w, y);
    }

    /**
     * A producer writing a wgmma product's input as bf16 halves (rmsnorm_rows; ssm1_update_ref, ssm1_update and
     * ssm1_stream for out_proj), then {@link LinearKernel#launchWg}, gives bit for bit what the producer's float32 output
     * through {@link LinearKernel#launch} (bf16_split_rows, then the same product) gives; bf16x3 and bf16x1.
     */
    @ParameterizedTest(name = "{0}, {1} of {2} rows")
    @CsvSource({"BF16X3, 1500, 1536", "BF16X1, 1536, 1536", "BF16X3, 2000, 2048"})
    void producersWriteWgmmaHalves(LinearKernel.Variant v, int n, int rows) {
        LinearKernel lin = new LinearKernel(device);
        int dModel = 768;
        int dInner = 1536;
        int dState = 16;
        int dtRank = 48;
        Dev xHi = upload("x bf16 hi", new float[rows * dInner / 2]);
        Dev xLo = upload("x bf16 lo", new float[rows * dInner / 2]);
        lin.setActivationSplit(new LinearKernel.Split(xHi, xLo));
        assumeTrue(lin.wgmma(), "needs the wgmma products (sm_90a)");
        // both products of these shapes run on wgmma (out_proj's 768 outputs from 1408 rows). Below that out_proj runs on
        // mma.sync with split-K atomic adds, whose sums differ in their last bits from run to run: no bit-for-bit test.
        assertThat(lin.wgInput(v, rows, dModel, dInner)).isNotNull();
        assertThat(lin.wgInput(v, rows, dInner, dModel)).isNotNull();
        Dev nr = rows(n);
        List<Dev> bufs = new ArrayList<>(List.of(nr, xHi, xLo));
        // rmsnorm_rows -> in_proj-like product 768 -> 1536
        Dev hid = upload("hidden", uniform(rnd, rows * dModel, 2));
        Dev nw = upload("norm w", uniform(rnd, dModel, 1));
        Dev normed = upload("normed", new float[rows * dModel]);
        Dev wIn = upload("w in", uniform(rnd, dInner * dModel, 1 / Math.sqrt(dModel)));
        LinearKernel.Split wInSplit = splitOf(device, wIn, dInner, dModel);
        Dev yA = upload("y a", new float[rows * dInner]);
        Dev yB = upload("y b", new float[rows * dInner]);
        RmsNormKernel norm = new RmsNormKernel(device);
        norm.launch(stream, nr, rows, hid, dModel, nw, 1e-5f, dModel, normed, dModel);
        lin.launch(stream, v, nr, rows, normed, dModel, Dev.NONE, 0f, wIn, wInSplit, Dev.NONE, dModel, dInner, yA, dInner, false, null);
        norm.launch(stream, nr, rows, hid, dModel, nw, 1e-5f, dModel, normed, dModel, lin.wgInput(v, rows, dModel, dInner));
        lin.launchWg(stream, v, nr, rows, wIn, wInSplit, Dev.NONE, dModel, dInner, yB, dInner, false);
        Cu.sync("rmsnorm halves", stream);
        assertThat(bitDifference(download(yB), download(yA))).as("rmsnorm_rows halves").isEmpty();
        bufs.addAll(List.of(hid, nw, normed, wIn, wInSplit.hi(), wInSplit.lo(), yA, yB));
        // the state update -> out_proj-like product 1536 -> 768, accumulating, as the engine runs it
        int[] slots = new int[rows];
        for (int i = 0; i < rows; i++) {
            slots[i] = i;
        }
        Dev sl = upload("slots", slots);
        float[] st0 = uniform(rnd, rows * dInner * dState, 0.5);
        Dev xc = upload("xc", uniform(rnd, rows * dInner, 1));
        Dev dbc = upload("dbc", uniform(rnd, rows * (dtRank + 2 * dState), 1));
        Dev dtv = upload("dtv", uniform(rnd, rows * dInner, 2));
        float[] a = new float[dInner * dState];
        for (int i = 0; i < a.length; i++) {
            a[i] = -(1 + i % dState);
        }
        Dev ad = upload("A", a);
        Dev d = upload("D", uniform(rnd, dInner, 1));
        Dev z = upload("z", uniform(rnd, rows * dInner, 2));
        Dev y = upload("y", new float[rows * dInner]);
        Dev wOut = upload("w out", uniform(rnd, dModel * dInner, 1 / Math.sqrt(dInner)));
        LinearKernel.Split wOutSplit = splitOf(device, wOut, dModel, dInner);
        float[] h0 = uniform(rnd, rows * dModel, 1);
        bufs.addAll(List.of(sl, xc, dbc, dtv, ad, d, z, y, wOut, wOutSplit.hi(), wOutSplit.lo()));
        // ssm1_update_ref, ssm1_update (ssm1_stream never taken), and ssm1_stream where the device has it
        Ssm1UpdateKernel noStream = new Ssm1UpdateKernel(device, Integer.MAX_VALUE);
        Ssm1UpdateKernel withStream = new Ssm1UpdateKernel(device, STREAM_TEST_MIN_ROWS);
        for (int kernel = 0; kernel < 3; kernel++) {
            boolean fast = kernel > 0;
            Ssm1UpdateKernel ssm = kernel == 2 ? withStream : noStream;
            float[][] outs = new float[2][];
            for (int run = 0; run < 2; run++) {
                Dev st = upload("states", st0);
                Dev out = upload("hidden out", h0);
                LinearKernel.Split halves = run == 1 ? lin.wgInput(v, rows, dInner, dModel) : null;
                ssm.launch(stream, fast, nr, rows, sl, st, rows, dInner * dState, 0, xc, dInner, dbc, dtRank + 2 * dState, Dev.NONE, Dev.NONE,
                        dtv, dInner, ad, d, z, dInner, dInner, dState, dtRank, y, dInner, halves);
                if (halves == null) {
                    lin.launch(stream, v, nr, rows, y, dInner, Dev.NONE, 0f, wOut, wOutSplit, Dev.NONE, dInner, dModel, out, dModel, true, null);
                } else {
                    lin.launchWg(stream, v, nr, rows, wOut, wOutSplit, Dev.NONE, dInner, dModel, out, dModel, true);
                }
                Cu.sync("ssm1 halves", stream);
                outs[run] = download(out);
                free(st, out);
            }
            assertThat(bitDifference(outs[1], outs[0])).as(new String[] {"ssm1_update_ref", "ssm1_update", "ssm1_stream"}[kernel] + " halves")
                    .isEmpty();
        }
        lin.setActivationSplit(null);
        free(bufs.toArray(new Dev[0]));
    }

    /** The engine takes ssm1_stream from 1024 rows; the kernel tests from 256, so that small shapes cover it. */
    private static final int STREAM_TEST_MIN_ROWS = 256;

    /**
     * ssm1_update (dt precomputed) and ssm1_update_dtw (dt_proj in the kernel) against ssm1_update_ref; from 256 rows with
     * dt precomputed on compute capability 9.0 and newer, ssm1_stream (the last four: d_state 16 ... 128, a part-full last
     * channel chunk, fewer rows than the grid's bucket, a part-full last block of rows), with dt_proj in the kernel
     * ssm1_stream_dtw (the three after them).
     */
    @ParameterizedTest(name = "rows {0} of {1}, d_inner {2}, d_state {3}, dt_rank {4}, dt in kernel {5}")
    @CsvSource({"1, 1, 1536, 16, 48, true", "5, 8, 96, 8, 3, true", "64, 64, 1536, 16, 48, false", "1000, 1024, 128, 16, 8, false",
        "7, 8, 1536, 16, 48, false", "300, 512, 1536, 16, 48, false", "513, 520, 300, 32, 12, false", "256, 260, 64, 128, 4, false",
        "400, 512, 96, 64, 8, false", "300, 512, 1536, 16, 48, true", "513, 520, 300, 32, 12, true", "400, 512, 96, 64, 8, true"})
    void ssm1FastEqualsReference(int n, int rows, int dInner, int dState, int dtRank, boolean dtInKernel) {
        Ssm1UpdateKernel k = new Ssm1UpdateKernel(device, STREAM_TEST_MIN_ROWS, true);
        int slotsCap = rows + 3;
        int stride = dInner * dState + 8; // room before the SSM state, as the conv window has in a real state
        int ssmOff = 8;
        int[] slots = new int[rows];
        for (int i = 0; i < rows; i++) {
            slots[i] = (i * 7 + 2) % slotsCap;
        }
        assertThat(java.util.Arrays.stream(slots).distinct().count()).as("distinct slots").isEqualTo(rows);
        int dbcDim = dtRank + 2 * dState;
        float[] st0 = uniform(rnd, slotsCap * stride, 0.5);
        float[] a = new float[dInner * dState];
        for (int i = 0; i < a.length; i++) {
            a[i] = -(1 + i % dState) * (float) (0.5 + rnd.nextDouble());
        }
        Dev nr = rows(n);
        Dev sl = upload("slots", slots);
        Dev sRef = upload("states_ref", st0);
        Dev sFast = upload("states_fast", st0);
        Dev xc = upload("xc", uniform(rnd, rows * dInner, 1));
        Dev dbc = upload("dbc", uniform(rnd, rows * dbcDim, 1));
        Dev dtW = upload("dt_w", uniform(rnd, dInner * dtRank, 1 / Math.sqrt(dtRank)));
        Dev dtB = upload("dt_b", uniform(rnd, dInner, 2));
        Dev dtv = upload("dtv", uniform(rnd, rows * dInner, 2));
        Dev ad = upload("A", a);
        Dev d = upload("D", uniform(rnd, dInner, 1));
        Dev z = upload("z", uniform(rnd, rows * dInner, 2));
        Dev yRef = upload("y_ref", new float[rows * dInner]);
        Dev yFast = upload("y_fast", new float[rows * dInner]);
        Dev w = dtInKernel ? dtW : Dev.NONE;
        Dev bb = dtInKernel ? dtB : Dev.NONE;
        boolean bulk = device.computeMajor() >= 9 && rows >= STREAM_TEST_MIN_ROWS && (!dtInKernel || k.streamsDt(rows, dState, dtRank));
        if (bulk) {
            // these shapes must take ssm1_stream, so that this test covers it
            assertThat(Ssm1UpdateKernel.streamFits(dState, dInner, dtRank, stride, ssmOff, sFast, xc, dInner, dbc, dbcDim, dtv, dInner, z, dInner))
                    .isTrue();
        }
        k.launch(stream, false, nr, rows, sl, sRef, slotsCap, stride, ssmOff, xc, dInner, dbc, dbcDim, w, bb, dtv, dInner, ad, d, z, dInner,
                dInner, dState, dtRank, yRef, dInner);
        k.launch(stream, true, nr, rows, sl, sFast, slotsCap, stride, ssmOff, xc, dInner, dbc, dbcDim, w, bb, dtv, dInner, ad, d, z, dInner,
                dInner, dState, dtRank, yFast, dInner);
        Cu.sync("ssm1 test", stream);
        double ey = relErr(download(yFast), download(yRef), 0, n * dInner);
        double es = relErr(download(sFast), download(sRef));
        System.out.printf("ssm1 rows %d/%d d_inner %d d_state %d dt in kernel %s%s: y %.3e, states %.3e%n", n, rows, dInner, dState,
                dtInKernel, bulk ? dtInKernel ? " (ssm1_stream_dtw)" : " (ssm1_stream)" : "", ey, es);
        assertThat(ey).isLessThanOrEqualTo(1e-5);
        assertThat(es).isLessThanOrEqualTo(1e-6);
        free(nr, sl, sRef, sFast, xc, dbc, dtW, dtB, dtv, ad, d, z, yRef, yFast);
    }

    /** ssm2_update (a warp per (head, p)) against ssm2_update_ref, vectorized (d_state 128) and scalar, 1 and 2 groups. */
    @ParameterizedTest(name = "rows {0} of {1}, heads {2} x {3}, d_state {4}, groups {5}")
    @CsvSource({"1, 1, 24, 64, 128, 1", "7, 8, 8, 16, 16, 2", "64, 64, 24, 64, 128, 1", "1000, 1024, 4, 64, 32, 2", "3, 4, 4, 32, 256, 4"})
    void ssm2FastEqualsReference(int n, int rows, int nHeads, int headDim, int dState, int nGroups) {
        Ssm2UpdateKernel k = new Ssm2UpdateKernel(device);
        int dInner = nHeads * headDim;
        int xcDim = dInner + 2 * nGroups * dState;
        int projDim = 2 * dInner + 2 * nGroups * dState + nHeads;
        int dtOff = dInner + xcDim;
        int slotsCap = rows + 1;
        int ssmOff = 16;
        int stride = ssmOff + dInner * dState;
        int[] slots = new int[rows];
        for (int i = 0; i < rows; i++) {
            slots[(i * 5) % rows] = i + 1 == slotsCap ? 0 : i + 1;
        }
        float[] st0 = uniform(rnd, slotsCap * stride, 0.5);
        float[] a = new float[nHeads];
        for (int h = 0; h < nHeads; h++) {
            a[h] = -(1 + rnd.nextInt(16));
        }
        Dev nr = rows(n);
        Dev sl = upload("slots", slots);
        Dev sRef = upload("states_ref", st0);
        Dev sFast = upload("states_fast", st0);
        Dev xc = upload("xc", uniform(rnd, rows * xcDim, 1));
        Dev proj = upload("proj", uniform(rnd, rows * projDim, 3));
        Dev dtBias = upload("dt_bias", uniform(rnd, nHeads, 2));
        Dev ad = upload("A", a);
        Dev d = upload("D", uniform(rnd, nHeads, 1));
        Dev yRef = upload("y_ref", new float[rows * dInner]);
        Dev yFast = upload("y_fast", new float[rows * dInner]);
        k.launch(stream, false, nr, rows, sl, sRef, slotsCap, stride, ssmOff, xc, xcDim, proj, projDim, dtOff, dtBias, ad, d, nHeads,
                headDim, dState, nGroups, 0.001f, 0.1f, yRef, dInner);
        k.launch(stream, true, nr, rows, sl, sFast, slotsCap, stride, ssmOff, xc, xcDim, proj, projDim, dtOff, dtBias, ad, d, nHeads,
                headDim, dState, nGroups, 0.001f, 0.1f, yFast, dInner);
        Cu.sync("ssm2 test", stream);
        double ey = relErr(download(yFast), download(yRef), 0, n * dInner);
        double es = relErr(download(sFast), download(sRef));
        System.out.printf("ssm2 rows %d/%d heads %d x %d d_state %d groups %d: y %.3e, states %.3e%n", n, rows, nHeads, headDim, dState,
                nGroups, ey, es);
        assertThat(ey).isLessThanOrEqualTo(1e-5);
        assertThat(es).isLessThanOrEqualTo(1e-6);
        free(nr, sl, sRef, sFast, xc, proj, dtBias, ad, d, yRef, yFast);
    }
}
