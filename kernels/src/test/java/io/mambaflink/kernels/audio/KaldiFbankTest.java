package io.mambaflink.kernels.audio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.checkpoint.SafeTensorsFile;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KaldiFbankTest {
    private static final KaldiFbank.Options KALDI80 = KaldiFbank.Options.kaldi80(16000);

    /** pcm_s16 (20800) in the int16 scale, and torchaudio's fbank of it (128, 80). */
    private static float[] pcm;
    private static float[] reference;

    private static synchronized void loadFixture() {
        if (pcm != null) {
            return;
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(Fixtures.dir("fbank").resolve("fbank-chirp.safetensors"))) {
            long[] s = f.longs("pcm_s16");
            pcm = new float[s.length];
            for (int i = 0; i < s.length; i++) {
                pcm[i] = s[i];
            }
            assertThat(f.entry("fbank").shape()).containsExactly(128, 80);
            reference = f.floats("fbank");
        }
    }

    /**
     * torchaudio.compliance.kaldi.fbank (num_mel_bins 80, dither 0, defaults otherwise) on the fixture's 1.3 s chirp:
     * every one of the 128 x 80 features within 1e-4 of the largest (this computes in double, torchaudio in float32:
     * measured ~1e-5).
     */
    @Test
    void matchesTorchaudioOnTheFixture() {
        loadFixture();
        KaldiFbank fb = new KaldiFbank(KALDI80);
        float[][] out = fb.compute(pcm);
        assertThat(out).hasDimensions(128, 80);
        double maxRef = 0;
        double maxDiff = 0;
        for (int t = 0; t < 128; t++) {
            for (int b = 0; b < 80; b++) {
                float ref = reference[t * 80 + b];
                maxRef = Math.max(maxRef, Math.abs(ref));
                maxDiff = Math.max(maxDiff, Math.abs(out[t][b] - ref));
            }
        }
        assertThat(maxDiff / maxRef).as("max |out - ref| / max |ref|").isLessThan(1e-4);
    }

    /** Chunks of every size (none, one sample, less than a shift, more than a frame) give the whole signal's frames. */
    @Test
    void chunksGiveTheFramesOfTheWholeSignalBitForBit() {
        loadFixture();
        KaldiFbank fb = new KaldiFbank(KALDI80);
        float[][] whole = fb.compute(pcm);
        SplittableRandom rnd = new SplittableRandom(7);
        int[] sizes = {0, 1, 159, 160, 161, 399, 400, 401, 1000, 3200};
        for (int round = 0; round < 5; round++) {
            FbankStream st = new FbankStream();
            List<float[]> frames = new ArrayList<>();
            List<Long> indices = new ArrayList<>();
            int at = 0;
            while (at < pcm.length) {
                int n = Math.min(pcm.length - at, round == 0 ? sizes[rnd.nextInt(sizes.length)] : rnd.nextInt(0, 2000));
                int emitted = st.push(fb, pcm, at, n, (i, mel) -> {
                    indices.add(i);
                    frames.add(mel.clone());
                });
                at += n;
                assertThat(st.frames()).isEqualTo(frames.size());
                assertThat(emitted).isLessThanOrEqualTo(frames.size());
                assertThat(st.tail().length).isLessThan(KALDI80.frameLength());
                if (rnd.nextInt(4) == 0) {
                    // through its saved state, as a restored operator would
                    st = FbankStream.restore(st.tail(), st.frames(), KALDI80);
                }
            }
            assertThat(frames).hasSize(whole.length);
            for (int t = 0; t < whole.length; t++) {
                assertThat(indices.get(t)).isEqualTo(t);
                assertThat(frames.get(t)).as("frame %d, round %d", t, round).isEqualTo(whole[t]);
            }
        }
    }

    @Test
    void framesFollowSnipEdges() {
        KaldiFbank fb = new KaldiFbank(KALDI80);
        assertThat(fb.frames(0)).isZero();
        assertThat(fb.frames(399)).isZero();
        assertThat(fb.frames(400)).isEqualTo(1);
        assertThat(fb.frames(559)).isEqualTo(1);
        assertThat(fb.frames(560)).isEqualTo(2);
        assertThat(fb.frames(20800)).isEqualTo(128);
        assertThat(fb.compute(new float[399])).isEmpty();
        // silence: every energy at the floor
        float[][] silent = fb.compute(new float[400]);
        assertThat(silent[0]).containsOnly((float) Math.log(KaldiFbank.ENERGY_FLOOR));
    }

    @Test
    void badAudioIsRejectedAndLeavesTheStreamAsItWas() {
        loadFixture();
        KaldiFbank fb = new KaldiFbank(KALDI80);
        FbankStream st = new FbankStream();
        List<float[]> frames = new ArrayList<>();
        st.push(fb, pcm, 0, 1000, (i, mel) -> frames.add(mel.clone()));
        float[] bad = java.util.Arrays.copyOfRange(pcm, 1000, 2000);
        bad[17] = Float.NaN;
        assertThatThrownBy(() -> st.push(fb, bad, 0, bad.length, (i, mel) -> frames.add(mel.clone())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("audio sample 17 of 1000 is NaN");
        bad[17] = Float.POSITIVE_INFINITY;
        assertThatThrownBy(() -> fb.compute(bad)).hasMessageContaining("audio sample 17 of 1000 is Infinity");
        // nothing of the bad chunk was taken: the rest of the signal still gives the whole signal's frames
        st.push(fb, pcm, 1000, pcm.length - 1000, (i, mel) -> frames.add(mel.clone()));
        float[][] whole = fb.compute(pcm);
        assertThat(frames).hasSize(whole.length);
        for (int t = 0; t < whole.length; t++) {
            assertThat(frames.get(t)).isEqualTo(whole[t]);
        }
    }

    @Test
    void corruptSavedStateIsRejected() {
        assertThatThrownBy(() -> FbankStream.restore(new float[400], 0, KALDI80))
                .hasMessageContaining("400 pending samples, expected fewer than a frame (400)");
        assertThatThrownBy(() -> FbankStream.restore(new float[3], -1, KALDI80)).hasMessageContaining("negative frame count -1");
        assertThatThrownBy(() -> FbankStream.restore(new float[] {0, Float.NaN}, 0, KALDI80)).hasMessageContaining("is NaN");
    }

    @Test
    void pcm16LittleEndian() {
        byte[] b = {0x01, 0x00, (byte) 0xff, 0x7f, 0x00, (byte) 0x80, (byte) 0xff, (byte) 0xff};
        assertThat(FbankStream.pcm16le(b)).containsExactly(1f, 32767f, -32768f, -1f);
        assertThatThrownBy(() -> FbankStream.pcm16le(new byte[3])).hasMessageContaining("3 bytes is not a whole number of samples");
    }

    @Test
    void optionsAreValidated() {
        assertThat(KALDI80).isEqualTo(new KaldiFbank.Options(16000, 400, 160, 80, 20, 0));
        assertThatThrownBy(() -> new KaldiFbank.Options(16000, 400, 401, 80, 20, 0)).hasMessageContaining("0 < frameShift <= frameLength");
        assertThatThrownBy(() -> new KaldiFbank.Options(16000, 400, 160, 80, 20, 9000)).hasMessageContaining("highFreq <= 8000.0 Hz");
        assertThatThrownBy(() -> new KaldiFbank.Options(16000, 400, 160, 80, 8000, 0)).hasMessageContaining("lowFreq < highFreq");
    }
}
