package io.mambaflink.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

/** The generated classes exist and every message survives its own bytes. */
class SchemasTest {

    @Test
    void telemetryEventRoundTrips() throws Exception {
        TelemetryEvent e = TelemetryEvent.newBuilder().setEntityId("device-00001").setEventTimeMs(1_700_000_000_000L)
                .putFeatures("temperature", 21.5).putFeatures("vibration", -0.25).build();
        TelemetryEvent back = TelemetryEvent.parseFrom(e.toByteArray());
        assertThat(back).isEqualTo(e);
        assertThat(back.getFeaturesMap()).containsEntry("temperature", 21.5);
        assertThat(back.getControl()).isEmpty();
    }

    @Test
    void transactionEventRoundTrips() throws Exception {
        TransactionEvent t = TransactionEvent.newBuilder().setAccountId("acct-7").setEventTimeMs(5).setAmountMinor(1999)
                .setCurrency("EUR").setMerchantCategory(5411).setMerchantId("m-1").setCountry("DE")
                .setChannel(TransactionEvent.Channel.ONLINE).putExtraFeatures("seconds_since_last", 30).build();
        assertThat(TransactionEvent.parseFrom(t.toByteArray())).isEqualTo(t);
    }

    @Test
    void anomalyScoreAndRejectedEnvelopeRoundTrip() throws Exception {
        AnomalyScore s = AnomalyScore.newBuilder().setEntityId("d").setEventTimeMs(9).setPosition(3).setScore(7.25)
                .setAnomalous(true).setThreshold(5.8).addFeatureNames("temperature").addPredicted(1.0).addObserved(2.0)
                .addFeatureScores(7.25).setScoredAtMs(10).setSourcePartition(2).setSourceOffset(41).build();
        assertThat(AnomalyScore.parseFrom(s.toByteArray())).isEqualTo(s);
        RejectedEnvelope r = RejectedEnvelope.newBuilder().setOriginal(ByteString.copyFrom(new byte[] {1, 2, (byte) 0xff}))
                .setTopic("telemetry").setPartition(1).setOffset(77).setReason("UNDECODABLE").setMessage("bad").build();
        RejectedEnvelope back = RejectedEnvelope.parseFrom(r.toByteArray());
        assertThat(back).isEqualTo(r);
        assertThat(back.getOriginal().toByteArray()).containsExactly(1, 2, 0xff);
    }
}
