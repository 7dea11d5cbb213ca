package io.mambaflink.kernels.checkpoint;

import java.nio.ByteBuffer;

/** safetensors element types this loader reads. Floating types convert to float32 once, at load. */
public enum DType {
    F32(4), F16(2), BF16(2), F64(8), I64(8), I32(4), I16(2);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public boolean floating() {
        return this != I64 && this != I32 && this != I16;
    }

    /** Reads element {@code i} of a little-endian buffer as a double. */
    double get(ByteBuffer buf, int i) {
        return switch (this) {
            case F32 -> buf.getFloat(4 * i);
            case F64 -> buf.getDouble(8 * i);
            case F16 -> halfToFloat(buf.getShort(2 * i));
            case BF16 -> Float.intBitsToFloat((buf.getShort(2 * i) & 0xffff) << 16);
            case I64 -> buf.getLong(8 * i);
            case I32 -> buf.getInt(4 * i);
            case I16 -> buf.getShort(2 * i);
        };
    }

    /** Reads element {@code i} as a float; exact for F32, F16 and BF16. */
    float getFloat(ByteBuffer buf, int i) {
        return switch (this) {
            case F32 -> buf.getFloat(4 * i);
            case F16 -> halfToFloat(buf.getShort(2 * i));
            case BF16 -> Float.intBitsToFloat((buf.getShort(2 * i) & 0xffff) << 16);
            default -> (float) get(buf, i);
        };
    }

    /** IEEE 754 binary16 to float32 (Java 17 has no Float.float16ToFloat). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            // subnormal: value = mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
