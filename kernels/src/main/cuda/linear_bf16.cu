// linear_bf16x3, linear_bf16x1: y[r, o] = (accumulate ? y[r, o] : 0) + bias[o] + sum_k x[r, k] W[o, k] (nn.Linear on
// each batch row, as linear.cu) on tensor cores: mma.sync m16n8k16 with bfloat16 operands and float32 accumulation, for
// batches above the GEMV's 8 rows.
//
// W arrives split once, at upload (split_bf16): w_hi = bf16(W), w_lo = bf16(W - w_hi), so hi + lo keeps 16 of
// float32's 24 mantissa bits. x (float32) is split the same way in registers as its fragments are read.
//   bf16x3: acc += x_lo w_hi + x_hi w_lo + x_hi w_hi. The dropped x_lo w_lo is ~2^-17 of a product, so the result is
//           float32-accurate to ~1e-5 relative, inside the engine's 1e-4 budget, at a quarter of the tensor-core
//           cycles of 3xTF32 (a bf16 mma does twice the work of a tf32 one, and 3 of them replace 6).
//   bf16x1: acc += x_hi w_hi: bfloat16 operands (~3e-3 relative), the engine's opt-in BF16 matmul precision.
//
// Shapes:  x (rows, in) float32, row stride x_stride (x_stride % 4 == 0, x 16-byte aligned); w_hi, w_lo (out, in)
//          bf16 row-major (in % 8 == 0, 16-byte aligned); w_lo is not read by bf16x1; bias (out) or null;
//          y (rows, out) float32, row stride y_stride.
// Launch:  grid (ceil(out / BN), ceil(rows / BM), splits). linear_bf16x3, linear_bf16x1: BM = BN = 128, block 256 (8
//          warps as 2 x 4, each 64 rows x 32 outputs); *_w: BM 256, BN 128, block 256 (4 x 2 warps of 64 x 64); *_s:
//          BM = BN = 64, block 128 (2 x 2 warps of 32 x 32).
//          K tiles of 32 stream through shared-memory stages filled by cp.async. splits > 1 as in linear.cu:
//          K is cut into ranges of k_per_split (a multiple of 32), each added atomically into y, which must hold zeros
//          or the residual first; bias comes from split 0.
//          Dynamic shared memory: stages * (BM * BF_LDA * 4 + 2 * BN * BF_LDB * 2) bytes.
// split_bf16: grid-stride over n: hi[i] = bf16(w[i]), lo[i] = bf16(w[i] - hi[i]).
#include "common.cuh"
#include <cuda_bf16.h>

#define BF_BK 32
#define BF_STAGES 3
// Row strides in shared memory, padded so that fragment reads are free of bank conflicts: A rows of 40 floats (a
// quarter-warp's float2 reads cover 32 banks), B rows of 40 bf16 (20 words: the 8 rows of a fragment start on 8
// different 4-bank groups).
#define BF_LDA (BF_BK + 8)
#define BF_LDB (BF_BK + 8)

extern "C" __global__ void split_bf16(const float* __restrict__ w, __nv_bfloat16* __restrict__ hi,
                                      __nv_bfloat16* __restrict__ lo, long long n) {
    mf_grid_dep();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = w[i];
        __nv_bfloat16 h = __float2bfloat16_rn(v);
        hi[i] = h;
        lo[i] = __float2bfloat16_rn(v - __bfloat162float(h));
    }
}

// One K tile (k0 .. k0 + 32) into a stage: x rows m0 .. m0 + BM (float32) and W rows o0 .. o0 + BN (bf16 hi, and lo
// for bf16x3). Rows past n or out and columns past k_end are zero-filled; every 16-byte chunk lies wholly inside or
// outside k_end (k_end is a multiple of 8). bf_load_w is the W part alone (weights: it may run before mf_grid_dep).
template <int BN, int THREADS, bool LO>
MF_DEVICE void bf_load_w(__nv_bfloat16* bh, __nv_bfloat16* bl, const __nv_bfloat16* __restrict__ w_hi,
                         const __nv_bfloat16* __restrict__ w_lo, int in, int o0, int out, int k0, int k_end) {
#pragma unroll
    for (int i = 0; i < BN * (BF_BK / 8) / THREADS; i++) {
        int c = threadIdx.x + THREADS * i;
        int row = c / (BF_BK / 8), kc = (c % (BF_BK / 8)) * 8;
        int k = k0 + kc;
        bool ok = o0 + row < out && k < k_end;
        size_t off = ok ? (size_t)(o0 + row) * in + k : 0;
        cp_async16(bh + row * BF_LDB + kc, w_hi + off, ok ? 16 : 0);
        if (LO) cp_async16(bl + row * BF_LDB + kc, w_lo + off, ok ? 16 : 0);
    }
}

template <int BM, int THREADS>
MF_DEVICE void bf_load_x(float* as, const float* __restrict__ x, int x_stride, int m0, int n, int k0, int k_end) {
#pragma unroll
    for (int i = 0; i < BM * (BF_BK / 4) / THREADS; i++) {
        int c = threadIdx.x + THREADS * i;
        int row = c / (BF_BK / 4), kc = (c % (BF_BK / 4)) * 4;
        int k = k0 + kc;
        bool ok = m0 + row < n && k < k_end;
        cp_async16(as + row * BF_LDA + kc, ok ? x + (size_t)(m0 + row) * x_stride + k : x, ok ? 16 : 0);
    }
}

template <int BM, int BN, int THREADS, bool LO>
MF_DEVICE void bf_load_tile(float* as, __nv_bfloat16* bh, __nv_bfloat16* bl, const float* __restrict__ x, int x_stride,
                            int m0, int n, const __nv_bfloat16* __restrict__ w_hi, const __nv_bfloat16* __restrict__ w_lo,
                            int in, int o0, int out, int k0, int k_end) {
    bf_load_x<BM, THREADS>(as, x, x_stride, m0, n, k0, k_end);
    bf_load_w<BN, THREADS, LO>(bh, bl, w_hi, w_lo, in, o0, out, k0, k_end);
}

// y (+)= acc (+ bias) for one block's tile. Accumulator (i, j): c0 c1 at (row g, outputs 2t, 2t + 1), c2 c3 at row
// g + 8 of fragment (i, j) of warp (wm, wn). Split-K blocks (gridDim.z > 1) add atomically.
template <int BM, int BN, int WM, int WN, int FM, int FN>
MF_DEVICE void bf_epilogue(float (&acc)[FM][FN][4], int m0, int o0, int n, int out, int wm, int wn, int g, int t,
                           const float* __restrict__ bias, float* __restrict__ y, int y_stride, int accumulate) {
    bool atomic = gridDim.z > 1;
    bool add_bias = bias && blockIdx.z == 0;
    bool pairs = !atomic && (y_stride & 1) == 0 && (reinterpret_cast<size_t>(y) & 7) == 0;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = m0 + wm * (BM / WM) + i * 16 + g + 8 * h;
            if (row >= n) continue;
            float* yr = y + (size_t)row * y_stride;
#pragma unroll
            for (int j = 0; j < FN; j++) {
                int col = o0 + wn * (BN / WN) + j * 8 + 2 * t;
                float v0 = acc[i][j][2 * h], v1 = acc[i][j][2 * h + 1];
                if (add_bias) {
                    if (col < out) v0 += bias[col];
                    if (col + 1 < out) v1 += bias[col + 1];
                }
                if (pairs && col + 1 < out) {
                    float2* p = reinterpret_cast<float2*>(yr + col);
                    if (accumulate) {
                        float2 old = *p;
                        v0 += old.x;
                        v1 += old.y;
                    }
                    *p = make_float2(v0, v1);
                } else {
                    if (col < out) {
                        if (atomic) atomicAdd(yr + col, v0);
                        else yr[col] = accumulate ? yr[col] + v0 : v0;
                    }
                    if (col + 1 < out) {
                        if (atomic) atomicAdd(yr + col + 1, v1);
                        else yr[col + 1] = accumulate ? yr[col + 1] + v1 : v1;
                    }
                }
            }
        }
}

// One (BM x BN) output tile per block; WM x WN warps, each (BM / WM) x (BN / WN) as FM x FN fragments of 16 x 8.
// W's first STAGES - 1 K tiles (weights) are requested before mf_grid_dep(), while the kernel before this one finishes;
// x's after it.
template <int BM, int BN, int WM, int WN, int PASSES, int STAGES>
MF_DEVICE void bf16_tile(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                         const __nv_bfloat16* __restrict__ w_hi, const __nv_bfloat16* __restrict__ w_lo,
                         const float* __restrict__ bias, int in, int out, float* __restrict__ y, int y_stride,
                         int accumulate, int k_per_split) {
    constexpr int THREADS = 32 * WM * WN;
    constexpr int FM = BM / WM / 16;
    constexpr int FN = BN / WN / 8;
    constexpr int A_STAGE = BM * BF_LDA;  // floats
    constexpr int B_STAGE = BN * BF_LDB;  // bf16
    constexpr bool LO = PASSES == 3;
    extern __shared__ __align__(128) unsigned char bf_smem[];
    float* As = reinterpret_cast<float*>(bf_smem);                                      // (STAGES, BM, BF_LDA)
    __nv_bfloat16* Bh = reinterpret_cast<__nv_bfloat16*>(As + STAGES * A_STAGE);        // (STAGES, BN, BF_LDB)
    __nv_bfloat16* Bl = Bh + STAGES * B_STAGE;                                           // (STAGES, BN, BF_LDB)
    int o0 = blockIdx.x * BN;
    int k_begin = blockIdx.z * k_per_split;
    int k_end = min(in, k_begin + k_per_split);
    int tiles = k_end > k_begin ? (k_end - k_begin + BF_BK - 1) / BF_BK : 0;
    // W's first tiles before the wait; they join the first cp.async group (stage 0's x, below), so every wait covers them
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++)
        if (s < tiles)
            bf_load_w<BN, THREADS, LO>(Bh + s * B_STAGE, Bl + s * B_STAGE, w_hi, w_lo, in, o0, out, k_begin + s * BF_BK, k_end);
    mf_grid_dep();
    int n = *n_rows;
    int m0 = blockIdx.y * BM;
    if (m0 >= n) {
        cp_async_wait<0>();
        return;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int wm = warp / WN, wn = warp % WN;
    int g = lane >> 2, t = lane & 3;  // fragment row group and column pair

    float acc[FM][FN][4];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < tiles) bf_load_x<BM, THREADS>(As + s * A_STAGE, x, x_stride, m0, n, k_begin + s * BF_BK, k_end);
        cp_async_commit();
    }
    for (int kt = 0; kt < tiles; kt++) {
        cp_async_wait<STAGES - 2>();  // tile kt has landed
        __syncthreads();              // ... for every thread, and every warp is done with tile kt - 1's stage
        int pre = kt + STAGES - 1;
        if (pre < tiles) {
            int ps = pre % STAGES;
            bf_load_tile<BM, BN, THREADS, LO>(As + ps * A_STAGE, Bh + ps * B_STAGE, Bl + ps * B_STAGE, x, x_stride, m0, n,
                                              w_hi, w_lo, in, o0, out, k_begin + pre * BF_BK, k_end);
        }
        cp_async_commit();
        int st = kt % STAGES;
        // this lane's first A element (row g, column 2t) and B word (output g, columns 2t, 2t + 1) of the warp tile
        const float* as = As + st * A_STAGE + (wm * (BM / WM) + g) * BF_LDA + 2 * t;
        const unsigned* bh = reinterpret_cast<const unsigned*>(Bh + st * B_STAGE + (wn * (BN / WN) + g) * BF_LDB + 2 * t);
        const unsigned* bl = reinterpret_cast<const unsigned*>(Bl + st * B_STAGE + (wn * (BN / WN) + g) * BF_LDB + 2 * t);
#pragma unroll
        for (int kk = 0; kk < BF_BK; kk += 16) {
            // A fragments: a0a1 (row g, k 2t), a2a3 (row g + 8), a4a5 (row g, k 2t + 8), a6a7 (row g + 8, k 2t + 8)
            unsigned ah[FM][4], al[FM][4];
#pragma unroll
            for (int i = 0; i < FM; i++) {
                const float* p = as + i * 16 * BF_LDA + kk;
                float2 v[4] = {*reinterpret_cast<const float2*>(p), *reinterpret_cast<const float2*>(p + 8 * BF_LDA),
                               *reinterpret_cast<const float2*>(p + 8), *reinterpret_cast<const float2*>(p + 8 * BF_LDA + 8)};
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    if (LO) bf_split2(v[q], ah[i][q], al[i][q]);
                    else ah[i][q] = bf_round2(v[q]);
                }
            }
            // B fragments: b0b1 (k 2t, output g), b2b3 (k 2t + 8)
            unsigned bhf[FN][2], blf[FN][2];
#pragma unroll
            for (int j = 0; j < FN; j++) {
                int o = j * 8 * (BF_LDB / 2) + kk / 2;
                bhf[j][0] = bh[o];
                bhf[j][1] = bh[o + 4];
                if (LO) {
                    blf[j][0] = bl[o];
                    blf[j][1] = bl[o + 4];
                }
            }
            if (LO) {
                // the small cross terms first, each pass over all accumulators
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++) bf_mma(acc[i][j], al[i], bhf[j][0], bhf[j][1]);
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++) bf_mma(acc[i][j], ah[i], blf[j][0], blf[j][1]);
            }
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) bf_mma(acc[i][j], ah[i], bhf[j][0], bhf[j][1]);
        }
    }
    cp_async_wait<0>();
    bf_epilogue<BM, BN, WM, WN, FM, FN>(acc, m0, o0, n, out, wm, wn, g, t, bias, y, y_stride, accumulate);
}

#define BF16_ARGS                                                                                                   \
    const int *__restrict__ n_rows, const float *__restrict__ x, int x_stride, const __nv_bfloat16 *__restrict__ w_hi, \
        const __nv_bfloat16 *__restrict__ w_lo, const float *__restrict__ bias, int in, int out, float *__restrict__ y,  \
        int y_stride, int accumulate, int k_per_split
#define BF16_PASS n_rows, x, x_stride, w_hi, w_lo, bias, in, out, y, y_stride, accumulate, k_per_split

// Three block tiles (rows x outputs), picked per product by the launcher from how many blocks fill the device
// (measured on the H100 at batch 4096 and 512; two stages suit 128 x 128, whose two blocks then share an SM):
// 128 x 128 (2 stages, 80 KB), 256 x 128 ("_w": 8 warps of 64 x 64, 3 stages, 180 KB), 64 x 64 ("_s", 60 KB).
extern "C" __global__ void __launch_bounds__(256) linear_bf16x3(BF16_ARGS) { bf16_tile<128, 128, 2, 4, 3, 2>(BF16_PASS); }

extern "C" __global__ void __launch_bounds__(256) linear_bf16x1(BF16_ARGS) { bf16_tile<128, 128, 2, 4, 1, 2>(BF16_PASS); }

extern "C" __global__ void __launch_bounds__(256) linear_bf16x3_w(BF16_ARGS) { bf16_tile<256, 128, 4, 2, 3, BF_STAGES>(BF16_PASS); }

extern "C" __global__ void __launch_bounds__(256) linear_bf16x1_w(BF16_ARGS) { bf16_tile<256, 128, 4, 2, 1, BF_STAGES>(BF16_PASS); }

extern "C" __global__ void __launch_bounds__(128) linear_bf16x3_s(BF16_ARGS) { bf16_tile<64, 64, 2, 2, 3, BF_STAGES>(BF16_PASS); }

extern "C" __global__ void __launch_bounds__(128) linear_bf16x1_s(BF16_ARGS) { bf16_tile<64, 64, 2, 2, 1, BF_STAGES>(BF16_PASS); }
