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

    public static byte[] encode(StreamState state, long fingerprint) {
        float[] data = state.data();
        byte[] out = new byte[HEADER_BYTES + 4 * data.length];
        ByteBuffer buf = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(MAGIC).putShort(VERSION).putLong(fingerprint).putLong(state.position()).putInt(data.length);
        buf.asFloatBuffer().put(data);
        return out;
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
        ByteBuffer buf = header(encoded);
        long fingerprint = buf.getLong(6);
        if (fingerprint != expectedFingerprint) {
            throw new StateFormatException(StateFormatException.Reason.FINGERPRINT, String.format(
                    "stream state belongs to model %016x, expected model %016x", fingerprint, expectedFingerprint));
        }
        long position = buf.getLong(14);
        int n = buf.getInt(22);
        float[] data = dst.data();
        if (n != data.length || encoded.length != HEADER_BYTES + 4L * n) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stream state length: expected "
                    + data.length + " floats (" + (HEADER_BYTES + 4L * data.length) + " bytes), found " + n
                    + " floats in " + encoded.length + " bytes");
        }
        if (position < 0) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stream state position is negative: " + position);
        }
        buf.position(HEADER_BYTES);
        buf.asFloatBuffer().get(data);
        dst.setPosition(position);
    }

    private static ByteBuffer header(byte[] encoded) {
        if (encoded == null || encoded.length < HEADER_BYTES) {
            throw new StateFormatException(StateFormatException.Reason.LENGTH, "stream state is "
                    + (encoded == null ? "null" : encoded.length + " bytes") + ", shorter than its " + HEADER_BYTES + "-byte header");
        }
        ByteBuffer buf = ByteBuffer.wrap(encoded).order(ByteOrder.LITTLE_ENDIAN);
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
