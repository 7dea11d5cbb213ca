package io.mambaflink.jobs;

import io.mambaflink.operators.anomaly.TelemetryDataset;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Writes the local run's synthetic telemetry as a safetensors file for the training script. */
@Command(
        name = "telemetry-dataset",
        mixinStandardHelpOptions = true,
        description = {
            "Writes synthetic sensor telemetry (the demo generator's distribution) as safetensors:",
            "features F32 (devices, steps, 4), labels I32 (devices, steps), anomalous_feature I32 (devices, steps).",
            "kernels/training/train_telemetry.py trains the shipped telemetry model on it."
        })
public final class TelemetryDatasetCommand implements Callable<Integer> {

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "output .safetensors file")
    Path out;

    @Option(names = "--seed", defaultValue = "1", description = "generator seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--first-device", defaultValue = "0", description = "index of the first device (default: ${DEFAULT-VALUE})")
    int first;

    @Option(names = "--devices", defaultValue = "4096", description = "devices, one row each (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--steps", defaultValue = "256", description = "events per device (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--anomaly-rate", defaultValue = "0", description = "per-event anomaly start probability (default: ${DEFAULT-VALUE})")
    double anomalyRate;

    @Override
    public Integer call() throws Exception {
        TelemetryDataset.write(out, seed, first, devices, steps, anomalyRate);
        System.out.printf("wrote %s: %d devices x %d events (seed %d, first device %d, anomaly rate %s)%n", out, devices,
                steps, seed, first, anomalyRate);
        return 0;
    }
}
