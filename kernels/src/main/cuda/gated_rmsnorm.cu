// gated_rmsnorm: Mamba-2's gate and per-group RMSNorm, in place:
//   y[r, k] *= silu(z[r, k]);  then per group g of gs = d_inner / n_groups channels:
//   y[r, g*gs + j] = y[r, g*gs + j] * rsqrt(mean over the group of y^2 + eps) * weight[g*gs + j]
// (the original mamba_ssm RMSNormGated with group_size = d_inner / ngroups, norm_before_gate = False)
//
// Shapes:  y (rows, d_inner) stride y_stride; z (rows, d_inner) stride z_stride (the z slice of in_proj's output);
//          weight (d_inner).
// Launch:  grid (n_groups, rows), block 1024; one block per (group, row): short latency at batch 1.
#include "common.cuh"

extern "C" __global__ void gated_rmsnorm(const int* __restrict__ n_rows, float* __restrict__ y, int y_stride,
                                         const float* __restrict__ z, int z_stride,
                                         const float* __restrict__ weight, int d_inner, int n_groups, float eps) {
    mf_grid_dep();
    __shared__ float scratch[32];
    int g = blockIdx.x, r = blockIdx.y;
    if (r >= *n_rows) return;
    int gs = d_inner / n_groups;
    float* yr = y + (size_t)r * y_stride + g * gs;
    const float* zr = z + (size_t)r * z_stride + g * gs;
    float ss = 0.0f;
    for (int k = threadIdx.x; k < gs; k += blockDim.x) {
        float v = yr[k] * mf_silu(zr[k]);
        yr[k] = v;
        ss += v * v;
    }
    float inv = rsqrtf(mf_block_sum(ss, scratch) / gs + eps);
    for (int k = threadIdx.x; k < gs; k += blockDim.x) yr[k] = yr[k] * inv * weight[g * gs + k];
}
