package io.mambaflink.kernels.engine;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of daemon threads that split one batch into contiguous row chunks. The calling thread runs chunk 0.
 * Dispatch allocates nothing: a generation counter wakes the workers and a countdown wakes the caller.
 */
final class WorkerPool implements AutoCloseable {

    /** Work on rows [r0, r1) of a batch, on thread index t (0 = caller). */
    interface Chunk {
        void run(int t, StepBatch batch, int r0, int r1);
    }

    private static final int SPINS = 2000;

    private final Chunk chunk;
    private final Thread[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    private volatile Thread caller;
    private volatile Throwable failure;
    private StepBatch batch;
    private int rows;
    private int active;

    WorkerPool(int threads, Chunk chunk) {
        this.chunk = chunk;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            int t = i + 1;
            workers[i] = new Thread(() -> loop(t), "mamba-cpu-step-" + t);
            workers[i].setDaemon(true);
            workers[i].start();
        }
    }

    /** Runs the batch's rows over the pool and returns when every chunk is done. */
    void run(StepBatch b, int n) {
        int threads = Math.min(workers.length + 1, n);
        if (threads == 1) {
            chunk.run(0, b, 0, n);
            return;
        }
        this.batch = b;
        this.rows = n;
        this.active = threads;
        this.failure = null;
        this.caller = Thread.currentThread();
        // Every worker takes part in every generation, idle ones with an empty share, so none can lag into the next.
        pending.set(workers.length);
        generation++; // volatile write publishes batch, rows and active
        for (int i = 0; i < workers.length; i++) {
            LockSupport.unpark(workers[i]);
        }
        Throwable own = null;
        try {
            runShare(0);
        } catch (Throwable e) {
            own = e;
        }
        int spins = 0;
        while (pending.get() > 0) {
            if (spins++ < SPINS) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(this);
            }
        }
        Throwable f = own != null ? own : failure;
        if (f != null) {
            if (f instanceof RuntimeException re) {
                throw re;
            }
            if (f instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(f);
        }
    }

    private void runShare(int t) {
        int per = (rows + active - 1) / active;
        int r0 = t * per;
        int r1 = Math.min(rows, r0 + per);
        if (r0 < r1) {
            chunk.run(t, batch, r0, r1);
        }
    }

    private void loop(int t) {
        long seen = 0;
        while (!closed) {
            long g = generation;
            if (g == seen) {
                LockSupport.park(this);
                continue;
            }
            seen = g;
            if (t < active) {
                try {
                    runShare(t);
                } catch (Throwable e) {
                    failure = e;
                }
            }
            if (pending.decrementAndGet() == 0) {
                LockSupport.unpark(caller);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
