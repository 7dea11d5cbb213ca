package io.mambaflink.operators;

import io.mambaflink.kernels.state.StateCodec;
import io.mambaflink.kernels.state.StateFormatException;
import io.mambaflink.kernels.state.StateLayout;
import io.mambaflink.kernels.state.StreamState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The value of a stream in keyed state: the operator's own fields in front of the {@link StateCodec} bytes, which carry
 * the model fingerprint and the position.
 *
 * <pre>
 * offset size field
 * 0      4    magic 'MBKS'
 * 4      2    format version (1)
 * 6      8    processing time of the stream's last event, ms
 * 14     4    o: length of the last output (0 = none)
 * 18     4o   last output, float32 little-endian
 * 18+4o  ...  StateCodec bytes
 * </pre>
 */
public final class StoredState {
    public static final int MAGIC = 0x4D424B53; // "MBKS"
    public static final short VERSION = 1;
    static final int HEADER_BYTES = 18;

    /** What {@link #decode} returns beside the state it fills. */
    public record Decoded(float[] lastOutput, long lastActive) {}

    private StoredState() {}

    /** Bytes of a stored stream of this layout with a last output of {@code outputDim} floats. */
    public static int encodedSize(StateLayout layout, int outputDim) {
        return HEADER_BYTES + 4 * outputDim + StateCodec.encodedSize(layout);
    }

    public static byte[] encode(StreamState state, long fingerprint, float[] lastOutput, long lastActive) {
        return encode(state, fingerprint, lastOutput, lastActive, null);
    }

    /**
     * The encoding, written into {@code reuse} when it has exactly the encoding's length (no allocation), else into a new
     * array. Only for a consumer that copies the bytes before the next call (RocksDB's value state serializes them in
     * {@code update}; a heap backend would keep the array).
     */
    public static byte[] encode(StreamState state, long fingerprint, float[] lastOutput, long lastActive, byte[] reuse) {
        int o = lastOutput == null ? 0 : lastOutput.length;
        int size = HEADER_BYTES + 4 * o + StateCodec.encodedSize(state);
        byte[] out = reuse != null && reuse.length == size ? reuse : new byte[size];
        ByteBuffer buf = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(MAGIC).putShort(VERSION).putLong(lastActive).putInt(o);
        if (o > 0) {
            buf.asFloatBuffer().put(lastOutput);
        }
        StateCodec.encode(state, fingerprint, out, HEADER_BYTES + 4 * o);
        return out;
    }

    /** The processing time of the stream's last event, read from the header only. */
    public static long lastActive(byte[] stored) {
        return header(stored).getLong(6);
    }

    /**
     * Decodes into {@code dst}.
     *
     * @throws StateFormatException when the value is malformed or belongs to another model (reason FINGERPRINT)
     */
    public static Decoded decode(byte[] stored, long expectedFingerprint, StreamState dst) {
        ByteBuffer buf = header(stored);
        long lastActive = buf.getLong(6);
        int o = buf.getInt(14);
        if (o < 0 || HEADER_BYTES + 4L * o > stored.length) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH,
                    "stored stream: last output of " + o + " floats does not fit in " + stored.length + " bytes");
        }
        float[] lastOutput = null;
        if (o > 0) {
            lastOutput = new float[o];
            buf.position(HEADER_BYTES);
            buf.asFloatBuffer().get(lastOutput);
        }
        StateCodec.decode(stored, HEADER_BYTES + 4 * o, stored.length - HEADER_BYTES - 4 * o, expectedFingerprint, dst);
        return new Decoded(lastOutput, lastActive);
    }

    private static ByteBuffer header(byte[] stored) {
        if (stored == null || stored.length < HEADER_BYTES) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stored stream is "
                    + (stored == null ? "null" : stored.length + " bytes") + ", shorter than its " + HEADER_BYTES + "-byte header");
        }
        ByteBuffer buf = ByteBuffer.wrap(stored).order(ByteOrder.LITTLE_ENDIAN);
        if (buf.getInt(0) != MAGIC) {
            throw new StateFormatException(StateFormatException.Reason.MAGIC,
                    String.format("not a stored stream: magic %08x, expected %08x", buf.getInt(0), MAGIC));
        }
        if (buf.getShort(4) != VERSION) {
            throw new StateFormatException(StateFormatException.Reason.VERSION,
                    "stored stream format version " + buf.getShort(4) + " is not supported, expected " + VERSION);
        }
        return buf;
    }
}
