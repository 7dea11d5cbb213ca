package io.mambaflink.jobs.anomaly;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Runs the anomaly job against a Kafka cluster until it is cancelled. */
@Command(
        name = "anomaly",
        mixinStandardHelpOptions = true,
        description = {
            "Kafka-in/Kafka-out anomaly scoring: TelemetryEvent records in, AnomalyScore records out (exactly once),",
            "undecodable or rejected records to the dead-letter topic as RejectedEnvelope.",
            "Run with java -jar on a local MiniCluster, or submit the jar with `flink run` to a cluster."
        })
public final class AnomalyCommand implements Callable<Integer> {

    @Mixin
    JobFlags flags;

    @Override
    public Integer call() throws Exception {
        AnomalyJobOptions o;
        try {
            o = AnomalyJobOptions.fromProperties(flags.toProperties()).validate();
        } catch (IllegalArgumentException e) {
            System.err.println("anomaly: " + e.getMessage());
            return 2;
        }
        Path model = o.modelPath != null ? Path.of(o.modelPath)
                : BundledModel.extractTelemetry(Files.createTempDirectory("mamba-flink-model"));
        Configuration conf = AnomalyJob.flinkConfiguration(o, Files.createTempDirectory("mamba-flink-checkpoints"));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        AnomalyJob.build(env, o, model, null);
        env.execute("mamba-anomaly");
        return 0;
    }
}
