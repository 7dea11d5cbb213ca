package io.mambaflink.operators;

/** An event the operator could not use, with the reason. Goes to the operator's rejected side output. A Flink POJO. */
public class RejectedEvent {
    /** The original event. */
    public StreamEvent event;
    /** Machine-readable reason, one of {@link RejectReason}'s names. */
    public String reason;
    /** Human-readable detail: expected and found. */
    public String message;

    public RejectedEvent() {}

    public RejectedEvent(StreamEvent event, RejectReason reason, String message) {
        this.event = event;
        this.reason = reason.name();
        this.message = message;
    }

    @Override
    public String toString() {
        return "RejectedEvent{" + reason + ": " + message + ", event=" + event + "}";
    }
}
