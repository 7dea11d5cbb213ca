// conv1d_update: one step of the depthwise causal conv on each stream's conv window, then silu
// (causal_conv1d_update with silu activation):
//   window[ch, :] <- shift left by one, newest element = x[r, ch]
//   xc[r, ch] = silu(bias[ch] + sum_j window[ch, j] * weight[ch, j])
//
// Shapes:  state pool: stream row r at states + slots[r] * state_stride; the layer's conv windows at conv_off floats into
//          the stream, canonical (conv_dim, d_conv) row-major, newest column last (phases null), or rings (d_conv,
//          conv_dim) with row r's element j in column (phases[r] + j) % d_conv (common.cuh, mf_win_at). x (rows,
//          conv_dim) with row stride x_stride (a slice of in_proj's output); weight (conv_dim, d_conv); bias (conv_dim)
//          or null; xc (rows, conv_dim) stride xc_stride.
// Launch:  grid (ceil(conv_dim / 128), rows), block 128; one thread per (row, channel). Canonical windows with vec = 1
//          (d_conv 4, windows and weight rows 16-byte aligned: the launcher checks) move as one float4 each, so a warp
//          reads and writes 512 contiguous bytes (H100, batch 4096, d_inner 1536: 0.092 ms instead of 0.156); a ring's
//          columns are contiguous across channels, so a warp's reads and its one write are coalesced as they are. The
//          windows (here and in conv_xproj) are read and written with the streaming hint, as ssm1_update's states.
#include "common.cuh"

// One float4 window (d_conv 4): acc + sum_j window'[j] * wt[j] over the window shifted left with xn as its newest
// column, in the scalar path's order of additions (so both give the same bits); v becomes the shifted window.
MF_DEVICE float conv4_step(float4& v, float4 wt, float acc, float xn) {
    acc += v.y * wt.x;
    acc += v.z * wt.y;
    acc += v.w * wt.z;
    acc += xn * wt.w;
    v = make_float4(v.y, v.z, v.w, xn);
    return acc;
}

extern "C" __global__ void conv1d_update(const int* __restrict__ n_rows, const int* __restrict__ slots,
                                         const int* __restrict__ phases, float* __restrict__ states,
                                         long long state_stride, int conv_off,
                                         const float* __restrict__ x, int x_stride,
                                         const float* __restrict__ weight, const float* __restrict__ bias,
                                         int conv_dim, int d_conv, float* __restrict__ xc, int xc_stride, int vec) {
    mf_grid_dep();
    int r = blockIdx.y;
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= *n_rows || ch >= conv_dim) return;
    float* layer = states + (long long)slots[r] * state_stride + conv_off;
    const float* w = weight + (size_t)ch * d_conv;
    float acc = bias ? bias[ch] : 0.0f;
    if (phases) {
        // ring: elements 1 .. d_conv - 1 stay where they are; the new input goes over element 0
        int ph = phases[r];
        float xn = x[(size_t)r * x_stride + ch];
        if (d_conv == 4) {  // the three loads in flight together
            float o1 = __ldcs(layer + mf_ring4_at(ch, 1, conv_dim, ph));
            float o2 = __ldcs(layer + mf_ring4_at(ch, 2, conv_dim, ph));
            float o3 = __ldcs(layer + mf_ring4_at(ch, 3, conv_dim, ph));
            acc += o1 * w[0];
            acc += o2 * w[1];
            acc += o3 * w[2];
        } else {
            for (int j = 0; j < d_conv - 1; j++) acc += __ldcs(layer + mf_win_at(ch, j + 1, d_conv, conv_dim, ph)) * w[j];
        }
        acc += xn * w[d_conv - 1];
        __stcs(layer + mf_win_at(ch, 0, d_conv, conv_dim, ph), xn);
        xc[(size_t)r * xc_stride + ch] = mf_silu(acc);
        return;
    }
    float* win = layer + (size_t)ch * d_conv;
    if (vec) {
        float4 v = __ldcs(reinterpret_cast<float4*>(win));
        float4 wt = __ldg(reinterpret_cast<const float4*>(w));
        acc = conv4_step(v, wt, acc, x[(size_t)r * x_stride + ch]);
        __stcs(reinterpret_cast<float4*>(win), v);
        xc[(size_t)r * xc_stride + ch] = mf_silu(acc);
        return;
    }
    for (int j = 0; j < d_conv - 1; j++) {
        float v = win[j + 1];
        win[j] = v;
        acc += v * w[j];
    }
    float xn = x[(size_t)r * x_stride + ch];
    win[d_conv - 1] = xn;
    acc += xn * w[d_conv - 1];
    xc[(size_t)r * xc_stride + ch] = mf_silu(acc);
}

// conv_xproj_*: Mamba-1's conv step and x_proj in one pass, for launches of 512 rows and more. Each block takes a tile
// of CX_BM rows x CX_CH channels: conv1d_update's float4 step on those windows (the same bits in xc and the windows), then
// the tile's share of x_proj on tensor cores, added atomically into dbc:
//   dbc[r, o] += sum_{c in the tile} xc[r, c] W[o, c]      (dbc zeroed before the launch)
// so xc is not read back from global memory for x_proj, and one launch replaces the conv and x_proj's split-K product.
// The products are linear_bf16's: W as its bf16 split (hi, lo), xc split as it is written to shared memory; x3 takes
// three products (float32-accurate, ~5e-6 relative measured), x1 one (bf16 operands). Sums arrive in any order
// (atomics), as in the split-K products. H100, batch 4096, d_inner 1536, 80 outputs (CudaBench ssm): 0.107 ms against
// 0.091 for the conv alone and 0.116 for the conv then x_proj. Measured slower and not kept: 128-channel tiles (half
// the atomic adds, two blocks per SM) 0.111 ms; 128-row tiles (half the W traffic, three blocks per SM) 0.113 ms.
//
// Shapes:  windows as conv1d_update, canonical or rings (d_conv 4; canonical windows 16-byte aligned); x (rows,
//          conv_dim) stride x_stride; weight (conv_dim, 4), bias (conv_dim) or null; xc (rows, conv_dim) stride
//          xc_stride; w_hi, w_lo (n_out, conv_dim) bf16 row-major (conv_dim % 8 == 0, 16-byte aligned); dbc (rows,
//          n_out) stride dbc_stride.
// Launch:  grid (ceil(conv_dim / CX_CH), ceil(rows / CX_BM)), block CX_THREADS; the *_w builds take n_out <= 256, the
//          others n_out <= 96 (warps: 4 row tiles of 16 x 2, each warp NTW n tiles of 8 outputs). Dynamic shared
//          memory: (x3 ? 2 : 1) * (CX_BM + 16 * NTW) * CX_LD * 2 bytes.
#define CX_BM 64
#define CX_CH 64
#define CX_LD (CX_CH + 8)  // bf16 row stride in shared memory: a fragment's 8 rows start on 8 different 4-bank groups
#define CX_THREADS 256
#define CX_ROUND 4  // windows a thread loads before it computes them: 4 x 20 bytes in flight per thread

// p[0] += a, p[1] += b (b only when both): one 8-byte atomic on sm_90+ where p is 8-byte aligned.
MF_DEVICE void cx_add2(float* p, float a, float b, bool both) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (both && (reinterpret_cast<size_t>(p) & 7) == 0) {
        atomicAdd(reinterpret_cast<float2*>(p), make_float2(a, b));
        return;
    }
#endif
    atomicAdd(p, a);
    if (both) atomicAdd(p + 1, b);
}

template <int NTW, bool LO>
MF_DEVICE void conv_xproj_tile(const int* __restrict__ n_rows, const int* __restrict__ slots, const int* __restrict__ phases,
                               float* __restrict__ states,
                               long long state_stride, int conv_off, const float* __restrict__ x, int x_stride,
                               const float* __restrict__ weight, const float* __restrict__ bias, int conv_dim,
                               float* __restrict__ xc, int xc_stride, const __nv_bfloat16* __restrict__ w_hi,
                               const __nv_bfloat16* __restrict__ w_lo, int n_out, float* __restrict__ dbc, int dbc_stride) {
    constexpr int WM = CX_BM / 16;            // warps along the rows, one 16-row tile each
    constexpr int WN = CX_THREADS / 32 / WM;  // warps sharing a row tile, NTW n tiles of 8 outputs each
    constexpr int NB = 8 * WN * NTW;          // W rows held
    extern __shared__ __align__(16) unsigned char cx_smem[];
    __nv_bfloat16* ah = reinterpret_cast<__nv_bfloat16*>(cx_smem);  // (CX_BM, CX_LD) xc tile, hi
    __nv_bfloat16* al = ah + CX_BM * CX_LD;                          // (CX_BM, CX_LD) lo (x3)
    __nv_bfloat16* bh = al + (LO ? CX_BM * CX_LD : 0);              // (NB, CX_LD) W[:, c0 .. c0 + CX_CH], hi
    __nv_bfloat16* bl = bh + NB * CX_LD;                             // (NB, CX_LD) lo (x3)
    int n = *n_rows;
    int m0 = blockIdx.y * CX_BM;
    if (m0 >= n) return;
    int c0 = blockIdx.x * CX_CH;
    int nt = (n_out + 7) / 8;
    // W's columns of this tile into shared memory while the conv runs; rows past n_out, columns past conv_dim zero
    for (int i = threadIdx.x; i < nt * 8 * (CX_CH / 8); i += CX_THREADS) {
        int o = i / (CX_CH / 8), kc = (i % (CX_CH / 8)) * 8;
        bool ok = o < n_out && c0 + kc < conv_dim;
        size_t off = ok ? (size_t)o * conv_dim + c0 + kc : 0;
        cp_async16(bh + o * CX_LD + kc, w_hi + off, ok ? 16 : 0);
        if (LO) cp_async16(bl + o * CX_LD + kc, w_lo + off, ok ? 16 : 0);
    }
    cp_async_commit();

    // the conv: this thread's channel is fixed, its rows step by CX_THREADS / CX_CH, CX_ROUND of them per round
    static_assert(CX_THREADS % CX_CH == 0 && CX_BM % (CX_ROUND * (CX_THREADS / CX_CH)) == 0, "whole rounds of rows");
    int ch = threadIdx.x % CX_CH;
    int c = c0 + ch;
    bool c_ok = c < conv_dim;
    float4 wt = c_ok ? __ldg(reinterpret_cast<const float4*>(weight) + c) : make_float4(0.f, 0.f, 0.f, 0.f);
    float b0 = c_ok && bias ? bias[c] : 0.0f;
#pragma unroll 1
    for (int r0 = threadIdx.x / CX_CH; r0 < CX_BM; r0 += CX_ROUND * (CX_THREADS / CX_CH)) {
        float4 v[CX_ROUND];
        float xn[CX_ROUND];
        float* win[CX_ROUND];  // the canonical window, or the ring's element 0 (where the new input goes)
#pragma unroll
        for (int q = 0; q < CX_ROUND; q++) {
            int row = m0 + r0 + q * (CX_THREADS / CX_CH);
            bool ok = c_ok && row < n;
            float* layer = ok ? states + (long long)slots[row] * state_stride + conv_off : nullptr;
            v[q] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (ok && phases) {
                int ph = phases[row];
                win[q] = layer + mf_ring4_at(c, 0, conv_dim, ph);
                v[q].y = __ldcs(layer + mf_ring4_at(c, 1, conv_dim, ph));
                v[q].z = __ldcs(layer + mf_ring4_at(c, 2, conv_dim, ph));
                v[q].w = __ldcs(layer + mf_ring4_at(c, 3, conv_dim, ph));
            } else {
                win[q] = ok ? layer + 4 * (size_t)c : nullptr;
                if (ok) v[q] = __ldcs(reinterpret_cast<float4*>(win[q]));
            }
            xn[q] = ok ? x[(size_t)row * x_stride + c] : 0.0f;
        }
#pragma unroll
        for (int q = 0; q < CX_ROUND; q++) {
            int r = r0 + q * (CX_THREADS / CX_CH);
            float out = 0.0f;
            if (win[q]) {
                out = mf_silu(conv4_step(v[q], wt, b0, xn[q]));
                if (phases) {
                    __stcs(win[q], xn[q]);
                } else {
                    __stcs(reinterpret_cast<float4*>(win[q]), v[q]);
                }
                xc[(size_t)(m0 + r) * xc_stride + c] = out;
            }
            __nv_bfloat16 h = __float2bfloat16_rn(out);
            ah[r * CX_LD + ch] = h;
            if (LO) al[r * CX_LD + ch] = __float2bfloat16_rn(out - __bfloat162float(h));
        }
    }
    cp_async_wait<0>();
    __syncthreads();

    // x_proj's share: warp w takes rows (w % WM) * 16 .. + 16 and the n tiles j = w / WM, w / WM + WN, ...
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int g = lane >> 2, t = lane & 3;
    int mt = warp % WM, nh = warp / WM;
    float acc[NTW][4];
#pragma unroll
    for (int j = 0; j < NTW; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[j][e] = 0.0f;
    const unsigned* a_hi = reinterpret_cast<const unsigned*>(ah + (mt * 16 + g) * CX_LD + 2 * t);
    const unsigned* a_lo = reinterpret_cast<const unsigned*>(al + (mt * 16 + g) * CX_LD + 2 * t);
#pragma unroll
    for (int kk = 0; kk < CX_CH; kk += 16) {
        // A fragments: (row g, k 2t), (row g + 8), (row g, k 2t + 8), (row g + 8, k 2t + 8); word offsets
        int o[4] = {kk / 2, 8 * CX_LD / 2 + kk / 2, kk / 2 + 4, 8 * CX_LD / 2 + kk / 2 + 4};
        unsigned fh[4], fl[4];
#pragma unroll
        for (int q = 0; q < 4; q++) {
            fh[q] = a_hi[o[q]];
            if (LO) fl[q] = a_lo[o[q]];
        }
#pragma unroll
        for (int j = 0; j < NTW; j++) {
            int jt = nh + WN * j;
            if (jt >= nt) break;
            int wo = (jt * 8 + g) * (CX_LD / 2) + kk / 2 + t;
            const unsigned* wh = reinterpret_cast<const unsigned*>(bh);
            unsigned h0 = wh[wo], h1 = wh[wo + 4];
            if (LO) {
                const unsigned* wl = reinterpret_cast<const unsigned*>(bl);
                bf_mma(acc[j], fl, h0, h1);
                bf_mma(acc[j], fh, wl[wo], wl[wo + 4]);
            }
            bf_mma(acc[j], fh, h0, h1);
        }
    }
#pragma unroll
    for (int j = 0; j < NTW; j++) {
        int jt = nh + WN * j;
        if (jt >= nt) break;
        int col = jt * 8 + 2 * t;
        if (col >= n_out) continue;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = m0 + mt * 16 + g + 8 * h;
            if (row < n) cx_add2(dbc + (size_t)row * dbc_stride + col, acc[j][2 * h], acc[j][2 * h + 1], col + 1 < n_out);
        }
    }
}

#define CX_ARGS                                                                                                           \
    const int *__restrict__ n_rows, const int *__restrict__ slots, const int *__restrict__ phases,                        \
        float *__restrict__ states, long long state_stride, int conv_off, const float *__restrict__ x, int x_stride,      \
        const float *__restrict__ weight, const float *__restrict__ bias, int conv_dim, float *__restrict__ xc,           \
        int xc_stride,                                                                                                    \
        const __nv_bfloat16 *__restrict__ w_hi, const __nv_bfloat16 *__restrict__ w_lo, int n_out, float *__restrict__ dbc, \
        int dbc_stride
#define CX_PASS \
    n_rows, slots, phases, states, state_stride, conv_off, x, x_stride, weight, bias, conv_dim, xc, xc_stride, w_hi, w_lo, n_out, dbc, dbc_stride

// Four blocks per SM for the narrow builds (at most 64 registers; their 46 KB of shared memory fit four times), two for
// the wide ones (64 accumulators a thread).
extern "C" __global__ void __launch_bounds__(CX_THREADS, 4) conv_xproj_x3(CX_ARGS) { mf_grid_dep(); conv_xproj_tile<6, true>(CX_PASS); }
extern "C" __global__ void __launch_bounds__(CX_THREADS, 4) conv_xproj_x1(CX_ARGS) { mf_grid_dep(); conv_xproj_tile<6, false>(CX_PASS); }
extern "C" __global__ void __launch_bounds__(CX_THREADS, 2) conv_xproj_x3_w(CX_ARGS) { mf_grid_dep(); conv_xproj_tile<16, true>(CX_PASS); }
extern "C" __global__ void __launch_bounds__(CX_THREADS, 2) conv_xproj_x1_w(CX_ARGS) { mf_grid_dep(); conv_xproj_tile<16, false>(CX_PASS); }
