// ssm2_update: Mamba-2 (SSD) state update for one step, with D skip; the gate and norm follow in gated_rmsnorm
// (mamba_ssm Mamba2.step, selective_state_update with scalar A per head and dt_softplus):
//   dt      = clamp(softplus(dt_raw[r,h] + dt_bias[h]), dt_min, dt_max);  dA = exp(A[h] dt)     (discretize)
//   h[h,p,n] = dA h[h,p,n] + dt x[h,p] B[g,n]                                                  (state update)
//   y[r, h*head_dim + p] = sum_n h[h,p,n] C[g,n] + D[h] x[h,p],  g = h / (n_heads / n_groups) (readout, skip)
//
// Shapes:  state pool: stream row r at states + slots[r] * state_stride; its SSM state (n_heads, head_dim, d_state)
//          row-major at ssm_off floats into the stream. xc (rows, d_inner + 2 n_groups d_state) stride xc_stride:
//          [x | B (n_groups, d_state) | C (n_groups, d_state)] after conv and silu. dt_raw: column dt_off.. of proj
//          (rows, proj_stride), n_heads values. dt_bias, A, D (n_heads); y (rows, d_inner) stride y_stride.
// Launch:  ssm2_update_ref: grid (ceil(n_heads * head_dim / 128), rows), block 128; one thread per (row, head, p),
//                           scalar loop over d_state (vec is ignored).
//          ssm2_update:     grid (n_heads, ceil(head_dim / 16), rows), block 128 (4 warps); each warp takes 4 values
//                           of p, its lanes split d_state (vec = 1: float4, needs d_state % 128 == 0 and 16-byte
//                           aligned state, B and C, which the launcher checks; vec = 0: scalar), and a warp sum gives y.
#include "common.cuh"

#define SSM2_P_PER_BLOCK 16

MF_DEVICE float ssm2_dt(float raw, float bias, float dt_min, float dt_max) {
    return fminf(fmaxf(mf_softplus(raw + bias), dt_min), dt_max);
}

extern "C" __global__ void ssm2_update_ref(const int* __restrict__ n_rows, const int* __restrict__ slots,
                                           float* __restrict__ states, long long state_stride, int ssm_off,
                                           const float* __restrict__ xc, int xc_stride,
                                           const float* __restrict__ proj, int proj_stride, int dt_off,
                                           const float* __restrict__ dt_bias, const float* __restrict__ A,
                                           const float* __restrict__ D, int n_heads, int head_dim, int d_state,
                                           int n_groups, float dt_min, float dt_max, float* __restrict__ y,
                                           int y_stride, int vec) {
    mf_grid_dep();
    int r = blockIdx.y;
    int i = blockIdx.x * blockDim.x + threadIdx.x;  // h * head_dim + p
    if (r >= *n_rows || i >= n_heads * head_dim) return;
    int h = i / head_dim;
    int d_inner = n_heads * head_dim;
    int g = h / (n_heads / n_groups);
    float dt = ssm2_dt(proj[(size_t)r * proj_stride + dt_off + h], dt_bias[h], dt_min, dt_max);
    float dA = expf(dt * A[h]);
    const float* xr = xc + (size_t)r * xc_stride;
    const float* Bv = xr + d_inner + g * d_state;
    const float* Cv = xr + d_inner + n_groups * d_state + g * d_state;
    float x = xr[i];
    float dtx = dt * x;
    float* hs = states + (long long)slots[r] * state_stride + ssm_off + (size_t)i * d_state;
    float acc = 0.0f;
    for (int n = 0; n < d_state; n++) {
        float hv = hs[n] * dA + dtx * Bv[n];
        hs[n] = hv;
        acc += hv * Cv[n];
    }
    y[(size_t)r * y_stride + i] = acc + D[h] * x;
}

extern "C" __global__ void ssm2_update(const int* __restrict__ n_rows, const int* __restrict__ slots,
                                       float* __restrict__ states, long long state_stride, int ssm_off,
                                       const float* __restrict__ xc, int xc_stride,
                                       const float* __restrict__ proj, int proj_stride, int dt_off,
                                       const float* __restrict__ dt_bias, const float* __restrict__ A,
                                       const float* __restrict__ D, int n_heads, int head_dim, int d_state,
                                       int n_groups, float dt_min, float dt_max, float* __restrict__ y,
                                       int y_stride, int vec) {
    mf_grid_dep();
    int h = blockIdx.x;
    int r = blockIdx.z;
    if (r >= *n_rows) return;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int d_inner = n_heads * head_dim;
    int g = h / (n_heads / n_groups);
    float dt = ssm2_dt(proj[(size_t)r * proj_stride + dt_off + h], dt_bias[h], dt_min, dt_max);
    float dA = expf(dt * A[h]);
    const float* xr = xc + (size_t)r * xc_stride;
    const float* Bv = xr + d_inner + g * d_state;
    const float* Cv = xr + d_inner + n_groups * d_state + g * d_state;
    float dh = D[h];
    float* base = states + (long long)slots[r] * state_stride + ssm_off;
    int p_end = min(head_dim, (int)(blockIdx.y + 1) * SSM2_P_PER_BLOCK);
    for (int p = blockIdx.y * SSM2_P_PER_BLOCK + warp; p < p_end; p += warps) {
        int i = h * head_dim + p;
        float x = xr[i];
        float dtx = dt * x;
        float* hs = base + (size_t)i * d_state;
        float acc = 0.0f;
        if (vec) {
            for (int n = 4 * lane; n < d_state; n += 128) {
                float4 hv = *reinterpret_cast<float4*>(hs + n);
                float4 b = *reinterpret_cast<const float4*>(Bv + n);
                float4 c = *reinterpret_cast<const float4*>(Cv + n);
                hv.x = hv.x * dA + dtx * b.x;
                hv.y = hv.y * dA + dtx * b.y;
                hv.z = hv.z * dA + dtx * b.z;
                hv.w = hv.w * dA + dtx * b.w;
                *reinterpret_cast<float4*>(hs + n) = hv;
                acc += hv.x * c.x + hv.y * c.y + hv.z * c.z + hv.w * c.w;
            }
        } else {
            for (int n = lane; n < d_state; n += 32) {
                float hv = hs[n] * dA + dtx * Bv[n];
                hs[n] = hv;
                acc += hv * Cv[n];
            }
        }
        acc = mf_warp_sum(acc);
        if (lane == 0) y[(size_t)r * y_stride + i] = acc + dh * x;
    }
}
