package io.mambaflink.kernels.cuda;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.lang.reflect.Method;
import java.util.Arrays;
import jcuda.NativePointerObject;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphNodeType;
import jcuda.driver.CUresult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Programmatic dependent launch for the step graphs (compute capability 9.0 and newer). After capture, every edge from
 * a kernel node to a kernel node becomes a programmatic one (type CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC from port
 * CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC): the next kernel's blocks are scheduled once every block of the kernel
 * before it has called {@code griddepcontrol.launch_dependents}, and they wait in {@code griddepcontrol.wait} until
 * that kernel has completed and its writes are visible. Every kernel does both first ({@code mf_grid_dep} in
 * common.cuh), after requesting only what no kernel writes (the GEMVs' and the small-batch state update's weights),
 * so a kernel never completes before the one before it: the order of completions, and so every result, is the one of
 * the plain graph. What it buys is the launch latency and the first weight loads, overlapped with the previous kernel's
 * tail (kernels/gpu/pdl_probe.cu measures both on their own).
 *
 * <p>JCuda 12.6 has neither {@code cuLaunchKernelEx} nor the graph calls that take edge data
 * ({@code cuGraphRemoveDependencies_v2}, {@code cuGraphAddDependencies_v2}, CUDA 12.3+), so the graph's edges are
 * listed, checked and rewritten through JNA, on the native handles of JCuda's objects (JCuda's own
 * {@code cuGraphGetEdges} corrupted the heap on the H100). Where JNA or the calls are missing, the graphs keep their
 * plain edges (logged once).
 */
final class ProgrammaticEdges {
    private static final Logger LOG = LoggerFactory.getLogger(ProgrammaticEdges.class);

    /** CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC and CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC (cuda.h). */
    private static final byte PORT_PROGRAMMATIC = 1;
    private static final byte TYPE_PROGRAMMATIC = 1;
    /** sizeof(CUgraphEdgeData): from_port, to_port, type, 5 reserved bytes. */
    private static final int EDGE_DATA_BYTES = 8;

    /**
     * The driver calls, as libcuda exports them (CUresult; handles as 64-bit values, size_t as long: the platforms
     * JCuda ships for are 64-bit). All of the graph surgery goes through these, none through JCuda's bindings.
     */
    interface Driver extends Library {
        int cuGraphGetEdges_v2(long graph, long[] from, long[] to, byte[] edgeData, long[] numEdges);

        int cuGraphNodeGetType(long node, int[] type);

        int cuGraphRemoveDependencies_v2(long graph, long[] from, long[] to, byte[] edgeData, long n);

        int cuGraphAddDependencies_v2(long graph, long[] from, long[] to, byte[] edgeData, long n);
    }

    private static volatile Driver driver;
    private static Method nativePointer;
    private static String unavailable;

    private ProgrammaticEdges() {}

    /** True when the driver calls can be made; the reason for a "no" is logged once. */
    static synchronized boolean available() {
        if (driver == null && unavailable == null) {
            try {
                Method m = NativePointerObject.class.getDeclaredMethod("getNativePointer");
                m.setAccessible(true);
                Driver d = null;
                Throwable last = null;
                for (String lib : new String[] {"libcuda.so.1", "cuda", "nvcuda"}) {
                    try {
                        d = Native.load(lib, Driver.class);
                        break;
                    } catch (UnsatisfiedLinkError e) {
                        last = e;
                    }
                }
                if (d == null) {
                    throw last;
                }
                nativePointer = m;
                driver = d;
            } catch (Throwable e) {
                unavailable = e.toString();
                LOG.warn("CUDA graphs without programmatic dependent launch (the driver's graph-edge calls are not "
                        + "reachable through JNA: {})", unavailable);
            }
        }
        return driver != null;
    }

    /**
     * Turns every kernel-to-kernel edge of {@code graph} (captured, not yet instantiated) into a programmatic one.
     * Returns how many edges it changed. Each node keeps the predecessors it had; where the driver refuses the
     * programmatic edges, the plain ones are put back (and later graphs keep theirs), and a failing call throws.
     */
    static int apply(CUgraph graph, String what) {
        Driver d = driver;
        if (d == null) {
            return 0;
        }
        long g = pointer(graph);
        long[] count = new long[1];
        check(d.cuGraphGetEdges_v2(g, null, null, null, count), "cuGraphGetEdges_v2", what);
        int n = (int) count[0];
        if (n == 0) {
            return 0;
        }
        long[] from = new long[n], to = new long[n];
        check(d.cuGraphGetEdges_v2(g, from, to, null, count), "cuGraphGetEdges_v2", what);
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (isKernel(d, from[i], what) && isKernel(d, to[i], what)) {
                from[k] = from[i];
                to[k] = to[i];
                k++;
            }
        }
        if (k == 0) {
            return 0;
        }
        long[] f = Arrays.copyOf(from, k), t = Arrays.copyOf(to, k);
        byte[] data = new byte[EDGE_DATA_BYTES * k];
        for (int i = 0; i < k; i++) {
            data[EDGE_DATA_BYTES * i] = PORT_PROGRAMMATIC;
            data[EDGE_DATA_BYTES * i + 2] = TYPE_PROGRAMMATIC;
        }
        check(d.cuGraphRemoveDependencies_v2(g, f, t, null, k), "cuGraphRemoveDependencies_v2", what);
        int added = d.cuGraphAddDependencies_v2(g, f, t, data, k);
        if (added != 0) {
            // the driver refused programmatic edges: put the plain ones back, so the graph still orders every kernel
            check(d.cuGraphAddDependencies_v2(g, f, t, null, k), "cuGraphAddDependencies_v2", what + " (restoring)");
            synchronized (ProgrammaticEdges.class) {
                unavailable = "cuGraphAddDependencies_v2: " + CUresult.stringFor(added);
                driver = null;
            }
            LOG.warn("CUDA graphs without programmatic dependent launch from now on ({})", unavailable);
            return 0;
        }
        return k;
    }

    private static boolean isKernel(Driver d, long node, String what) {
        int[] type = new int[1];
        check(d.cuGraphNodeGetType(node, type), "cuGraphNodeGetType", what);
        return type[0] == CUgraphNodeType.CU_GRAPH_NODE_TYPE_KERNEL;
    }

    private static long pointer(NativePointerObject o) {
        try {
            return (Long) nativePointer.invoke(o);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("JCuda handle without a native pointer", e);
        }
    }

    private static void check(int result, String call, String what) {
        if (result != 0) {
            throw new CudaEngineException(call + "(" + what + "): " + CUresult.stringFor(result));
        }
    }
}
