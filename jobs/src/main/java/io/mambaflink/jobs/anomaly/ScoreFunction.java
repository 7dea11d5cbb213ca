package io.mambaflink.jobs.anomaly;

import com.google.protobuf.InvalidProtocolBufferException;
import io.mambaflink.operators.StreamResult;
import io.mambaflink.operators.anomaly.AnomalyScorer;
import io.mambaflink.schemas.AnomalyScore;
import io.mambaflink.schemas.RejectedEnvelope;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/** A model result to an {@link AnomalyScore} record keyed by entity; the math is {@link AnomalyScorer}'s. */
public final class ScoreFunction implements FlatMapFunction<StreamResult, KeyedBytes> {
    private static final long serialVersionUID = 1L;

    private final AnomalyScorer scorer;
    private final List<String> featureNames;

    public ScoreFunction(AnomalyScorer scorer, List<String> featureNames) {
        this.scorer = scorer;
        this.featureNames = List.copyOf(featureNames);
    }

    @Override
    public void flatMap(StreamResult r, Collector<KeyedBytes> out) throws InvalidProtocolBufferException {
        if (r.end) {
            return; // the result of an "end" control repeats the last event's output: nothing new to score
        }
        AnomalyScorer.Score s = scorer.score(r);
        AnomalyScore.Builder b = AnomalyScore.newBuilder()
                .setEntityId(r.key)
                .setEventTimeMs(r.ts)
                .setPosition(r.position)
                .setScore(s.score())
                .setAnomalous(s.anomalous())
                .setThreshold(scorer.threshold())
                .addAllFeatureNames(featureNames)
                .setScoredAtMs(System.currentTimeMillis());
        for (double v : s.predicted()) {
            b.addPredicted(v);
        }
        for (double v : s.observed()) {
            b.addObserved(v);
        }
        for (double v : s.featureScores()) {
            b.addFeatureScores(v);
        }
        if (r.attachment != null) {
            RejectedEnvelope origin = RejectedEnvelope.parseFrom(r.attachment);
            b.setSourcePartition(origin.getPartition()).setSourceOffset(origin.getOffset());
        }
        out.collect(new KeyedBytes(r.key.getBytes(StandardCharsets.UTF_8), b.build().toByteArray(), r.ts));
    }
}
