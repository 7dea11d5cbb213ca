package io.mambaflink.jobs;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The one entry point of the executable jar: {@code java -jar mamba-flink.jar <command> [options]}. */
@Command(
        name = "mamba-flink",
        mixinStandardHelpOptions = true,
        version = "mamba-flink 0.1.0",
        description = "Stateful Mamba inference inside Apache Flink.",
        subcommands = {VerifyCommand.class, ReplayCommand.class, TelemetryDatasetCommand.class,
                io.mambaflink.jobs.anomaly.AnomalyCommand.class, io.mambaflink.jobs.anomaly.DemoCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code (tests call this instead of main). */
    public static int run(String... args) {
        return new CommandLine(new Main()).execute(args);
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
