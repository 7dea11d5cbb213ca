// Can this GPU run tensor-core work, or L2-resident reads, beside an HBM stream, each near its speed alone?
// (The question behind Mamba-1's large-batch step: its products and its state traffic are each about half of it.)
//
// Kernels small enough that blocks of "a" and of the copy fit on every SM together:
//   a = tc_spin  mma.sync bf16 m16n8k16 on registers only (no memory traffic), 8 independent accumulators per warp,
//                one persistent block per SM;
//   a = l2_read  a 32 MB buffer read over and over with ld.global.cg (L2 only), as a product's operand loads are, one
//                persistent block per SM;
//   a = l2_bulk  the same buffer by bulk copies into shared memory, alone or multicast within clusters of 2 / 4;
//   copy_stream  a grid-stride float4 copy of a buffer far larger than L2, copy_blocks_per_sm x SMs blocks of 512.
// Each runs alone, then both at once on two streams. Every tc_spin block reports its SM clock (clock64 over
// %globaltimer), so a power or clock limit shows up as a lower clock while the copy runs beside it, and both kernels
// report when their first block started and their last block ended, so the printout shows whether they really ran
// together. Findings on the H100 (2026-11-22): kernels/gpu/README.md, "Why separate kernels do not overlap".
//
// Build (any machine with nvcc; the runtime is linked statically, the GPU machine needs only the driver):
//   nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o .gpu-probe/overlap_probe kernels/gpu/overlap_probe.cu
// Run: .gpu-probe/overlap_probe [a_threads=256] [copy_blocks_per_sm=2] [a=tc|l2|b1|b2|b4]
//   a=l2 runs l2_read (a 32 MB buffer read from L2 over and over, as a GEMM's operand loads are) instead of tc_spin;
//   a=b1 / b2 / b4 runs l2_bulk (bulk copies of the same buffer; b2, b4: multicast in clusters of 2, 4; one thread
//   issues, a_threads is ignored); its rate is the bytes the SMs receive.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#include "probe_check.cuh"

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// span[0] = first block's start, span[1] = last block's end (ns, %globaltimer)
__device__ __forceinline__ void note_span(unsigned long long* span, unsigned long long t0, unsigned long long t1) {
  if (threadIdx.x == 0) {
    atomicMin(&span[0], t0);
    atomicMax(&span[1], t1);
  }
}

__global__ void tc_spin(int iters, float* sink, float* mhz, unsigned long long* span) {
  unsigned a0 = 0x3f803f80u ^ (threadIdx.x * 0x00010001u), a1 = a0 ^ 0x00200020u, a2 = a0 + 3u, a3 = a0 ^ 7u;
  unsigned b0 = a0 ^ 0x00400040u, b1 = a1 + 5u;
  float c[8][4] = {};
  __syncthreads();
  unsigned long long g0 = global_ns();
  long long k0 = clock64();
  for (int i = 0; i < iters; i++) {
#pragma unroll
    for (int j = 0; j < 8; j++)
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
          : "+f"(c[j][0]), "+f"(c[j][1]), "+f"(c[j][2]), "+f"(c[j][3])
          : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
  long long k1 = clock64();
  unsigned long long g1 = global_ns();
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 8; j++) s += c[j][0] + c[j][1] + c[j][2] + c[j][3];
  if (s == 1234.5f) sink[threadIdx.x] = s;  // never true in practice; keeps the products live
  if (threadIdx.x == 0) mhz[blockIdx.x] = float(double(k1 - k0) * 1e3 / double(g1 - g0));
  note_span(span, g0, g1);
}

// Reads a buffer that fits in L2 over and over (ld.global.cg: L2 only), as a GEMM's operand loads do; one
// persistent block per SM.
__global__ void l2_read(const float4* __restrict__ buf, size_t n, int reps, float* sink, unsigned long long* span) {
  unsigned long long g0 = global_ns();
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int r = 0; r < reps; r++) {
    size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
      float4 v0 = __ldcg(buf + i), v1 = __ldcg(buf + i + stride), v2 = __ldcg(buf + i + 2 * stride),
             v3 = __ldcg(buf + i + 3 * stride);
      acc.x += v0.x + v1.x + v2.x + v3.x;
      acc.y += v0.y + v1.y + v2.y + v3.y;
    }
    for (; i < n; i += stride) acc.x += __ldcg(buf + i).x;
  }
  if (acc.x == 1234.5f) sink[threadIdx.x] = acc.y;  // keeps the loads live
  __syncthreads();
  note_span(span, g0, global_ns());
}

// The same 32 MB read with Hopper bulk copies into a ring of 4 x 32 KB stages in shared memory, one thread per block
// issuing them; with CL > 1, clusters of CL blocks where each 32 KB chunk is read from L2 once and multicast into every
// block of the cluster (what a product's weight tile shared by a cluster would do), so L2 serves 1 / CL of the bytes
// the SMs receive. Blocks of a cluster go round by round in step (a cluster barrier per round), so no stage is
// refilled before every block has it.
#define PB_STAGES 4
#define PB_STAGE 32768
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cluster_sync_all() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
#endif
template <int CL>
__device__ void l2_bulk_impl(const char* __restrict__ buf, size_t bytes, int reps, unsigned long long* span) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) unsigned char ring[];
  unsigned long long* full = reinterpret_cast<unsigned long long*>(ring + PB_STAGES * PB_STAGE);
  unsigned rank = 0;
  if (CL > 1) asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
  const size_t chunks = bytes / PB_STAGE;
  const unsigned cid = blockIdx.x / CL, nclusters = gridDim.x / CL;
  const size_t rounds = (chunks + size_t(nclusters) * PB_STAGES - 1) / (size_t(nclusters) * PB_STAGES);
  if (threadIdx.x == 0) {
    for (int s = 0; s < PB_STAGES; s++) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(smem_addr(full + s)));
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (CL > 1) cluster_sync_all();
  unsigned long long g0 = global_ns();
  unsigned parity = 0;
  for (int r = 0; r < reps; r++) {
    for (size_t round = 0; round < rounds; round++) {
      if (threadIdx.x == 0) {
        for (int s = 0; s < PB_STAGES; s++)
          asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(full + s)), "r"(PB_STAGE)
                       : "memory");
        for (int s = 0; s < PB_STAGES; s++) {
          if (s % CL != int(rank)) continue;  // stage s comes from block s % CL of the cluster
          const char* src = buf + ((round * nclusters + cid) * PB_STAGES + s) % chunks * PB_STAGE;
          if (CL == 1) {
            asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                             smem_addr(ring + s * PB_STAGE)),
                         "l"(src), "r"(PB_STAGE), "r"(smem_addr(full + s))
                         : "memory");
          } else {
            unsigned short mask = (unsigned short)((1u << CL) - 1);
            asm volatile(
                "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1], %2, [%3], %4;\n" ::"r"(
                    smem_addr(ring + s * PB_STAGE)),
                "l"(src), "r"(PB_STAGE), "r"(smem_addr(full + s)), "h"(mask)
                : "memory");
          }
        }
        for (int s = 0; s < PB_STAGES; s++)
          asm volatile(
              "{\n.reg .pred p;\nPB_WAIT_%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra PB_WAIT_%=;\n}\n" ::"r"(
                  smem_addr(full + s)),
              "r"(parity)
              : "memory");
      }
      parity ^= 1;
      __syncwarp();
      if (CL > 1) cluster_sync_all();  // every block of the cluster has this round's stages: the next may refill them
    }
  }
  note_span(span, g0, global_ns());
#endif
}
__global__ void __launch_bounds__(32) l2_bulk1(const char* buf, size_t bytes, int reps, unsigned long long* span) {
  l2_bulk_impl<1>(buf, bytes, reps, span);
}
__global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(32) l2_bulk2(const char* buf, size_t bytes, int reps,
                                                                         unsigned long long* span) {
  l2_bulk_impl<2>(buf, bytes, reps, span);
}
__global__ void __cluster_dims__(4, 1, 1) __launch_bounds__(32) l2_bulk4(const char* buf, size_t bytes, int reps,
                                                                         unsigned long long* span) {
  l2_bulk_impl<4>(buf, bytes, reps, span);
}

__global__ void copy_stream(const float4* __restrict__ src, float4* __restrict__ dst, size_t n, int reps,
                            unsigned long long* span) {
  unsigned long long g0 = global_ns();
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (int r = 0; r < reps; r++) {
    size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {  // four loads in flight per thread
      float4 v0 = src[i], v1 = src[i + stride], v2 = src[i + 2 * stride], v3 = src[i + 3 * stride];
      dst[i] = v0;
      dst[i + stride] = v1;
      dst[i + 2 * stride] = v2;
      dst[i + 3 * stride] = v3;
    }
    for (; i < n; i += stride) dst[i] = src[i];
  }
  __syncthreads();
  note_span(span, g0, global_ns());
}

struct Spans {
  unsigned long long* d;  // [a start, a end, copy start, copy end]
  unsigned long long h[4];
  void reset() {
    unsigned long long init[4] = {~0ull, 0ull, ~0ull, 0ull};
    CK(cudaMemcpy(d, init, sizeof init, cudaMemcpyHostToDevice));
  }
  void fetch() { CK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost)); }
};

int main(int argc, char** argv) {
  const int a_threads = argc > 1 ? atoi(argv[1]) : 256;
  const int copy_per_sm = argc > 2 ? atoi(argv[2]) : 2;
  const bool l2 = argc > 3 && argv[3][0] == 'l';
  // a = b1 / b2 / b4: l2_bulk with clusters of 1 / 2 / 4 (multicast from 2)
  const int bulk = argc > 3 && argv[3][0] == 'b' ? atoi(argv[3] + 1) : 0;
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  const int sms = p.multiProcessorCount;
  printf("%s, %d SMs, L2 %d MB; %s: %d blocks x %d threads; copy_stream: %d blocks x 512 threads\n", p.name, sms,
         p.l2CacheSize >> 20, bulk ? (bulk == 1 ? "l2_bulk1" : bulk == 2 ? "l2_bulk2 (multicast)" : "l2_bulk4 (multicast)")
         : l2 ? "l2_read" : "tc_spin", bulk ? sms / bulk * bulk : sms, bulk ? 32 : a_threads, sms * copy_per_sm);

  const size_t bytes = size_t(1) << 30;  // 1 GiB each way
  const size_t n = bytes / sizeof(float4);
  const size_t l2_n = (size_t(32) << 20) / sizeof(float4);
  float4 *src, *dst, *l2buf;
  float *sink, *mhz;
  Spans spans;
  CK(cudaMalloc(&src, bytes));
  CK(cudaMalloc(&dst, bytes));
  CK(cudaMemset(src, 1, bytes));
  CK(cudaMalloc(&l2buf, l2_n * sizeof(float4)));
  CK(cudaMemset(l2buf, 0, l2_n * sizeof(float4)));
  CK(cudaMalloc(&sink, 4096));
  CK(cudaMalloc(&mhz, sms * sizeof(float)));
  CK(cudaMemset(mhz, 0, sms * sizeof(float)));  // only tc_spin measures its clock; 0 for the others
  CK(cudaMalloc(&spans.d, sizeof spans.h));
  cudaStream_t s_a, s_copy;
  CK(cudaStreamCreateWithFlags(&s_a, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&s_copy, cudaStreamNonBlocking));
  cudaEvent_t e0, e_a, e_copy;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e_a));
  CK(cudaEventCreate(&e_copy));

  // mode bit 1: the "a" kernel (tc_spin, l2_read or l2_bulk), bit 2: copy_stream. Returns ms from a common start to
  // the later end.
  int a_iters = l2 || bulk ? 20 : 2000, copy_reps = 1;
  const size_t pb_smem = PB_STAGES * PB_STAGE + 64;  // the ring and its mbarriers
  for (auto f : {(const void*)l2_bulk1, (const void*)l2_bulk2, (const void*)l2_bulk4})
    CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, int(pb_smem)));
  const char* l2bytes = reinterpret_cast<const char*>(l2buf);
  const size_t l2_bytes = l2_n * sizeof(float4);
  auto run = [&](int mode) {
    spans.reset();
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(e0, s_a));
    CK(cudaStreamWaitEvent(s_copy, e0, 0));
    if ((mode & 1) && bulk == 1) l2_bulk1<<<sms, 32, pb_smem, s_a>>>(l2bytes, l2_bytes, a_iters, spans.d);
    if ((mode & 1) && bulk == 2) l2_bulk2<<<sms / 2 * 2, 32, pb_smem, s_a>>>(l2bytes, l2_bytes, a_iters, spans.d);
    if ((mode & 1) && bulk == 4) l2_bulk4<<<sms / 4 * 4, 32, pb_smem, s_a>>>(l2bytes, l2_bytes, a_iters, spans.d);
    if ((mode & 1) && !bulk && l2) l2_read<<<sms, a_threads, 0, s_a>>>(l2buf, l2_n, a_iters, sink, spans.d);
    if ((mode & 1) && !bulk && !l2) tc_spin<<<sms, a_threads, 0, s_a>>>(a_iters, sink, mhz, spans.d);
    if (mode & 2) copy_stream<<<sms * copy_per_sm, 512, 0, s_copy>>>(src, dst, n, copy_reps, spans.d + 2);
    CK(cudaGetLastError());
    CK(cudaEventRecord(e_a, s_a));
    CK(cudaEventRecord(e_copy, s_copy));
    CK(cudaStreamWaitEvent(s_a, e_copy, 0));
    CK(cudaEventRecord(e_a, s_a));
    CK(cudaEventSynchronize(e_a));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e_a));
    spans.fetch();
    return ms;
  };
  auto mean_mhz = [&]() {
    float h[1024];
    CK(cudaMemcpy(h, mhz, sms * sizeof(float), cudaMemcpyDeviceToHost));
    double s = 0;
    for (int i = 0; i < sms; i++) s += h[i];
    return s / sms;
  };

  // calibrate both to about 40 ms alone
  run(1);
  run(2);
  a_iters = int(a_iters * 40.0 / run(1));
  copy_reps = int(copy_reps * 40.0 / run(2)) + 1;
  // tc_spin: flop; l2_read: bytes read; l2_bulk: bytes the SMs receive (L2 serves 1 / cluster of them); per second
  // below, as T/s
  const size_t pb_chunks = l2_bytes / PB_STAGE;
  const size_t pb_per_round = bulk ? size_t(sms / bulk) * PB_STAGES : 1;
  const double a_work = bulk ? double(a_iters) * ((pb_chunks + pb_per_round - 1) / pb_per_round) * PB_STAGES * PB_STAGE *
                                    double(sms / bulk * bulk)
                         : l2 ? double(a_iters) * l2_bytes
                              : 2.0 * 16 * 8 * 16 * 8 * double(a_iters) * (a_threads / 32) * sms;
  const double copy_bytes = 2.0 * bytes * copy_reps;
  printf("a_iters %d (%.2f T flop or bytes), copy_reps %d (%.1f GB read + written)\n", a_iters, a_work * 1e-12, copy_reps,
         copy_bytes * 1e-9);
  for (int round = 0; round < 3; round++) {
    float t_a = run(1);
    double mhz_a = mean_mhz();
    float t_copy = run(2);
    float t_both = run(3);
    double mhz_both = mean_mhz();
    const double a_ms = (spans.h[1] - spans.h[0]) * 1e-6, copy_ms = (spans.h[3] - spans.h[2]) * 1e-6;
    const double lag_ms = (double(spans.h[2]) - double(spans.h[0])) * 1e-6;
    printf("round %d: a alone %.2f ms (%.1f T/s, SM clock %.0f MHz), copy alone %.2f ms (%.0f GB/s); "
           "together %.2f ms = %.2f of the sum, %.2f of the larger (a ran %.2f ms at %.0f MHz, copy %.2f ms from "
           "%.2f ms after a's start)\n",
           round, t_a, a_work / t_a * 1e-9, mhz_a, t_copy, copy_bytes / t_copy * 1e-6, t_both,
           t_both / (t_a + t_copy), t_both / (t_a > t_copy ? t_a : t_copy), a_ms, mhz_both, copy_ms, lag_ms);
  }
  return 0;
}
