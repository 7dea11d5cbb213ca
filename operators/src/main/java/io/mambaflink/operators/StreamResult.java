package io.mambaflink.operators;

import java.util.Arrays;
import java.util.Objects;

/** The model's output for one event. A Flink POJO. */
public class StreamResult {
    /** Stream key. */
    public String key;
    /** The event's timestamp, ms. */
    public long ts;
    /** Events the stream has seen, this one included (1 for the first event). */
    public long position;
    /** (outputDim) model output for this event: logits, regression values or CTC logits. */
    public float[] output;
    /** (outputDim) the output of the stream's previous event, or null at the stream's first event. */
    public float[] previousOutput;
    /** (inputDim) the event's features, or null for token input. */
    public float[] input;
    /** The event's token id, or -1. */
    public int token = -1;
    /** True for the final result emitted by an "end" control (output is the last event's output). */
    public boolean end;
    /** The event's attachment, passed through. */
    public byte[] attachment;

    public StreamResult() {}

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamResult r && ts == r.ts && position == r.position && token == r.token && end == r.end
                && Objects.equals(key, r.key) && Arrays.equals(output, r.output)
                && Arrays.equals(previousOutput, r.previousOutput) && Arrays.equals(input, r.input)
                && Arrays.equals(attachment, r.attachment);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, ts, position, Arrays.hashCode(output));
    }

    @Override
    public String toString() {
        return "StreamResult{key=" + key + ", ts=" + ts + ", position=" + position + (end ? ", end" : "")
                + ", output=" + Arrays.toString(output) + "}";
    }
}
