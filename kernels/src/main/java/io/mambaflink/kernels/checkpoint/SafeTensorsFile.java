package io.mambaflink.kernels.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code .safetensors} file: an 8-byte little-endian header length, a JSON header, then the data section.
 * The header is validated as a whole on open; tensor data is memory-mapped and converted straight into the result
 * array, so weights cross the Java heap once.
 */
public final class SafeTensorsFile implements AutoCloseable {

    /** A tensor's header entry. Offsets are relative to the data section. */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        public String shapeString() {
            return Arrays.toString(shape).replace('[', '(').replace(']', ')');
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;

    private SafeTensorsFile(Path path, FileChannel channel, long dataStart, Map<String, Entry> entries) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
    }

    public static SafeTensorsFile open(Path path) {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new CheckpointException(path + ": cannot open: " + e.getMessage(), e);
        }
        try {
            return parse(path, ch);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static SafeTensorsFile parse(Path path, FileChannel ch) {
        try {
            long size = ch.size();
            if (size < 8) {
                throw new CheckpointException(path + ": file is " + size + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen < 2 || headerLen > size - 8) {
                throw new CheckpointException(path + ": header length " + headerLen + " runs past the end of the file ("
                        + size + " bytes)");
            }
            if (headerLen > MAX_HEADER) {
                throw new CheckpointException(path + ": header length " + headerLen + " exceeds the " + MAX_HEADER + "-byte limit");
            }
            ByteBuffer hdr = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hdr, 8);
            JsonNode root;
            try {
                root = JSON.readTree(hdr.array());
            } catch (IOException e) {
                throw new CheckpointException(path + ": header is not valid JSON: " + e.getMessage(), e);
            }
            if (root == null || !root.isObject()) {
                throw new CheckpointException(path + ": header is not a JSON object");
            }
            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;
            Map<String, Entry> entries = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getKey().equals("__metadata__")) {
                    continue;
                }
                entries.put(f.getKey(), entry(path, f.getKey(), f.getValue()));
            }
            checkLayout(path, entries, dataSize);
            return new SafeTensorsFile(path, ch, dataStart, Collections.unmodifiableMap(entries));
        } catch (IOException e) {
            throw new CheckpointException(path + ": read failed: " + e.getMessage(), e);
        }
    }

    private static Entry entry(Path path, String name, JsonNode node) {
        String where = path + ": tensor " + name;
        if (!node.isObject()) {
            throw new CheckpointException(where + ": header entry is not an object");
        }
        JsonNode dt = node.get("dtype");
        JsonNode shape = node.get("shape");
        JsonNode offs = node.get("data_offsets");
        if (dt == null || !dt.isTextual()) {
            throw new CheckpointException(where + ": missing dtype");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dt.asText());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(where + ": unknown dtype " + dt.asText() + " (supported: F32, F16, BF16, F64, I64, I32, I16)");
        }
        if (shape == null || !shape.isArray()) {
            throw new CheckpointException(where + ": missing shape");
        }
        long[] dims = new long[shape.size()];
        for (int i = 0; i < dims.length; i++) {
            if (!shape.get(i).canConvertToLong() || shape.get(i).asLong() < 0) {
                throw new CheckpointException(where + ": invalid shape " + shape);
            }
            dims[i] = shape.get(i).asLong();
        }
        if (offs == null || !offs.isArray() || offs.size() != 2 || !offs.get(0).isIntegralNumber() || !offs.get(1).isIntegralNumber()) {
            throw new CheckpointException(where + ": data_offsets must be two integers, found " + offs);
        }
        long begin = offs.get(0).asLong();
        long end = offs.get(1).asLong();
        Entry e = new Entry(name, dtype, dims, begin, end);
        if (begin < 0 || end < begin) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + ") out of range");
        }
        long need = e.numel() * dtype.bytes();
        if (end - begin != need) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + ") out of range: "
                    + dtype + " " + e.shapeString() + " needs " + need + " bytes, the offsets span " + (end - begin));
        }
        return e;
    }

    private static void checkLayout(Path path, Map<String, Entry> entries, long dataSize) {
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        Entry prev = null;
        long maxEnd = 0;
        for (Entry e : sorted) {
            if (prev != null && e.begin() < prev.end() && e.end() > e.begin()) {
                throw new CheckpointException(path + ": tensors " + prev.name() + " [" + prev.begin() + ", " + prev.end()
                        + ") and " + e.name() + " [" + e.begin() + ", " + e.end() + ") overlap");
            }
            if (e.end() > e.begin()) {
                prev = e;
            }
            maxEnd = Math.max(maxEnd, e.end());
        }
        if (maxEnd > dataSize) {
            Entry last = sorted.get(sorted.size() - 1);
            throw new CheckpointException(path + ": truncated data: the header needs " + maxEnd
                    + " data bytes (tensor " + last.name() + " ends at " + last.end() + "), the file holds " + dataSize);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new CheckpointException(path + ": missing tensor " + name);
        }
        return e;
    }

    private ByteBuffer map(Entry e) {
        long len = e.end() - e.begin();
        if (len > Integer.MAX_VALUE) {
            throw new CheckpointException(path + ": tensor " + e.name() + " is " + len + " bytes, over the 2 GiB per-tensor limit");
        }
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), len).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw new CheckpointException(path + ": cannot map tensor " + e.name() + ": " + ex.getMessage(), ex);
        }
    }

    /** The tensor converted to float32, straight from the mapped file. */
    public float[] floats(String name) {
        Entry e = entry(name);
        if (!e.dtype().floating()) {
            throw new CheckpointException(path + ": tensor " + name + " has dtype " + e.dtype() + ", expected a floating type");
        }
        ByteBuffer buf = map(e);
        int n = (int) e.numel();
        float[] out = new float[n];
        if (e.dtype() == DType.F32) {
            buf.asFloatBuffer().get(out);
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = e.dtype().getFloat(buf, i);
            }
        }
        return out;
    }

    /** The tensor as float64 (golden references are often stored in float64). */
    public double[] doubles(String name) {
        Entry e = entry(name);
        ByteBuffer buf = map(e);
        int n = (int) e.numel();
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = e.dtype().get(buf, i);
        }
        return out;
    }

    /** An integer tensor (I64, I32 or I16) as longs. */
    public long[] longs(String name) {
        Entry e = entry(name);
        if (e.dtype().floating()) {
            throw new CheckpointException(path + ": tensor " + name + " has dtype " + e.dtype() + ", expected I64, I32 or I16");
        }
        ByteBuffer buf = map(e);
        int n = (int) e.numel();
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = (long) e.dtype().get(buf, i);
        }
        return out;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing useful to do: the file was only read
        }
    }
}
