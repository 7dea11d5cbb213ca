package io.mambaflink.operators.cache;

import java.util.Collection;
import java.util.function.Consumer;

/**
 * Maps hot keys to the step engine's state slots: a bounded write-back cache in front of keyed state.
 *
 * <p>The cache hands out slots only; the states themselves stay inside the engine (on the GPU for the CUDA engine's
 * resident mode), and the operator moves them with {@code engine.load/store} on a miss and on write-back. A stream
 * returned by {@link #get} or {@link #add} is pinned until {@link CachedStream#unpin()}, so a flush never evicts a
 * stream it is stepping.
 */
public interface StateCache {

    /** The stream of {@code key}, pinned and marked most recently used, or null if it is not cached. */
    CachedStream get(Object key);

    /**
     * Caches {@code key} (which must not be cached) in a free slot, pinned. If none is free, first evicts the least
     * recently used unpinned stream, handing it to {@code writeBack} before its slot is reused.
     *
     * @throws IllegalStateException if every slot is pinned
     */
    CachedStream add(Object key, Consumer<CachedStream> writeBack);

    /** Forgets {@code key} without write-back and frees its slot; returns the dropped stream or null. */
    CachedStream remove(Object key);

    /** Every cached stream, for the write-back before a checkpoint barrier. */
    Collection<CachedStream> streams();

    int size();

    int capacity();
}
