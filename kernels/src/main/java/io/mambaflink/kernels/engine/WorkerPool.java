package io.mambaflink.kernels.engine;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of daemon threads that split one batch into contiguous row chunks, or one matrix product into column
 * ranges ({@link #columns}). The calling thread runs share 0. Dispatch allocates nothing: a generation counter wakes
 * the workers and a countdown wakes the caller. Idle workers spin {@link #SPINS} spin-wait hints before they park.
 */
final class WorkerPool implements AutoCloseable {

    /** Work on rows [r0, r1) of a batch, on thread index t (0 = caller). */
    interface Chunk {
        void run(int t, StepBatch batch, int r0, int r1);
    }

    /** Work on output columns [c0, c1) of one product, on thread index t (0 = caller). */
    interface Columns {
        void run(int t, int c0, int c1);
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
    private Columns columns; // non-null while a column dispatch runs
    private int width;
    private int align;
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

    /** Threads in the pool, the caller's included. */
    int threads() {
        return workers.length + 1;
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
        dispatch(threads);
    }

    /**
     * Runs {@code job} over ranges of [0, width) on every thread (at most one range each, its bounds multiples of
     * {@code align}: 16 floats keep two threads off one 64-byte line of output) and returns when all are done. Called
     * between row dispatches, never during one.
     */
    void columns(int width, int align, Columns job) {
        int threads = Math.min(workers.length + 1, (width + align - 1) / align);
        if (threads <= 1) {
            job.run(0, 0, width);
            return;
        }
        this.columns = job;
        this.width = width;
        this.align = align;
        try {
            dispatch(threads);
        } finally {
            this.columns = null;
        }
    }

    private void dispatch(int threads) {
        this.active = threads;
        this.failure = null;
        this.caller = Thread.currentThread();
        // Every worker takes part in every generation, idle ones with an empty share, so none can lag into the next.
        pending.set(workers.length);
        generation++; // volatile write publishes batch, rows, columns, width, align and active
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
        Columns job = columns;
        if (job != null) {
            int per = ((width + active - 1) / active + align - 1) / align * align;
            int c0 = t * per;
            int c1 = Math.min(width, c0 + per);
            if (c0 < c1) {
                job.run(t, c0, c1);
            }
            return;
        }
        int per = (rows + active - 1) / active;
        int r0 = t * per;
        int r1 = Math.min(rows, r0 + per);
        if (r0 < r1) {
            chunk.run(t, batch, r0, r1);
        }
    }

    private void loop(int t) {
        long seen = 0;
        int idle = 0;
        while (!closed) {
            long g = generation;
            if (g == seen) {
                // spin a little before parking: a column-split step dispatches ~4 jobs a layer in quick succession,
                // and waking a parked thread costs more than the gap between them
                if (idle++ < SPINS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
                continue;
            }
            idle = 0;
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
