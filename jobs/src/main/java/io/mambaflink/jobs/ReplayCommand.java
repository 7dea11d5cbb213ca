package io.mambaflink.jobs;

import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.checkpoint.CheckpointException;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.operators.LocalCheckpoints;
import io.mambaflink.operators.MambaInference;
import io.mambaflink.operators.StreamEvent;
import io.mambaflink.operators.StreamResult;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Runs recorded streams through the Mamba operator on a local MiniCluster with RocksDB: backfills and model checks. */
@Command(
        name = "replay",
        mixinStandardHelpOptions = true,
        description = {
            "Reads JSON-lines events, runs them through the keyed Mamba operator (RocksDB state, checkpoints) on a",
            "local MiniCluster and writes one JSON line per result. Rejected events go to <output>.rejected.jsonl.",
            "Exit codes: 0 done, 1 the job failed, 2 bad input (model, input file, options)."
        })
public final class ReplayCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face checkpoint folder (config.json + model.safetensors)")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "FILE", description = "events, one JSON object per line, each key's events in order")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "FILE", description = "results, one JSON object per line")
    Path output;

    @Option(names = "--parallelism", defaultValue = "1", description = "operator parallelism (default: ${DEFAULT-VALUE})")
    int parallelism;

    @Option(names = "--max-batch-size", defaultValue = "256", description = "events per engine batch (default: ${DEFAULT-VALUE})")
    int maxBatchSize;

    @Option(names = "--max-batch-delay", defaultValue = "10", paramLabel = "MS", description = "longest wait of a buffered event, ms (default: ${DEFAULT-VALUE})")
    long maxBatchDelayMs;

    @Option(names = "--checkpoint-interval", defaultValue = "10000", paramLabel = "MS",
            description = "checkpoint interval, ms; the job's end waits for one last checkpoint (default: ${DEFAULT-VALUE})")
    long checkpointIntervalMs;

    @Option(names = "--backend", defaultValue = "auto", description = "cpu, cuda or auto (default: ${DEFAULT-VALUE})")
    String backend;

    /** {@code results.jsonl} → {@code results.rejected.jsonl}, in the same folder. */
    static Path rejectedPath(Path output) {
        String name = output.getFileName().toString();
        String stem = name.endsWith(".jsonl") ? name.substring(0, name.length() - ".jsonl".length()) : name;
        return output.resolveSibling(stem + ".rejected.jsonl");
    }

    @Override
    public Integer call() throws Exception {
        MambaInference inference;
        MambaModel m;
        try {
            if (!Files.isRegularFile(input)) {
                throw new IllegalArgumentException("input " + input + " is not a file");
            }
            if (checkpointIntervalMs <= 0) {
                throw new IllegalArgumentException("--checkpoint-interval must be > 0 ms, found " + checkpointIntervalMs);
            }
            if (parallelism <= 0) {
                throw new IllegalArgumentException("--parallelism must be > 0, found " + parallelism);
            }
            m = MambaModel.load(model); // fail here, not in a task, on a bad checkpoint
            inference = MambaInference.builder()
                    .setModelPath(model.toAbsolutePath().toString())
                    .setBackend(Backend.parse(backend))
                    .setMaxBatchSize(maxBatchSize)
                    .setMaxBatchDelay(Duration.ofMillis(maxBatchDelayMs))
                    .build();
        } catch (CheckpointException | IllegalArgumentException e) {
            System.err.println("replay: " + e.getMessage());
            return 2;
        }

        Path checkpoints = Files.createTempDirectory("mamba-replay-checkpoints");
        Path rejectedFile = rejectedPath(output);
        long results = 0;
        long rejected = 0;
        try {
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf(checkpoints));
            FileSource<String> source = FileSource.forRecordStreamFormat(new TextLineInputFormat(),
                    new org.apache.flink.core.fs.Path(input.toAbsolutePath().toUri())).build();
            // one reader and one parser keep each key's events in file order
            SingleOutputStreamOperator<StreamEvent> events = env
                    .fromSource(source, WatermarkStrategy.noWatermarks(), "events").setParallelism(1).uid("events")
                    .process(new ReplayParse()).setParallelism(1).uid("parse");
            SingleOutputStreamOperator<StreamResult> out = inference.apply(events);
            // results and rejections share the one collected stream; rejections carry a NUL prefix (JSON never does)
            DataStream<String> lines = out.map(ReplayJson::resultLine).name("result json")
                    .union(MambaInference.rejected(out).map(r -> "\u0000" + ReplayJson.rejectedLine(r)).name("rejected json"),
                            events.getSideOutput(ReplayParse.UNDECODABLE)
                                    .map(r -> "\u0000" + ReplayJson.rejectedLine(r)).setParallelism(1).name("undecodable json"));
            try (CloseableIterator<String> it = lines.executeAndCollect("replay " + input.getFileName());
                    BufferedWriter res = Files.newBufferedWriter(output, StandardCharsets.UTF_8);
                    BufferedWriter rej = Files.newBufferedWriter(rejectedFile, StandardCharsets.UTF_8)) {
                while (it.hasNext()) {
                    String line = it.next();
                    if (line.startsWith("\u0000")) {
                        rej.write(line, 1, line.length() - 1);
                        rej.newLine();
                        rejected++;
                    } else {
                        res.write(line);
                        res.newLine();
                        results++;
                    }
                }
            }
        } catch (Exception e) {
            System.err.println("replay: the job failed: " + rootMessage(e));
            return 1;
        } finally {
            if (!LocalCheckpoints.delete(checkpoints)) {
                System.err.println("replay: could not delete all of " + checkpoints);
            }
        }
        System.out.printf("replay: model %s (fingerprint %s): %d results to %s, %d rejected to %s%n", model,
                m.fingerprintHex(), results, output, rejected, rejectedFile);
        return 0;
    }

    private Configuration conf(Path checkpoints) {
        Configuration conf = new Configuration();
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(checkpointIntervalMs));
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        // a failure fails the command: rerun it rather than mix a partial run into the output files
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        return conf;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }
}
