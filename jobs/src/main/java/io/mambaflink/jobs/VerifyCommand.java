package io.mambaflink.jobs;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.checkpoint.CheckpointException;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.golden.GoldenFormatException;
import io.mambaflink.kernels.golden.GoldenVerifier;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Checks that a checkpoint computes here what it computed in PyTorch, step by step. */
@Command(
        name = "verify",
        mixinStandardHelpOptions = true,
        description = {
            "Runs each row of a golden file as its own stream, one step per position, and prints",
            "max|out - ref| / max|ref| for each output tensor.",
            "Exit codes: 0 within tolerance, 1 outside it, 2 bad input (checkpoint, golden file, shapes)."
        })
public final class VerifyCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face checkpoint folder (config.json + model.safetensors)")
    Path model;

    @Option(names = "--golden", required = true, paramLabel = "FILE",
            description = "safetensors with input_ids + logits, or features + outputs")
    Path golden;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda or auto (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--tolerance", defaultValue = "1e-4", description = "largest accepted error (default: ${DEFAULT-VALUE})")
    double tolerance;

    @Option(names = "--threads", defaultValue = "1", description = "CPU engine threads (default: ${DEFAULT-VALUE})")
    int threads;

    @Override
    public Integer call() {
        MambaModel m;
        GoldenFile g;
        try {
            m = MambaModel.load(model);
            g = GoldenFile.read(golden);
            GoldenVerifier.checkFits(g, m.config());
        } catch (CheckpointException | GoldenFormatException e) {
            System.err.println("verify: " + e.getMessage());
            return 2;
        }
        Backend b;
        try {
            b = Backend.parse(backend);
        } catch (IllegalArgumentException e) {
            System.err.println("verify: " + e.getMessage());
            return 2;
        }
        EngineOptions opts = new EngineOptions(b, g.b(), g.b(), threads, EngineOptions.StateMode.RESIDENT, 0);
        try (StepEngine engine = Engines.create(m, opts)) {
            GoldenVerifier.Result r = GoldenVerifier.run(engine, g);
            boolean ok = r.error() <= tolerance;
            System.out.printf("model %s (%s, fingerprint %s), backend %s%n", model, m.config().arch(), m.fingerprintHex(), engine.backend());
            System.out.printf("golden %s: %d streams x %d steps%n", golden, g.b(), g.t());
            System.out.printf("%s: max|out - ref| / max|ref| = %.3e (max|out - ref| %.3e, max|ref| %.4f, worst at stream %d position %d) %s%n",
                    r.tensor(), r.error(), r.maxAbsDiff(), r.maxAbsRef(), r.worstRow(), r.worstPos(),
                    ok ? "OK" : "FAIL (tolerance " + tolerance + ")");
            return ok ? 0 : 1;
        } catch (IllegalStateException e) {
            System.err.println("verify: " + e.getMessage());
            return 2;
        }
    }
}
