package io.mambaflink.kernels.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mambaflink.kernels.state.StateLayout;
import io.mambaflink.kernels.state.StreamState;
import java.util.SplittableRandom;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/** Helpers of the CUDA tests: the skip-without-a-GPU assumption, device arrays and error figures. */
final class CudaTestSupport {
    private CudaTestSupport() {}

    /** Skips the calling test, with the reason, where no CUDA device (or no GPU engine build) is present. */
    static void assumeCuda() {
        assumeTrue(CudaSupport.available(), CudaSupport::unavailableReason);
    }

    static Dev upload(String name, float[] a) {
        CUdeviceptr p = Cu.alloc(name, 4L * a.length);
        Cu.htod(name, p, Pointer.to(a), 4L * a.length);
        return Dev.of(name, p, a.length);
    }

    static Dev upload(String name, int[] a) {
        CUdeviceptr p = Cu.alloc(name, 4L * a.length);
        Cu.htod(name, p, Pointer.to(a), 4L * a.length);
        return Dev.of(name, p, a.length);
    }

    static float[] download(Dev d) {
        float[] a = new float[(int) d.floats()];
        Cu.dtoh(d.name(), Pointer.to(a), d.ptr(), 4L * a.length);
        return a;
    }

    static void free(Dev... ds) {
        for (Dev d : ds) {
            Cu.free(d.ptr());
        }
    }

    /** W (out, in) split into bf16 halves on the device, as DeviceWeights does at upload, in buffers of its own. */
    static LinearKernel.Split splitOf(CudaDevice device, Dev w, int out, int in) {
        long half = ((long) out * in + 1) / 2;
        LinearKernel.Split split = new LinearKernel.Split(upload("w bf16 hi", new float[(int) half]), upload("w bf16 lo", new float[(int) half]));
        LinearKernel.Splitter splitter = new LinearKernel.Splitter(device);
        splitter.split(w, (long) out * in, split);
        splitter.finish();
        return split;
    }

    static float[] uniform(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        }
        return a;
    }

    /**
     * "" when a and b hold the same floats bit for bit, else where they first differ and how many differ (a short message:
     * AssertJ's containsExactly on arrays of ~10^6 floats that differ takes minutes to describe the difference).
     */
    static String bitDifference(float[] a, float[] b) {
        if (a.length != b.length) {
            return "lengths " + a.length + " and " + b.length;
        }
        int first = -1;
        int count = 0;
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToIntBits(a[i]) != Float.floatToIntBits(b[i])) {
                first = first < 0 ? i : first;
                count++;
            }
        }
        return count == 0 ? "" : count + " of " + a.length + " differ, first at " + first + ": " + a[first] + " vs " + b[first];
    }

    /** max |a - b| / max |b| over [from, to), NaN counting as infinitely wrong. */
    static double relErr(float[] a, float[] b, int from, int to) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = from; i < to; i++) {
            double d = Math.abs(a[i] - b[i]);
            if (!(d <= maxDiff)) {
                maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
            }
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    static double relErr(float[] a, float[] b) {
        return relErr(a, b, 0, b.length);
    }

    /** A state with conv windows ~U(-1, 1) and SSM states ~U(-0.5, 0.5), as a stream mid-sequence might hold. */
    static StreamState randomState(StateLayout layout, SplittableRandom rnd, long position) {
        float[] d = new float[layout.size()];
        int layers = layout.config().nLayers();
        for (int l = 0; l < layers; l++) {
            for (int i = 0; i < layout.convSize(); i++) {
                d[layout.convOffset(l) + i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            for (int i = 0; i < layout.ssmSize(); i++) {
                d[layout.ssmOffset(l) + i] = (float) (rnd.nextDouble() - 0.5);
            }
        }
        return new StreamState(d, position);
    }
}
