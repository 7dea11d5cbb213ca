// ssm1_update: Mamba-1 selective state update for one step, with D skip and silu(z) gate
// (mamba_ssm Mamba.step after x_proj; selective_state_update with dt_softplus):
//   dt      = softplus(dt_raw)  where dt_raw = dt_proj(dbc[r, :dt_rank]) + dt_bias, either computed here (dt_w given)
//             or read from dtv (dt_w null: dt_proj already ran as a matmul, bias included)
//   h[ch,n] = exp(A[ch,n] dt) h[ch,n] + dt B[n] x          (discretize, state update)
//   y[r,ch] = (sum_n h[ch,n] C[n] + D[ch] x) * silu(z[r,ch])  (readout, skip, gate)
//
// Shapes:  state pool: stream row r at states + slots[r] * state_stride; its SSM state (d_inner, d_state) row-major at
//          ssm_off floats into the stream. xc (rows, d_inner) stride xc_stride: x after conv and silu.
//          dbc (rows, dt_rank + 2 d_state) stride dbc_stride: x_proj's output [dt_low_rank | B | C].
//          dt_w (d_inner, dt_rank) and dt_b (d_inner), or null; dtv (rows, d_inner) stride dtv_stride when dt_w is null.
//          A (d_inner, d_state) = -exp(A_log); D (d_inner); z (rows, d_inner) stride z_stride; y (rows, d_inner);
//          y_hi, y_lo: null, or (rows, d_inner) bf16 dense: y's bf16 halves written there instead of y (out_proj's input
//          on wgmma, which would otherwise split y with bf16_split_rows); y_lo null for bf16x1.
// Launch:  ssm1_update_ref: grid (ceil(d_inner / 128), rows), block 128; one thread per (row, channel), scalar.
//          ssm1_update:     d_state / 4 lanes per channel (d_state in 4, 8, ..., 128), each one float4 of the state,
//                           so a warp reads and writes one contiguous stretch; grid (ceil(d_inner / (512 / d_state)),
//                           ceil(rows / SSM1_ROWS)), block 128, dynamic shared memory SSM1_ROWS * (dt_rank + 2 d_state)
//                           floats (B, C of the block's rows); A stays in registers across the SSM1_ROWS rows. Needs a
//                           16-byte-aligned state: the launcher checks. Two entry points: ssm1_update reads dt from dtv
//                           (large batches; 64 registers for occupancy), ssm1_update_dtw runs dt_proj (small batches).
#include "common.cuh"

#define SSM1_ROWS 4

// y[r, ch], or its bf16 halves (dense, d_inner wide) where out_proj reads them on wgmma (y_hi given)
MF_DEVICE void ssm1_store_y(float* y, int y_stride, __nv_bfloat16* y_hi, __nv_bfloat16* y_lo, int d_inner, int r, int ch, float v) {
    if (y_hi) {
        mf_split_store(y_hi, y_lo, (size_t)r * d_inner + ch, v);
    } else {
        y[(size_t)r * y_stride + ch] = v;
    }
}

extern "C" __global__ void ssm1_update_ref(const int* __restrict__ n_rows, const int* __restrict__ slots,
                                           float* __restrict__ states, long long state_stride, int ssm_off,
                                           const float* __restrict__ xc, int xc_stride,
                                           const float* __restrict__ dbc, int dbc_stride,
                                           const float* __restrict__ dt_w, const float* __restrict__ dt_b,
                                           const float* __restrict__ dtv, int dtv_stride,
                                           const float* __restrict__ A, const float* __restrict__ D,
                                           const float* __restrict__ z, int z_stride,
                                           int d_inner, int d_state, int dt_rank,
                                           float* __restrict__ y, int y_stride, __nv_bfloat16* __restrict__ y_hi,
                                           __nv_bfloat16* __restrict__ y_lo) {
    mf_grid_dep();
    int r = blockIdx.y;
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= *n_rows || ch >= d_inner) return;
    const float* bc = dbc + (size_t)r * dbc_stride;
    float dt;
    if (dt_w) {
        dt = dt_b[ch];
        for (int k = 0; k < dt_rank; k++) dt += dt_w[(size_t)ch * dt_rank + k] * bc[k];
    } else {
        dt = dtv[(size_t)r * dtv_stride + ch];
    }
    dt = mf_softplus(dt);
    float x = xc[(size_t)r * xc_stride + ch];
    float dtx = dt * x;
    float* h = states + (long long)slots[r] * state_stride + ssm_off + (size_t)ch * d_state;
    const float* a = A + (size_t)ch * d_state;
    float acc = 0.0f;
    for (int n = 0; n < d_state; n++) {
        float hv = h[n] * expf(a[n] * dt) + dtx * bc[dt_rank + n];
        h[n] = hv;
        acc += hv * bc[dt_rank + d_state + n];
    }
    acc += D[ch] * x;
    ssm1_store_y(y, y_stride, y_hi, y_lo, d_inner, r, ch, acc * mf_silu(z[(size_t)r * z_stride + ch]));
}

// Fast version: ROWS rows per block; every global load (A, D, dt_proj row share, the rows' states, x, z, dt) is issued
// before the block waits for its B and C, so a block costs about two memory latencies.
#define SSM1_DTW_REGS 16

template <int ROWS, bool DTW>
MF_DEVICE void ssm1_fast(const int* __restrict__ n_rows, const int* __restrict__ slots,
                         float* __restrict__ states, long long state_stride, int ssm_off,
                         const float* __restrict__ xc, int xc_stride,
                         const float* __restrict__ dbc, int dbc_stride,
                         const float* __restrict__ dt_w, const float* __restrict__ dt_b,
                         const float* __restrict__ dtv, int dtv_stride,
                         const float* __restrict__ A, const float* __restrict__ D,
                         const float* __restrict__ z, int z_stride,
                         int d_inner, int d_state, int dt_rank,
                         float* __restrict__ y, int y_stride, __nv_bfloat16* __restrict__ y_hi, __nv_bfloat16* __restrict__ y_lo) {
    extern __shared__ float sdbc[];  // (ROWS, dt_rank + 2 d_state)
    int r0 = blockIdx.y * ROWS;
    int dbc_dim = dt_rank + 2 * d_state;
    // lanes_per_ch consecutive lanes share a channel, one float4 of its state each: a warp touches one contiguous
    // stretch of the state, so every load and store is fully coalesced.
    int lanes_per_ch = d_state >> 2;
    int sub = threadIdx.x & (lanes_per_ch - 1);
    int ch = blockIdx.x * (blockDim.x / lanes_per_ch) + threadIdx.x / lanes_per_ch;
    bool active = ch < d_inner;
    int chc = active ? ch : 0;
    float4 a = __ldg(reinterpret_cast<const float4*>(A + (size_t)chc * d_state) + sub);
    float d = D[chc];
    float bias = DTW ? dt_b[chc] : 0.0f;
    // this lane's share of the channel's dt_proj row: k = sub, sub + lanes_per_ch, ...
    float dtw[DTW ? SSM1_DTW_REGS : 1];
    bool dtw_in_regs = DTW && dt_rank <= SSM1_DTW_REGS * lanes_per_ch;
    if (DTW) {
#pragma unroll
        for (int i = 0; i < SSM1_DTW_REGS; i++) {
            int k = sub + i * lanes_per_ch;
            dtw[i] = dtw_in_regs && k < dt_rank ? dt_w[(size_t)chc * dt_rank + k] : 0.0f;
        }
    }
    // the rows' states before the wait too: the step's control block (n_rows, slots) is copied before its first kernel,
    // and no kernel but this one touches this layer's SSM state (common.cuh, mf_grid_dep). A state is read once and
    // written once a step, so both with the streaming hint (ld/st.global.cs: evict first), which leaves L2 to the
    // weights and activations (H100, Mamba-1 device ms at batch 512: 3.117 / 3.121 against 3.151 / 3.156; Mamba-2's
    // state update measured slower with it, 18.38 against 17.76 ms at 1024, so it has none)
    int n = *n_rows;
    float4 hv[ROWS];
    float4* hp[ROWS];
#pragma unroll
    for (int rr = 0; rr < ROWS; rr++) {
        int r = min(r0 + rr, max(n - 1, 0));
        hp[rr] = reinterpret_cast<float4*>(states + (long long)slots[r] * state_stride + ssm_off + (size_t)chc * d_state) + sub;
        hv[rr] = active && r0 + rr < n ? __ldcs(hp[rr]) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    mf_grid_dep();  // the weights and states above are requested before it; activations after it
    if (r0 >= n) return;
    float xv[ROWS], zv[ROWS], dtr[ROWS];
#pragma unroll
    for (int rr = 0; rr < ROWS; rr++) {
        int r = min(r0 + rr, n - 1);
        bool ok = active && r0 + rr < n;
        xv[rr] = ok ? xc[(size_t)r * xc_stride + chc] : 0.0f;
        zv[rr] = ok ? z[(size_t)r * z_stride + chc] : 0.0f;
        dtr[rr] = ok && !DTW ? dtv[(size_t)r * dtv_stride + chc] : 0.0f;
    }
    for (int i = threadIdx.x; i < ROWS * dbc_dim; i += blockDim.x) {
        int rr = i / dbc_dim, k = i - rr * dbc_dim;
        sdbc[i] = r0 + rr < n ? dbc[(size_t)(r0 + rr) * dbc_stride + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < ROWS; rr++) {
        int r = r0 + rr;
        if (r >= n) break;
        const float* bc = sdbc + rr * dbc_dim;
        float dt = dtr[rr];
        if (DTW) {
            // dt_proj split over the channel's lanes, then summed across them
            if (dtw_in_regs) {
#pragma unroll
                for (int i = 0; i < SSM1_DTW_REGS; i++) {
                    int k = sub + i * lanes_per_ch;
                    if (k < dt_rank) dt += dtw[i] * bc[k];
                }
            } else {
                for (int k = sub; k < dt_rank; k += lanes_per_ch) dt += dt_w[(size_t)chc * dt_rank + k] * bc[k];
            }
            for (int o = lanes_per_ch >> 1; o > 0; o >>= 1) dt += __shfl_xor_sync(0xffffffffu, dt, o);
            dt += bias;
        }
        dt = mf_softplus(dt);
        float x = xv[rr];
        float dtx = dt * x;
        const float* Bv = bc + dt_rank + 4 * sub;
        const float* Cv = bc + dt_rank + d_state + 4 * sub;
        float4 h = hv[rr];
        h.x = h.x * __expf(a.x * dt) + dtx * Bv[0];
        h.y = h.y * __expf(a.y * dt) + dtx * Bv[1];
        h.z = h.z * __expf(a.z * dt) + dtx * Bv[2];
        h.w = h.w * __expf(a.w * dt) + dtx * Bv[3];
        if (active) __stcs(hp[rr], h);
        float acc = active ? h.x * Cv[0] + h.y * Cv[1] + h.z * Cv[2] + h.w * Cv[3] : 0.0f;
        for (int o = lanes_per_ch >> 1; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (active && sub == 0) {
            acc += d * x;
            ssm1_store_y(y, y_stride, y_hi, y_lo, d_inner, r, ch, acc * mf_silu(zv[rr]));
        }
    }
}

#define SSM1_ARGS                                                                                                  \
    const int *__restrict__ n_rows, const int *__restrict__ slots, float *__restrict__ states,                     \
        long long state_stride, int ssm_off, const float *__restrict__ xc, int xc_stride,                          \
        const float *__restrict__ dbc, int dbc_stride, const float *__restrict__ dt_w, const float *__restrict__ dt_b, \
        const float *__restrict__ dtv, int dtv_stride, const float *__restrict__ A, const float *__restrict__ D,    \
        const float *__restrict__ z, int z_stride, int d_inner, int d_state, int dt_rank, float *__restrict__ y,    \
        int y_stride, __nv_bfloat16 *__restrict__ y_hi, __nv_bfloat16 *__restrict__ y_lo
#define SSM1_PASS                                                                                                  \
    n_rows, slots, states, state_stride, ssm_off, xc, xc_stride, dbc, dbc_stride, dt_w, dt_b, dtv, dtv_stride, A, D, z, \
        z_stride, d_inner, d_state, dt_rank, y, y_stride, y_hi, y_lo

// dt from dtv (dt_w null): the large-batch, bandwidth-bound case, kept small in registers for occupancy.
extern "C" __global__ void __launch_bounds__(128, 8) ssm1_update(SSM1_ARGS) { ssm1_fast<SSM1_ROWS, false>(SSM1_PASS); }

// dt_proj computed in the kernel (dt_w given): the small-batch, latency-bound case.
extern "C" __global__ void __launch_bounds__(128) ssm1_update_dtw(SSM1_ARGS) { ssm1_fast<SSM1_ROWS, true>(SSM1_PASS); }

// ssm1_stream: the large-batch build (dt from dtv; ssm1_stream_dtw runs dt_proj itself, below) on sm_90 and newer, its
// state traffic moved by the bulk-copy engine (traps on older chips, where the launcher never picks it). Block = 256 consumer threads and one producer warp (thread
// 256); a block takes one channel chunk of cpi = 4096 / d_state channels (a contiguous 16 KB stretch of each row's
// state) and a run of rows_per_block rows. Per row its producer issues five bulk loads (the state chunk, x, z and dt of
// those channels, the row's B C) into a ring of SS1_STAGES stages, each with a full and an empty mbarrier. The
// consumers take dt's softplus and z's silu once per channel, update the state in place in shared memory (lanes =
// d_state / 4 consecutive threads per channel, one float4 each; A and D in registers for the whole run) and write y;
// consumer 0 writes the chunk back with one bulk store and hands the previous row's stage back to the producer once that
// row's store has read it.
// Launch: grid (n_chunks * ceil(rows / rows_per_block)), block SS1_CONS + 32, dynamic shared memory SS1_STAGES *
// SS1_STAGE_BYTES + 16 * SS1_STAGES (two blocks fit an SM). Needs d_state in 16, 32, 64, 128; d_inner, strides, ssm_off
// and dt_rank multiples of 4; 16-byte aligned pointers (the launcher checks). Measured on the H100 at batch 4096 (CudaBench
// ssm): 83-84% of copy bandwidth counting state bytes, 94-95% counting every byte; ssm1_update 78% / 88%.
#define SS1_STAGE_BYTES (16384 + 4096)  // states (16 KB) | x | z | dt (cpi floats each, 1 KB) | B C (2 d_state)
#ifndef SS1_STAGES  // kernels/gpu/partition_probe.cu builds it deeper
#define SS1_STAGES 4
#endif
#ifndef SS1_STORE_LAG  // bulk stores a block keeps reading its ring at once (< SS1_STAGES)
#define SS1_STORE_LAG 1
#endif
#ifndef SS1_CONS
#define SS1_CONS 256
#endif
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
MF_DEVICE void ss1_load(void* dst, const void* src, int bytes, unsigned long long* bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(mf_smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(mf_smem_addr(bar))
                 : "memory");
}
#endif

// dt_proj inside (DTW, dt_w given): each consumer thread keeps its channel's dt_proj row in registers for the run
// (dt_rank <= SS1_DTW_MAX) and the producer brings the row's whole x_proj output [dt_low_rank | B | C] (at most 256
// floats) instead of dt.
#define SS1_DTW_MAX 48
#ifdef SS1_PROBE_EX2
MF_DEVICE float ss1_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#endif
template <bool DTW>
MF_DEVICE void ssm1_stream_body(SSM1_ARGS, int rows_per_block) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int STAGES = SS1_STAGES;
    constexpr int CONS = SS1_CONS;
    constexpr int PASSES = 1024 / CONS;
    extern __shared__ float4 ss1_ring[];
    char* ring = reinterpret_cast<char*>(ss1_ring);
    unsigned long long* full = reinterpret_cast<unsigned long long*>(ring + STAGES * SS1_STAGE_BYTES);
    unsigned long long* empty = full + STAGES;
    int n = *n_rows;
    int cpi = 4096 / d_state;
    int lanes = d_state >> 2;
    int n_cb = (d_inner + cpi - 1) / cpi;
    int c0 = (blockIdx.x % n_cb) * cpi;  // the block's channel chunk
    int nch = min(cpi, d_inner - c0);
    int rb = (blockIdx.x / n_cb) * rows_per_block;  // and its rows rb ... rb + rows_per_block - 1
    int re = min(rb + rows_per_block, n);
    int t = threadIdx.x;
    if (t == 0) {
        for (int s = 0; s < STAGES; s++) {
            asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(mf_smem_addr(full + s)));
            asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(mf_smem_addr(empty + s)));
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (t >= CONS) {
        // producer
        if (t != CONS) return;
        const int bc_off = DTW ? 0 : dt_rank, bc_n = DTW ? dt_rank + 2 * d_state : 2 * d_state;
        // bytes per row: states, x, z (, dt), (dt_low_rank,) B, C
        const unsigned tx = nch * d_state * 4 + (DTW ? 2 : 3) * nch * 4 + bc_n * 4;
        for (int k = 0, r = rb; r < re; k++, r++) {
            int s = k % STAGES;
            if (k >= STAGES) mf_bar_wait(empty + s, ((k - STAGES) / STAGES) & 1);
            char* sp = ring + s * SS1_STAGE_BYTES;
            asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(mf_smem_addr(full + s)), "r"(tx) : "memory");
            ss1_load(sp, states + (long long)slots[r] * state_stride + ssm_off + (size_t)c0 * d_state, nch * d_state * 4, full + s);
            ss1_load(sp + 16384, xc + (size_t)r * xc_stride + c0, nch * 4, full + s);
            ss1_load(sp + 16384 + 1024, z + (size_t)r * z_stride + c0, nch * 4, full + s);
            if (!DTW) ss1_load(sp + 16384 + 2048, dtv + (size_t)r * dtv_stride + c0, nch * 4, full + s);
            ss1_load(sp + 16384 + 3072, dbc + (size_t)r * dbc_stride + bc_off, bc_n * 4, full + s);
        }
        return;
    }
    int sub = t & (lanes - 1);
    float4 a[PASSES];
    float dv[PASSES];
#pragma unroll
    for (int p = 0; p < PASSES; p++) {
        int cl = (p * CONS + t) / lanes;
        int ch = min(c0 + cl, d_inner - 1);
        a[p] = __ldg(reinterpret_cast<const float4*>(A + (size_t)ch * d_state) + sub);
#ifdef SS1_PROBE_EX2  // partition_probe.cu: A pre-scaled by log2(e), so each decay is one multiply and one ex2
        a[p].x *= 1.44269504f, a[p].y *= 1.44269504f, a[p].z *= 1.44269504f, a[p].w *= 1.44269504f;
#endif
        dv[p] = __ldg(D + ch);
    }
    // DTW: this thread's channel c0 + t (nch <= SS1_CONS): its dt_proj row and bias
    float dw[DTW ? SS1_DTW_MAX : 1];
    float db = 0.0f;
    if (DTW) {
#pragma unroll
        for (int k = 0; k < SS1_DTW_MAX; k++) dw[k] = t < nch && k < dt_rank ? __ldg(dt_w + (size_t)(c0 + t) * dt_rank + k) : 0.0f;
        if (t < nch) db = __ldg(dt_b + c0 + t);
    }
    for (int k = 0, r = rb; r < re; k++, r++) {
        int s = k % STAGES;
        mf_bar_wait(full + s, (k / STAGES) & 1);
        char* sp = ring + s * SS1_STAGE_BYTES;
        float4* sh = reinterpret_cast<float4*>(sp);
        float* sx = reinterpret_cast<float*>(sp + 16384);
        float* sz = sx + 256;
        float* sdt = sx + 512;
        const float* sbc = sx + 768 + (DTW ? dt_rank : 0);  // B C
        // once per channel: dt = softplus(dt) (DTW: of dt_proj(dt_low_rank) + bias), z = silu(z), in place
        if (DTW) {
            if (t < nch) {
                const float* dtr = sx + 768;
                float dt = db;
#pragma unroll
                for (int k = 0; k < SS1_DTW_MAX; k++)
                    if (k < dt_rank) dt += dw[k] * dtr[k];
                sdt[t] = mf_softplus(dt);
                sz[t] = mf_silu(sz[t]);
            }
        } else {
            for (int c = t; c < nch; c += CONS) {
                sdt[c] = mf_softplus(sdt[c]);
                sz[c] = mf_silu(sz[c]);
            }
        }
        asm volatile("bar.sync 1, %0;\n" ::"n"(CONS) : "memory");
        float4 Bv = reinterpret_cast<const float4*>(sbc)[sub];
        float4 Cv = reinterpret_cast<const float4*>(sbc + d_state)[sub];
#ifndef SS1_PROBE_COPY_ONLY  // partition_probe.cu: the ring's data movement alone, without the update
#pragma unroll
        for (int p = 0; p < PASSES; p++) {
            int f = p * CONS + t;
            int cl = f / lanes;
            bool active = cl < nch;
            float x = active ? sx[cl] : 0.0f;
            float dt = active ? sdt[cl] : 0.0f;
            float dtx = dt * x;
            float4 h = sh[f];
#ifdef SS1_PROBE_EX2
            h.x = h.x * ss1_ex2(a[p].x * dt) + dtx * Bv.x;
            h.y = h.y * ss1_ex2(a[p].y * dt) + dtx * Bv.y;
            h.z = h.z * ss1_ex2(a[p].z * dt) + dtx * Bv.z;
            h.w = h.w * ss1_ex2(a[p].w * dt) + dtx * Bv.w;
#else
            h.x = h.x * __expf(a[p].x * dt) + dtx * Bv.x;
            h.y = h.y * __expf(a[p].y * dt) + dtx * Bv.y;
            h.z = h.z * __expf(a[p].z * dt) + dtx * Bv.z;
            h.w = h.w * __expf(a[p].w * dt) + dtx * Bv.w;
#endif
            if (active) sh[f] = h;
            float acc = h.x * Cv.x + h.y * Cv.y + h.z * Cv.z + h.w * Cv.w;
            for (int o = lanes >> 1; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
            if (active && sub == 0) ssm1_store_y(y, y_stride, y_hi, y_lo, d_inner, r, c0 + cl, (acc + dv[p] * x) * sz[cl]);
        }
#endif
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        asm volatile("bar.sync 1, %0;\n" ::"n"(CONS) : "memory");
        if (t == 0) {
            asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n" ::"l"(
                             states + (long long)slots[r] * state_stride + ssm_off + (size_t)c0 * d_state),
                         "r"(mf_smem_addr(sp)), "r"(nch * d_state * 4)
                         : "memory");
            asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
            // the store SS1_STORE_LAG rows back has read its stage: hand that stage back to the producer
            asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(SS1_STORE_LAG) : "memory");
            if (k >= SS1_STORE_LAG) mf_bar_arrive(empty + (k - SS1_STORE_LAG) % STAGES);
        }
    }
    if (t == 0) asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
#else
    __trap();
#endif
}

extern "C" __global__ void __launch_bounds__(SS1_CONS + 32, 1) ssm1_stream(SSM1_ARGS, int rows_per_block) {
    mf_grid_dep();
    ssm1_stream_body<false>(SSM1_PASS, rows_per_block);
}

extern "C" __global__ void __launch_bounds__(SS1_CONS + 32, 2) ssm1_stream_dtw(SSM1_ARGS, int rows_per_block) {
    mf_grid_dep();
    ssm1_stream_body<true>(SSM1_PASS, rows_per_block);
}
