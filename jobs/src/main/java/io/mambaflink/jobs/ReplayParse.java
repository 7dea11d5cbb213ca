package io.mambaflink.jobs;

import io.mambaflink.operators.RejectedEvent;
import io.mambaflink.operators.StreamEvent;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/** Input lines to events; a line that is not an event goes to {@link #UNDECODABLE}, blank lines are skipped. */
final class ReplayParse extends ProcessFunction<String, StreamEvent> {
    static final OutputTag<RejectedEvent> UNDECODABLE =
            new OutputTag<>("replay-undecodable", TypeInformation.of(RejectedEvent.class));

    @Override
    public void processElement(String line, Context ctx, Collector<StreamEvent> out) {
        if (line.isBlank()) {
            return;
        }
        try {
            out.collect(ReplayJson.parseEvent(line));
        } catch (IllegalArgumentException e) {
            ctx.output(UNDECODABLE, ReplayJson.undecodable(line, e.getMessage()));
        }
    }
}
