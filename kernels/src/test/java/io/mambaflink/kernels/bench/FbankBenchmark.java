package io.mambaflink.kernels.bench;

import io.mambaflink.kernels.audio.FbankStream;
import io.mambaflink.kernels.audio.KaldiFbank;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The log-mel front end (80 bins, 25 ms frames every 10 ms at 16 kHz): time per frame, one thread. A stream makes 100
 * frames a second of audio, so 1 / (100 x time per frame) streams run in real time on one core. One invocation pushes
 * one second of audio (16,000 samples, 100 frames) in 20 ms chunks through a stream.
 *
 * <pre>
 * mvn -B -q -pl kernels test-compile exec:exec -Dexec.classpathScope=test -Dexec.executable=java \
 *   -Dexec.args="-cp %classpath org.openjdk.jmh.Main FbankBenchmark"
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class FbankBenchmark {
    private KaldiFbank fbank;
    private float[] second; // (16000) int16-scale noise

    @Setup
    public void setup() {
        fbank = new KaldiFbank(KaldiFbank.Options.kaldi80(16000));
        SplittableRandom rnd = new SplittableRandom(1);
        second = new float[16000];
        for (int i = 0; i < second.length; i++) {
            second[i] = rnd.nextInt(-3000, 3000);
        }
    }

    @Benchmark
    @OperationsPerInvocation(100)
    public void frame(Blackhole bh) {
        FbankStream st = new FbankStream();
        for (int at = 0; at < second.length; at += 320) {
            st.push(fbank, second, at, 320, (i, mel) -> bh.consume(mel[0]));
        }
        // the 100th frame needs the first 399 samples of the next second
        st.push(fbank, second, 0, 240, (i, mel) -> bh.consume(mel[0]));
    }
}
