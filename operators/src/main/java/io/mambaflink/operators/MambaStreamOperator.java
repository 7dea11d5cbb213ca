package io.mambaflink.operators;

import static org.apache.flink.util.Preconditions.checkNotNull;

import io.mambaflink.kernels.MambaConfig;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.cuda.CudaSupport;
import io.mambaflink.kernels.engine.Backend;
import io.mambaflink.kernels.engine.EngineCapacityException;
import io.mambaflink.kernels.engine.EngineOptions;
import io.mambaflink.kernels.engine.Engines;
import io.mambaflink.kernels.engine.StepBatch;
import io.mambaflink.kernels.engine.StepEngine;
import io.mambaflink.kernels.state.StateFormatException;
import io.mambaflink.kernels.state.StreamState;
import io.mambaflink.operators.cache.CachedStream;
import io.mambaflink.operators.cache.LruStateCache;
import io.mambaflink.operators.cache.StateCache;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.state.rocksdb.RocksDBKeyedStateBackend;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a Mamba model over keyed event streams, one recurrent step per event, many keys per engine call.
 *
 * <p>Events are validated on arrival (bad ones go to {@link #REJECTED} at once) and buffered. A flush groups the buffer
 * by key in arrival order and steps it in rounds: each round takes every key's next payload into one engine batch,
 * applying the controls in front of it first. A flush happens when the buffer holds {@code maxBatchSize} events, when
 * its oldest event has waited {@code maxBatchDelay}, before a watermark is forwarded, before a checkpoint barrier and at
 * {@link #finish()}; so no snapshot and no watermark ever sees a buffered event.
 *
 * <p>Each key's state lives in keyed state as {@link StoredState} bytes (the RocksDB backend in production). Hot
 * states live in engine slots through a {@link StateCache}; dirty ones are written back before each checkpoint barrier
 * and on eviction, so keyed state is exact at every checkpoint and RocksDB is not touched per event.
 */
public class MambaStreamOperator extends AbstractStreamOperator<StreamResult>
        implements OneInputStreamOperator<StreamEvent, StreamResult>, Triggerable<Object, VoidNamespace> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(MambaStreamOperator.class);

    /** Keyed state holding each stream's {@link StoredState}. */
    public static final String STATE_NAME = "mamba-stream-state";
    /** Keyed processing-time timers that expire idle streams. */
    public static final String TTL_TIMERS = "mamba-state-ttl";
    /** Rejected events: bad input, and streams reset after a non-finite step. */
    public static final OutputTag<RejectedEvent> REJECTED =
            new OutputTag<>("mamba-rejected", TypeInformation.of(RejectedEvent.class));

    /** Validated settings. */
    private final MambaOperatorConfig config;

    /** The model, loaded in open(). */
    private transient MambaModel model;
    /** Owns the slots of every hot stream. */
    private transient StepEngine engine;
    /** Reused engine batch. */
    private transient StepBatch batch;
    /** Which buffered event each batch row came from. */
    private transient Pending[] rowEvents;
    /** Which stream each batch row steps. */
    private transient CachedStream[] rowStreams;
    /** Keyed state of the stream whose key is current. */
    private transient ValueState<byte[]> stored;
    /** Hot keys to engine slots. */
    private transient StateCache cache;
    /** TTL timers. */
    private transient InternalTimerService<VoidNamespace> ttlTimers;
    /** Events waiting for the next flush, in arrival order. */
    private transient List<Pending> buffer;
    /** Processing time when the oldest buffered event arrived. */
    private transient long oldestArrival;
    /** A flush-delay timer is registered and has not fired. */
    private transient boolean delayTimerPending;
    /** Host copy of one state for load and write-back. */
    private transient StreamState scratch;
    /** Copies input events when object reuse is on (the runtime may reuse the instance we buffer). */
    private transient TypeSerializer<StreamEvent> copier;
    private transient long ttlMs;
    private transient long ttlGranularityMs;

    private transient Counter eventsIn;
    private transient Counter eventsOut;
    private transient Counter eventsRejected;
    private transient EnumMap<RejectReason, Counter> rejectedByReason;
    private transient Counter fingerprintResets;
    private transient Counter expiredStates;
    private transient Counter cacheHits;
    private transient Counter cacheMisses;
    private transient Histogram batchSize;
    private transient Histogram flushLatencyUs;
    private transient Histogram stepLatencyUs;
    /**
     * True on RocksDB, whose value state serializes a value in {@code update}: the write-back then encodes every stream
     * into {@link #encodeBuffer}, one multi-megabyte allocation fewer per stream (a humongous one in G1 with small
     * regions; RocksDB's own put is the larger cost, see the README). Other backends (heap, changelog) may keep the
     * array, so they get a new one each time.
     */
    private transient boolean reuseEncodeBuffer;
    private transient byte[] encodeBuffer;
    /**
     * The last write-back of all dirty streams (before a checkpoint's barrier, or at end of input): ms in the task
     * thread, and streams written. Gauges lastCheckpointWriteBackMs / lastCheckpointWriteBackStates.
     */
    private transient volatile long lastWriteBackMs;
    private transient volatile int lastWriteBackStates;

    /** A buffered event with its key and record timestamp. */
    private record Pending(Object key, StreamEvent event, long timestamp, boolean hasTimestamp) {}

    public MambaStreamOperator(MambaOperatorConfig config) {
        this.config = checkNotNull(config, "config is null");
    }

    public MambaOperatorConfig config() {
        return config;
    }

    /**
     * The step engine of this instance ({@link Engines#create}). Its exceptions are never caught here: a failed step
     * (a CUDA error, say) fails the task, and Flink restarts it from the last checkpoint; a CUDA device lost to the
     * process ends the TaskManager instead ({@link CudaDeviceLostError}), since a restart in it would meet the same device.
     */
    protected StepEngine createEngine(MambaModel model, EngineOptions options) {
        return Engines.create(model, options);
    }

    /** This instance's CUDA device ({@link GpuAssignment}); 0 where CUDA is not in play. */
    private int cudaDevice() {
        if (config.backend() == Backend.CPU || !CudaSupport.available()) {
            return 0;
        }
        int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        int device = GpuAssignment.pick(config.cudaDevice(),
                GpuAssignment.indexes(getRuntimeContext().getExternalResourceInfos(GpuAssignment.FLINK_GPU_RESOURCE)), subtask,
                CudaSupport.deviceCount());
        LOG.info("subtask {} steps on CUDA device {}", subtask, device);
        return device;
    }

    @Override
    public void open() throws Exception {
        super.open();
        model = config.model().load();
        EngineOptions options = new EngineOptions(config.backend(), config.cacheMaxStates(), config.maxBatchSize(),
                config.cpuThreads(), EngineOptions.StateMode.RESIDENT, cudaDevice(), config.cudaMatmul());
        try {
            engine = DeviceLostGuard.create(() -> createEngine(model, options));
        } catch (EngineCapacityException e) {
            throw CacheCapacityException.of(config.cacheMaxStates(), config.maxBatchSize(), e);
        }
        batch = engine.newBatch();
        rowEvents = new Pending[config.maxBatchSize()];
        rowStreams = new CachedStream[config.maxBatchSize()];
        scratch = new StreamState(model.layout());
        cache = new LruStateCache(config.cacheMaxStates());
        reuseEncodeBuffer = getKeyedStateBackend() instanceof RocksDBKeyedStateBackend;
        buffer = new ArrayList<>(config.maxBatchSize());
        stored = getPartitionedState(new ValueStateDescriptor<>(STATE_NAME, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        ttlTimers = getInternalTimerService(TTL_TIMERS, VoidNamespaceSerializer.INSTANCE, this);
        ttlMs = config.stateTtl() == null ? 0 : config.stateTtl().toMillis();
        ttlGranularityMs = Math.max(1, ttlMs / 10);
        if (getExecutionConfig().isObjectReuseEnabled()) {
            copier = TypeInformation.of(StreamEvent.class).createSerializer(getExecutionConfig().getSerializerConfig());
        }
        registerMetrics(getMetricGroup());
        LOG.info("Mamba operator {}/{}: model {} ({}, fingerprint {}, {} bytes of state per stream), backend {}, "
                        + "batch {} / {}, cache {} streams, ttl {}, fingerprint policy {}",
                getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(),
                getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks(), model.source(),
                model.config().arch(), model.fingerprintHex(), model.layout().bytes(), engine.backend(),
                config.maxBatchSize(), config.maxBatchDelay(), config.cacheMaxStates(), config.stateTtl(),
                config.fingerprintPolicy());
    }

    private void registerMetrics(MetricGroup g) {
        eventsIn = g.counter("eventsIn");
        eventsOut = g.counter("eventsOut");
        eventsRejected = g.counter("eventsRejected");
        MetricGroup byReason = g.addGroup("rejected");
        rejectedByReason = new EnumMap<>(RejectReason.class);
        for (RejectReason r : RejectReason.values()) {
            rejectedByReason.put(r, byReason.counter(r.name()));
        }
        fingerprintResets = g.counter("fingerprintResets");
        expiredStates = g.counter("expiredStates");
        cacheHits = g.counter("cacheHits");
        cacheMisses = g.counter("cacheMisses");
        batchSize = g.histogram("batchSize", new DescriptiveStatisticsHistogram(1000));
        flushLatencyUs = g.histogram("flushLatencyUs", new DescriptiveStatisticsHistogram(1000));
        stepLatencyUs = g.histogram("stepLatencyUs", new DescriptiveStatisticsHistogram(1000));
        g.gauge("cachedStates", () -> cache.size());
        g.gauge("cachedStateBytes", () -> cache.size() * model.layout().bytes());
        g.gauge("lastCheckpointWriteBackMs", () -> lastWriteBackMs);
        g.gauge("lastCheckpointWriteBackStates", () -> lastWriteBackStates);
    }

    // ---------------------------------------------------------------- input

    @Override
    public void processElement(StreamRecord<StreamEvent> element) throws Exception {
        eventsIn.inc();
        StreamEvent e = copier == null ? element.getValue() : copier.copy(element.getValue());
        RejectedEvent rejected = validate(e);
        if (rejected != null) {
            reject(rejected, element.hasTimestamp(), element.getTimestamp());
            return;
        }
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (buffer.isEmpty()) {
            oldestArrival = now;
        }
        buffer.add(new Pending(getCurrentKey(), e, element.getTimestamp(), element.hasTimestamp()));
        if (buffer.size() >= config.maxBatchSize() || config.maxBatchDelay().isZero()) {
            flush();
        } else if (!delayTimerPending) {
            delayTimerPending = true;
            getProcessingTimeService().registerTimer(oldestArrival + config.maxBatchDelay().toMillis(), this::onDelayTimer);
        }
    }

    /** The rejection for a bad event, or null when it can be buffered. */
    private RejectedEvent validate(StreamEvent e) {
        MambaConfig c = model.config();
        if (e.key == null) {
            return new RejectedEvent(e, RejectReason.MISSING_KEY, "event has no key");
        }
        if (e.control != null) {
            if (StreamEvent.RESET.equals(e.control) || StreamEvent.END.equals(e.control)) {
                return null;
            }
            return new RejectedEvent(e, RejectReason.UNKNOWN_CONTROL,
                    "control '" + e.control + "': expected '" + StreamEvent.RESET + "' or '" + StreamEvent.END + "'");
        }
        if (c.io().tokenInput()) {
            if (e.token == -1) {
                return new RejectedEvent(e, RejectReason.MISSING_PAYLOAD, e.features != null
                        ? "model takes token ids, found a feature vector"
                        : "event has neither a token id nor a control");
            }
            if (e.token < 0 || e.token >= c.vocabSize()) {
                return new RejectedEvent(e, RejectReason.TOKEN_OUT_OF_VOCABULARY,
                        "token id " + e.token + " outside the vocabulary 0.." + (c.vocabSize() - 1));
            }
            return null;
        }
        if (e.features == null) {
            return new RejectedEvent(e, RejectReason.MISSING_PAYLOAD, e.token != -1
                    ? "model takes " + c.inputDim() + " features, found a token id"
                    : "event has neither a feature vector nor a control");
        }
        if (e.features.length != c.inputDim()) {
            return new RejectedEvent(e, RejectReason.WRONG_FEATURE_COUNT,
                    "expected " + c.inputDim() + " features, found " + e.features.length);
        }
        for (int i = 0; i < e.features.length; i++) {
            if (!Float.isFinite(e.features[i])) {
                return new RejectedEvent(e, RejectReason.NON_FINITE_FEATURE, "feature " + i + " is " + e.features[i]);
            }
        }
        return null;
    }

    private void reject(RejectedEvent r, boolean hasTimestamp, long timestamp) {
        eventsRejected.inc();
        rejectedByReason.get(RejectReason.valueOf(r.reason)).inc();
        output.collect(REJECTED, hasTimestamp ? new StreamRecord<>(r, timestamp) : new StreamRecord<>(r));
    }

    private void onDelayTimer(long time) throws Exception {
        delayTimerPending = false;
        if (buffer.isEmpty()) {
            return;
        }
        long due = oldestArrival + config.maxBatchDelay().toMillis();
        if (due <= time) {
            flush();
        } else {
            delayTimerPending = true;
            getProcessingTimeService().registerTimer(due, this::onDelayTimer);
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        flush();
        super.processWatermark(mark);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush();
        writeBackAll("checkpoint " + checkpointId);
    }

    @Override
    public void finish() throws Exception {
        if (engine != null) { // null: open() failed, nothing was buffered or cached
            flush();
            writeBackAll("end of input");
        }
        super.finish();
    }

    @Override
    public void close() throws Exception {
        try {
            if (engine != null) {
                engine.close();
            }
        } finally {
            super.close();
        }
    }

    // ---------------------------------------------------------------- flush

    /** One key's buffered events within a flush. */
    private static final class KeyQueue {
        final Object key;
        final List<Pending> events = new ArrayList<>(2);
        CachedStream stream;
        int next;

        KeyQueue(Object key) {
            this.key = key;
        }
    }

    /** Steps every buffered event and emits its result; leaves the buffer empty. */
    private void flush() throws Exception {
        if (buffer.isEmpty()) {
            return;
        }
        long start = System.nanoTime();
        LinkedHashMap<Object, KeyQueue> byKey = new LinkedHashMap<>();
        for (Pending p : buffer) {
            byKey.computeIfAbsent(p.key(), KeyQueue::new).events.add(p);
        }
        buffer.clear();
        KeyQueue[] queues = byKey.values().toArray(new KeyQueue[0]);
        for (KeyQueue q : queues) {
            q.stream = acquire(q.key);
        }
        boolean more = true;
        while (more) {
            more = false;
            batch.clear();
            for (KeyQueue q : queues) {
                while (q.next < q.events.size()) {
                    Pending p = q.events.get(q.next++);
                    if (p.event().control != null) {
                        applyControl(q.stream, p);
                        continue;
                    }
                    int row = p.event().features != null
                            ? batch.addFeatures(q.stream.slot(), p.event().features, 0)
                            : batch.addToken(q.stream.slot(), p.event().token);
                    rowEvents[row] = p;
                    rowStreams[row] = q.stream;
                    break;
                }
                more |= q.next < q.events.size();
            }
            if (batch.size() > 0) {
                step();
            }
        }
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (KeyQueue q : queues) {
            CachedStream s = q.stream;
            s.lastActive = now;
            s.dirty = true;
            if (ttlMs > 0) {
                long deadline = ((now + ttlMs + ttlGranularityMs - 1) / ttlGranularityMs) * ttlGranularityMs;
                if (deadline > s.ttlTimer) {
                    setCurrentKey(q.key);
                    ttlTimers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, deadline);
                    s.ttlTimer = deadline;
                }
            }
            s.unpin();
        }
        flushLatencyUs.update((System.nanoTime() - start) / 1000);
    }

    private void step() {
        int n = batch.size();
        long t0 = System.nanoTime();
        engine.step(batch);
        stepLatencyUs.update((System.nanoTime() - t0) / 1000);
        batchSize.update(n);
        float[] outputs = batch.outputs();
        int outDim = batch.outputDim();
        for (int row = 0; row < n; row++) {
            Pending p = rowEvents[row];
            CachedStream s = rowStreams[row];
            rowEvents[row] = null;
            rowStreams[row] = null;
            if (!batch.outputFinite(row)) {
                long position = engine.position(s.slot());
                engine.reset(s.slot());
                s.lastOutput = null;
                reject(new RejectedEvent(p.event(), RejectReason.NON_FINITE_STATE, "the step to position " + position
                        + " gave a non-finite output; the stream was reset"), p.hasTimestamp(), p.timestamp());
                continue;
            }
            StreamEvent e = p.event();
            StreamResult r = new StreamResult();
            r.key = e.key;
            r.ts = e.ts;
            r.position = engine.position(s.slot());
            int off = batch.outputOffset(row);
            r.output = Arrays.copyOfRange(outputs, off, off + outDim);
            r.previousOutput = s.lastOutput;
            r.input = e.features;
            r.token = e.token;
            r.attachment = e.attachment;
            s.lastOutput = r.output;
            emit(r, p);
        }
    }

    private void applyControl(CachedStream s, Pending p) {
        if (StreamEvent.END.equals(p.event().control)) {
            StreamEvent e = p.event();
            StreamResult r = new StreamResult();
            r.key = e.key;
            r.ts = e.ts;
            r.position = engine.position(s.slot());
            r.output = s.lastOutput;
            r.end = true;
            r.attachment = e.attachment;
            emit(r, p);
        }
        engine.reset(s.slot());
        s.lastOutput = null;
    }

    private void emit(StreamResult r, Pending p) {
        eventsOut.inc();
        output.collect(p.hasTimestamp() ? new StreamRecord<>(r, p.timestamp()) : new StreamRecord<>(r));
    }

    // ---------------------------------------------------------------- state

    /** The key's stream in an engine slot, pinned: from the cache, or loaded from keyed state. */
    private CachedStream acquire(Object key) throws Exception {
        CachedStream s = cache.get(key);
        if (s != null) {
            cacheHits.inc();
            return s;
        }
        cacheMisses.inc();
        s = cache.add(key, this::writeBack);
        setCurrentKey(key);
        byte[] bytes = stored.value();
        if (bytes == null) {
            engine.reset(s.slot());
            return s;
        }
        StoredState.Decoded d;
        try {
            d = StoredState.decode(bytes, model.fingerprint(), scratch);
        } catch (StateFormatException ex) {
            if (ex.reason() == StateFormatException.Reason.FINGERPRINT
                    && config.fingerprintPolicy() == FingerprintPolicy.RESET) {
                fingerprintResets.inc();
                LOG.warn("Stream {}: {}; starting it over ({} = RESET)", key, ex.getMessage(),
                        MambaOptions.FINGERPRINT_POLICY.key());
                engine.reset(s.slot());
                s.dirty = true;
                return s;
            }
            cache.remove(key);
            String hint = ex.reason() == StateFormatException.Reason.FINGERPRINT
                    ? " (model " + model.source() + "). Restore with the model that wrote this state, or set "
                            + MambaOptions.FINGERPRINT_POLICY.key() + " to RESET to start such streams over"
                    : "";
            throw new IllegalStateException("Stream " + key + " in keyed state " + STATE_NAME + ": " + ex.getMessage()
                    + hint, ex);
        }
        if (ttlMs > 0 && getProcessingTimeService().getCurrentProcessingTime() - d.lastActive() >= ttlMs) {
            // expired while no timer could fire (e.g. before a restore): the stream starts over
            expiredStates.inc();
            engine.reset(s.slot());
            s.dirty = true;
            return s;
        }
        engine.load(s.slot(), scratch);
        s.lastOutput = d.lastOutput();
        s.lastActive = d.lastActive();
        return s;
    }

    /**
     * Writes a dirty stream to keyed state (clearing it when the stream is at its start); true if it was dirty. Changes
     * the current key.
     */
    private boolean writeBack(CachedStream s) {
        if (!s.dirty) {
            return false;
        }
        setCurrentKey(s.key());
        try {
            if (engine.position(s.slot()) == 0 && s.lastOutput == null) {
                stored.clear();
            } else {
                engine.store(s.slot(), scratch);
                byte[] value = StoredState.encode(scratch, model.fingerprint(), s.lastOutput, s.lastActive, encodeBuffer);
                if (reuseEncodeBuffer) {
                    encodeBuffer = value;
                }
                stored.update(value);
            }
        } catch (Exception ex) {
            throw new IllegalStateException("writing stream " + s.key() + " to keyed state " + STATE_NAME, ex);
        }
        s.dirty = false;
        return true;
    }

    /** Writes every dirty cached stream to keyed state, and logs how many and how long (the task thread waits). */
    private void writeBackAll(String when) {
        long t0 = System.nanoTime();
        int written = 0;
        for (CachedStream s : cache.streams()) {
            if (writeBack(s)) {
                written++;
            }
        }
        lastWriteBackMs = (System.nanoTime() - t0) / 1_000_000;
        lastWriteBackStates = written;
        LOG.info("{}: {} dirty streams written back to keyed state ({} MB) in {} ms", when, written,
                written * (long) model.layout().bytes() >> 20, lastWriteBackMs);
    }

    @Override
    public void onProcessingTime(InternalTimer<Object, VoidNamespace> timer) throws Exception {
        if (ttlMs <= 0) {
            return;
        }
        Object key = timer.getKey();
        // a buffered event of this key counts as activity
        flush();
        setCurrentKey(key);
        long now = getProcessingTimeService().getCurrentProcessingTime();
        CachedStream s = cache.get(key);
        long lastActive;
        if (s != null) {
            s.unpin();
            lastActive = s.lastActive;
        } else {
            byte[] bytes = stored.value();
            if (bytes == null) {
                return;
            }
            lastActive = StoredState.lastActive(bytes);
        }
        if (now - lastActive >= ttlMs) {
            cache.remove(key);
            stored.clear();
            expiredStates.inc();
        }
    }

    @Override
    public void onEventTime(InternalTimer<Object, VoidNamespace> timer) {}

    // ---------------------------------------------------------------- for tests and benchmarks

    long rejectedCount(RejectReason reason) {
        return rejectedByReason.get(reason).getCount();
    }

    long fingerprintResetCount() {
        return fingerprintResets.getCount();
    }

    long expiredCount() {
        return expiredStates.getCount();
    }

    int cachedStreams() {
        return cache.size();
    }
}
