// conv1d_update: one step of the depthwise causal conv on each stream's conv window, then silu
// (causal_conv1d_update with silu activation):
//   window[ch, :] <- shift left by one, newest column = x[r, ch]
//   xc[r, ch] = silu(bias[ch] + sum_j window[ch, j] * weight[ch, j])
//
// Shapes:  state pool: stream row r at states + slots[r] * state_stride; its conv window (conv_dim, d_conv) row-major,
//          newest column last, at conv_off floats into the stream. x (rows, conv_dim) with row stride x_stride (a slice
//          of in_proj's output); weight (conv_dim, d_conv); bias (conv_dim) or null; xc (rows, conv_dim) stride
//          xc_stride.
// Launch:  grid (ceil(conv_dim / 128), rows), block 128; one thread per (row, channel).
#include "common.cuh"

extern "C" __global__ void conv1d_update(const int* __restrict__ n_rows, const int* __restrict__ slots,
                                         float* __restrict__ states, long long state_stride, int conv_off,
                                         const float* __restrict__ x, int x_stride,
                                         const float* __restrict__ weight, const float* __restrict__ bias,
                                         int conv_dim, int d_conv, float* __restrict__ xc, int xc_stride) {
    int r = blockIdx.y;
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= *n_rows || ch >= conv_dim) return;
    float* win = states + (long long)slots[r] * state_stride + conv_off + (size_t)ch * d_conv;
    const float* w = weight + (size_t)ch * d_conv;
    float acc = bias ? bias[ch] : 0.0f;
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
