// Shared device helpers of the Mamba step kernels. Every kernel is extern "C" so the Java launchers find it by name.
//
// Conventions for every kernel in this folder:
// - A batch is padded to its CUDA-graph bucket: the grid covers `rows` (the bucket) rows, and each kernel reads the
//   true row count from the device int `*n_rows` and skips rows at or past it, so one captured graph serves every
//   batch size of its bucket.
// - Stream states live in one float pool: stream row r uses states + slots[r] * state_stride. Resident mode passes the
//   slot pool and the batch's slots; host mode passes the staging area and slots = 0..n-1.
// - float32 everywhere, fp32 accumulation.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <math.h>

#define MF_DEVICE static __device__ __forceinline__

MF_DEVICE float mf_silu(float v) { return v / (1.0f + expf(-v)); }

// Conv windows, in two layouts. A window holds a channel's last d_conv inputs, element j = 0 the oldest, d_conv - 1
// the newest; a step drops element 0, shifts the rest down and appends the new input.
// - Canonical (phases null; host mode, the kernel tests): the layer's windows (conv_dim, d_conv) row-major, newest
//   column last, as StateLayout and the CPU engine keep them; a step rewrites the whole window.
// - Ring (phases given; resident slots): the layer's windows (d_conv, conv_dim), a column per input, and element j of
//   stream row r's windows in column (phases[r] + j) % d_conv, where phases[r] = the stream's position % d_conv. A
//   step writes only the new input, into the column of element 0 (which it drops), and reads the other d_conv - 1
//   columns: 4 of the window's 8 floats a channel move (d_conv 4) where the canonical step moves all 8 (H100, Mamba-1
//   device ms 3.151 / 17.12 against 3.178 / 17.96 at batch 512 / 4096, same call). CudaStepEngine converts on load and
//   store (ConvRing.java).
// Index of element j of channel ch inside its layer's windows; phase < 0: canonical. 32-bit arithmetic (a layer's
// windows are far fewer than 2^31 floats): the ring's index math sits in the conv kernels' load path.
MF_DEVICE int mf_win_at(int ch, int j, int d_conv, int conv_dim, int phase) {
    if (phase < 0) return ch * d_conv + j;
    int col = phase + j;
    if (col >= d_conv) col -= d_conv;
    return col * conv_dim + ch;
}

// The same for d_conv 4 rings: element j of channel ch.
MF_DEVICE int mf_ring4_at(int ch, int j, int conv_dim, int phase) { return ((phase + j) & 3) * conv_dim + ch; }

// Programmatic dependent launch (sm_90+). On compute capability 9.0 and newer the engine joins the kernels of its step
// graphs by programmatic edges (ProgrammaticEdges.java), so that a kernel's blocks are scheduled while the kernel
// before it is still finishing. Every kernel therefore calls mf_grid_dep() before it touches anything another kernel
// of the step writes, and before it could return: it waits until the kernels before it have completed and their
// writes are visible, then lets the next kernel launch. Only reads of what no kernel of the step writes may come first:
// weights; the control block (n_rows, slots), which the step copies in before its first kernel (a plain edge), so it is
// in place before any kernel starts; and, in ssm1_fast alone, the layer's SSM state rows, which no other kernel reads or
// writes (KernelSourcesTest holds every function to this).
// Without programmatic edges (graphs off, plain launches, older GPUs) both instructions do nothing.
MF_DEVICE void mf_grid_dep() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// An activation that only a wgmma product reads, stored as that product's input: its bfloat16 halves hi = bf16(v),
// lo = bf16(v - hi) (lo null for bf16x1), as bf16_split_rows would make them from the float32 value.
MF_DEVICE void mf_split_store(__nv_bfloat16* hi, __nv_bfloat16* lo, size_t i, float v) {
    __nv_bfloat16 h = __float2bfloat16_rn(v);
    hi[i] = h;
    if (lo) lo[i] = __float2bfloat16_rn(v - __bfloat162float(h));
}

// The same for four consecutive values (i % 4 == 0, 8-byte aligned halves).
MF_DEVICE void mf_split_store4(__nv_bfloat16* hi, __nv_bfloat16* lo, size_t i, float4 v) {
    __nv_bfloat162 h0 = __floats2bfloat162_rn(v.x, v.y), h1 = __floats2bfloat162_rn(v.z, v.w);
    __nv_bfloat162* hp = reinterpret_cast<__nv_bfloat162*>(hi + i);
    hp[0] = h0;
    hp[1] = h1;
    if (lo) {
        float2 f0 = __bfloat1622float2(h0), f1 = __bfloat1622float2(h1);
        __nv_bfloat162* lp = reinterpret_cast<__nv_bfloat162*>(lo + i);
        lp[0] = __floats2bfloat162_rn(v.x - f0.x, v.y - f0.y);
        lp[1] = __floats2bfloat162_rn(v.z - f1.x, v.w - f1.y);
    }
}

// bfloat16 tensor-core helpers (sm_80+ mma.sync), shared by linear_bf16.cu and conv1d_update.cu.
MF_DEVICE unsigned bf_bits(__nv_bfloat162 v) { return *reinterpret_cast<unsigned*>(&v); }

// (v.x, v.y) -> hi = bf16x2 of the pair (v.x in the low half), lo = bf16x2 of what rounding left over.
MF_DEVICE void bf_split2(float2 v, unsigned& hi, unsigned& lo) {
    __nv_bfloat162 h = __floats2bfloat162_rn(v.x, v.y);
    float2 hf = __bfloat1622float2(h);
    hi = bf_bits(h);
    lo = bf_bits(__floats2bfloat162_rn(v.x - hf.x, v.y - hf.y));
}

MF_DEVICE unsigned bf_round2(float2 v) { return bf_bits(__floats2bfloat162_rn(v.x, v.y)); }

// c (16 x 8, f32) += a (16 x 16, bf16, row) b (16 x 8, bf16, col)
MF_DEVICE void bf_mma(float* c, const unsigned* a, unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// torch.nn.functional.softplus with its default threshold of 20.
MF_DEVICE float mf_softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

MF_DEVICE float mf_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block; blockDim.x is a multiple of 32 and at most 1024. `scratch` holds 32 floats.
MF_DEVICE float mf_block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = mf_warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float s = lane < warps ? scratch[lane] : 0.0f;
    return mf_warp_sum(s);
}

// cp.async (sm_80+): global -> shared copies that bypass registers; src_bytes < size zero-fills the rest.
MF_DEVICE void cp_async16(void* smem, const void* gmem, int src_bytes) {
    unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
}

MF_DEVICE void cp_async4(float* smem, const float* gmem, int src_bytes) {
    unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
}

MF_DEVICE void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
MF_DEVICE void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// Shared-memory address of a generic pointer into shared memory, for PTX operands.
MF_DEVICE unsigned mf_smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// Waits until the mbarrier's phase of this parity has completed (sm_90 try_wait loop).
MF_DEVICE void mf_bar_wait(unsigned long long* bar, unsigned parity) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "MF_WAIT_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
        "@!p bra MF_WAIT_%=;\n"
        "}\n" ::"r"(mf_smem_addr(bar)),
        "r"(parity)
        : "memory");
}

// One arrival on the mbarrier (release, CTA scope).
MF_DEVICE void mf_bar_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(mf_smem_addr(bar)) : "memory");
}
#endif
