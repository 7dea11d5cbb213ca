package io.mambaflink.jobs.anomaly;

import com.google.protobuf.InvalidProtocolBufferException;
import io.mambaflink.operators.StreamEvent;
import io.mambaflink.schemas.TelemetryEvent;
import java.util.List;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * TelemetryEvent bytes to a {@link StreamEvent} whose features follow the model's order; records that cannot become
 * one go to {@link #DEAD_LETTER}. The event's attachment is the dead-letter envelope (original bytes and coordinates),
 * so an event the operator rejects can still be dead-lettered with its origin.
 */
public final class TelemetryDecoder extends ProcessFunction<KafkaRecord, StreamEvent> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<KeyedBytes> DEAD_LETTER = new OutputTag<>("undecodable") {};

    private final String[] featureNames;

    public TelemetryDecoder(List<String> featureNames) {
        this.featureNames = featureNames.toArray(new String[0]);
    }

    @Override
    public void processElement(KafkaRecord r, Context ctx, Collector<StreamEvent> out) {
        TelemetryEvent t;
        try {
            t = TelemetryEvent.parseFrom(r.value == null ? new byte[0] : r.value);
        } catch (InvalidProtocolBufferException e) {
            ctx.output(DEAD_LETTER, DeadLetters.of(r, DeadLetters.UNDECODABLE, "not a TelemetryEvent: " + e.getMessage()));
            return;
        }
        if (t.getEntityId().isEmpty()) {
            ctx.output(DEAD_LETTER, DeadLetters.of(r, DeadLetters.UNDECODABLE, "TelemetryEvent without entity_id"));
            return;
        }
        StreamEvent e;
        if (!t.getControl().isEmpty()) {
            e = StreamEvent.control(t.getEntityId(), t.getEventTimeMs(), t.getControl());
        } else {
            float[] x = new float[featureNames.length];
            for (int i = 0; i < x.length; i++) {
                Double v = t.getFeaturesMap().get(featureNames[i]);
                if (v == null) {
                    ctx.output(DEAD_LETTER, DeadLetters.of(r, DeadLetters.MISSING_FEATURE, "feature '" + featureNames[i]
                            + "' is missing: expected " + List.of(featureNames) + ", found " + t.getFeaturesMap().keySet()));
                    return;
                }
                x[i] = v.floatValue();
            }
            e = StreamEvent.features(t.getEntityId(), t.getEventTimeMs(), x);
        }
        e.attachment = DeadLetters.envelope(r).build().toByteArray();
        out.collect(e);
    }
}
