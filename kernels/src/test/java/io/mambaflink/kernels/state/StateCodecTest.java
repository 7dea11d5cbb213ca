package io.mambaflink.kernels.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StateCodecTest {
    private final MambaModel model = Fixtures.model("mamba2-lm-tiny");
    private final StateLayout layout = model.layout();

    private StreamState randomState() {
        StreamState s = new StreamState(layout);
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < s.data().length; i++) {
            s.data()[i] = (float) rnd.nextGaussian();
        }
        s.setPosition(123_456_789_012L);
        return s;
    }

    @Test
    void roundTripKeepsEveryBitAndThePosition() {
        StreamState s = randomState();
        byte[] bytes = StateCodec.encode(s, model.fingerprint());
        assertThat(bytes).hasSize(StateCodec.encodedSize(layout));
        StreamState back = new StreamState(layout);
        StateCodec.decode(bytes, model.fingerprint(), back);
        assertThat(back.data()).containsExactly(s.data());
        assertThat(back.position()).isEqualTo(123_456_789_012L);
        assertThat(StateCodec.fingerprintOf(bytes)).isEqualTo(model.fingerprint());
    }

    @Test
    void layoutSizesFollowTheArchitecture() {
        // Mamba-2 fixture: per layer conv (128 + 2*2*16 = 192, 4) + ssm (8 heads, 16, 16), 3 layers
        assertThat(layout.size()).isEqualTo(3 * (192 * 4 + 8 * 16 * 16));
        StateLayout m1 = Fixtures.model("mamba1-lm-tiny").layout();
        // Mamba-1 fixture: conv (96, 4) + ssm (96, 8), 3 layers
        assertThat(m1.size()).isEqualTo(3 * (96 * 4 + 96 * 8));
    }

    @Test
    void rejectsAnotherModelsState() {
        byte[] bytes = StateCodec.encode(randomState(), model.fingerprint());
        assertThatThrownBy(() -> StateCodec.decode(bytes, model.fingerprint() + 1, new StreamState(layout)))
                .isInstanceOf(StateFormatException.class)
                .hasMessageContaining("belongs to model")
                .satisfies(e -> assertThat(((StateFormatException) e).reason()).isEqualTo(StateFormatException.Reason.FINGERPRINT));
    }

    @Test
    void rejectsUnknownVersion() {
        byte[] bytes = StateCodec.encode(randomState(), model.fingerprint());
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putShort(4, (short) 9);
        assertThatThrownBy(() -> StateCodec.decode(bytes, model.fingerprint(), new StreamState(layout)))
                .isInstanceOf(StateFormatException.class).hasMessageContaining("format version 9 is not supported");
    }

    @Test
    void rejectsWrongLengthAndGarbage() {
        byte[] bytes = StateCodec.encode(randomState(), model.fingerprint());
        byte[] cut = Arrays.copyOf(bytes, bytes.length - 4);
        assertThatThrownBy(() -> StateCodec.decode(cut, model.fingerprint(), new StreamState(layout)))
                .isInstanceOf(StateFormatException.class).hasMessageContaining("stream state length");
        assertThatThrownBy(() -> StateCodec.decode(new byte[5], model.fingerprint(), new StreamState(layout)))
                .isInstanceOf(StateFormatException.class).hasMessageContaining("shorter than its 26-byte header");
        assertThatThrownBy(() -> StateCodec.decode(new byte[100], model.fingerprint(), new StreamState(layout)))
                .isInstanceOf(StateFormatException.class).hasMessageContaining("not a stream state");
        // a state of the right model but another layout size
        StreamState small = new StreamState(new float[10], 3);
        byte[] other = StateCodec.encode(small, model.fingerprint());
        assertThatThrownBy(() -> StateCodec.decode(other, model.fingerprint(), new StreamState(layout)))
                .isInstanceOf(StateFormatException.class).hasMessageContaining("expected " + layout.size() + " floats");
    }
}
