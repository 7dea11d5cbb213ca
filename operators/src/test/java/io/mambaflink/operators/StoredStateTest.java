package io.mambaflink.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.Fixtures;
import io.mambaflink.kernels.MambaModel;
import io.mambaflink.kernels.state.StateFormatException;
import io.mambaflink.kernels.state.StreamState;
import org.junit.jupiter.api.Test;

class StoredStateTest {
    private final MambaModel model = Fixtures.model(TestStreams.TELEMETRY);

    private StreamState state() {
        StreamState s = new StreamState(model.layout());
        for (int i = 0; i < s.data().length; i++) {
            s.data()[i] = i * 0.25f - 3;
        }
        s.setPosition(12345);
        return s;
    }

    @Test
    void roundTripsStateLastOutputAndActivity() {
        float[] out = {1, -2, 3.5f, 0, 7, 8};
        byte[] bytes = StoredState.encode(state(), 42, out, 987654321L);
        assertThat(bytes).hasSize(StoredState.encodedSize(model.layout(), 6));
        StreamState dst = new StreamState(model.layout());
        StoredState.Decoded d = StoredState.decode(bytes, 42, dst);
        assertThat(dst.data()).isEqualTo(state().data());
        assertThat(dst.position()).isEqualTo(12345);
        assertThat(d.lastOutput()).isEqualTo(out);
        assertThat(d.lastActive()).isEqualTo(987654321L);
        assertThat(StoredState.lastActive(bytes)).isEqualTo(987654321L);
    }

    @Test
    void noLastOutputAtAStreamStart() {
        byte[] bytes = StoredState.encode(state(), 42, null, 1);
        assertThat(StoredState.decode(bytes, 42, new StreamState(model.layout())).lastOutput()).isNull();
    }

    @Test
    void rejectsAnotherModelAndForeignBytes() {
        byte[] bytes = StoredState.encode(state(), 42, null, 1);
        assertThatThrownBy(() -> StoredState.decode(bytes, 43, new StreamState(model.layout())))
                .isInstanceOf(StateFormatException.class)
                .hasMessageContaining("belongs to model 000000000000002a, expected model 000000000000002b")
                .satisfies(e -> assertThat(((StateFormatException) e).reason()).isEqualTo(StateFormatException.Reason.FINGERPRINT));
        assertThatThrownBy(() -> StoredState.decode(new byte[40], 42, new StreamState(model.layout())))
                .hasMessageContaining("not a stored stream: magic 00000000");
    }

    @Test
    void encodesIntoAnArrayOfItsExactLengthAndNoOther() {
        float[] out = {1, -2, 3.5f, 0, 7, 8};
        byte[] fresh = StoredState.encode(state(), 42, out, 5);
        byte[] reuse = new byte[fresh.length];
        java.util.Arrays.fill(reuse, (byte) 0x5a);
        assertThat(StoredState.encode(state(), 42, out, 5, reuse)).isSameAs(reuse).isEqualTo(fresh);
        byte[] shorter = new byte[fresh.length - 4];
        assertThat(StoredState.encode(state(), 42, null, 5, shorter)).isNotSameAs(shorter)
                .isEqualTo(StoredState.encode(state(), 42, null, 5));
    }

    @Test
    void aTruncatedStateBehindTheHeaderIsRejectedWithItsLength() {
        byte[] bytes = StoredState.encode(state(), 42, new float[] {1, 2}, 5);
        byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 4);
        assertThatThrownBy(() -> StoredState.decode(cut, 42, new StreamState(model.layout())))
                .isInstanceOf(StateFormatException.class)
                .hasMessageContaining("found " + model.layout().size() + " floats in " + (cut.length - 18 - 8) + " bytes");
    }
}
