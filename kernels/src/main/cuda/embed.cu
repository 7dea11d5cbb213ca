// embed_tokens: hidden[r, :] = embeddings[tokens[r], :]  (the token embedding of each batch row)
//
// Shapes:  tokens (rows) int32; embeddings (vocab, d_model) row-major; hidden (rows, d_model) row-major.
// Launch:  grid (ceil(d_model / 256), rows), block 256; one thread per (row, feature). Rows >= *n_rows are skipped.
#include "common.cuh"

extern "C" __global__ void embed_tokens(const int* __restrict__ n_rows, const int* __restrict__ tokens,
                                        const float* __restrict__ embeddings, int d_model,
                                        float* __restrict__ hidden) {
    mf_grid_dep();
    int r = blockIdx.y;
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= *n_rows || k >= d_model) return;
    hidden[(size_t)r * d_model + k] = embeddings[(size_t)tokens[r] * d_model + k];
}
