package io.mambaflink.kernels.state;

import java.util.Arrays;

/** One stream's recurrent state: every layer's conv window and SSM state, and the count of events it has seen. */
public final class StreamState {
    /** (nLayers, convStateSize + ssmStateSize), see {@link StateLayout}. */
    private final float[] data;
    /** Events this stream has consumed. */
    private long position;

    public StreamState(StateLayout layout) {
        this(new float[layout.size()], 0);
    }

    public StreamState(float[] data, long position) {
        this.data = data;
        this.position = position;
    }

    public float[] data() {
        return data;
    }

    public long position() {
        return position;
    }

    public void setPosition(long position) {
        this.position = position;
    }

    /** A zero state is the start of a stream. */
    public void reset() {
        Arrays.fill(data, 0f);
        position = 0;
    }

    public void copyFrom(StreamState other) {
        if (other.data.length != data.length) {
            throw new IllegalArgumentException("state size mismatch: " + other.data.length + " != " + data.length);
        }
        System.arraycopy(other.data, 0, data, 0, data.length);
        position = other.position;
    }

    public StreamState copy() {
        return new StreamState(data.clone(), position);
    }

    /** True when every value is finite. */
    public boolean isFinite() {
        for (float v : data) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }
}
