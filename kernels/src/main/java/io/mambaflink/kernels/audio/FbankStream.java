package io.mambaflink.kernels.audio;

import java.util.Arrays;

/**
 * One audio stream's log-mel front end across chunks: the samples after the last whole frame wait for the next chunk,
 * so chunks of any size give the frames of the whole signal, bit for bit. Its state is {@link #tail} (fewer than
 * frameLength samples) and {@link #frames} (frames emitted so far); {@link #restore} takes them back, so it can live in
 * checkpointed state beside the model's.
 */
public final class FbankStream {
    private float[] buf; // (capacity) tail, then the chunk being framed
    private int len;
    private long frames;

    /** Receives one frame's features; {@code mel} (numMelBins) is only valid during the call. */
    @FunctionalInterface
    public interface FrameSink {
        void accept(long frameIndex, float[] mel);
    }

    public FbankStream() {
        this(new float[0], 0);
    }

    private FbankStream(float[] tail, long frames) {
        this.buf = Arrays.copyOf(tail, Math.max(16, tail.length));
        this.len = tail.length;
        this.frames = frames;
    }

    /**
     * A stream from its saved state. Throws IllegalArgumentException (naming what is wrong) for a tail of frameLength
     * samples or more (it would have made a frame), a non-finite sample, or a negative frame count.
     */
    public static FbankStream restore(float[] tail, long frames, KaldiFbank.Options o) {
        if (tail.length >= o.frameLength()) {
            throw new IllegalArgumentException("fbank stream state: " + tail.length + " pending samples, expected fewer than a frame ("
                    + o.frameLength() + ")");
        }
        if (frames < 0) {
            throw new IllegalArgumentException("fbank stream state: negative frame count " + frames);
        }
        KaldiFbank.checkFinite(tail, 0, tail.length);
        return new FbankStream(tail, frames);
    }

    /**
     * Appends {@code n} samples (int16 scale) and hands every frame they complete to {@code sink}, in order. Returns the
     * frames emitted. A non-finite sample throws IllegalArgumentException and leaves the stream as it was.
     */
    public int push(KaldiFbank fbank, float[] samples, int off, int n, FrameSink sink) {
        KaldiFbank.checkFinite(samples, off, n);
        if (len + n > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(len + n, 2 * buf.length));
        }
        System.arraycopy(samples, off, buf, len, n);
        len += n;
        KaldiFbank.Options o = fbank.options();
        float[] mel = fbank.mel;
        int start = 0;
        int emitted = 0;
        while (len - start >= o.frameLength()) {
            fbank.frame(buf, start, mel, 0);
            sink.accept(frames++, mel);
            emitted++;
            start += o.frameShift();
        }
        // keep what the next frame starts with (frameShift <= frameLength, so start <= len)
        int keep = len - start;
        System.arraycopy(buf, start, buf, 0, keep);
        len = keep;
        return emitted;
    }

    /** Samples waiting for the next frame (fewer than frameLength): a copy. */
    public float[] tail() {
        return Arrays.copyOf(buf, len);
    }

    /** Frames emitted so far. */
    public long frames() {
        return frames;
    }

    /** 16-bit little-endian PCM as samples in the int16 scale; an odd byte count throws IllegalArgumentException. */
    public static float[] pcm16le(byte[] bytes) {
        if ((bytes.length & 1) != 0) {
            throw new IllegalArgumentException("16-bit PCM: " + bytes.length + " bytes is not a whole number of samples");
        }
        float[] s = new float[bytes.length / 2];
        for (int i = 0; i < s.length; i++) {
            s[i] = (short) ((bytes[2 * i] & 0xff) | (bytes[2 * i + 1] << 8));
        }
        return s;
    }
}
