package io.mambaflink.operators.anomaly;

import io.mambaflink.kernels.checkpoint.DType;
import io.mambaflink.kernels.checkpoint.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes {@link SyntheticTelemetry} as a safetensors file for the training script ({@code kernels/training/}):
 * {@code features} F32 (devices, steps, 4), {@code labels} I32 (devices, steps) with {@link AnomalyKind} codes and
 * {@code anomalous_feature} I32 (devices, steps), the affected sensor or -1. Row b is device index {@code first + b}.
 */
public final class TelemetryDataset {
    private TelemetryDataset() {}

    public static void write(Path file, long seed, int first, int devices, int steps, double anomalyRate) throws IOException {
        if (devices <= 0 || steps <= 0) {
            throw new IllegalArgumentException("devices and steps must be > 0, found " + devices + " and " + steps);
        }
        int nf = SyntheticTelemetry.FEATURES.length;
        double[] features = new double[devices * steps * nf];
        double[] labels = new double[devices * steps];
        double[] affected = new double[devices * steps];
        float[] x = new float[nf];
        for (int b = 0; b < devices; b++) {
            SyntheticTelemetry.Device d = new SyntheticTelemetry.Device(seed, first + b, anomalyRate);
            for (int t = 0; t < steps; t++) {
                AnomalyKind k = d.next(x);
                for (int f = 0; f < nf; f++) {
                    features[(b * steps + t) * nf + f] = x[f];
                }
                labels[b * steps + t] = k.code;
                affected[b * steps + t] = k == AnomalyKind.NONE ? -1 : d.anomalousFeature();
            }
        }
        Map<String, SafeTensorsWriter.Tensor> t = new LinkedHashMap<>();
        t.put("features", new SafeTensorsWriter.Tensor(DType.F32, new long[] {devices, steps, nf}, features));
        t.put("labels", new SafeTensorsWriter.Tensor(DType.I32, new long[] {devices, steps}, labels));
        t.put("anomalous_feature", new SafeTensorsWriter.Tensor(DType.I32, new long[] {devices, steps}, affected));
        SafeTensorsWriter.write(file, t);
    }
}
