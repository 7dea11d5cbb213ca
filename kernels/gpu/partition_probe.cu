// Can Mamba-1's state stream and its products share the GPU if each gets SMs of its own?
// (The question left open by overlap_probe.cu and the lanes: there, every state kernel needed most of the GPU's warps,
// so a lane's state update could not run beside the other lane's products without starving one of them.)
//
// One lane of a Mamba-1 130M step at batch 4096 (2048 rows), with the engine's own kernels (this file includes their
// sources): the state update `ssm1_stream` (SS1_STAGES ring stages, set at build time) and in_proj (768 -> 3072) as
// the persistent wgmma product `wg_ws_x3_n256` (bf16x3). Both are made to hold SMs of their own: the product's grid is
// P persistent blocks of 192 KB of shared memory, the state update's grid is S blocks (one channel chunk x a run of
// rows each) asking for more than half an SM's shared memory, so no SM can hold one of each and P + S <= 132 blocks
// all run at once, on different SMs. Printed, for each S: the state update alone on S SMs (GB/s of state bytes), the
// product alone on P = 132 - S SMs, both at once (each round joined, so a round is the longer of the two), and the
// serial sum of each alone on the whole GPU (what the engine's step does now).
//
// PP_CONFINED=1 adds the state update alone held to S SMs by a kernel that occupies the others (so two blocks an SM
// stay on S SMs too). ssm1_update.cu's probe-only switches: SS1_STAGES, SS1_STORE_LAG (bulk stores in flight), SS1_CONS
// (consumer threads), SS1_PROBE_COPY_ONLY (the ring's data movement without the update), SS1_PROBE_EX2 (A pre-scaled
// by log2 e, ex2 per decay). Findings (H100, 2026-11-23): kernels/gpu/README.md, "SM-partitioned lanes".
//
// Build (prepare.sh builds three): nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I kernels/src/main/cuda \
//          [-DSS1_...] -o .gpu-probe/partition_probe_base kernels/gpu/partition_probe.cu
// Run:   [PP_CONFINED=1] .gpu-probe/partition_probe_base [S ...]   (S multiples of 6: the d_inner 1536 state splits into 6
//        chunks of 256 channels); run.sh probe-partition runs the three builds.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>
#include <cuda_runtime.h>
#include "linear.cu"  // as build-fatbin.sh, in the same order: linear_wgmma.cu uses linear_bf16.cu's epilogue
#include "linear_bf16.cu"
#include "linear_wgmma.cu"
#include "ssm1_update.cu"

#include "probe_check.cuh"

static const int ROWS = 2048, D_MODEL = 768, D_INNER = 1536, D_STATE = 16, DT_RANK = 48, IN_OUT = 3072;
static const int CHUNKS = D_INNER / (4096 / D_STATE);  // ssm1_stream's channel chunks per row
static const int RING = SS1_STAGES * (16384 + 4096) + 16 * SS1_STAGES;
static const int WS_SMEM = 4 * 2 * (128 + 256) * 32 * 2 + 1024 + 16 * 4;  // wg_ws_x3_n256: LinearKernel.wsSmemBytes

template <typename T>
static T* dev(size_t n) {  // random small positive floats / bf16s (bytes 0 .. 0x3f), never NaN
  T* p;
  CK(cudaMalloc(&p, n * sizeof(T)));
  std::vector<unsigned char> h(n * sizeof(T));
  unsigned s = 12345;
  for (size_t i = 0; i < h.size(); i++) {
    s = s * 1103515245u + 12345u;
    h[i] = (unsigned char)(s >> 24) & 0x3f;
  }
  CK(cudaMemcpy(p, h.data(), h.size(), cudaMemcpyHostToDevice));
  return p;
}

struct Ops {
  int *n_rows, *slots;
  float *states, *xc, *dbc, *dtv, *A, *D, *z, *y;
  __nv_bfloat16 *x_hi, *x_lo, *w_hi, *w_lo;
  float* proj;
};

// the state update on a grid of `blocks` (a multiple of CHUNKS; 0: the engine's 16 rows a block), `smem` bytes each
static void state(const Ops& o, int blocks, int smem, cudaStream_t s) {
  int rpb = blocks == 0 ? 16 : (ROWS + blocks / CHUNKS - 1) / (blocks / CHUNKS);
  int grid = CHUNKS * ((ROWS + rpb - 1) / rpb);
  ssm1_stream<<<grid, SS1_CONS + 32, smem, s>>>(o.n_rows, o.slots, o.states, (long long)D_INNER * D_STATE, 0, o.xc, D_INNER, o.dbc,
                                                 DT_RANK + 2 * D_STATE, nullptr, nullptr, o.dtv, D_INNER, o.A, o.D, o.z, D_INNER,
                                                 D_INNER, D_STATE, DT_RANK, o.y, D_INNER, nullptr, nullptr, rpb);
}

static void product(const Ops& o, int blocks, cudaStream_t s) {
  wg_ws_x3_n256<<<blocks, 384, WS_SMEM, s>>>(o.n_rows, o.x_hi, o.x_lo, o.w_hi, o.w_lo, nullptr, D_MODEL, IN_OUT, o.proj, IN_OUT, 0, 0);
}

// holds an SM (more than half its shared memory) for `cycles` clocks, so a kernel launched after it gets the others
__global__ void occupy(long long cycles) {
  extern __shared__ unsigned char occ_smem[];
  long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
  if (threadIdx.x == 0 && cycles < 0) occ_smem[0] = 1;
}

// ms per round of the state update alone on S SMs, the rest held by occupy (so two blocks an SM stay on S SMs)
static double confined(const Ops& o, int sms, int S, int blocks, int smem, cudaStream_t sa, cudaStream_t sb, int n = 20) {
  occupy<<<sms - S, 32, 200 * 1024, sa>>>(120000000LL);  // ~65 ms at 1.8 GHz
  CK(cudaGetLastError());
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, nullptr);  // let its blocks become resident first
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  state(o, blocks, smem, sb);
  CK(cudaEventRecord(t0, sb));
  for (int i = 0; i < n; i++) state(o, blocks, smem, sb);
  CK(cudaEventRecord(t1, sb));
  CK(cudaDeviceSynchronize());
  float f;
  CK(cudaEventElapsedTime(&f, t0, t1));
  return f / n;
}

// ms per round: a on sa and b on sb (either may be null), each round joined before the next
template <typename FA, typename FB>
static double rounds(cudaStream_t sa, cudaStream_t sb, FA a, FB b, bool has_a, bool has_b, int n = 20) {
  cudaEvent_t t0, t1, fork, join;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  CK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  CK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
  double ms = 0;
  for (int pass = 0; pass < 2; pass++) {
    int k = pass == 0 ? 2 : n;
    CK(cudaEventRecord(t0, sa));
    for (int i = 0; i < k; i++) {
      CK(cudaEventRecord(fork, sa));
      CK(cudaStreamWaitEvent(sb, fork, 0));
      if (has_a) a(sa);
      if (has_b) b(sb);
      CK(cudaEventRecord(join, sb));
      CK(cudaStreamWaitEvent(sa, join, 0));
    }
    CK(cudaEventRecord(t1, sa));
    CK(cudaEventSynchronize(t1));
    CK(cudaGetLastError());
    float f;
    CK(cudaEventElapsedTime(&f, t0, t1));
    ms = f / k;
  }
  return ms;
}

int main(int argc, char** argv) {
  int sms;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  CK(cudaFuncSetAttribute(ssm1_stream, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
  CK(cudaFuncSetAttribute(occupy, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
  CK(cudaFuncSetAttribute(wg_ws_x3_n256, cudaFuncAttributeMaxDynamicSharedMemorySize, WS_SMEM));
  Ops o;
  std::vector<int> slots(ROWS);
  for (int r = 0; r < ROWS; r++) slots[r] = r;
  CK(cudaMalloc(&o.slots, ROWS * sizeof(int)));
  CK(cudaMemcpy(o.slots, slots.data(), ROWS * sizeof(int), cudaMemcpyHostToDevice));
  CK(cudaMalloc(&o.n_rows, sizeof(int)));
  CK(cudaMemcpy(o.n_rows, &ROWS, sizeof(int), cudaMemcpyHostToDevice));
  o.states = dev<float>((size_t)ROWS * D_INNER * D_STATE);
  o.xc = dev<float>((size_t)ROWS * D_INNER);
  o.dbc = dev<float>((size_t)ROWS * (DT_RANK + 2 * D_STATE));
  o.dtv = dev<float>((size_t)ROWS * D_INNER);
  o.A = dev<float>((size_t)D_INNER * D_STATE);
  o.D = dev<float>(D_INNER);
  o.z = dev<float>((size_t)ROWS * D_INNER);
  o.y = dev<float>((size_t)ROWS * D_INNER);
  o.x_hi = dev<__nv_bfloat16>((size_t)ROWS * D_MODEL);
  o.x_lo = dev<__nv_bfloat16>((size_t)ROWS * D_MODEL);
  o.w_hi = dev<__nv_bfloat16>((size_t)IN_OUT * D_MODEL);
  o.w_lo = dev<__nv_bfloat16>((size_t)IN_OUT * D_MODEL);
  o.proj = dev<float>((size_t)ROWS * IN_OUT);
  cudaStream_t sa, sb;
  CK(cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&sb, cudaStreamNonBlocking));
  double state_bytes = 2.0 * ROWS * D_INNER * D_STATE * 4;
  auto none = [](cudaStream_t) {};
  // the whole GPU, as the engine runs them now: 16 rows a block, the ring's own shared memory
  double st_full = rounds(sa, sb, none, [&](cudaStream_t s) { state(o, 0, RING, s); }, false, true);
  double pr_full = rounds(sa, sb, [&](cudaStream_t s) { product(o, sms, s); }, none, true, false);
  printf("SS1_STAGES %d (%d KB ring), SS1_STORE_LAG %d, SS1_CONS %d, %d SMs: state update alone on the whole GPU %.3f ms (%.0f GB/s of state), in_proj "
         "alone on %d blocks %.3f ms; one after the other %.3f ms\n",
         SS1_STAGES, RING / 1024, SS1_STORE_LAG, SS1_CONS, sms, st_full, state_bytes / st_full / 1e6, sms, pr_full, st_full + pr_full);
  printf("| S (state SMs) | state alone on S, ms (GB/s) | P = SMs - S | in_proj alone on P, ms | both at once, ms | "
         "longer alone | serial on the whole GPU |\n|---|---|---|---|---|---|---|\n");
  std::vector<int> ss;
  for (int i = 1; i < argc; i++) ss.push_back(atoi(argv[i]));
  if (ss.empty()) ss = {36, 48, 60, 66, 78};
  int one_per_sm = RING > 116 * 1024 ? RING : 116 * 1024;  // more than half of 228 KB: one block an SM
  // PP_TWO_PER_SM=1: 2 S blocks of the ring's own size (two fit an SM beside no product block); alone they spread over
  // up to 2 S SMs, so only the "both at once" column confines them to S
  bool two = getenv("PP_TWO_PER_SM") != nullptr && RING <= 114 * 1024;
  if (two) printf("(two state blocks an SM: grid 2 S)\n");
  for (int S : ss) {
    int P = sms - S;
    auto st = [&](cudaStream_t s) { state(o, two ? 2 * S : S, two ? RING : one_per_sm, s); };
    auto pr = [&](cudaStream_t s) { product(o, P, s); };
    double a = rounds(sa, sb, none, st, false, true);
    double b = rounds(sa, sb, pr, none, true, false);
    double both = rounds(sa, sb, pr, st, true, true);
    if (getenv("PP_CONFINED")) {  // the state update held to S SMs by occupy: one and two blocks an SM
      double c1 = confined(o, sms, S, S, one_per_sm, sa, sb);
      double c2 = RING <= 114 * 1024 ? confined(o, sms, S, 2 * S, RING, sa, sb) : 0;
      printf("| %d | confined to %d SMs: one block an SM %.3f ms (%.0f GB/s, %.1f an SM), two %.3f ms (%.0f GB/s, %.1f an SM) |\n",
             S, S, c1, state_bytes / c1 / 1e6, state_bytes / c1 / 1e6 / S, c2, state_bytes / c2 / 1e6, state_bytes / c2 / 1e6 / S);
    }
    printf("| %d | %.3f (%.0f) | %d | %.3f | %.3f | %.3f | %.3f |\n", S, a, state_bytes / a / 1e6, P, b, both, a > b ? a : b,
           st_full + pr_full);
  }
  return 0;
}
