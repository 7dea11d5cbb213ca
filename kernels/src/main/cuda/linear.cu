// linear: y[r, o] = (accumulate ? y[r, o] : 0) + bias[o] + sum_k x'[r, k] W[o, k]   (nn.Linear on each batch row)
// where x' = x, or x' = RMSNorm(x) * norm_w when norm_w is given (linear_gemv only: the pre-norm fused into the
// matmul that follows it).
//
// Shapes:  x (rows, in) with row stride x_stride; W (out, in) row-major (the checkpoint's layout, never transposed);
//          bias (out) or null; norm_w (in) or null; y (rows, out) with row stride y_stride. accumulate = 1 adds into y
//          (the residual add of out_proj).
// Launch:  linear_ref:    grid (ceil(out / 128), rows), block 128; one thread per (row, output), sequential k.
//          linear_gemv:   rows <= 8. grid (ceil(out / 4)), block 128; one warp per output: its lanes stream the W row
//                         once (float4 when vec = 1: in % 4 == 0 and x, W 16-byte aligned rows) against every row,
//                         then warp sums. Weight-bandwidth bound, for small batches. With conv_w given, outputs
//                         conv_lo .. conv_lo + conv_dim also run the conv step of conv1d_update.cu on their channel
//                         (window at states + slots[r] * state_stride + conv_off; xc (rows, conv_dim)), which saves a
//                         launch per layer.
//          linear_tf32x3: grid (ceil(out / 64), ceil(rows / 64), splits), block 128 (4 warps, each 32 x 32 of the
//                         64 x 64 tile); linear_tf32x3_big: grid (ceil(out / 128), ceil(rows / 128), splits), block 256
//                         (8 warps, each 64 x 32 of the 128 x 128 tile), for large batches.
//                         Both: tensor-core WMMA m16n16k8 in "3xTF32" (a = a_hi + a_lo, b likewise,
//                         acc += a_hi b_lo + a_lo b_hi + a_hi b_hi), which keeps float32 accuracy. K is cut into
//                         `splits` ranges of k_per_split (a multiple of 32); with splits > 1 each range atomically
//                         adds its part into y, so y must hold zeros or the residual first, and bias comes from split 0.
#include "common.cuh"
#include <mma.h>

extern "C" __global__ void linear_ref(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                                      const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                                      float* __restrict__ y, int y_stride, int accumulate) {
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

extern "C" __global__ void linear_gemv(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                                       const float* __restrict__ norm_w, float eps,
                                       const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                                       float* __restrict__ y, int y_stride, int accumulate, int vec,
                                       const int* __restrict__ slots, float* __restrict__ states,
                                       long long state_stride, int conv_off, const float* __restrict__ conv_w,
                                       const float* __restrict__ conv_b, int conv_lo, int conv_dim, int d_conv,
                                       float* __restrict__ xc, int xc_stride) {
    int lane = threadIdx.x & 31;
    int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (o >= out) return;
    int n = min(*n_rows, GEMV_ROWS);
    float scale[GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        scale[r] = 1.0f;
        if (norm_w && r < n) {
            const float* xr = x + (size_t)r * x_stride;
            float ss = 0.0f;
#pragma unroll 8
            for (int k = lane; k < in; k += 32) ss += xr[k] * xr[k];
            scale[r] = rsqrtf(mf_warp_sum(ss) / in + eps);
        }
    }
    float acc[GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) acc[r] = 0.0f;
    const float* wr = w + (size_t)o * in;
    if (vec) {
        const float4* w4 = reinterpret_cast<const float4*>(wr);
        const float4* n4 = reinterpret_cast<const float4*>(norm_w);
#pragma unroll 4
        for (int q = lane; q < (in >> 2); q += 32) {
            float4 wv = __ldg(w4 + q);
            if (norm_w) {
                float4 nv = __ldg(n4 + q);
                wv.x *= nv.x; wv.y *= nv.y; wv.z *= nv.z; wv.w *= nv.w;
            }
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++) {
                if (r < n) {
                    float4 xv = __ldg(reinterpret_cast<const float4*>(x + (size_t)r * x_stride) + q);
                    acc[r] += xv.x * wv.x + xv.y * wv.y + xv.z * wv.z + xv.w * wv.w;
                }
            }
        }
    } else {
        for (int k = lane; k < in; k += 32) {
            float wv = wr[k] * (norm_w ? norm_w[k] : 1.0f);
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++) {
                if (r < n) acc[r] += x[(size_t)r * x_stride + k] * wv;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) acc[r] = mf_warp_sum(acc[r]);
    float b = bias ? bias[o] : 0.0f;
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        if (lane == r && r < n) {
            float* yo = y + (size_t)r * y_stride + o;
            float v = acc[r] * scale[r] + b;
            v = accumulate ? *yo + v : v;
            *yo = v;
            int ch = o - conv_lo;
            if (conv_w && ch >= 0 && ch < conv_dim) {
                // the conv step of this channel (conv1d_update.cu), fused: this lane owns (row r, channel ch)
                float* win = states + (long long)slots[r] * state_stride + conv_off + (size_t)ch * d_conv;
                const float* cw = conv_w + (size_t)ch * d_conv;
                float c = conv_b ? conv_b[ch] : 0.0f;
                for (int j = 0; j < d_conv - 1; j++) {
                    float wv = win[j + 1];
                    win[j] = wv;
                    c += wv * cw[j];
                }
                win[d_conv - 1] = v;
                c += v * cw[d_conv - 1];
                xc[(size_t)r * xc_stride + ch] = mf_silu(c);
            }
        }
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

// One (BM x BN) output tile per block, WM x WN warps, each warp (BM / WM) x (BN / WN) as 16 x 16 fragments.
template <int BM, int BN, int WM, int WN>
MF_DEVICE void tf32x3_tile(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                           const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                           float* __restrict__ y, int y_stride, int accumulate, int k_per_split) {
    constexpr int NW = WM * WN;
    constexpr int FM = BM / WM / 16;
    constexpr int FN = BN / WN / 16;
    __shared__ __align__(32) float As[BM * TC_LDS];
    __shared__ __align__(32) float Bs[BN * TC_LDS];
    __shared__ __align__(32) float Cs[NW][16 * 16];
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

    // Each thread stages column k0 + lane of tile rows warp, warp + NW, ...: coalesced 128-byte row pieces.
    float ra[BM / NW], rb[BN / NW];
    auto load = [&](int k0) {
        int k = k0 + lane;
        bool kin = k < k_end;
#pragma unroll
        for (int i = 0; i < BM / NW; i++) {
            int row = warp + NW * i;
            ra[i] = kin && m0 + row < n ? x[(size_t)(m0 + row) * x_stride + k] : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < BN / NW; i++) {
            int row = warp + NW * i;
            rb[i] = kin && o0 + row < out ? w[(size_t)(o0 + row) * in + k] : 0.0f;
        }
    };
    if (k_begin < k_end) load(k_begin);
    for (int k0 = k_begin; k0 < k_end; k0 += TC_BK) {
        __syncthreads();
#pragma unroll
        for (int i = 0; i < BM / NW; i++) As[(warp + NW * i) * TC_LDS + lane] = ra[i];
#pragma unroll
        for (int i = 0; i < BN / NW; i++) Bs[(warp + NW * i) * TC_LDS + lane] = rb[i];
        __syncthreads();
        if (k0 + TC_BK < k_end) load(k0 + TC_BK);  // the next tile's loads overlap this tile's math
#pragma unroll
        for (int kk = 0; kk < TC_BK; kk += 8) {
            FragA a_hi[FM], a_lo[FM];
            FragB b_hi[FN], b_lo[FN];
#pragma unroll
            for (int i = 0; i < FM; i++) {
                wmma::load_matrix_sync(a_hi[i], As + (wm * (BM / WM) + i * 16) * TC_LDS + kk, TC_LDS);
                tf32_split(a_hi[i], a_lo[i]);
            }
#pragma unroll
            for (int j = 0; j < FN; j++) {
                wmma::load_matrix_sync(b_hi[j], Bs + (wn * (BN / WN) + j * 16) * TC_LDS + kk, TC_LDS);
                tf32_split(b_hi[j], b_lo[j]);
            }
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) {
                    wmma::mma_sync(acc[i][j], a_lo[i], b_hi[j], acc[i][j]);
                    wmma::mma_sync(acc[i][j], a_hi[i], b_lo[j], acc[i][j]);
                    wmma::mma_sync(acc[i][j], a_hi[i], b_hi[j], acc[i][j]);
                }
        }
    }
    bool atomic = gridDim.z > 1;
    bool add_bias = bias && blockIdx.z == 0;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) {
            wmma::store_matrix_sync(Cs[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                int row = m0 + wm * (BM / WM) + i * 16 + (e >> 4);
                int col = o0 + wn * (BN / WN) + j * 16 + (e & 15);
                if (row < n && col < out) {
                    float v = Cs[warp][e] + (add_bias ? bias[col] : 0.0f);
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
              float* __restrict__ y, int y_stride, int accumulate, int k_per_split) {
    tf32x3_tile<64, 64, 2, 2>(n_rows, x, x_stride, w, bias, in, out, y, y_stride, accumulate, k_per_split);
}

extern "C" __global__ void __launch_bounds__(256)
linear_tf32x3_big(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                  const float* __restrict__ w, const float* __restrict__ bias, int in, int out,
                  float* __restrict__ y, int y_stride, int accumulate, int k_per_split) {
    tf32x3_tile<128, 128, 2, 4>(n_rows, x, x_stride, w, bias, in, out, y, y_stride, accumulate, k_per_split);
}
