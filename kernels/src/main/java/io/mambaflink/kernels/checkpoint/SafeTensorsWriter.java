package io.mambaflink.kernels.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Writes {@code .safetensors} files (golden files, converted checkpoints, test checkpoints). */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A tensor to write: values as doubles, stored with {@code dtype}. */
    public record Tensor(DType dtype, long[] shape, double[] values) {
        public static Tensor of(DType dtype, float[] v, long... shape) {
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                d[i] = v[i];
            }
            return new Tensor(dtype, shape, d);
        }
    }

    private SafeTensorsWriter() {}

    public static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long off = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            long bytes = (long) t.values().length * t.dtype().bytes();
            ObjectNode n = header.putObject(e.getKey());
            n.put("dtype", t.dtype().name());
            var shape = n.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            var offs = n.putArray("data_offsets");
            offs.add(off);
            offs.add(off + bytes);
            off += bytes;
        }
        byte[] h = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int pad = (8 - h.length % 8) % 8;
        try (OutputStream out = Files.newOutputStream(file)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length + pad);
            out.write(len.array());
            out.write(h);
            for (int i = 0; i < pad; i++) {
                out.write(' ');
            }
            for (Tensor t : tensors.values()) {
                out.write(encode(t));
            }
        }
    }

    private static byte[] encode(Tensor t) {
        ByteBuffer b = ByteBuffer.allocate(t.values().length * t.dtype().bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : t.values()) {
            switch (t.dtype()) {
                case F32 -> b.putFloat((float) v);
                case F64 -> b.putDouble(v);
                case F16 -> b.putShort(floatToHalf((float) v));
                case BF16 -> b.putShort((short) (bf16Bits((float) v)));
                case I64 -> b.putLong((long) v);
                case I32 -> b.putInt((int) v);
            }
        }
        return b.array();
    }

    /** Round-to-nearest-even float32 to bfloat16 bits. */
    static int bf16Bits(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (bits >>> 16) | 0x40;
        }
        return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }

    /** float32 to IEEE binary16, round to nearest even (normal range; subnormals flush toward zero). */
    static short floatToHalf(float v) {
        int bits = Float.floatToRawIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mant = bits & 0x7fffff;
        if (((bits >>> 23) & 0xff) == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
        }
        if (exp >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (exp <= 0) {
            return (short) sign;
        }
        int half = sign | (exp << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) half;
    }
}
