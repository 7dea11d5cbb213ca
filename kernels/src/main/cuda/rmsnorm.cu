// rmsnorm_rows: out[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * weight   (RMSNorm of each batch row)
//
// Shapes:  x (rows, n) with row stride x_stride; weight (n); out (rows, n) with row stride out_stride. out may be x.
// Launch:  grid (rows), block 1024 (a multiple of 32); one block per row, block-wide sum of squares.
#include "common.cuh"

extern "C" __global__ void rmsnorm_rows(const int* __restrict__ n_rows, const float* x, int x_stride,
                                        const float* __restrict__ weight, float eps, int n, float* out,
                                        int out_stride) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    if (r >= *n_rows) return;
    const float* xr = x + (size_t)r * x_stride;
    float ss = 0.0f;
    for (int k = threadIdx.x; k < n; k += blockDim.x) ss += xr[k] * xr[k];
    float inv = rsqrtf(mf_block_sum(ss, scratch) / n + eps);
    float* o = out + (size_t)r * out_stride;
    for (int k = threadIdx.x; k < n; k += blockDim.x) o[k] = xr[k] * inv * weight[k];
}
