package io.mambaflink.kernels.cuda;

import io.mambaflink.kernels.Arch;
import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.RandomModel;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.StepBatch;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA engine's benchmark (a program, not a test): the card's copy bandwidth, then ms per step and stream-steps
 * per second for a mamba-130m-sized Mamba-1 and Mamba-2 with random weights, at batch 1, 64, 512 and 4096 (Mamba-2
 * stops at 1024), states resident and on the host, each beside its bandwidth floor: (weight bytes + batch x state bytes
 * x 2) / copy bandwidth. Then the SSM-state update kernels alone, and the matmul versions alone (each validated against
 * linear_ref first). Prints markdown tables.
 *
 * <p>"step" is {@link CudaStepEngine#step} as the operator calls it: inputs up, one graph, outputs (logits) back into
 * the Java batch, states up and back in host mode. "device" is one replay of the step's CUDA graph alone (states
 * resident, outputs left on the GPU), the figure comparable to the bandwidth floor.
 *
 * <p>Usage: {@code java -cp ... io.mambaflink.kernels.cuda.CudaBench [m1|m2|ssm|matmul|all]}.
 */
public final class CudaBench {
    private static final double MIN_SECONDS = 1.0;

    private CudaBench() {}

    /** Model-table rows to run (a regular expression on their labels), or null for all. */
    private static java.util.regex.Pattern only;

    public static void main(String[] args) {
        String what = args.length > 0 ? args[0] : "all";
        // an optional second argument: a regular expression on the variant labels (the model table's rows to run)
        only = args.length > 1 && !what.equals("profile") ? java.util.regex.Pattern.compile(args[1]) : null;
        CudaDevice device = CudaDevice.get(0);
        device.makeCurrent();
        if (what.equals("profile")) {
            profile(args[1], Integer.parseInt(args[2]));
            return;
        }
        double copy = copyBandwidth();
        System.out.printf(Locale.ROOT, "device: %s, %d SMs, wgmma kernels %s; copy bandwidth (cuMemcpyDtoD, bytes read + written): %.0f GB/s%n%n",
                device.name(), device.multiprocessors(), device.wgmma() ? "on (sm_90a build)" : "off", copy / 1e9);
        System.out.println("| model | batch | states | matmul | step ms | stream-steps/s | device ms | floor ms | floor / device |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        // "models": both models' table rows (m1 and m2), without the kernels alone
        if (what.equals("all") || what.equals("models") || what.startsWith("m1")) {
            int[] batches = what.equals("m1-small") ? new int[] {1, 2, 4, 8} : what.equals("m1-big") ? new int[] {512, 1024, 2048, 4096}
                    : new int[] {1, 64, 512, 4096};
            run("Mamba-1 130M", RandomModel.mamba1Lm(768, 24, 16, 50280), batchesOr(batches), copy);
        }
        if (what.equals("all") || what.equals("models") || what.startsWith("m2")) {
            int[] batches = what.equals("m2-small") ? new int[] {1} : what.equals("m2-big") ? new int[] {512, 1024}
                    : new int[] {1, 64, 512, 1024};
            run("Mamba-2 130M", RandomModel.mamba2Lm(768, 24, 128, 1, 50280), batchesOr(batches), copy);
        }
        if (what.equals("all") || what.equals("ssm")) {
            ssmAlone(device, copy);
        }
        if (what.equals("all") || what.equals("matmul")) {
            matmulAlone(device, copy);
        }
        if (what.equals("overlap")) {
            overlap(device);
        }
    }

    /** -Dmambaflink.bench.batches=512,1024 in place of a section's batch sizes. */
    private static int[] batchesOr(int[] batches) {
        String b = System.getProperty("mambaflink.bench.batches");
        return b == null ? batches : java.util.Arrays.stream(b.split(",")).mapToInt(v -> Integer.parseInt(v.trim())).toArray();
    }

    /**
     * How much a lane's product and the other lane's state update gain from running at the same time (BENCH_ARGS=overlap,
     * not part of "all"): half of a Mamba-1 130M batch of 4096 (2048 rows), in_proj and out_proj as the engine runs them
     * (bf16x3), each alone, then launched together with ssm1_update, ssm1_stream or a plain device-to-device copy of the
     * same state bytes on a second stream, n rounds of each enqueued in turn. "sum / together" is 2 for a perfect overlap
     * of two equal parts, 1 for none.
     */
    private static void overlap(CudaDevice device) {
        CUstream sa = new CUstream();
        CUstream sb = new CUstream();
        JCudaDriver.cuStreamCreate(sa, CUstream_flags.CU_STREAM_NON_BLOCKING);
        JCudaDriver.cuStreamCreate(sb, CUstream_flags.CU_STREAM_NON_BLOCKING);
        SplittableRandom rnd = new SplittableRandom(7);
        int rows = 2048;
        int dInner = Ssm1Operands.D_INNER;
        Ssm1Operands o = new Ssm1Operands(rows, rnd, sb);
        long stateFloats = (long) rows * Ssm1Operands.STRIDE;
        Dev st2 = Dev.of("states copy", Cu.alloc("states copy", 4 * stateFloats), stateFloats);
        List<Dev> bufs = new java.util.ArrayList<>(List.of(st2));
        Map<String, Runnable> partners = new java.util.LinkedHashMap<>();
        Ssm1UpdateKernel noStream = withoutStream(device);
        Ssm1UpdateKernel withStream = new Ssm1UpdateKernel(device);
        partners.put("ssm1_update", () -> o.launch(noStream, sb, true));
        partners.put("ssm1_stream", () -> o.launch(withStream, sb, true));
        partners.put("copy of the state bytes", () -> JCudaDriver.cuMemcpyDtoDAsync(st2.ptr(), o.st.ptr(), 4 * stateFloats, sb));
        LinearKernel lin = new LinearKernel(device);
        Dev xh = Dev.of("x bf16 hi", Cu.alloc("x bf16 hi", 2L * rows * dInner), (long) rows * dInner / 2);
        Dev xl = Dev.of("x bf16 lo", Cu.alloc("x bf16 lo", 2L * rows * dInner), (long) rows * dInner / 2);
        bufs.addAll(List.of(xh, xl));
        lin.setActivationSplit(new LinearKernel.Split(xh, xl));
        Map<String, Runnable> products = new java.util.LinkedHashMap<>();
        for (int[] sh : new int[][] {{768, 3072}, {1536, 768}}) {
            int in = sh[0];
            int out = sh[1];
            Dev x = CudaTestSupport.upload("x", CudaTestSupport.uniform(rnd, rows * in, 1));
            Dev w = CudaTestSupport.upload("w", CudaTestSupport.uniform(rnd, out * in, 1 / Math.sqrt(in)));
            Dev yy = Dev.of("y", Cu.alloc("y", 4L * rows * out), (long) rows * out);
            LinearKernel.Split split = CudaTestSupport.splitOf(device, w, out, in);
            bufs.addAll(List.of(x, w, yy, split.hi(), split.lo()));
            products.put((in == 768 ? "in_proj " : "out_proj ") + in + " -> " + out, () -> lin.launch(sa, LinearKernel.Variant.BF16X3, o.nr, rows,
                    x, in, Dev.NONE, 0f, w, split, Dev.NONE, in, out, yy, out, false, null));
        }
        System.out.println();
        System.out.println("| product (stream A), 2048 rows | beside it (stream B) | product alone ms | other alone ms | sum | together ms | sum / together |");
        System.out.println("|---|---|---|---|---|---|---|");
        int n = 20;
        for (Map.Entry<String, Runnable> g : products.entrySet()) {
            double gm = together(sa, sb, n, g.getValue(), null);
            for (Map.Entry<String, Runnable> p : partners.entrySet()) {
                double pm = together(sa, sb, n, null, p.getValue());
                double both = together(sa, sb, n, g.getValue(), p.getValue());
                System.out.printf(Locale.ROOT, "| %s | %s | %.3f | %.3f | %.3f | %.3f | %.2f |%n", g.getKey(), p.getKey(), gm, pm, gm + pm, both,
                        (gm + pm) / both);
            }
        }
        CudaTestSupport.free(bufs.toArray(new Dev[0]));
        o.free();
        JCudaDriver.cuStreamDestroy(sa);
        JCudaDriver.cuStreamDestroy(sb);
    }

    /** Device ms per round: first on stream a and second on stream b (either may be null), n rounds enqueued in turn. */
    private static double together(CUstream sa, CUstream sb, int n, Runnable first, Runnable second) {
        double ms = 0;
        for (int rounds : new int[] {2, n}) { // a warm-up, then the measured rounds
            jcuda.driver.CUevent fork = new jcuda.driver.CUevent();
            jcuda.driver.CUevent join = new jcuda.driver.CUevent();
            JCudaDriver.cuEventCreate(fork, jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING);
            JCudaDriver.cuEventCreate(join, jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING);
            GpuTimer t = new GpuTimer(sa);
            t.start();
            JCudaDriver.cuEventRecord(fork, sa);
            JCudaDriver.cuStreamWaitEvent(sb, fork, 0);
            for (int i = 0; i < rounds; i++) {
                if (first != null) {
                    first.run();
                }
                if (second != null) {
                    second.run();
                }
            }
            JCudaDriver.cuEventRecord(join, sb);
            JCudaDriver.cuStreamWaitEvent(sa, join, 0);
            ms = t.stopMillis() / rounds;
            JCudaDriver.cuEventDestroy(fork);
            JCudaDriver.cuEventDestroy(join);
        }
        return ms;
    }

    private static void run(String label, MambaConfig c, int[] batches, double copy) {
        MambaModel model = RandomModel.create(c, 1);
        long stateBytes = model.layout().bytes();
        // one small engine holds the weights on the device across the runs, so they are uploaded once
        try (CudaStepEngine keeper = new CudaStepEngine(model, new EngineOptions(Backend.CUDA, 1, 1, 1,
                EngineOptions.StateMode.RESIDENT, 0))) {
            DeviceWeights shared = DeviceWeights.acquire(keeper.device(), model);
            long weightBytes = shared.bytes();
            shared.release();
            System.err.printf(Locale.ROOT, "%s: %.1f MB of weights, %.2f MB of state per stream%n", label, weightBytes / 1e6,
                    stateBytes / 1e6);
            for (int b : batches) {
                for (Variant v : VARIANTS) {
                    if (!v.takes(b) || (only != null && !only.matcher(v.label).find())) {
                        continue;
                    }
                    v.props.forEach(System::setProperty);
                    try (CudaStepEngine e = new CudaStepEngine(model, new EngineOptions(Backend.CUDA, b, b, 1, v.mode, 0, v.precision))) {
                        StepBatch batch = e.newBatch();
                        SplittableRandom rnd = new SplittableRandom(b);
                        for (int s = 0; s < b; s++) {
                            batch.addToken(s, rnd.nextInt(c.vocabSize()));
                        }
                        for (int i = 0; i < 3; i++) {
                            e.step(batch);
                        }
                        int steps = 0;
                        long t0 = System.nanoTime();
                        long t;
                        do {
                            e.step(batch);
                            steps++;
                            t = System.nanoTime() - t0;
                        } while (steps < 3 || (t < MIN_SECONDS * 1e9 && steps < 2000));
                        double ms = t / 1e6 / steps;
                        double dev = e.deviceStepMillis(b, Math.max(3, Math.min(200, (int) (200 / Math.max(ms, 1)))));
                        double floor = (weightBytes + 2.0 * b * stateBytes) / copy * 1e3;
                        System.out.printf(Locale.ROOT, "| %s | %d | %s | %s | %.3f | %.0f | %.3f | %.3f | %.0f%% |%n", label, b,
                                v.mode == EngineOptions.StateMode.RESIDENT ? "resident" : "host", v.label, ms, b / ms * 1e3, dev, floor,
                                100 * floor / dev);
                    } finally {
                        v.props.keySet().forEach(System::clearProperty);
                    }
                }
            }
        }
    }

    /** One engine set-up of the model table (engine switches as system properties), and the batches it runs at. */
    private record Variant(String label, EngineOptions.StateMode mode, EngineOptions.MatmulPrecision precision, Map<String, String> props,
            int minRows, int maxRows) {
        boolean takes(int b) {
            return b >= minRows && b <= maxRows;
        }
    }

    /**
     * Resident and host states with float32-accurate products, resident with bf16 operands (above the GEMV's rows: the
     * GEMV is float32 at every precision); at batches of 1-4, resident with the GEMVs built for 8 rows beside the few-row
     * builds; from 64 rows, resident with the bucket run as one lane and as two (half batches on two streams), side by
     * side (the rows labelled only by precision use the engine's defaults, CudaStepEngine.DEFAULT_LANE_MIN_ROWS). Four
     * lanes (-Dmambaflink.cuda.lanes=4) measured 6.61 / 10.71 / 21.07 ms at 1024 / 2048 / 4096 against two lanes' 5.59 /
     * 10.74 / 20.49, so they have no row here. From 1024 rows, Mamba-1 with ssm1_update in place of ssm1_stream; from
     * 128 rows, the separate bf16_split_rows pass in place of the producers writing the wgmma products' bf16 halves, and
     * the wgmma products as one block per tile (wg_gemm) in place of the persistent wg_ws; from 512 rows, Mamba-1's conv
     * step and x_proj as two kernels (conv1d_update, then the matmul) in place of conv_xproj. At every batch, the step
     * graphs with plain edges in place of programmatic ones (-Dmambaflink.cuda.pdl=false).
     */
    private static final List<Variant> VARIANTS = variants(EngineOptions.StateMode.RESIDENT, EngineOptions.MatmulPrecision.FLOAT32,
            EngineOptions.MatmulPrecision.BF16);

    private static List<Variant> variants(EngineOptions.StateMode res, EngineOptions.MatmulPrecision f32,
            EngineOptions.MatmulPrecision bf16) {
        int all = Integer.MAX_VALUE;
        int wide = LinearKernel.GEMV_MAX_ROWS + 1;
        String lanes = "mambaflink.cuda.lane-min-rows";
        String wideTiles = "mambaflink.cuda.wgmma-n256";
        String pdl = "mambaflink.cuda.pdl";
        return List.of(new Variant("float32", res, f32, Map.of(), 1, all),
                new Variant("float32", EngineOptions.StateMode.HOST, f32, Map.of(), 1, all),
                new Variant("bf16", res, bf16, Map.of(), wide, all),
                new Variant("float32, plain graph edges", res, f32, Map.of(pdl, "false"), 1, all),
                new Variant("bf16, plain graph edges", res, bf16, Map.of(pdl, "false"), wide, all),
                new Variant("float32, 8-row GEMV builds", res, f32, Map.of("mambaflink.cuda.gemv-few-rows", "false"), 1, 4),
                new Variant("float32, one lane", res, f32, Map.of(lanes, "0"), 64, all),
                new Variant("float32, two lanes", res, f32, Map.of(lanes, "32"), 64, all),
                new Variant("bf16, one lane", res, bf16, Map.of(lanes, "0"), 64, all),
                new Variant("bf16, two lanes", res, bf16, Map.of(lanes, "32"), 64, all),
                new Variant("float32, wgmma 128 x 128 tiles only", res, f32, Map.of(wideTiles, "false"), 64, all),
                new Variant("bf16, wgmma 128 x 128 tiles only", res, bf16, Map.of(wideTiles, "false"), 64, all),
                new Variant("float32, wgmma one block per tile (wg_gemm)", res, f32, Map.of("mambaflink.cuda.wgmma-ws", "false"), 128, all),
                new Variant("bf16, wgmma one block per tile (wg_gemm)", res, bf16, Map.of("mambaflink.cuda.wgmma-ws", "false"), 128, all),
                new Variant("float32, dt_proj as a matmul from 9 rows", res, f32,
                        Map.of("mambaflink.cuda.dt-fused-max-rows", String.valueOf(LinearKernel.GEMV_MAX_ROWS)), 16, all),
                new Variant("float32, dt_proj as a matmul before ssm1_stream", res, f32, Map.of("mambaflink.cuda.ssm1-stream-dtw", "false"), 1024,
                        all),
                new Variant("bf16, dt_proj as a matmul before ssm1_stream", res, bf16, Map.of("mambaflink.cuda.ssm1-stream-dtw", "false"), 1024,
                        all),
                new Variant("float32, conv and x_proj as two kernels", res, f32, Map.of("mambaflink.cuda.conv-xproj", "false"),
                        CudaStepEngine.CONV_XPROJ_MIN_ROWS, all),
                new Variant("bf16, conv and x_proj as two kernels", res, bf16, Map.of("mambaflink.cuda.conv-xproj", "false"),
                        CudaStepEngine.CONV_XPROJ_MIN_ROWS, all),
                new Variant("float32, ssm1_stream from 256 rows", res, f32, Map.of("mambaflink.cuda.ssm1-stream-min-rows", "256"), 512, 1024),
                new Variant("bf16, ssm1_stream from 256 rows", res, bf16, Map.of("mambaflink.cuda.ssm1-stream-min-rows", "256"), 512, 1024),
                new Variant("float32, 4 output-copy threads", res, f32, Map.of("mambaflink.cuda.output-threads", "4"), 512, all),
                new Variant("float32, ssm1_update instead of ssm1_stream", res, f32, Map.of("mambaflink.cuda.ssm1-stream", "false"), 1024, all),
                new Variant("bf16, ssm1_update instead of ssm1_stream", res, bf16, Map.of("mambaflink.cuda.ssm1-stream", "false"), 1024, all),
                new Variant("float32, bf16_split_rows before each wgmma product", res, f32, Map.of("mambaflink.cuda.split-inputs", "false"), 128,
                        all),
                new Variant("bf16, bf16_split_rows before each wgmma product", res, bf16, Map.of("mambaflink.cuda.split-inputs", "false"), 128,
                        all));
    }

    /**
     * Two steps of one model and batch for a profiler, the second between cuProfilerStart and cuProfilerStop (ncu
     * --profile-from-start off sees exactly that step; run with -Dmambaflink.cuda.graphs=false to see each kernel).
     */
    private static void profile(String arch, int b) {
        MambaConfig c = arch.equals("m1") ? RandomModel.mamba1Lm(768, 24, 16, 50280) : RandomModel.mamba2Lm(768, 24, 128, 1, 50280);
        MambaModel model = RandomModel.create(c, 1);
        try (CudaStepEngine e = new CudaStepEngine(model, new EngineOptions(Backend.CUDA, b, b, 1, EngineOptions.StateMode.RESIDENT, 0))) {
            StepBatch batch = e.newBatch();
            for (int s = 0; s < b; s++) {
                batch.addToken(s, s % c.vocabSize());
            }
            e.step(batch);
            JCudaDriver.cuProfilerStart();
            e.step(batch);
            JCudaDriver.cuProfilerStop();
        }
    }

    /** Device-to-device copy of 1 GB, bytes read plus written per second. */
    private static double copyBandwidth() {
        long bytes = 1L << 30;
        CUdeviceptr a = Cu.alloc("copy source", bytes);
        CUdeviceptr b = Cu.alloc("copy target", bytes);
        CUstream s = new CUstream();
        JCudaDriver.cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING);
        JCudaDriver.cuMemcpyDtoDAsync(b, a, bytes, s);
        Cu.sync("copy warm-up", s);
        int n = 20;
        GpuTimer t = new GpuTimer(s);
        t.start();
        for (int i = 0; i < n; i++) {
            JCudaDriver.cuMemcpyDtoDAsync(b, a, bytes, s);
        }
        double ms = t.stopMillis();
        Cu.free(a);
        Cu.free(b);
        JCudaDriver.cuStreamDestroy(s);
        return 2.0 * bytes * n / (ms / 1e3);
    }

    /** The SSM-state update kernels alone on one layer: Mamba-1 at batch 4096, Mamba-2 at batch 1024. */
    private static void ssmAlone(CudaDevice device, double copy) {
        CUstream s = new CUstream();
        JCudaDriver.cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING);
        SplittableRandom rnd = new SplittableRandom(3);
        System.out.println();
        System.out.println("| kernel | batch | state bytes moved | ms | GB/s | of copy bandwidth |");
        System.out.println("|---|---|---|---|---|---|");
        {
            int rows = 4096;
            int dInner = Ssm1Operands.D_INNER;
            Ssm1Operands o = new Ssm1Operands(rows, rnd, s);
            Ssm1UpdateKernel k = new Ssm1UpdateKernel(device);
            // the conv window step of the same layer: scalar shifts and one float4 per window
            Conv1dUpdateKernel conv = new Conv1dUpdateKernel(device);
            int convStride = dInner * 4;
            Dev cst = Dev.of("conv states", Cu.alloc("conv states", 4L * rows * convStride), (long) rows * convStride);
            Cu.zeroAsync("conv states", cst.ptr(), cst.floats(), s);
            Dev cw = CudaTestSupport.upload("conv w", CudaTestSupport.uniform(rnd, dInner * 4, 1));
            for (boolean vec : new boolean[] {false, true}) {
                Runnable launch = () -> conv.launch(s, o.nr, rows, o.sl, Dev.NONE, cst, rows, convStride, 0, o.xc, dInner, cw, Dev.NONE, dInner, 4,
                        o.z, dInner, vec);
                report(vec ? "conv1d_update (float4)" : "conv1d_update (scalar)", rows, 8.0 * rows * convStride, launch, s, copy);
            }
            // the conv step with x_proj fused in (conv_xproj, bf16x3) against the conv step then x_proj as a matmul; state
            // bytes as above, so the two rows compare times
            LinearKernel lin = new LinearKernel(device);
            Dev xw = CudaTestSupport.upload("x_proj w", CudaTestSupport.uniform(rnd, Ssm1Operands.DBC * dInner, 1 / Math.sqrt(dInner)));
            LinearKernel.Split xs = CudaTestSupport.splitOf(device, xw, Ssm1Operands.DBC, dInner);
            report("conv1d_update, then x_proj (bf16x3)", rows, 8.0 * rows * convStride, () -> {
                conv.launch(s, o.nr, rows, o.sl, Dev.NONE, cst, rows, convStride, 0, o.xc, dInner, cw, Dev.NONE, dInner, 4, o.z, dInner,
                        true);
                lin.launch(s, LinearKernel.Variant.BF16X3, o.nr, rows, o.z, dInner, Dev.NONE, 0f, xw, xs, Dev.NONE, dInner, Ssm1Operands.DBC,
                        o.dbc, Ssm1Operands.DBC, false, null);
            }, s, copy);
            report("conv_xproj (bf16x3)", rows, 8.0 * rows * convStride, () -> conv.launchXProj(s, true, o.nr, rows, o.sl, Dev.NONE, cst, rows,
                    convStride, 0, o.xc, dInner, cw, Dev.NONE, dInner, 4, o.z, dInner, xs, Ssm1Operands.DBC, o.dbc), s, copy);
            // the same two on ring windows (resident slots), every row its own phase: a step reads three of a window's four
            // floats and writes one, half the bytes of the rows above
            int[] phase = new int[rows];
            for (int i = 0; i < rows; i++) {
                phase[i] = i % 4;
            }
            Dev ph = CudaTestSupport.upload("phases", phase);
            report("conv1d_update (ring)", rows, 4.0 * rows * convStride, () -> conv.launch(s, o.nr, rows, o.sl, ph, cst, rows, convStride, 0,
                    o.xc, dInner, cw, Dev.NONE, dInner, 4, o.z, dInner), s, copy);
            report("conv_xproj (bf16x3, ring)", rows, 4.0 * rows * convStride, () -> conv.launchXProj(s, true, o.nr, rows, o.sl, ph, cst,
                    rows, convStride, 0, o.xc, dInner, cw, Dev.NONE, dInner, 4, o.z, dInner, xs, Ssm1Operands.DBC, o.dbc), s, copy);
            CudaTestSupport.free(ph);
            // (also measured 2026-11-22: 128 channels a block, half the atomic adds, two blocks per SM: 0.111 ms against 0.107;
            // 128 rows a block, half the W traffic, three blocks per SM: 0.113; 8 windows in flight a thread at two blocks per
            // SM: as fast as 4 at four)
            CudaTestSupport.free(cst, cw, xw, xs.hi(), xs.lo());
            // (also measured 2026-11-22: streaming cache hints on the state 77%, 8 rows per block 57%, 2 rows per block at 8,
            // 12 or 16 blocks per SM 78%, 76%, 72% of copy bandwidth counting state bytes; the build below is at 78%)
            // ssm1_update with ssm1_stream turned off; "ssm1_stream" is what the launcher picks where it may (sm_90 and newer)
            Ssm1UpdateKernel noStream = withoutStream(device);
            for (String v : new String[] {"ssm1_update_ref", "ssm1_update", "ssm1_stream"}) {
                Ssm1UpdateKernel kv = v.equals("ssm1_stream") ? k : noStream;
                // state bytes (read + written); all bytes adds x, z and dt (read), y (written) and B, C
                double ms = report(v, rows, o.stateBytes(), () -> o.launch(kv, s, !v.equals("ssm1_update_ref")), s, copy);
                double all = o.stateBytes() + 16.0 * rows * dInner + 4.0 * rows * Ssm1Operands.DBC;
                System.out.printf(Locale.ROOT, "| %s, all bytes | %d | %.0f MB | %.3f | %.0f | %.0f%% |%n", v, rows, all / 1e6, ms,
                        all / (ms / 1e3) / 1e9, 100 * all / (ms / 1e3) / copy);
            }
            // dt_proj inside the state update (the small-batch build) at this batch: no dt_proj GEMM, no dt round trip
            int dtRank = Ssm1Operands.DT_RANK;
            int dState = Ssm1Operands.D_STATE;
            Dev dtw = CudaTestSupport.upload("dt_w", CudaTestSupport.uniform(rnd, dInner * dtRank, 0.1));
            Dev dtb = CudaTestSupport.upload("dt_b", CudaTestSupport.uniform(rnd, dInner, 0.1));
            report("ssm1_update_dtw (dt_proj inside)", rows, o.stateBytes(), () -> k.launch(s, true, o.nr, rows, o.sl, o.st, rows,
                    Ssm1Operands.STRIDE, 0, o.xc, dInner, o.dbc, Ssm1Operands.DBC, dtw, dtb, Dev.NONE, dInner, o.a, o.d, o.z, dInner, dInner, dState,
                    dtRank, o.y, dInner), s, copy);
            o.free();
            CudaTestSupport.free(dtw, dtb);
        }
        {
            int rows = 1024;
            int nHeads = 24;
            int headDim = 64;
            int dState = 128;
            int dInner = nHeads * headDim;
            int xcDim = dInner + 2 * dState;
            int projDim = 2 * dInner + 2 * dState + nHeads;
            int stride = dInner * dState;
            int[] slots = new int[rows];
            for (int i = 0; i < rows; i++) {
                slots[i] = i;
            }
            Dev nr = CudaTestSupport.upload("n_rows", new int[] {rows});
            Dev sl = CudaTestSupport.upload("slots", slots);
            Dev st = Dev.of("states", Cu.alloc("states", 4L * rows * stride), (long) rows * stride);
            Cu.zeroAsync("states", st.ptr(), st.floats(), s);
            Dev xc = CudaTestSupport.upload("xc", CudaTestSupport.uniform(rnd, rows * xcDim, 1));
            Dev proj = CudaTestSupport.upload("proj", CudaTestSupport.uniform(rnd, rows * projDim, 1));
            Dev dtb = CudaTestSupport.upload("dt_bias", CudaTestSupport.uniform(rnd, nHeads, 1));
            Dev a = CudaTestSupport.upload("A", CudaTestSupport.uniform(rnd, nHeads, 1));
            Dev d = CudaTestSupport.upload("D", CudaTestSupport.uniform(rnd, nHeads, 1));
            Dev y = CudaTestSupport.upload("y", new float[rows * dInner]);
            Ssm2UpdateKernel k = new Ssm2UpdateKernel(device);
            for (boolean fast : new boolean[] {false, true}) {
                Runnable launch = () -> k.launch(s, fast, nr, rows, sl, st, rows, stride, 0, xc, xcDim, proj, projDim, dInner + xcDim, dtb, a,
                        d, nHeads, headDim, dState, 1, 0f, Float.POSITIVE_INFINITY, y, dInner);
                report(fast ? "ssm2_update" : "ssm2_update_ref", rows, 8.0 * rows * stride, launch, s, copy);
            }
            CudaTestSupport.free(nr, sl, st, xc, proj, dtb, a, d, y);
        }
        JCudaDriver.cuStreamDestroy(s);
    }

    /**
     * The matmul versions alone on Mamba-1 130M shapes: the tensor-core GEMMs at batch 4096 (in_proj 768 -> 3072 and the
     * LM head 768 -> 50280; TFLOP/s of real products), the LM head's GEMV at batch 1 (GB/s of weights read). Each version is first
     * checked against linear_ref (max |y - ref| / max |ref|).
     */
    private static void matmulAlone(CudaDevice device, double copy) {
        CUstream s = new CUstream();
        JCudaDriver.cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING);
        SplittableRandom rnd = new SplittableRandom(5);
        LinearKernel lin = new LinearKernel(device);
        System.out.println();
        System.out.println("| matmul | rows x in -> out | max rel err vs linear_ref | ms | TFLOP/s | weight GB/s |");
        System.out.println("|---|---|---|---|---|---|");
        // (batch-1 GEMVs of a layer run for less than one launch from Java takes, so only the LM head's is timed here)
        int[][] shapes = {{4096, 768, 3072}, {4096, 1536, 768}, {4096, 768, 50280}, {512, 768, 3072}, {1, 768, 50280}};
        for (int[] sh : shapes) {
            int rows = sh[0];
            int in = sh[1];
            int out = sh[2];
            Dev nr = CudaTestSupport.upload("n_rows", new int[] {rows});
            Dev x = CudaTestSupport.upload("x", CudaTestSupport.uniform(rnd, rows * in, 1));
            Dev w = CudaTestSupport.upload("w", CudaTestSupport.uniform(rnd, out * in, 1 / Math.sqrt(in)));
            Dev yRef = Dev.of("y_ref", Cu.alloc("y_ref", 4L * rows * out), (long) rows * out);
            Dev y = Dev.of("y", Cu.alloc("y", 4L * rows * out), (long) rows * out);
            lin.launch(s, LinearKernel.Variant.REF, nr, rows, x, in, Dev.NONE, 0f, w, Dev.NONE, in, out, yRef, out, false);
            Cu.sync("linear_ref", s);
            float[] ref = CudaTestSupport.download(yRef);
            String[] versions = rows == 1 ? new String[] {"linear_gemv"}
                    : new String[] {"linear_tf32x3_big", "linear_tf32x1_big", "linear_bf16x3_w", "linear_bf16x3", "linear_bf16x3_s",
                        "linear_bf16x1_w", "linear_bf16x1", "linear_bf16x1_s", "wg_gemm_x3", "wg_gemm_x1", "wg_gemm_x3_n256",
                        "wg_gemm_x1_n256", "wg_ws_x3", "wg_ws_x1", "wg_ws_x3_n256", "wg_ws_x1_n256"};
            LinearKernel.Split split = null;
            Dev xh = Dev.of("x bf16 hi", Cu.alloc("x bf16 hi", 2L * rows * in), (long) rows * in / 2);
            Dev xl = Dev.of("x bf16 lo", Cu.alloc("x bf16 lo", 2L * rows * in), (long) rows * in / 2);
            if (rows > 1) {
                split = CudaTestSupport.splitOf(device, w, out, in);
            }
            for (String v : versions) {
                Runnable launch;
                if (v.equals("linear_gemv")) {
                    launch = () -> lin.launch(s, LinearKernel.Variant.GEMV, nr, rows, x, in, Dev.NONE, 0f, w, Dev.NONE, in, out, y, out, false);
                } else if (v.startsWith("wg_")) {
                    if (!device.wgmma()) {
                        continue;
                    }
                    boolean three = v.contains("x3");
                    int bn = v.endsWith("_n256") ? 256 : 128;
                    boolean persistent = v.startsWith("wg_ws");
                    int smem = persistent ? LinearKernel.wsSmemBytes(three, bn) : LinearKernel.wgSmemBytes(three, bn);
                    jcuda.driver.CUfunction f = device.function(v);
                    LinearKernel.allowSmem(f, v, smem);
                    jcuda.driver.CUfunction conv = device.function("bf16_split_rows");
                    // timed with the split of x into bf16 halves that precedes it
                    jcuda.Pointer c = jcuda.Pointer.to(nr.arg(), x.arg(), jcuda.Pointer.to(new int[] {in}), jcuda.Pointer.to(new int[] {in}),
                            xh.arg(), three ? xl.arg() : Dev.NONE.arg());
                    jcuda.Pointer p = jcuda.Pointer.to(nr.arg(), xh.arg(), xl.arg(), split.hi().arg(), split.lo().arg(), Dev.NONE.arg(),
                            jcuda.Pointer.to(new int[] {in}), jcuda.Pointer.to(new int[] {out}), y.arg(), jcuda.Pointer.to(new int[] {out}),
                            jcuda.Pointer.to(new int[] {0}), jcuda.Pointer.to(new int[] {(in + 63) / 64 * 64}));
                    int gx = persistent ? LinearKernel.wsBlocks(rows, out, bn, device.multiprocessors()) : (out + bn - 1) / bn;
                    int gy = persistent ? 1 : (rows + 127) / 128; // k_per_split: all of K in one block
                    int threads = persistent ? 384 : 256;
                    launch = () -> {
                        Cu.launch("bf16_split_rows", conv, 4 * device.multiprocessors(), 1, 1, 256, 0, s, c);
                        Cu.launch(v, f, gx, gy, 1, threads, smem, s, p);
                    };
                } else if (v.startsWith("linear_bf16")) {
                    LinearKernel.Bf16Tile tile = java.util.Arrays.stream(LinearKernel.BF16_TILES)
                            .filter(t -> v.equals(t.kernel(true)) || v.equals(t.kernel(false))).findFirst().orElseThrow();
                    jcuda.driver.CUfunction f = device.function(v);
                    LinearKernel.allowSmem(f, v, tile.smemBytes());
                    jcuda.Pointer p = jcuda.Pointer.to(nr.arg(), x.arg(), jcuda.Pointer.to(new int[] {in}), split.hi().arg(), split.lo().arg(),
                            Dev.NONE.arg(), jcuda.Pointer.to(new int[] {in}), jcuda.Pointer.to(new int[] {out}), y.arg(),
                            jcuda.Pointer.to(new int[] {out}), jcuda.Pointer.to(new int[] {0}), jcuda.Pointer.to(new int[] {(in + 31) / 32 * 32}));
                    int gx = (out + tile.bn() - 1) / tile.bn();
                    int gy = (rows + tile.bm() - 1) / tile.bm();
                    launch = () -> Cu.launch(v, f, gx, gy, 1, tile.threads(), tile.smemBytes(), s, p);
                } else {
                    int tile = v.equals("linear_tf32x3") ? 64 : 128;
                    int smem = 4 * (2 * (tile + tile) * 36 + 256 * (tile == 64 ? 4 : 8));
                    jcuda.driver.CUfunction f = device.function(v);
                    JCudaDriver.cuFuncSetAttribute(f, jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
                    jcuda.Pointer p = jcuda.Pointer.to(nr.arg(), x.arg(), jcuda.Pointer.to(new int[] {in}), w.arg(), Dev.NONE.arg(),
                            jcuda.Pointer.to(new int[] {in}), jcuda.Pointer.to(new int[] {out}), y.arg(), jcuda.Pointer.to(new int[] {out}),
                            jcuda.Pointer.to(new int[] {0}), jcuda.Pointer.to(new int[] {(in + 31) / 32 * 32}), jcuda.Pointer.to(new int[] {1}));
                    int gx = (out + tile - 1) / tile;
                    int gy = (rows + tile - 1) / tile;
                    launch = () -> Cu.launch(v, f, gx, gy, 1, tile == 64 ? 128 : 256, smem, s, p);
                }
                launch.run();
                Cu.sync(v, s);
                double err = CudaTestSupport.relErr(CudaTestSupport.download(y), ref);
                int n = 10;
                GpuTimer t = new GpuTimer(s);
                t.start();
                for (int i = 0; i < n; i++) {
                    launch.run();
                }
                double ms = t.stopMillis() / n;
                System.out.printf(Locale.ROOT, "| %s | %d x %d -> %d | %.1e | %.3f | %.1f | %.0f |%n", v, rows, in, out, err, ms,
                        2.0 * rows * in * out / (ms / 1e3) / 1e12, 4.0 * in * out / (ms / 1e3) / 1e9);
            }
            CudaTestSupport.free(nr, x, w, yRef, y, xh, xl);
            if (split != null) {
                CudaTestSupport.free(split.hi(), split.lo());
            }
        }
        JCudaDriver.cuStreamDestroy(s);
    }

    private static double report(String name, int rows, double bytes, Runnable launch, CUstream s, double copy) {
        launch.run();
        Cu.sync(name + " warm-up", s);
        int n = 20;
        GpuTimer t = new GpuTimer(s);
        t.start();
        for (int i = 0; i < n; i++) {
            launch.run();
        }
        double ms = t.stopMillis() / n;
        double gbs = bytes / (ms / 1e3) / 1e9;
        System.out.printf(Locale.ROOT, "| %s | %d | %.0f MB | %.3f | %.0f | %.0f%% |%n", name, rows, bytes / 1e6, ms, gbs, 100 * gbs * 1e9 / copy);
        return ms;
    }

    /** A launcher that never takes ssm1_stream: ssm1_update at every batch. */
    private static Ssm1UpdateKernel withoutStream(CudaDevice device) {
        return new Ssm1UpdateKernel(device, Integer.MAX_VALUE);
    }

    /** One Mamba-1 130M layer's state-update operands for {@code rows} streams (states zeroed, the rest in [-1, 1]). */
    private static final class Ssm1Operands {
        static final int D_INNER = 1536;
        static final int D_STATE = 16;
        static final int DT_RANK = 48;
        static final int STRIDE = D_INNER * D_STATE;
        static final int DBC = DT_RANK + 2 * D_STATE;
        final int rows;
        final Dev nr;
        final Dev sl;
        final Dev st;
        final Dev xc;
        final Dev dbc;
        final Dev dtv;
        final Dev a;
        final Dev d;
        final Dev z;
        final Dev y;

        Ssm1Operands(int rows, SplittableRandom rnd, CUstream s) {
            this.rows = rows;
            int[] slots = new int[rows];
            for (int i = 0; i < rows; i++) {
                slots[i] = i;
            }
            nr = CudaTestSupport.upload("n_rows", new int[] {rows});
            sl = CudaTestSupport.upload("slots", slots);
            st = Dev.of("states", Cu.alloc("states", 4L * rows * STRIDE), (long) rows * STRIDE);
            Cu.zeroAsync("states", st.ptr(), st.floats(), s);
            xc = CudaTestSupport.upload("xc", CudaTestSupport.uniform(rnd, rows * D_INNER, 1));
            dbc = CudaTestSupport.upload("dbc", CudaTestSupport.uniform(rnd, rows * DBC, 1));
            dtv = CudaTestSupport.upload("dtv", CudaTestSupport.uniform(rnd, rows * D_INNER, 1));
            a = CudaTestSupport.upload("A", CudaTestSupport.uniform(rnd, D_INNER * D_STATE, 1));
            d = CudaTestSupport.upload("D", CudaTestSupport.uniform(rnd, D_INNER, 1));
            z = CudaTestSupport.upload("z", CudaTestSupport.uniform(rnd, rows * D_INNER, 1));
            y = CudaTestSupport.upload("y", new float[rows * D_INNER]);
        }

        /** State bytes one update reads and writes. */
        double stateBytes() {
            return 8.0 * rows * STRIDE;
        }

        /** One state update with dt given (ssm1_update_ref when not fast). */
        void launch(Ssm1UpdateKernel k, CUstream s, boolean fast) {
            k.launch(s, fast, nr, rows, sl, st, rows, STRIDE, 0, xc, D_INNER, dbc, DBC, Dev.NONE, Dev.NONE, dtv, D_INNER, a, d, z, D_INNER, D_INNER,
                    D_STATE, DT_RANK, y, D_INNER);
        }

        void free() {
            CudaTestSupport.free(nr, sl, st, xc, dbc, dtv, a, d, z, y);
        }
    }
}
