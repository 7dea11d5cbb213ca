package io.mambaflink.jobs.anomaly;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.mambaflink.operators.RejectedEvent;
import io.mambaflink.schemas.RejectedEnvelope;
import org.apache.flink.api.common.functions.MapFunction;

/** Dead-letter records: a {@link RejectedEnvelope} with the original bytes, coordinates and reason. */
public final class DeadLetters {
    /** The record's value is not a decodable TelemetryEvent. */
    public static final String UNDECODABLE = "UNDECODABLE";
    /** A feature the model needs is absent from the event. */
    public static final String MISSING_FEATURE = "MISSING_FEATURE";

    private DeadLetters() {}

    /** The envelope without a reason: carried through the operator as the event's attachment. */
    public static RejectedEnvelope.Builder envelope(KafkaRecord r) {
        RejectedEnvelope.Builder b = RejectedEnvelope.newBuilder()
                .setTopic(r.topic == null ? "" : r.topic)
                .setPartition(r.partition)
                .setOffset(r.offset)
                .setRecordTimestampMs(r.timestamp);
        if (r.value != null) {
            b.setOriginal(ByteString.copyFrom(r.value));
        }
        if (r.key != null) {
            b.setOriginalKey(ByteString.copyFrom(r.key));
        }
        return b;
    }

    public static KeyedBytes of(KafkaRecord r, String reason, String message) {
        return new KeyedBytes(r.key, envelope(r).setReason(reason).setMessage(message).build().toByteArray(), r.timestamp);
    }

    /** An event the operator rejected: its attachment is the envelope, now with the operator's reason. */
    public static final class FromRejected implements MapFunction<RejectedEvent, KeyedBytes> {
        private static final long serialVersionUID = 1L;

        @Override
        public KeyedBytes map(RejectedEvent r) throws InvalidProtocolBufferException {
            RejectedEnvelope.Builder b = r.event.attachment == null ? RejectedEnvelope.newBuilder()
                    : RejectedEnvelope.newBuilder().mergeFrom(r.event.attachment);
            RejectedEnvelope env = b.setReason(r.reason).setMessage(r.message == null ? "" : r.message).build();
            byte[] key = env.getOriginalKey().isEmpty() ? null : env.getOriginalKey().toByteArray();
            return new KeyedBytes(key, env.toByteArray(), env.getRecordTimestampMs());
        }
    }
}
