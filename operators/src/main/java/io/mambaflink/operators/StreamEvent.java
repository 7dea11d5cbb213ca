package io.mambaflink.operators;

import java.util.Arrays;
import java.util.Objects;

/**
 * One event of one stream: a payload (a token id or a feature vector) or a control. A Flink POJO (public fields, no-arg
 * constructor), so it never falls back to Kryo.
 */
public class StreamEvent {
    /** The control values; any other non-null control is rejected as unknown. */
    public static final String RESET = "reset";
    public static final String END = "end";

    /** Stream key (device, card, call id). */
    public String key;
    /** Event timestamp, ms. */
    public long ts;
    /** Token id for language models; -1 when absent. */
    public int token = -1;
    /** (inputDim) feature vector for feature models; null when absent. */
    public float[] features;
    /** null for a payload event, else "reset" or "end". */
    public String control;
    /** Opaque bytes carried through to the result or rejection (e.g. the source record), may be null. */
    public byte[] attachment;

    public StreamEvent() {}

    public static StreamEvent token(String key, long ts, int token) {
        StreamEvent e = new StreamEvent();
        e.key = key;
        e.ts = ts;
        e.token = token;
        return e;
    }

    public static StreamEvent features(String key, long ts, float[] features) {
        StreamEvent e = new StreamEvent();
        e.key = key;
        e.ts = ts;
        e.features = features;
        return e;
    }

    public static StreamEvent control(String key, long ts, String control) {
        StreamEvent e = new StreamEvent();
        e.key = key;
        e.ts = ts;
        e.control = control;
        return e;
    }

    public String getKey() {
        return key;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamEvent e && ts == e.ts && token == e.token && Objects.equals(key, e.key)
                && Arrays.equals(features, e.features) && Objects.equals(control, e.control)
                && Arrays.equals(attachment, e.attachment);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, ts, token, Arrays.hashCode(features), control);
    }

    @Override
    public String toString() {
        return "StreamEvent{key=" + key + ", ts=" + ts + (token >= 0 ? ", token=" + token : "")
                + (features != null ? ", features=" + Arrays.toString(features) : "")
                + (control != null ? ", control=" + control : "") + "}";
    }
}
