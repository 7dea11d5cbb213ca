// rmsnorm_rows: out[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * weight   (RMSNorm of each batch row)
//
// Shapes:  x (rows, n) with row stride x_stride; weight (n); out (rows, n) with row stride out_stride. out may be x.
//          hi, lo: null, or (rows, n) bf16 dense: out's bf16 halves are written there instead of out (the input of a
//          wgmma product, which would otherwise split out with bf16_split_rows); lo null for bf16x1.
// Launch:  grid (ceil(rows / 4)), block 128: one warp per row (a block of 1024 threads per row left most of them idle
//          on 768-wide rows). vec = 1 (n % 4 == 0, n <= 1024, rows 16-byte aligned: the launcher checks) holds the
//          row in registers as float4, all loads issued at once; else two strided passes (the second from L1).
#include "common.cuh"

#define RMS_VEC_REGS 8

extern "C" __global__ void __launch_bounds__(128) rmsnorm_rows(const int* __restrict__ n_rows, const float* x, int x_stride,
                                                              const float* __restrict__ weight, float eps, int n,
                                                              float* out, int out_stride, int vec, __nv_bfloat16* hi,
                                                              __nv_bfloat16* lo) {
    mf_grid_dep();
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= *n_rows) return;
    const float* xr = x + (size_t)r * x_stride;
    float* o = out + (size_t)r * out_stride;
    float ss = 0.0f;
    if (vec) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        const float4* w4 = reinterpret_cast<const float4*>(weight);
        float4* o4 = reinterpret_cast<float4*>(o);
        int q4 = n >> 2;
        float4 v[RMS_VEC_REGS];
#pragma unroll
        for (int i = 0; i < RMS_VEC_REGS; i++) {
            int q = lane + 32 * i;
            v[i] = q < q4 ? x4[q] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            ss += v[i].x * v[i].x + v[i].y * v[i].y + v[i].z * v[i].z + v[i].w * v[i].w;
        }
        float inv = rsqrtf(mf_warp_sum(ss) / n + eps);
#pragma unroll
        for (int i = 0; i < RMS_VEC_REGS; i++) {
            int q = lane + 32 * i;
            if (q < q4) {
                float4 wv = __ldg(w4 + q);
                float4 ov = make_float4(v[i].x * inv * wv.x, v[i].y * inv * wv.y, v[i].z * inv * wv.z, v[i].w * inv * wv.w);
                if (hi) {
                    mf_split_store4(hi, lo, (size_t)r * n + 4 * q, ov);
                } else {
                    o4[q] = ov;
                }
            }
        }
        return;
    }
    for (int k = lane; k < n; k += 32) ss += xr[k] * xr[k];
    float inv = rsqrtf(mf_warp_sum(ss) / n + eps);
    for (int k = lane; k < n; k += 32) {
        float ov = xr[k] * inv * weight[k];
        if (hi) {
            mf_split_store(hi, lo, (size_t)r * n + k, ov);
        } else {
            o[k] = ov;
        }
    }
}
