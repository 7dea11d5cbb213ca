package io.mambaflink.operators;

import static io.mambaflink.operators.TestStreams.LM;
import static io.mambaflink.operators.TestStreams.TELEMETRY;
import static io.mambaflink.operators.TestStreams.config;
import static io.mambaflink.operators.TestStreams.event;
import static io.mambaflink.operators.TestStreams.fixture;
import static io.mambaflink.operators.TestStreams.golden;
import static io.mambaflink.operators.TestStreams.harness;
import static io.mambaflink.operators.TestStreams.hour;
import static io.mambaflink.operators.TestStreams.operator;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.RandomModel;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineCapacityException;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.ForwardingStepEngine;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.golden.GoldenFile;
import io.mambaflink.kernels.state.StreamState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The operator on Flink's keyed harness with the RocksDB backend. */
class MambaStreamOperatorTest {

    private static StreamRecord<StreamEvent> record(StreamEvent e) {
        return new StreamRecord<>(e, e.ts);
    }

    private static List<StreamResult> runAll(MambaOperatorConfig c, List<StreamEvent> events) throws Exception {
        try (var h = harness(c)) {
            h.open();
            for (StreamEvent e : events) {
                h.processElement(record(e));
            }
            operator(h).finish();
            return h.extractOutputValues();
        }
    }

    private static Map<String, List<StreamResult>> byKey(List<StreamResult> results) {
        return results.stream().collect(Collectors.groupingBy(r -> r.key, HashMap::new, Collectors.toList()));
    }

    private static long storedStreams(KeyedOneInputStreamOperatorTestHarness<String, StreamEvent, StreamResult> h) {
        try (var keys = h.getOperator().getKeyedStateBackend().getKeys(MambaStreamOperator.STATE_NAME, VoidNamespace.INSTANCE)) {
            return keys.count();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {TELEMETRY, LM})
    void interleavedKeysGiveTheEngineDirectOutputs(String name) throws Exception {
        GoldenFile g = golden(name);
        float[][][] direct = TestStreams.engineOutputs(Fixtures.model(name), g);
        // batches of 5 over 3-4 keys: most flushes hold several events of one key, stepped in rounds
        List<StreamResult> results = runAll(config(fixture(name), 5, hour(), 8), TestStreams.interleaved(g, 42));

        assertThat(results).hasSize(g.b() * g.t());
        Map<String, List<StreamResult>> perKey = byKey(results);
        for (int b = 0; b < g.b(); b++) {
            List<StreamResult> rs = perKey.get(TestStreams.key(b));
            assertThat(rs).hasSize(g.t());
            for (int t = 0; t < g.t(); t++) {
                StreamResult r = rs.get(t);
                assertThat(r.ts).isEqualTo(t);
                assertThat(r.position).isEqualTo(t + 1);
                assertThat(r.output).as("key %d position %d", b, t + 1).isEqualTo(direct[b][t]);
                assertThat(r.previousOutput).isEqualTo(t == 0 ? null : direct[b][t - 1]);
                // and the engine reproduces PyTorch
                for (int o = 0; o < g.outputDim(); o++) {
                    double ref = g.expected()[(b * g.t() + t) * g.outputDim() + o];
                    assertThat((double) r.output[o]).isCloseTo(ref, within(1e-4 * Math.max(1, Math.abs(ref))));
                }
            }
        }
    }

    @Test
    void bufferedEventsSurviveObjectReuse() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        float[][][] direct = TestStreams.engineOutputs(Fixtures.model(TELEMETRY), g);
        try (var h = harness(config(fixture(TELEMETRY), 100, hour(), 100))) {
            h.getExecutionConfig().enableObjectReuse();
            h.open();
            // the runtime may hand over one instance, refilled for every record
            StreamEvent reused = StreamEvent.features("s0", 0, new float[g.featureDim()]);
            for (int t = 0; t < 3; t++) {
                reused.ts = t;
                System.arraycopy(event(g, 0, t).features, 0, reused.features, 0, g.featureDim());
                h.processElement(new StreamRecord<>(reused, t));
            }
            h.processWatermark(10);
            assertThat(h.extractOutputValues()).extracting(r -> r.output)
                    .containsExactly(direct[0][0], direct[0][1], direct[0][2]);
        }
    }

    @Test
    void fullBufferFlushesAtMaxBatchSize() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        try (var h = harness(config(fixture(TELEMETRY), 3, hour(), 3))) {
            h.open();
            h.processElement(record(event(g, 0, 0)));
            h.processElement(record(event(g, 0, 1)));
            assertThat(h.extractOutputValues()).isEmpty();
            h.processElement(record(event(g, 1, 0)));
            assertThat(h.extractOutputValues()).extracting(r -> r.key + "@" + r.position)
                    .containsExactly("s0@1", "s1@1", "s0@2");
        }
    }

    @Test
    void oldestEventFlushesAfterMaxBatchDelay() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        try (var h = harness(config(fixture(TELEMETRY), 100, Duration.ofMillis(50), 100))) {
            h.open();
            h.setProcessingTime(1000);
            h.processElement(record(event(g, 0, 0)));
            h.setProcessingTime(1030);
            h.processElement(record(event(g, 1, 0)));
            h.setProcessingTime(1049);
            assertThat(h.extractOutputValues()).isEmpty();
            h.setProcessingTime(1050);
            assertThat(h.extractOutputValues()).hasSize(2);
            // the next buffer's delay counts from its own oldest event
            h.setProcessingTime(1070);
            h.processElement(record(event(g, 0, 1)));
            h.setProcessingTime(1119);
            assertThat(h.extractOutputValues()).hasSize(2);
            h.setProcessingTime(1120);
            assertThat(h.extractOutputValues()).hasSize(3);
        }
    }

    @Test
    void watermarkNeverOvertakesBufferedEvents() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        try (var h = harness(config(fixture(TELEMETRY), 100, hour(), 100))) {
            h.open();
            h.processElement(record(event(g, 0, 0)));
            h.processElement(record(event(g, 1, 0)));
            h.processElement(record(event(g, 0, 1)));
            h.processWatermark(new Watermark(1));
            h.processElement(record(event(g, 2, 0)));
            h.processWatermark(new Watermark(2));
            List<Object> out = new ArrayList<>(h.getOutput());
            assertThat(out).hasSize(6);
            assertThat(out.get(3)).isEqualTo(new Watermark(1));
            assertThat(out.get(5)).isEqualTo(new Watermark(2));
            assertThat(out.subList(0, 3)).allMatch(o -> o instanceof StreamRecord);
            assertThat(out.get(4)).isInstanceOf(StreamRecord.class);
        }
    }

    /** Golden rows interleaved, with resets and ends in the middle of streams. */
    private static List<StreamEvent> eventsWithControls(GoldenFile g) {
        List<StreamEvent> events = new ArrayList<>(TestStreams.interleaved(g, 7));
        events.add(90, StreamEvent.control("s1", 1000, StreamEvent.RESET));
        events.add(150, StreamEvent.control("s2", 1001, StreamEvent.END));
        events.add(StreamEvent.control("s0", 1002, StreamEvent.END));
        return events;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 47, 91, 128, 151, 200, 258})
    void snapshotRestoreContinueEqualsUninterruptedRun(int cut) throws Exception {
        GoldenFile g = golden(TELEMETRY);
        List<StreamEvent> events = eventsWithControls(g);
        // a cache of 3 streams for 4 keys: evictions and reloads all along
        MambaOperatorConfig c = config(fixture(TELEMETRY), 3, hour(), 3);
        List<StreamResult> expected = runAll(c, events);

        List<StreamResult> actual = new ArrayList<>();
        OperatorSubtaskState snapshot;
        try (var h = harness(c)) {
            h.open();
            for (StreamEvent e : events.subList(0, cut)) {
                h.processElement(record(e));
            }
            h.prepareSnapshotPreBarrier(1);
            snapshot = h.snapshot(1, 1);
            actual.addAll(h.extractOutputValues());
        }
        try (var h = harness(c)) {
            h.initializeState(snapshot);
            h.open();
            for (StreamEvent e : events.subList(cut, events.size())) {
                h.processElement(record(e));
            }
            operator(h).finish();
            actual.addAll(h.extractOutputValues());
        }
        assertThat(byKey(actual)).isEqualTo(byKey(expected));
        assertThat(actual).hasSameSizeAs(expected);
    }

    /**
     * The step engine fails in the middle of the stream, as the CUDA engine does on a CUDA error (it throws, names the
     * call, and refuses all further work): the failure leaves the operator (Flink then fails the task), and a restore
     * from the last checkpoint with the events after it gives exactly the outputs of a run without the failure.
     */
    @Test
    void engineFailureFailsTheTaskAndTheCheckpointRestoreGivesTheFailureFreeOutputs() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        List<StreamEvent> events = eventsWithControls(g);
        MambaOperatorConfig c = config(fixture(TELEMETRY), 3, hour(), 3);
        List<StreamResult> expected = runAll(c, events);
        int cut = 91;

        List<StreamResult> committed;
        OperatorSubtaskState snapshot;
        FailingEngineOperator failing = new FailingEngineOperator(c);
        var h = new KeyedOneInputStreamOperatorTestHarness<>(failing, MambaInference::keyOf, Types.STRING);
        h.setStateBackend(new EmbeddedRocksDBStateBackend(true));
        h.open();
        for (StreamEvent e : events.subList(0, cut)) {
            h.processElement(record(e));
        }
        h.prepareSnapshotPreBarrier(1);
        snapshot = h.snapshot(1, 1);
        committed = new ArrayList<>(h.extractOutputValues());
        int before = committed.size();
        int failingStep = failing.steps + 20; // some way past the checkpoint
        failing.failAt = failingStep;
        assertThatThrownBy(() -> {
            for (StreamEvent e : events.subList(cut, events.size())) {
                h.processElement(record(e));
            }
        }).isInstanceOf(io.mambaflink.kernels.cuda.CudaEngineException.class).hasMessageContaining("CUDA_ERROR_LAUNCH_FAILED");
        assertThat(failing.steps).isEqualTo(failingStep);
        // what was emitted between the checkpoint and the failure is right (and uncommitted: a transactional sink
        // drops it with the failed attempt)
        List<StreamResult> afterCheckpoint = h.extractOutputValues().subList(before, h.extractOutputValues().size());
        assertThat(afterCheckpoint).isNotEmpty().allSatisfy(r -> assertThat(expected).contains(r));
        assertThatThrownBy(() -> failing.engine().step(failing.engine().newBatch()))
                .hasMessageContaining("failed earlier");
        // the harness finishes the operator on close (Flink does not, after a failure): no state of the failed engine is
        // written then either
        assertThatThrownBy(h::close).hasRootCauseMessage("engine failed earlier; its device state is unknown: restore from a checkpoint");
        List<StreamResult> actual = new ArrayList<>(committed);
        try (var restored = harness(c)) {
            restored.initializeState(snapshot);
            restored.open();
            for (StreamEvent e : events.subList(cut, events.size())) {
                restored.processElement(record(e));
            }
            operator(restored).finish();
            actual.addAll(restored.extractOutputValues());
        }
        assertThat(byKey(actual)).isEqualTo(byKey(expected));
        assertThat(actual).hasSameSizeAs(expected);
    }

    /** The operator with an engine that fails its {@code failAt}-th step the way the CUDA engine fails. */
    static final class FailingEngineOperator extends MambaStreamOperator {
        int failAt = Integer.MAX_VALUE;
        int steps;
        private StepEngine wrapped;

        FailingEngineOperator(MambaOperatorConfig config) {
            super(config);
        }

        StepEngine engine() {
            return wrapped;
        }

        @Override
        protected StepEngine createEngine(MambaModel model, EngineOptions options) {
            StepEngine inner = super.createEngine(model, options);
            wrapped = new ForwardingStepEngine(inner) {
                private boolean failed;

                private void usable() {
                    if (failed) {
                        throw new IllegalStateException("engine failed earlier; its device state is unknown: restore from a checkpoint");
                    }
                }

                @Override
                public void reset(int slot) {
                    usable();
                    super.reset(slot);
                }

                @Override
                public void load(int slot, StreamState src) {
                    usable();
                    super.load(slot, src);
                }

                @Override
                public void store(int slot, StreamState dst) {
                    usable();
                    super.store(slot, dst);
                }

                @Override
                public void step(StepBatch batch) {
                    usable();
                    if (++steps == failAt) {
                        failed = true;
                        throw new io.mambaflink.kernels.cuda.CudaEngineException(
                                "cuLaunchKernel(ssm1_update, grid 12x1x1): CUDA_ERROR_LAUNCH_FAILED (injected by the test)");
                    }
                    super.step(batch);
                }
            };
            return wrapped;
        }
    }

    @Test
    void resetStartsTheStreamOverAndEndEmitsAFinalResultThenForgets() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        try (var h = harness(config(fixture(TELEMETRY), 1, hour(), 4))) {
            h.open();
            for (int t = 0; t < 3; t++) {
                h.processElement(record(event(g, 0, t)));
            }
            h.processElement(record(StreamEvent.control("s0", 10, StreamEvent.RESET)));
            h.processElement(record(event(g, 0, 0)));
            h.processElement(record(event(g, 0, 1)));
            h.processElement(record(StreamEvent.control("s0", 11, StreamEvent.END)));
            h.processElement(record(event(g, 1, 0)));
            h.prepareSnapshotPreBarrier(1);

            List<StreamResult> out = h.extractOutputValues();
            assertThat(out).extracting(r -> r.key + "@" + r.position + (r.end ? " end" : ""))
                    .containsExactly("s0@1", "s0@2", "s0@3", "s0@1", "s0@2", "s0@2 end", "s1@1");
            // after reset the stream is exactly a new stream
            assertThat(out.get(3).output).isEqualTo(out.get(0).output);
            assertThat(out.get(3).previousOutput).isNull();
            assertThat(out.get(4).output).isEqualTo(out.get(1).output);
            // end repeats the last output and its ts is the control's
            assertThat(out.get(5).output).isEqualTo(out.get(4).output);
            assertThat(out.get(5).ts).isEqualTo(11);
            // s0 is gone from RocksDB, s1 is there
            assertThat(storedStreams(h)).isEqualTo(1);
        }
    }

    @Test
    void idleStreamsExpireAfterTheStateTtl() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        MambaOperatorConfig c = new MambaOperatorConfig(fixture(TELEMETRY), Backend.CPU, 1, hour(), 2,
                Duration.ofMillis(1000), FingerprintPolicy.FAIL, 1);
        OperatorSubtaskState snapshot;
        try (var h = harness(c)) {
            h.open();
            h.setProcessingTime(0);
            h.processElement(record(event(g, 0, 0)));
            h.processElement(record(event(g, 1, 0)));
            h.setProcessingTime(600);
            h.processElement(record(event(g, 1, 1)));
            h.processElement(record(event(g, 2, 0)));
            h.setProcessingTime(1100); // s0 idle 1100 ms: gone; s1 and s2 idle 500 ms: kept
            assertThat(operator(h).expiredCount()).isEqualTo(1);
            h.prepareSnapshotPreBarrier(1);
            assertThat(storedStreams(h)).isEqualTo(2);
            snapshot = h.snapshot(1, 1100);
            h.processElement(record(event(g, 0, 1)));
            h.processElement(record(event(g, 1, 2)));
            assertThat(h.extractOutputValues()).extracting(r -> r.key + "@" + r.position)
                    .containsExactly("s0@1", "s1@1", "s1@2", "s2@1", "s0@1", "s1@3");
        }
        // restored timers still expire streams
        try (var h = harness(c)) {
            h.setProcessingTime(1100);
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(1800);
            assertThat(storedStreams(h)).isEqualTo(0);
            assertThat(operator(h).expiredCount()).isEqualTo(2);
        }
    }

    @Test
    void everyRejectionReasonGoesToTheSideOutputAndTheJobGoesOn() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        List<StreamEvent> bad = new ArrayList<>();
        bad.add(StreamEvent.features("s0", 1, new float[5]));
        bad.add(StreamEvent.features("s0", 2, new float[] {0, 0, Float.NaN, 0, 0, 0}));
        bad.add(StreamEvent.features("s0", 3, new float[] {0, 0, 0, Float.POSITIVE_INFINITY, 0, 0}));
        bad.add(StreamEvent.control("s0", 4, "restart"));
        bad.add(new StreamEvent());
        bad.get(4).key = "s0";
        bad.add(StreamEvent.token("s0", 6, 3));
        bad.add(StreamEvent.features(null, 6, new float[6]));
        // finite but so large that input_proj overflows: the step's output is non-finite
        bad.add(StreamEvent.features("s0", 7, new float[] {Float.MAX_VALUE, Float.MAX_VALUE, Float.MAX_VALUE, Float.MAX_VALUE, Float.MAX_VALUE, Float.MAX_VALUE}));
        try (var h = harness(config(fixture(TELEMETRY), 2, hour(), 2))) {
            h.open();
            h.processElement(record(event(g, 0, 0)));
            for (StreamEvent e : bad) {
                h.processElement(record(e));
            }
            h.processElement(record(event(g, 0, 0)));
            h.processWatermark(100);

            List<RejectedEvent> rejected = h.getSideOutput(MambaStreamOperator.REJECTED).stream()
                    .map(StreamRecord::getValue).toList();
            assertThat(rejected).extracting(r -> r.reason).containsExactly("WRONG_FEATURE_COUNT", "NON_FINITE_FEATURE",
                    "NON_FINITE_FEATURE", "UNKNOWN_CONTROL", "MISSING_PAYLOAD", "MISSING_PAYLOAD", "MISSING_KEY", "NON_FINITE_STATE");
            assertThat(rejected).extracting(r -> r.event).containsExactlyElementsOf(bad);
            assertThat(rejected.get(0).message).contains("expected 6 features, found 5");
            assertThat(rejected.get(3).message).contains("control 'restart'");
            assertThat(rejected.get(7).message).contains("non-finite", "reset");
            // the non-finite step reset the stream: the next event starts it over
            List<StreamResult> out = h.extractOutputValues();
            assertThat(out).extracting(r -> r.position).containsExactly(1L, 1L);
            assertThat(out.get(1).output).isEqualTo(out.get(0).output);
            MambaStreamOperator op = operator(h);
            assertThat(op.rejectedCount(RejectReason.WRONG_FEATURE_COUNT)).isEqualTo(1);
            assertThat(op.rejectedCount(RejectReason.NON_FINITE_FEATURE)).isEqualTo(2);
            assertThat(op.rejectedCount(RejectReason.UNKNOWN_CONTROL)).isEqualTo(1);
            assertThat(op.rejectedCount(RejectReason.MISSING_PAYLOAD)).isEqualTo(2);
            assertThat(op.rejectedCount(RejectReason.MISSING_KEY)).isEqualTo(1);
            assertThat(op.rejectedCount(RejectReason.NON_FINITE_STATE)).isEqualTo(1);
        }
    }

    @Test
    void tokenOutsideTheVocabularyIsRejected() throws Exception {
        try (var h = harness(config(fixture(LM), 2, hour(), 2))) {
            h.open();
            h.processElement(record(StreamEvent.token("a", 1, 97)));
            h.processElement(record(StreamEvent.token("a", 2, -5)));
            h.processElement(record(StreamEvent.features("a", 3, new float[] {1})));
            h.processElement(record(StreamEvent.token("a", 4, 96)));
            h.processWatermark(100);
            assertThat(h.getSideOutput(MambaStreamOperator.REJECTED)).extracting(r -> r.getValue().reason)
                    .containsExactly("TOKEN_OUT_OF_VOCABULARY", "TOKEN_OUT_OF_VOCABULARY", "MISSING_PAYLOAD");
            assertThat(h.getSideOutput(MambaStreamOperator.REJECTED).peek().getValue().message)
                    .contains("token id 97 outside the vocabulary 0..96");
            assertThat(h.extractOutputValues()).extracting(r -> r.position).containsExactly(1L);
            assertThat(operator(h).rejectedCount(RejectReason.TOKEN_OUT_OF_VOCABULARY)).isEqualTo(2);
        }
    }

    private static OperatorSubtaskState snapshotAfterTwoEvents(GoldenFile g) throws Exception {
        try (var h = harness(config(fixture(TELEMETRY), 4, hour(), 4))) {
            h.open();
            h.processElement(record(event(g, 0, 0)));
            h.processElement(record(event(g, 0, 1)));
            h.prepareSnapshotPreBarrier(1);
            return h.snapshot(1, 1);
        }
    }

    /** The telemetry fixture's shape with other weights: same state layout, another fingerprint. */
    private static ModelSource otherModel() {
        return () -> RandomModel.create(Fixtures.model(TELEMETRY).config(), 99);
    }

    @Test
    void fingerprintMismatchFailsByDefaultNamingBothModels() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        OperatorSubtaskState snapshot = snapshotAfterTwoEvents(g);
        String stored = Fixtures.model(TELEMETRY).fingerprintHex();
        String current = otherModel().load().fingerprintHex();
        try (var h = harness(config(otherModel(), 1, hour(), 4))) {
            h.initializeState(snapshot);
            h.open();
            assertThatThrownBy(() -> h.processElement(record(event(g, 0, 2))))
                    .hasMessageContaining("Stream s0")
                    .hasMessageContaining("belongs to model " + stored)
                    .hasMessageContaining("expected model " + current)
                    .hasMessageContaining("mamba.state.fingerprint-policy");
        }
    }

    @Test
    void fingerprintMismatchStartsTheStreamOverUnderResetPolicy() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        OperatorSubtaskState snapshot = snapshotAfterTwoEvents(g);
        MambaOperatorConfig c = new MambaOperatorConfig(otherModel(), Backend.CPU, 1, hour(), 4, null,
                FingerprintPolicy.RESET, 1);
        try (var h = harness(c)) {
            h.initializeState(snapshot);
            h.open();
            h.processElement(record(event(g, 0, 2)));
            h.processElement(record(event(g, 0, 3)));
            assertThat(h.extractOutputValues()).extracting(r -> r.position).containsExactly(1L, 2L);
            assertThat(h.extractOutputValues().get(0).previousOutput).isNull();
            assertThat(operator(h).fingerprintResetCount()).isEqualTo(1);
        }
    }

    @Test
    void sameModelRestoredContinuesTheStream() throws Exception {
        GoldenFile g = golden(TELEMETRY);
        OperatorSubtaskState snapshot = snapshotAfterTwoEvents(g);
        MambaModel m = Fixtures.model(TELEMETRY);
        float[][][] direct = TestStreams.engineOutputs(m, g);
        try (var h = harness(config(fixture(TELEMETRY), 1, hour(), 4))) {
            h.initializeState(snapshot);
            h.open();
            h.processElement(record(event(g, 0, 2)));
            StreamResult r = h.extractOutputValues().get(0);
            assertThat(r.position).isEqualTo(3);
            assertThat(r.output).isEqualTo(direct[0][2]);
            assertThat(r.previousOutput).isEqualTo(direct[0][1]);
        }
    }

    @Test
    void cacheLargerThanTheHeapFailsOpenWithTheOptionAndWithoutRestarts() throws Exception {
        MambaModel model = Fixtures.model(TELEMETRY);
        long stateBytes = 4L * model.layout().size();
        int cache = (int) (Runtime.getRuntime().maxMemory() / stateBytes + 1);
        try (var h = harness(config(fixture(TELEMETRY), 16, hour(), cache))) {
            assertThatThrownBy(h::open)
                    .isInstanceOf(CacheCapacityException.class)
                    .hasMessageStartingWith("mamba.cache.max-states = " + cache + " does not fit: backend cpu: slot pool of "
                            + cache + " states x " + stateBytes + " bytes")
                    .hasMessageContaining("Lower mamba.cache.max-states (at least mamba.batch.max-size = 16)")
                    .hasCauseInstanceOf(EngineCapacityException.class)
                    .satisfies(e -> assertThat(ExecutionFailureHandler.isUnrecoverableError(e)).isTrue());
        }
    }

    /**
     * Evictions and reloads on every flush, on RocksDB (the write-back reuses one encoding buffer: RocksDB copies a
     * value in update) and on the heap backend (which keeps the array it is given, so each stream gets its own).
     */
    @ParameterizedTest
    @ValueSource(strings = {"rocksdb", "heap"})
    void evictedStreamsReloadTheirOwnStateOnEitherBackend(String backend) throws Exception {
        GoldenFile g = golden(TELEMETRY);
        float[][][] direct = TestStreams.engineOutputs(Fixtures.model(TELEMETRY), g);
        List<StreamResult> results;
        try (var h = new KeyedOneInputStreamOperatorTestHarness<>(new MambaStreamOperator(config(fixture(TELEMETRY), 2, hour(), 2)),
                MambaInference::keyOf, Types.STRING)) {
            h.setStateBackend(backend.equals("heap") ? new HashMapStateBackend() : new EmbeddedRocksDBStateBackend(true));
            h.open();
            for (StreamEvent e : TestStreams.interleaved(g, 7)) {
                h.processElement(record(e));
            }
            operator(h).finish();
            results = h.extractOutputValues();
        }
        Map<String, List<StreamResult>> perKey = byKey(results);
        for (int b = 0; b < g.b(); b++) {
            List<StreamResult> rs = perKey.get(TestStreams.key(b));
            assertThat(rs).hasSize(g.t());
            for (int t = 0; t < g.t(); t++) {
                assertThat(rs.get(t).output).as("%s: key %d position %d", backend, b, t + 1).isEqualTo(direct[b][t]);
            }
        }
    }
}
