package io.mambaflink.kernels.audio;

/**
 * Kaldi-compatible log-mel filterbank features, the front end most streaming speech models are trained on: what
 * {@code torchaudio.compliance.kaldi.fbank(waveform, num_mel_bins=80, frame_length=25, frame_shift=10, dither=0)} gives,
 * with every other option at its default. Per frame of {@code frameLength} samples, {@code frameShift} apart
 * ({@code snip_edges=true}: frame t covers samples t * frameShift .. t * frameShift + frameLength - 1, and a signal of n
 * samples has 1 + (n - frameLength) / frameShift frames, none if n < frameLength):
 *
 * <pre>
 * remove DC offset      x -= mean(x)
 * pre-emphasis          x[i] -= 0.97 x[i - 1], x[0] -= 0.97 x[0]
 * povey window          x[i] *= (0.5 - 0.5 cos(2 pi i / (frameLength - 1)))^0.85
 * power spectrum        |rfft(x zero-padded to fftSize)|^2, fftSize the next power of two (512)
 * mel energies          triangular filters, equally spaced on mel(f) = 1127 ln(1 + f / 700) from lowFreq to highFreq
 * log                   ln(max(energy, 1.1920929e-7))
 * </pre>
 *
 * <p>Samples are in the int16 scale (a 16-bit PCM sample's value as a float, not divided by 32768), as Kaldi and the
 * fixture {@code fbank/fbank-chirp.safetensors} take them. Each frame depends only on its own samples, so a stream cut
 * into chunks anywhere gives the same frames, bit for bit, as the whole signal ({@link FbankStream}).
 *
 * <p>Arithmetic is in double, output float32 (torchaudio computes in float32: within 1e-5 of its largest feature on
 * the fixture). An instance holds scratch buffers: one per thread.
 */
public final class KaldiFbank {
    /** Float32 machine epsilon: the floor under each mel energy before the log, as torchaudio's. */
    static final double ENERGY_FLOOR = 1.1920928955078125e-7;

    /**
     * @param sampleRate  samples per second
     * @param frameLength samples per frame (25 ms: 400 at 16 kHz)
     * @param frameShift  samples between frame starts (10 ms: 160)
     * @param numMelBins  mel filters, the features per frame
     * @param lowFreq     lowest filter edge, Hz
     * @param highFreq    highest filter edge, Hz; 0 or less: the Nyquist frequency plus this (Kaldi's convention)
     */
    public record Options(int sampleRate, int frameLength, int frameShift, int numMelBins, double lowFreq, double highFreq) {
        public Options {
            if (sampleRate <= 0 || frameLength <= 1 || frameShift <= 0 || frameShift > frameLength || numMelBins <= 0) {
                throw new IllegalArgumentException("fbank options: need sampleRate > 0, frameLength > 1, 0 < frameShift <= frameLength "
                        + "and numMelBins > 0, found " + sampleRate + ", " + frameLength + ", " + frameShift + ", " + numMelBins);
            }
            double nyquist = sampleRate / 2.0;
            double high = highEdge(sampleRate, highFreq);
            if (lowFreq < 0 || high > nyquist || lowFreq >= high) {
                throw new IllegalArgumentException("fbank options: need 0 <= lowFreq < highFreq <= " + nyquist + " Hz, found lowFreq "
                        + lowFreq + ", highFreq " + highFreq);
            }
        }

        /** 80 bins, 25 ms frames every 10 ms, 20 Hz to Nyquist: torchaudio's kaldi.fbank with num_mel_bins=80. */
        public static Options kaldi80(int sampleRate) {
            return new Options(sampleRate, sampleRate / 40, sampleRate / 100, 80, 20, 0);
        }

        /** The upper filter edge in Hz. */
        double highEdge() {
            return highEdge(sampleRate, highFreq);
        }

        private static double highEdge(int sampleRate, double highFreq) {
            return highFreq <= 0 ? sampleRate / 2.0 + highFreq : highFreq;
        }
    }

    private final Options o;
    /** FFT size: frameLength rounded up to a power of two. */
    private final int fftSize;
    private final double[] window; // (frameLength) povey
    /** First FFT bin of each mel filter, and its weights from there on. */
    private final int[] melStart; // (numMelBins)
    private final double[][] melWeights; // (numMelBins)(width of the filter in bins)
    private final double[] cos; // (fftSize / 2) twiddles
    private final double[] sin; // (fftSize / 2)
    private final int[] bitReverse; // (fftSize)
    private final double[] re; // (fftSize) scratch
    private final double[] im; // (fftSize) scratch
    private final double[] power; // (fftSize / 2 + 1) scratch
    /** One frame's features for {@link FbankStream}, so a chunk allocates nothing. */
    final float[] mel; // (numMelBins) scratch

    public KaldiFbank(Options o) {
        this.o = o;
        int n = 1;
        while (n < o.frameLength()) {
            n <<= 1;
        }
        this.fftSize = n;
        int len = o.frameLength();
        this.window = new double[len];
        for (int i = 0; i < len; i++) {
            window[i] = Math.pow(0.5 - 0.5 * Math.cos(2 * Math.PI * i / (len - 1)), 0.85);
        }
        // mel filters over FFT bins 0 .. fftSize / 2 - 1 (the Nyquist bin gets no weight, as in Kaldi)
        int bins = fftSize / 2;
        double binWidth = (double) o.sampleRate() / fftSize;
        double melLow = mel(o.lowFreq());
        double melHigh = mel(o.highEdge());
        double delta = (melHigh - melLow) / (o.numMelBins() + 1);
        this.melStart = new int[o.numMelBins()];
        this.melWeights = new double[o.numMelBins()][];
        for (int b = 0; b < o.numMelBins(); b++) {
            double left = melLow + b * delta;
            double center = left + delta;
            double right = center + delta;
            double[] w = new double[bins];
            int first = -1;
            int last = -1;
            for (int k = 0; k < bins; k++) {
                double m = mel(binWidth * k);
                double v = Math.max(0, Math.min((m - left) / (center - left), (right - m) / (right - center)));
                w[k] = v;
                if (v > 0) {
                    first = first < 0 ? k : first;
                    last = k;
                }
            }
            melStart[b] = Math.max(first, 0);
            melWeights[b] = first < 0 ? new double[0] : java.util.Arrays.copyOfRange(w, first, last + 1);
        }
        this.cos = new double[n / 2];
        this.sin = new double[n / 2];
        for (int i = 0; i < n / 2; i++) {
            cos[i] = Math.cos(-2 * Math.PI * i / n);
            sin[i] = Math.sin(-2 * Math.PI * i / n);
        }
        this.bitReverse = new int[n];
        int bits = Integer.numberOfTrailingZeros(n);
        for (int i = 0; i < n; i++) {
            bitReverse[i] = Integer.reverse(i) >>> (32 - bits);
        }
        this.re = new double[n];
        this.im = new double[n];
        this.power = new double[n / 2 + 1];
        this.mel = new float[o.numMelBins()];
    }

    /** 1127 ln(1 + f / 700), Kaldi's mel scale. */
    static double mel(double hz) {
        return 1127.0 * Math.log(1.0 + hz / 700.0);
    }

    public Options options() {
        return o;
    }

    /** Frames in a signal of {@code samples} samples (snip_edges). */
    public int frames(long samples) {
        return samples < o.frameLength() ? 0 : (int) (1 + (samples - o.frameLength()) / o.frameShift());
    }

    /** Every frame of a whole signal: (frames, numMelBins). */
    public float[][] compute(float[] samples) {
        checkFinite(samples, 0, samples.length);
        float[][] out = new float[frames(samples.length)][o.numMelBins()];
        for (int t = 0; t < out.length; t++) {
            frame(samples, t * o.frameShift(), out[t], 0);
        }
        return out;
    }

    /**
     * One frame's features: samples[off .. off + frameLength) into out[outOff .. outOff + numMelBins). The samples must
     * be finite (callers check: {@link FbankStream} and {@link #compute}, through {@link #checkFinite}).
     */
    public void frame(float[] samples, int off, float[] out, int outOff) {
        int len = o.frameLength();
        // remove DC offset
        double mean = 0;
        for (int i = 0; i < len; i++) {
            mean += samples[off + i];
        }
        mean /= len;
        for (int i = 0; i < len; i++) {
            re[i] = samples[off + i] - mean;
        }
        // pre-emphasis (the first sample against itself), povey window, zero padding
        for (int i = len - 1; i > 0; i--) {
            re[i] = (re[i] - 0.97 * re[i - 1]) * window[i];
        }
        re[0] = (re[0] - 0.97 * re[0]) * window[0];
        java.util.Arrays.fill(re, len, fftSize, 0.0);
        java.util.Arrays.fill(im, 0.0);
        fft();
        // power spectrum, (fftSize / 2 + 1)
        for (int k = 0; k <= fftSize / 2; k++) {
            power[k] = re[k] * re[k] + im[k] * im[k];
        }
        // mel energies, log
        for (int b = 0; b < o.numMelBins(); b++) {
            double[] w = melWeights[b];
            double e = 0;
            for (int k = 0, p = melStart[b]; k < w.length; k++, p++) {
                e += w[k] * power[p];
            }
            out[outOff + b] = (float) Math.log(Math.max(e, ENERGY_FLOOR));
        }
    }

    /** Throws IllegalArgumentException, naming the sample, unless samples[off .. off + n) are all finite. */
    static void checkFinite(float[] samples, int off, int n) {
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(samples[off + i])) {
                throw new IllegalArgumentException("audio sample " + i + " of " + n + " is " + samples[off + i] + ", expected a finite value");
            }
        }
    }

    /** In-place iterative radix-2 FFT of (re, im). */
    private void fft() {
        int n = fftSize;
        for (int i = 0; i < n; i++) {
            int j = bitReverse[i];
            if (j > i) {
                double t = re[i];
                re[i] = re[j];
                re[j] = t;
                t = im[i];
                im[i] = im[j];
                im[j] = t;
            }
        }
        for (int size = 2; size <= n; size <<= 1) {
            int half = size >> 1;
            int step = n / size;
            for (int start = 0; start < n; start += size) {
                for (int k = 0; k < half; k++) {
                    double wr = cos[k * step];
                    double wi = sin[k * step];
                    int a = start + k;
                    int b = a + half;
                    double xr = re[b] * wr - im[b] * wi;
                    double xi = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
            }
        }
    }
}
