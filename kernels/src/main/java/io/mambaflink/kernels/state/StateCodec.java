package io.mambaflink.kernels.state;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Compact binary encoding of a {@link StreamState}.
 *
 * <pre>
 * offset size field
 * 0      4    magic 'MBST'
 * 4      2    format version (1)
 * 6      8    model fingerprint
 * 14     8    position
 * 22     4    float count n
 * 26     4n   float32 little-endian state, {@link StateLayout} order
 * </pre>
 */
public final class StateCodec {
    public static final int MAGIC = 0x4D425354; // "MBST"
    public static final short VERSION = 1;
    public static final int HEADER_BYTES = 26;

    private StateCodec() {}

    public static int encodedSize(StateLayout layout) {
        return HEADER_BYTES + 4 * layout.size();
    }

    public static int encodedSize(StreamState state) {
        return HEADER_BYTES + 4 * state.data().length;
    }

    public static byte[] encode(StreamState state, long fingerprint) {
        byte[] out = new byte[encodedSize(state)];
        encode(state, fingerprint, out, 0);
        return out;
    }

    /** Writes the encoding into {@code dst} from {@code off}: {@link #HEADER_BYTES} + 4n bytes, no allocation. */
    public static void encode(StreamState state, long fingerprint, byte[] dst, int off) {
        float[] data = state.data();
        ByteBuffer buf = ByteBuffer.wrap(dst, off, encodedSize(state)).slice().order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(MAGIC).putShort(VERSION).putLong(fingerprint).putLong(state.position()).putInt(data.length);
        buf.asFloatBuffer().put(data);
    }

    /** Reads the fingerprint without decoding the state, or throws if the header is malformed. */
    public static long fingerprintOf(byte[] encoded) {
        ByteBuffer buf = header(encoded);
        return buf.getLong(6);
    }

    /**
     * Decodes into {@code dst}, checking version, fingerprint and length.
     *
     * @throws StateFormatException naming the check that failed, expected and found
     */
    public static void decode(byte[] encoded, long expectedFingerprint, StreamState dst) {
        decode(encoded, 0, encoded == null ? 0 : encoded.length, expectedFingerprint, dst);
    }

    /** {@link #decode(byte[], long, StreamState)} of the {@code length} bytes of {@code encoded} from {@code off}, no copy. */
    public static void decode(byte[] encoded, int off, int length, long expectedFingerprint, StreamState dst) {
        ByteBuffer buf = header(encoded, off, length);
        long fingerprint = buf.getLong(6);
        if (fingerprint != expectedFingerprint) {
            throw new StateFormatException(StateFormatException.Reason.FINGERPRINT, String.format(
                    "stream state belongs to model %016x, expected model %016x", fingerprint, expectedFingerprint));
        }
        long position = buf.getLong(14);
        int n = buf.getInt(22);
        float[] data = dst.data();
        if (n != data.length || length != HEADER_BYTES + 4L * n) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stream state length: expected "
                    + data.length + " floats (" + (HEADER_BYTES + 4L * data.length) + " bytes), found " + n
                    + " floats in " + length + " bytes");
        }
        if (position < 0) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stream state position is negative: " + position);
        }
        buf.position(HEADER_BYTES);
        buf.asFloatBuffer().get(data);
        dst.setPosition(position);
    }

    private static ByteBuffer header(byte[] encoded) {
        return header(encoded, 0, encoded == null ? 0 : encoded.length);
    }

    /** The checked header of the {@code length} bytes from {@code off}, as a little-endian buffer indexed from there. */
    private static ByteBuffer header(byte[] encoded, int off, int length) {
        if (encoded == null || length < HEADER_BYTES) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stream state is "
                    + (encoded == null ? "null" : length + " bytes") + ", shorter than its " + HEADER_BYTES + "-byte header");
        }
        ByteBuffer buf = ByteBuffer.wrap(encoded, off, length).slice().order(ByteOrder.LITTLE_ENDIAN);
        int magic = buf.getInt(0);
        if (magic != MAGIC) {
            throw new StateFormatException(StateFormatException.Reason.MAGIC,
                    String.format("not a stream state: magic %08x, expected %08x", magic, MAGIC));
        }
        short version = buf.getShort(4);
        if (version != VERSION) {
            throw new StateFormatException(StateFormatException.Reason.VERSION,
                    "stream state format version " + version + " is not supported, expected " + VERSION);
        }
        return buf;
    }
}
