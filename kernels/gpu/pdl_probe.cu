// Programmatic dependent launch in a CUDA graph, measured the way the engine would get it (run.sh probe-pdl).
//
// A chain of N dependent kernels (each reads what the one before wrote) is captured into a graph by plain launches,
// as the engine captures its step. Then the graph is replayed:
//   plain      as captured;
//   wait       the kernels execute griddepcontrol.wait first (a no-op without programmatic edges): its cost alone;
//   prog       every kernel -> kernel edge replaced by a programmatic one (port PROGRAMMATIC: the next grid may
//              launch once every block of this one has called griddepcontrol.launch_dependents or exited); the
//              kernels wait, then trigger;
//   order      the same with port LAUNCH_ORDER (the next grid may launch once every block of this one has begun).
// The edges are rewritten after capture (the runtime's cudaGraphRemoveDependencies / cudaGraphAddDependencies,
// i.e. the driver's cuGraphRemoveDependencies_v2 / cuGraphAddDependencies_v2), which is what the engine can reach
// from Java (JCuda 12.6 has no cuLaunchKernelEx). Each mode checks the chain's result against the plain one, so a
// missing wait (a race) shows as a mismatch:
//   nowait     programmatic edges, kernels that neither wait nor trigger (wrong on purpose: may race; it did not
//              show a mismatch on the H100, so the check is no proof of the rule, which KernelSourcesTest holds);
//   prog-pre   prog, with each kernel's own weight slice read before its wait (after it in the other modes).
//
// Usage: pdl_probe [blocks threads floats kernels weight-float4s-per-block]...   (default: shapes around the engine's
// small steps)
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); exit(1); } } while (0)

// Each kernel may also read a slice of "weights" of its own (wn floats per block, a different slice per kernel, so they
// come from HBM), before its wait (pre: what a kernel may do before its inputs are ready) or after it.
__global__ void link(const float* __restrict__ in, float* __restrict__ out, int n, int dep,
                     const float4* __restrict__ w, int wn, int pre) {
    float acc = 0.0f;
    const float4* wb = w + (size_t)blockIdx.x * wn;
    if (pre) {
        for (int j = threadIdx.x; j < wn; j += blockDim.x) acc += wb[j].x + wb[j].w;
    }
    if (dep) {
        asm volatile("griddepcontrol.wait;" ::: "memory");
        asm volatile("griddepcontrol.launch_dependents;" :::);
    }
    if (!pre) {
        for (int j = threadIdx.x; j < wn; j += blockDim.x) acc += wb[j].x + wb[j].w;
    }
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        out[i] = in[i] * 0.999f + 1.0f + (acc < 0.0f ? 1.0f : 0.0f);  // weights are >= 0: acc never changes out
    }
}

static cudaGraphExec_t build(int blocks, int threads, int n, int kernels, float* a, float* b, cudaStream_t s, int dep,
                             int port, const float4* w, int wn, int pre) {
    cudaGraph_t g;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int k = 0; k < kernels; k++) {
        link<<<blocks, threads, 0, s>>>(k % 2 ? b : a, k % 2 ? a : b, n, dep, w + (size_t)k * blocks * wn, wn, pre);
    }
    CK(cudaStreamEndCapture(s, &g));
    if (port > 0) {
        size_t ne = 0;
        CK(cudaGraphGetEdges(g, nullptr, nullptr, nullptr, &ne));
        std::vector<cudaGraphNode_t> from(ne), to(ne);
        CK(cudaGraphGetEdges(g, from.data(), to.data(), nullptr, &ne));
        std::vector<cudaGraphEdgeData> data(ne);
        memset(data.data(), 0, ne * sizeof(cudaGraphEdgeData));
        for (size_t i = 0; i < ne; i++) {
            data[i].from_port = (unsigned char) port;
            data[i].type = cudaGraphDependencyTypeProgrammatic;
        }
        CK(cudaGraphRemoveDependencies(g, from.data(), to.data(), nullptr, ne));
        CK(cudaGraphAddDependencies(g, from.data(), to.data(), data.data(), ne));
    }
    cudaGraphExec_t x;
    CK(cudaGraphInstantiate(&x, g, 0));
    CK(cudaGraphDestroy(g));
    return x;
}

int main(int argc, char** argv) {
    std::vector<int> cfg;
    for (int i = 1; i < argc; i++) cfg.push_back(atoi(argv[i]));
    if (cfg.empty()) cfg = {24, 256, 1 << 16, 96, 0,    132, 256, 1 << 18, 96, 0,    264, 256, 1 << 20, 96, 0,
                            528, 256, 1 << 20, 96, 0,   132, 256, 1 << 18, 96, 512,  264, 256, 1 << 18, 96, 1024};
    CK(cudaFree(0));
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int modes = 6;
    const char* names[modes] = {"plain", "wait", "prog", "order", "nowait", "prog-pre"};
    int deps[modes] = {0, 1, 1, 1, 0, 1}, pres[modes] = {0, 0, 0, 0, 0, 1};
    int ports[modes] = {0, 0, cudaGraphKernelNodePortProgrammatic, cudaGraphKernelNodePortLaunchCompletion,
                        cudaGraphKernelNodePortProgrammatic, cudaGraphKernelNodePortProgrammatic};
    for (size_t c = 0; c + 4 < cfg.size(); c += 5) {
        int blocks = cfg[c], threads = cfg[c + 1], n = cfg[c + 2], kernels = cfg[c + 3], wn = cfg[c + 4];
        float *a, *b;
        float4* w;
        size_t wfloats = (size_t)kernels * blocks * wn * 4;
        CK(cudaMalloc(&a, n * sizeof(float)));
        CK(cudaMalloc(&b, n * sizeof(float)));
        CK(cudaMalloc(&w, wfloats * sizeof(float) + 16));
        CK(cudaMemset(w, 0, wfloats * sizeof(float) + 16));
        std::vector<float> init(n), ref(n), got(n);
        for (int i = 0; i < n; i++) init[i] = (float) (i % 1000) * 0.01f;
        float us[modes];
        int bad[modes];
        for (int round = 0; round < 2; round++) {  // two rounds: the second's figures are printed
            for (int m = 0; m < modes; m++) {
                if (pres[m] && wn == 0) { us[m] = 0; bad[m] = 0; continue; }
                cudaGraphExec_t x = build(blocks, threads, n, kernels, a, b, s, deps[m], ports[m], w, wn, pres[m]);
                CK(cudaMemcpy(a, init.data(), n * sizeof(float), cudaMemcpyHostToDevice));
                CK(cudaGraphLaunch(x, s));
                CK(cudaStreamSynchronize(s));
                CK(cudaMemcpy(got.data(), kernels % 2 ? b : a, n * sizeof(float), cudaMemcpyDeviceToHost));
                if (m == 0) ref = got;
                bad[m] = memcmp(ref.data(), got.data(), n * sizeof(float)) != 0;
                for (int r = 0; r < 20; r++) CK(cudaGraphLaunch(x, s));
                const int reps = 200;
                CK(cudaEventRecord(e0, s));
                for (int r = 0; r < reps; r++) CK(cudaGraphLaunch(x, s));
                CK(cudaEventRecord(e1, s));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                us[m] = ms * 1000.0f / reps / kernels;
                CK(cudaGraphExecDestroy(x));
            }
        }
        printf("blocks %4d x %3d, %8d floats, %3d kernels, %5d float4 of weights a block: us per kernel", blocks,
               threads, n, kernels, wn);
        for (int m = 0; m < modes; m++) {
            if (!(pres[m] && wn == 0)) printf("  %s %.2f%s", names[m], us[m], bad[m] ? " (WRONG RESULT)" : "");
        }
        printf("\n");
        CK(cudaFree(a));
        CK(cudaFree(b));
        CK(cudaFree(w));
    }
    return 0;
}
