package io.mambaflink.operators.cache;

/**
 * A hot stream: its engine slot and the per-stream values the operator keeps beside the engine state. Mutable; owned by
 * the operator's task thread.
 */
public final class CachedStream {
    /** The Flink key. */
    final Object key;
    /** Engine slot that holds the recurrent state. */
    final int slot;
    /** (outputDim) output of the stream's last event, or null at its start. */
    public float[] lastOutput;
    /** Processing time of the stream's last event, ms. */
    public long lastActive;
    /** Latest TTL timer registered for this stream, ms (0 = none known). */
    public long ttlTimer;
    /** Changed since it was last written to keyed state. */
    public boolean dirty;
    /** In use by the running flush: never evicted. */
    boolean pinned;

    CachedStream(Object key, int slot) {
        this.key = key;
        this.slot = slot;
    }

    public Object key() {
        return key;
    }

    public int slot() {
        return slot;
    }

    public boolean pinned() {
        return pinned;
    }

    public void unpin() {
        pinned = false;
    }
}
