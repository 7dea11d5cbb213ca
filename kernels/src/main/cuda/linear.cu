// linear: y[r, o] = (accumulate ? y[r, o] : 0) + bias[o] + sum_k x'[r, k] W[o, k]   (nn.Linear on each batch row)
// where x' = x, or x' = RMSNorm(x) * norm_w when norm_w is given (linear_gemv only: the pre-norm fused into the
// matmul that follows it).
//
// Shapes:  x (rows, in) with row stride x_stride; W (out, in) row-major (the checkpoint's layout, never transposed);
//          bias (out) or null; norm_w (in) or null; y (rows, out) with row stride y_stride. accumulate = 1 adds into y
//          (the residual add of out_proj).
// Launch:  linear_ref:    grid (ceil(out / 128), rows), block 128; one thread per (row, output), sequential k.
//          linear_gemv:   rows <= 8. grid (ceil(out / (4 opw))), block 128; one warp per opw outputs (opw = 2 for
//                         an LM head's short, numerous rows, else 1); linear_gemv_short: the same with opw 1 and half
//                         the registers, for in <= 768; linear_gemv_r{1,2,4} / linear_gemv_short_r{1,2,4}: both
//                         compiled for buckets of at most 1, 2, 4 rows (fewer registers, more warps resident: batch 1
//                         of mamba-130m 0.432 ms a step instead of 0.487 on the H100);
//                         linear_gemv_ksplit: grid (out), block 128, the 4 warps
//                         splitting one output's row, for in >= 1024 (vec, no fused norm or conv): its lanes stream those W rows once (float4 when vec = 1: in % 4 == 0 and
//                         x, W 16-byte aligned rows) against every batch row, then warp sums. Weight-bandwidth bound, for small batches. With conv_w given, outputs
//                         conv_lo .. conv_lo + conv_dim also run the conv step of conv1d_update.cu on their channel
//                         (the row's windows at states + slots[r] * state_stride + conv_off, canonical, or a ring
//                         where phases is given: common.cuh, mf_win_at; xc (rows, conv_dim); d_conv <= 8),
//                         which saves a launch per layer.
//          linear_tf32x3: grid (ceil(out / 64), ceil(rows / 64), splits), block 128 (4 warps, each 32 x 32 of the
//                         64 x 64 tile); linear_tf32x3_big: grid (ceil(out / 128), ceil(rows / 128), splits), block 256
//                         (8 warps, each 64 x 32 of the 128 x 128 tile), for large batches.
//                         Both: tensor-core WMMA m16n16k8 in "3xTF32" (a = a_hi + a_lo, b likewise,
//                         acc += a_hi b_lo + a_lo b_hi + a_hi b_hi), which keeps float32 accuracy. K is cut into
//                         `splits` ranges of k_per_split (a multiple of 32); with splits > 1 each range atomically
//                         adds its part into y, so y must hold zeros or the residual first, and bias comes from split 0.
//                         K tiles of 32 stream through two shared-memory stages with cp.async (16-byte copies when
//                         vec = 1: in % 4 == 0, x_stride % 4 == 0, x and W 16-byte aligned; else 4-byte copies).
//                         Dynamic shared memory: 40 KB (64 x 64), 80 KB (128 x 128).
#include "common.cuh"
#include <mma.h>

extern "C" __global__ void linear_ref(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                                      const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                                      float* __restrict__ y, int y_stride, int accumulate) {
    mf_grid_dep();
    int r = blockIdx.y;
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= *n_rows || o >= out) return;
    const float* xr = x + (size_t)r * x_stride;
    const float* wr = w + (size_t)o * in;
    float acc = 0.0f;
    for (int k = 0; k < in; k++) acc += xr[k] * wr[k];
    if (bias) acc += bias[o];
    float* yo = y + (size_t)r * y_stride + o;
    *yo = accumulate ? *yo + acc : acc;
}

#define GEMV_ROWS 8
#define GEMV_WREGS 12
#define GEMV_CONV_REGS 8

// W's float4 columns base + lane + 32 i (i < WPER) of rows o0 .. o0 + OPW - 1 (clamped to the last row), zero past q4.
template <int OPW, int WPER>
MF_DEVICE void gemv_load_w(float4 (&wv)[OPW][WPER], const float* __restrict__ w, int in, int out, int o0, int base,
                           int lane, int q4) {
#pragma unroll
    for (int j = 0; j < OPW; j++) {
        const float4* w4 = reinterpret_cast<const float4*>(w + (size_t)min(o0 + j, out - 1) * in);
#pragma unroll
        for (int i = 0; i < WPER; i++) {
            int q = base + lane + 32 * i;
            wv[j][i] = q < q4 ? __ldg(w4 + q) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
    }
}

// OPW outputs per warp: their W rows are requested together (GEMV_WREGS / OPW float4 per row per pass), so short rows
// (in <= 768) still keep GEMV_WREGS loads in flight per lane and a matrix needs half the warps (one wave).
template <int OPW, int WREGS, int R = GEMV_ROWS>
MF_DEVICE void gemv_body(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                         const float* __restrict__ norm_w, float eps, const float* __restrict__ w,
                         const float* __restrict__ bias, int in, int out, float* __restrict__ y, int y_stride,
                         int accumulate, int vec, const int* __restrict__ slots, const int* __restrict__ phases,
                         float* __restrict__ states,
                         long long state_stride, int conv_off, const float* __restrict__ conv_w,
                         const float* __restrict__ conv_b, int conv_lo, int conv_dim, int d_conv,
                         float* __restrict__ xc, int xc_stride) {
    constexpr int WPER = WREGS / OPW;
    int lane = threadIdx.x & 31;
    int o0 = (blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * OPW;
    int q4 = in >> 2;
    // The first pass's weights are requested before the wait (no kernel writes them), so they are on their way while
    // the kernel before this one finishes (mf_grid_dep).
    float4 wv[OPW][WPER];
    if (vec && o0 < out) gemv_load_w<OPW, WPER>(wv, w, in, out, o0, 0, lane, q4);
    mf_grid_dep();
    if (o0 >= out) return;
    int n = min(*n_rows, R);
    // What lane r (< n) needs at the end, requested now so it arrives with the weights: the old output (accumulate)
    // and the conv window of its row (fused conv).
    float y_old[OPW];
    bool conv_here[OPW];
    float win_old[OPW][GEMV_CONV_REGS];
    float* win[OPW];  // the row's windows of this layer (common.cuh, mf_win_at)
    int ph = phases && lane < n ? phases[lane] : -1;
#pragma unroll
    for (int j = 0; j < OPW; j++) {
        int o = o0 + j;
        int ch = o - conv_lo;
        bool live = o < out && lane < n;
        conv_here[j] = conv_w && ch >= 0 && ch < conv_dim && live;
        y_old[j] = accumulate && live ? y[(size_t)lane * y_stride + o] : 0.0f;
        win[j] = nullptr;
        if (conv_here[j]) {
            win[j] = states + (long long)slots[lane] * state_stride + conv_off;
#pragma unroll
            for (int t = 0; t < GEMV_CONV_REGS; t++) win_old[j][t] = t < d_conv ? win[j][mf_win_at(ch, t, d_conv, conv_dim, ph)] : 0.0f;
        }
    }
    float acc[OPW][R];
#pragma unroll
    for (int j = 0; j < OPW; j++)
#pragma unroll
        for (int r = 0; r < R; r++) acc[j][r] = 0.0f;
    if (vec) {
        // All of the lane's share of the W rows is requested before any of it is used.
        const float4* n4 = reinterpret_cast<const float4*>(norm_w);
        for (int base = 0; base < q4; base += 32 * WPER) {
            if (base > 0) gemv_load_w<OPW, WPER>(wv, w, in, out, o0, base, lane, q4);
            if (norm_w) {
#pragma unroll
                for (int i = 0; i < WPER; i++) {
                    int q = base + lane + 32 * i;
                    if (q < q4) {
                        float4 nv = __ldg(n4 + q);
#pragma unroll
                        for (int j = 0; j < OPW; j++) {
                            wv[j][i].x *= nv.x; wv[j][i].y *= nv.y; wv[j][i].z *= nv.z; wv[j][i].w *= nv.w;
                        }
                    }
                }
            }
#pragma unroll
            for (int r = 0; r < R; r++) {
                if (r < n) {
                    const float4* x4 = reinterpret_cast<const float4*>(x + (size_t)r * x_stride);
#pragma unroll
                    for (int i = 0; i < WPER; i++) {
                        int q = base + lane + 32 * i;
                        if (q < q4) {
                            float4 xv = __ldg(x4 + q);
#pragma unroll
                            for (int j = 0; j < OPW; j++)
                                acc[j][r] += xv.x * wv[j][i].x + xv.y * wv[j][i].y + xv.z * wv[j][i].z + xv.w * wv[j][i].w;
                        }
                    }
                }
            }
        }
    } else {
        for (int k = lane; k < in; k += 32) {
            float nk = norm_w ? norm_w[k] : 1.0f;
#pragma unroll
            for (int j = 0; j < OPW; j++) {
                float wv = w[(size_t)min(o0 + j, out - 1) * in + k] * nk;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    if (r < n) acc[j][r] += x[(size_t)r * x_stride + k] * wv;
                }
            }
        }
    }
    // The pre-norm's scale, factored out of the dot product; x is in L1 by now.
    float scale[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        scale[r] = 1.0f;
        if (norm_w && r < n) {
            const float* xr = x + (size_t)r * x_stride;
            float ss = 0.0f;
#pragma unroll 8
            for (int k = lane; k < in; k += 32) ss += xr[k] * xr[k];
            scale[r] = rsqrtf(mf_warp_sum(ss) / in + eps);
        }
    }
#pragma unroll
    for (int j = 0; j < OPW; j++)
#pragma unroll
        for (int r = 0; r < R; r++) acc[j][r] = mf_warp_sum(acc[j][r]);
#pragma unroll
    for (int j = 0; j < OPW; j++) {
        int o = o0 + j;
        if (o >= out) break;
        float b = bias ? bias[o] : 0.0f;
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (lane == r && r < n) {
                float v = acc[j][r] * scale[r] + b + y_old[j];
                y[(size_t)r * y_stride + o] = v;
                if (conv_here[j]) {
                    // the conv step of this channel (conv1d_update.cu), fused: this lane owns (row r, channel ch)
                    int ch = o - conv_lo;
                    const float* cw = conv_w + (size_t)ch * d_conv;
                    float c = conv_b ? conv_b[ch] : 0.0f;
#pragma unroll
                    for (int t = 0; t < GEMV_CONV_REGS - 1; t++) {
                        if (t < d_conv - 1) {
                            float wv = win_old[j][t + 1];
                            if (ph < 0) win[j][mf_win_at(ch, t, d_conv, conv_dim, ph)] = wv;  // the ring keeps it in place
                            c += wv * cw[t];
                        }
                    }
                    // the new input: the last column, or in the ring over element 0
                    win[j][mf_win_at(ch, ph < 0 ? d_conv - 1 : 0, d_conv, conv_dim, ph)] = v;
                    c += v * cw[d_conv - 1];
                    xc[(size_t)r * xc_stride + ch] = mf_silu(c);
                }
            }
        }
    }
}

#define GEMV_ARGS                                                                                                 \
    const int *__restrict__ n_rows, const float *__restrict__ x, int x_stride, const float *__restrict__ norm_w,    \
        float eps, const float *__restrict__ w, const float *__restrict__ bias, int in, int out,                     \
        float *__restrict__ y, int y_stride, int accumulate, int vec, const int *__restrict__ slots,                  \
        const int *__restrict__ phases, float *__restrict__ states, long long state_stride, int conv_off,            \
        const float *__restrict__ conv_w, const float *__restrict__ conv_b, int conv_lo, int conv_dim, int d_conv,   \
        float *__restrict__ xc, int xc_stride, int opw
#define GEMV_PASS                                                                                                 \
    n_rows, x, x_stride, norm_w, eps, w, bias, in, out, y, y_stride, accumulate, vec, slots, phases, states,         \
        state_stride, conv_off, conv_w, conv_b, conv_lo, conv_dim, d_conv, xc, xc_stride

// One or two outputs per warp (opw), for at most R batch rows.
template <int R>
MF_DEVICE void gemv_opw(GEMV_ARGS) {
    if (opw == 2) {
        gemv_body<2, GEMV_WREGS, R>(GEMV_PASS);
    } else {
        gemv_body<1, GEMV_WREGS, R>(GEMV_PASS);
    }
}

extern "C" __global__ void __launch_bounds__(128) linear_gemv(GEMV_ARGS) { gemv_opw<GEMV_ROWS>(GEMV_PASS, opw); }

// Rows of in <= 768 (a layer's in_proj): half the registers, so a whole matrix's warps are resident at once.
extern "C" __global__ void __launch_bounds__(128, 6) linear_gemv_short(GEMV_ARGS) {
    gemv_body<1, GEMV_WREGS / 2>(GEMV_PASS);
}

// Buckets of 1, 2 and 4 rows: the same, compiled for that many batch rows (fewer registers, so more warps and loads in
// flight). linear_gemv_r<R>, linear_gemv_short_r<R>.
#define GEMV_FOR_ROWS(R, MIN_BLOCKS, SHORT_MIN_BLOCKS)                                                            \
    extern "C" __global__ void __launch_bounds__(128, MIN_BLOCKS) linear_gemv_r##R(GEMV_ARGS) {                   \
        gemv_opw<R>(GEMV_PASS, opw);                                                                              \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(128, SHORT_MIN_BLOCKS) linear_gemv_short_r##R(GEMV_ARGS) {      \
        gemv_body<1, GEMV_WREGS / 2, R>(GEMV_PASS);                                                               \
    }
GEMV_FOR_ROWS(1, 5, 7)
GEMV_FOR_ROWS(2, 4, 7)
GEMV_FOR_ROWS(4, 4, 6)

// Long rows (in >= 1024: out_proj, x_proj) at batch <= 8: one block of 4 warps per output, each warp a quarter of
// the row, partial sums added through shared memory, so each warp waits for a quarter of the loads.
#define GEMV_KSPLIT_WARPS 4

extern "C" __global__ void __launch_bounds__(128)
linear_gemv_ksplit(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                   const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                   float* __restrict__ y, int y_stride, int accumulate) {
    __shared__ float part[GEMV_KSPLIT_WARPS][GEMV_ROWS];
    int o = blockIdx.x;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int q4 = in >> 2;
    int per = (q4 + GEMV_KSPLIT_WARPS - 1) / GEMV_KSPLIT_WARPS;
    int qb = warp * per, qe = min(q4, qb + per);
    const float4* w4 = reinterpret_cast<const float4*>(w + (size_t)o * in);
    float4 wv[4];  // requested before the wait, as in gemv_body
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int q = qb + lane + 32 * i;
        wv[i] = q < qe ? __ldg(w4 + q) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    mf_grid_dep();
    int n = min(*n_rows, GEMV_ROWS);
    float y_old = accumulate && warp == 0 && lane < n ? y[(size_t)lane * y_stride + o] : 0.0f;
    float acc[GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        acc[r] = 0.0f;
        if (r < n) {
            const float4* x4 = reinterpret_cast<const float4*>(x + (size_t)r * x_stride);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int q = qb + lane + 32 * i;
                if (q < qe) {
                    float4 xv = __ldg(x4 + q);
                    acc[r] += xv.x * wv[i].x + xv.y * wv[i].y + xv.z * wv[i].z + xv.w * wv[i].w;
                }
            }
            // rows longer than 4 x 128 x GEMV_KSPLIT_WARPS floats: the rest of this warp's range
            for (int q = qb + lane + 128; q < qe; q += 32) {
                float4 wq = __ldg(w4 + q);
                float4 xv = __ldg(x4 + q);
                acc[r] += xv.x * wq.x + xv.y * wq.y + xv.z * wq.z + xv.w * wq.w;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        float v = mf_warp_sum(acc[r]);
        if (lane == 0) part[warp][r] = v;
    }
    __syncthreads();
    if (warp == 0 && lane < n) {
        float v = y_old + (bias ? bias[o] : 0.0f);
#pragma unroll
        for (int k = 0; k < GEMV_KSPLIT_WARPS; k++) v += part[k][lane];
        y[(size_t)lane * y_stride + o] = v;
    }
}

#define TC_BK 32
#define TC_LDS (TC_BK + 4)

using namespace nvcuda;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> FragB;
typedef wmma::fragment<wmma::accumulator, 16, 16, 8, float> FragC;

template <typename F>
MF_DEVICE void tf32_split(F& hi, F& lo) {
#pragma unroll
    for (int i = 0; i < hi.num_elements; i++) {
        float v = hi.x[i];
        float h = wmma::__float_to_tf32(v);
        hi.x[i] = h;
        lo.x[i] = wmma::__float_to_tf32(v - h);
    }
}

// Copies a (ROWS x TC_BK) tile of a row-major matrix (rows r0.., columns k0..) into shared memory (row stride
// TC_LDS) with cp.async; out-of-range rows and columns are zero-filled. vec: 16-byte copies (the caller checked that
// every row start is 16-byte aligned), else 4-byte copies.
template <int ROWS, int THREADS>
MF_DEVICE void tile_async(float* dst, const float* __restrict__ src, int stride, int r0, int r_end, int k0, int k_end,
                          bool vec) {
    if (vec) {
#pragma unroll
        for (int i = 0; i < ROWS * (TC_BK / 4) / THREADS; i++) {
            int c = threadIdx.x + THREADS * i;
            int row = c / (TC_BK / 4), kc = (c % (TC_BK / 4)) * 4;
            int k = k0 + kc;
            bool ok = r0 + row < r_end && k < k_end;
            int bytes = ok ? min(16, (k_end - k) * 4) : 0;
            cp_async16(dst + row * TC_LDS + kc, ok ? src + (size_t)(r0 + row) * stride + k : src, bytes);
        }
    } else {
#pragma unroll
        for (int i = 0; i < ROWS * TC_BK / THREADS; i++) {
            int e = threadIdx.x + THREADS * i;
            int row = e / TC_BK, kk = e % TC_BK;
            int k = k0 + kk;
            bool ok = r0 + row < r_end && k < k_end;
            cp_async4(dst + row * TC_LDS + kk, ok ? src + (size_t)(r0 + row) * stride + k : src, ok ? 4 : 0);
        }
    }
}

// One (BM x BN) output tile per block, WM x WN warps, each warp (BM / WM) x (BN / WN) as 16 x 16 fragments. Two
// shared-memory stages filled by cp.async: the next K tile streams in while the tensor cores work on this one.
// Dynamic shared memory: (2 (BM + BN) TC_LDS + 256 WM WN) floats.
// MODE 0: 3xTF32, the three products of an accumulator back to back (the 64 x 64 tile; linear_tf32x3_big_interleaved);
// 1: 3xTF32 in three passes over the accumulators (linear_tf32x3_big: 2-3% faster at 128 x 128 on the H100);
// 2: one TF32 product, no split (linear_tf32x1_big, a benchmark version: 2x faster, 7e-4 error).
template <int BM, int BN, int WM, int WN, int MODE>
MF_DEVICE void tf32x3_tile(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                           const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                           float* __restrict__ y, int y_stride, int accumulate, int k_per_split, int vec) {
    constexpr int NW = WM * WN;
    constexpr int THREADS = 32 * NW;
    constexpr int FM = BM / WM / 16;
    constexpr int FN = BN / WN / 16;
    extern __shared__ __align__(128) float smem[];
    float* As = smem;                           // (2, BM, TC_LDS)
    float* Bs = smem + 2 * BM * TC_LDS;         // (2, BN, TC_LDS)
    float* Cs = smem + 2 * (BM + BN) * TC_LDS;  // (NW, 16, 16)
    int n = *n_rows;
    int m0 = blockIdx.y * BM;
    if (m0 >= n) return;
    int o0 = blockIdx.x * BN;
    int k_begin = blockIdx.z * k_per_split;
    int k_end = min(in, k_begin + k_per_split);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int wm = warp / WN, wn = warp % WN;

    FragC acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    int tiles = k_end > k_begin ? (k_end - k_begin + TC_BK - 1) / TC_BK : 0;
    if (tiles > 0) {
        tile_async<BM, THREADS>(As, x, x_stride, m0, n, k_begin, k_end, vec);
        tile_async<BN, THREADS>(Bs, w, in, o0, out, k_begin, k_end, vec);
        cp_async_commit();
    }
    for (int t = 0; t < tiles; t++) {
        int st = t & 1;
        if (t + 1 < tiles) {
            int k0 = k_begin + (t + 1) * TC_BK;
            tile_async<BM, THREADS>(As + (st ^ 1) * BM * TC_LDS, x, x_stride, m0, n, k0, k_end, vec);
            tile_async<BN, THREADS>(Bs + (st ^ 1) * BN * TC_LDS, w, in, o0, out, k0, k_end, vec);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const float* as = As + st * BM * TC_LDS;
        const float* bs = Bs + st * BN * TC_LDS;
#pragma unroll
        for (int kk = 0; kk < TC_BK; kk += 8) {
            FragA a_hi[FM], a_lo[FM];
            FragB b_hi[FN], b_lo[FN];
#pragma unroll
            for (int i = 0; i < FM; i++) {
                wmma::load_matrix_sync(a_hi[i], as + (wm * (BM / WM) + i * 16) * TC_LDS + kk, TC_LDS);
                if (MODE != 2) tf32_split(a_hi[i], a_lo[i]);
            }
#pragma unroll
            for (int j = 0; j < FN; j++) {
                wmma::load_matrix_sync(b_hi[j], bs + (wn * (BN / WN) + j * 16) * TC_LDS + kk, TC_LDS);
                if (MODE != 2) tf32_split(b_hi[j], b_lo[j]);
            }
            if (MODE == 0) {
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++) {
                        wmma::mma_sync(acc[i][j], a_lo[i], b_hi[j], acc[i][j]);
                        wmma::mma_sync(acc[i][j], a_hi[i], b_lo[j], acc[i][j]);
                        wmma::mma_sync(acc[i][j], a_hi[i], b_hi[j], acc[i][j]);
                    }
                continue;
            }
            // MODE 1: the small cross terms first, each pass over all accumulators, so that consecutive products into
            // one accumulator are FM * FN instructions apart
            if (MODE == 1) {
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], a_lo[i], b_hi[j], acc[i][j]);
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], a_hi[i], b_lo[j], acc[i][j]);
            }
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], a_hi[i], b_hi[j], acc[i][j]);
        }
        __syncthreads();  // this stage is refilled two tiles on
    }
    bool atomic = gridDim.z > 1;
    bool add_bias = bias && blockIdx.z == 0;
    float* cw = Cs + warp * 256;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) {
            wmma::store_matrix_sync(cw, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                int row = m0 + wm * (BM / WM) + i * 16 + (e >> 4);
                int col = o0 + wn * (BN / WN) + j * 16 + (e & 15);
                if (row < n && col < out) {
                    float v = cw[e] + (add_bias ? bias[col] : 0.0f);
                    float* yo = y + (size_t)row * y_stride + col;
                    if (atomic) atomicAdd(yo, v);
                    else *yo = accumulate ? *yo + v : v;
                }
            }
            __syncwarp();
        }
}

extern "C" __global__ void __launch_bounds__(128)
linear_tf32x3(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
              const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
              float* __restrict__ y, int y_stride, int accumulate, int k_per_split, int vec) {
    mf_grid_dep();
    tf32x3_tile<64, 64, 2, 2, 0>(n_rows, x, x_stride, w, bias, in, out, y, y_stride, accumulate, k_per_split, vec);
}

extern "C" __global__ void __launch_bounds__(256)
linear_tf32x3_big(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                  const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                  float* __restrict__ y, int y_stride, int accumulate, int k_per_split, int vec) {
    mf_grid_dep();
    tf32x3_tile<128, 128, 2, 4, 1>(n_rows, x, x_stride, w, bias, in, out, y, y_stride, accumulate, k_per_split, vec);
}

extern "C" __global__ void __launch_bounds__(256)
linear_tf32x3_big_interleaved(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                         const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                         float* __restrict__ y, int y_stride, int accumulate, int k_per_split, int vec) {
    mf_grid_dep();
    tf32x3_tile<128, 128, 2, 4, 0>(n_rows, x, x_stride, w, bias, in, out, y, y_stride, accumulate, k_per_split, vec);
}

// One TF32 product (no split): about 1e-3 relative error, outside the engine's 1e-4 budget. A benchmark version only:
// it shows what the 3xTF32 split costs.
extern "C" __global__ void __launch_bounds__(256)
linear_tf32x1_big(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                  const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                  float* __restrict__ y, int y_stride, int accumulate, int k_per_split, int vec) {
    mf_grid_dep();
    tf32x3_tile<128, 128, 2, 4, 2>(n_rows, x, x_stride, w, bias, in, out, y, y_stride, accumulate, k_per_split, vec);
}
