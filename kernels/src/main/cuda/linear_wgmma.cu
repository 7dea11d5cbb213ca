// wg_gemm_x1, wg_gemm_x3: linear_bf16.cu's products on Hopper's asynchronous warpgroup tensor-core instruction
// (wgmma.mma_async, sm_90a only: the build makes a second fatbin for it, loaded on compute capability 9.0 devices; in
// every other build these kernels are empty and never launched). The engine runs the persistent, warp-specialized
// wg_ws_* builds further down (same arguments); wg_gemm_* with -Dmambaflink.cuda.wgmma-ws=false.
//
//   y[r, o] = (accumulate ? y[r, o] : 0) + bias[o] + sum_k x[r, k] W[o, k]
//   x1: x_hi w_hi;  x3: x_lo w_hi + x_hi w_lo + x_hi w_hi (float32-accurate, as linear_bf16x3)
//
// Shapes:  x_hi, x_lo (rows, in) bf16 dense (bf16_split_rows makes them from the float32 activations); w_hi, w_lo
//          (out, in) bf16 (DeviceWeights' split); in % 8 == 0; bias (out) or null; y (rows, out) float32 stride
//          y_stride. x_lo, w_lo are not read by x1.
// Launch:  grid (ceil(out / BN), ceil(rows / 128), splits), block 256 = 2 warpgroups, each 64 rows x BN outputs
//          (m64nBNk16); wg_gemm_x1 / x3: BN 128, *_n256: BN 256. K tiles of 64 in shared-memory stages filled by
//          cp.async in the 128-byte swizzle and read by the tensor cores through matrix descriptors; with 3 or more
//          stages, stages - 2 tiles load while one is multiplied and the previous one's wgmma group may still run; with
//          2 (x3_n256), one loads while the other is multiplied. Split-K as in linear.cu. Dynamic shared memory:
//          stages * (1 or 2) * (128 + BN) * 64 * 2 bytes + 1 KB for alignment (x1 4 stages, x3 3; n256: x1 4, x3 2).
// bf16_split_rows: hi[r, :] = bf16(x[r, :]), lo[r, :] = bf16(x - hi) (lo may be null), r < n_rows; x_stride % 4 == 0.
#include "common.cuh"
#include <cuda_bf16.h>


extern "C" __global__ void bf16_split_rows(const int* __restrict__ n_rows, const float* __restrict__ x, int x_stride,
                                           int cols, __nv_bfloat16* __restrict__ hi, __nv_bfloat16* __restrict__ lo) {
    mf_grid_dep();
    int q4 = cols >> 2;
    long long total = (long long)*n_rows * q4;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        long long r = i / q4;
        int q = (int)(i - r * q4);
        float4 v = *reinterpret_cast<const float4*>(x + r * x_stride + 4 * q);
        __nv_bfloat162 h0 = __floats2bfloat162_rn(v.x, v.y), h1 = __floats2bfloat162_rn(v.z, v.w);
        __nv_bfloat162* hp = reinterpret_cast<__nv_bfloat162*>(hi + r * cols + 4 * q);
        hp[0] = h0;
        hp[1] = h1;
        if (lo) {
            float2 f0 = __bfloat1622float2(h0), f1 = __bfloat1622float2(h1);
            __nv_bfloat162* lp = reinterpret_cast<__nv_bfloat162*>(lo + r * cols + 4 * q);
            lp[0] = __floats2bfloat162_rn(v.x - f0.x, v.y - f0.y);
            lp[1] = __floats2bfloat162_rn(v.z - f1.x, v.w - f1.y);
        }
    }
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_ENABLED 1
#endif

#ifdef WG_ENABLED
// d (64 x 128 f32 per warpgroup, 64 per thread) += a (64 x 16, shared: desc a) b (16 x 128, shared: desc b)
MF_DEVICE void wg_mma_ss(float* d, unsigned long long da, unsigned long long db) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}

// d (64 x 256 f32 per warpgroup, 128 per thread) += a (64 x 16, shared: desc a) b (16 x 256, shared: desc b)
MF_DEVICE void wg_mma_ss256(float* d, unsigned long long da, unsigned long long db) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(da), "l"(db), "r"(1));
}

// d += a b for a 64 x BN warpgroup tile (BN 128 or 256)
template <int BN>
MF_DEVICE void wg_mma(float* d, unsigned long long da, unsigned long long db) {
    if (BN == 256) wg_mma_ss256(d, da, db);
    else wg_mma_ss(d, da, db);
}

// Descriptor of a K-major tile with BK-element rows: BK 64 (128-byte rows) in the 128-byte swizzle, 8-row groups 1024
// bytes apart (stride byte offset), layout type 1 (bits 62-63); BK 32 (64-byte rows) in the 64-byte swizzle, 8-row
// groups 512 bytes apart, layout type 2. Leading byte offset unused. The tile starts 1024-byte aligned; a k16 step
// inside it is a 32-byte start offset (the swizzle applies to the address bits).
template <int BK = 64>
MF_DEVICE unsigned long long wg_desc(const void* smem) {
    constexpr unsigned long long sbo = BK == 64 ? 1024 : 512, layout = BK == 64 ? 1 : 2;
    unsigned long long addr = (unsigned long long)__cvta_generic_to_shared(smem);
    return ((addr & 0x3FFFFull) >> 4) | (1ull << 16) | ((sbo >> 4) << 32) | (layout << 62);
}

// Where 16-byte chunk kc of tile row `row` lies in its row: BK 64 (128-byte rows) the 128-byte swizzle, kc ^ (row % 8);
// BK 32 (64-byte rows) the 64-byte swizzle, kc ^ ((row / 2) % 4).
template <int BK>
MF_DEVICE int wg_swizzle(int row, int kc) { return BK == 64 ? kc ^ (row & 7) : kc ^ ((row >> 1) & 3); }

// (ROWS x 64) bf16 tile rows r0.. of a row-major (rows, ld) matrix, 128-byte rows in the 128-byte swizzle; zero past
// r_end / k_end. All 256 threads of the block load.
template <int ROWS>
MF_DEVICE void wg_load(__nv_bfloat16* dst, const __nv_bfloat16* __restrict__ src, int ld, int r0, int r_end, int k0, int k_end) {
#pragma unroll
    for (int i = 0; i < ROWS * 8 / 256; i++) {
        int c = threadIdx.x + 256 * i;
        int row = c >> 3, kc = c & 7;
        int k = k0 + kc * 8;
        bool ok = r0 + row < r_end && k < k_end;
        cp_async16(dst + row * 64 + (wg_swizzle<64>(row, kc) << 3), ok ? src + (size_t)(r0 + row) * ld + k : src, ok ? 16 : 0);
    }
}

// A (ROWS x BK) tile the same way, loaded by the 128 threads of a loading warpgroup and strength-reduced (one source
// and one destination pointer per thread, stepped by 128 / (BK / 8) rows: a thread's chunk has the same swizzle in
// every such row), so the loading warpgroup keeps few registers live.
template <int ROWS, int BK>
MF_DEVICE void wg_fill(__nv_bfloat16* dst, const __nv_bfloat16* __restrict__ src, int ld, int r0, int r_end, int k0, int k_end, int tid) {
    constexpr int CH = BK / 8, STEP = 128 / CH;
    int row = tid / CH, kc = tid % CH;
    int k = k0 + kc * 8;
    __nv_bfloat16* d = dst + row * BK + (wg_swizzle<BK>(row, kc) << 3);
    const __nv_bfloat16* s = src + (size_t)(r0 + row) * ld + k;
    int left = k < k_end ? r_end - r0 - row : 0;  // rows of the tile this thread may read from here on
#pragma unroll 4
    for (int i = 0; i < ROWS / STEP; i++) {
        bool ok = i * STEP < left;
        cp_async16(d, ok ? s : src, ok ? 16 : 0);
        d += STEP * BK;
        s += (size_t)STEP * ld;
    }
}
#endif

template <bool LO, int STAGES, int BN>
MF_DEVICE void wg_gemm(const int* __restrict__ n_rows, const __nv_bfloat16* __restrict__ x_hi,
                       const __nv_bfloat16* __restrict__ x_lo, const __nv_bfloat16* __restrict__ w_hi,
                       const __nv_bfloat16* __restrict__ w_lo, const float* __restrict__ bias, int in, int out,
                       float* __restrict__ y, int y_stride, int accumulate, int k_per_split) {
#ifdef WG_ENABLED
    constexpr int BK = 64;
    // wgmma groups left running while the next tile is waited for: one with 3+ stages, none with 2 (then the one spare
    // stage loads while the other is multiplied)
    constexpr int PEND = STAGES > 2 ? 1 : 0;
    constexpr int DIST = STAGES - 1 - PEND;      // tiles loading ahead
    constexpr int TILE = 128 * BK;               // bf16 per x tile (16 KB)
    constexpr int WTILE = BN * BK;               // bf16 per W tile
    constexpr int STAGE = (LO ? 2 : 1) * (TILE + WTILE);   // x hi, w hi (, x lo, w lo)
    extern __shared__ __align__(1024) unsigned char wg_smem[];
    // the swizzle needs 1024-byte aligned tiles: round the window up (the launch asks for 1 KB more)
    unsigned base = (unsigned)__cvta_generic_to_shared(wg_smem);
    __nv_bfloat16* sm = reinterpret_cast<__nv_bfloat16*>(wg_smem + (((base + 1023) & ~1023u) - base));
    int n = *n_rows;
    int m0 = blockIdx.y * 128;
    if (m0 >= n) return;
    int o0 = blockIdx.x * BN;
    int k_begin = blockIdx.z * k_per_split;
    int k_end = min(in, k_begin + k_per_split);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int wg = warp >> 2;  // warpgroup: rows 64 wg .. 64 wg + 63 of the tile
    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) d[i] = 0.0f;
    int tiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
    auto load = [&](int t) {
        __nv_bfloat16* st = sm + (t % STAGES) * STAGE;
        int k0 = k_begin + t * BK;
        wg_load<128>(st, x_hi, in, m0, n, k0, k_end);
        wg_load<BN>(st + TILE, w_hi, in, o0, out, k0, k_end);
        if (LO) {
            wg_load<128>(st + TILE + WTILE, x_lo, in, m0, n, k0, k_end);
            wg_load<BN>(st + 2 * TILE + WTILE, w_lo, in, o0, out, k0, k_end);
        }
    };
#pragma unroll
    for (int t = 0; t < DIST; t++) {
        if (t < tiles) load(t);
        cp_async_commit();
    }
    for (int kt = 0; kt < tiles; kt++) {
        cp_async_wait<DIST - 1>();                                      // tile kt has landed (this thread's part)
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // ... visible to the tensor cores' reads
        __syncthreads();  // everyone's part; and every warpgroup is past its wait for the wgmma group of the tile
                          // whose stage the next load overwrites (kt - 2 with 3+ stages, kt - 1 with 2)
        if (kt + DIST < tiles) load(kt + DIST);
        cp_async_commit();
        const __nv_bfloat16* st = sm + (kt % STAGES) * STAGE;
        const __nv_bfloat16* xa = st + wg * 64 * BK;  // this warpgroup's 64 rows
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int s = 0; s < BK / 16; s++) {
            unsigned long long ah = wg_desc(xa + s * 16), bh = wg_desc(st + TILE + s * 16);
            if (LO) {
                wg_mma<BN>(d, wg_desc(xa + TILE + WTILE + s * 16), bh);
                wg_mma<BN>(d, ah, wg_desc(st + 2 * TILE + WTILE + s * 16));
            }
            wg_mma<BN>(d, ah, bh);
        }
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        if (PEND) asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // tile kt - 1's group done
        else asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    cp_async_wait<0>();
    // d[4 j + e]: (row 16 warp' + g (+ 8 for e >= 2), output 8 j + 2 t + e % 2), warp' = warp within the tile
    float acc[1][BN / 8][4];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) acc[0][i >> 2][i & 3] = d[i];
    bf_epilogue<128, BN, 8, 1, 1, BN / 8>(acc, m0, o0, n, out, warp, 0, lane >> 2, lane & 3, bias, y, y_stride, accumulate);
#endif
}

#define WG_ARGS                                                                                                     \
    const int *__restrict__ n_rows, const __nv_bfloat16 *__restrict__ x_hi, const __nv_bfloat16 *__restrict__ x_lo,    \
        const __nv_bfloat16 *__restrict__ w_hi, const __nv_bfloat16 *__restrict__ w_lo, const float *__restrict__ bias, \
        int in, int out, float *__restrict__ y, int y_stride, int accumulate, int k_per_split
#define WG_PASS n_rows, x_hi, x_lo, w_hi, w_lo, bias, in, out, y, y_stride, accumulate, k_per_split

extern "C" __global__ void __launch_bounds__(256) wg_gemm_x1(WG_ARGS) { mf_grid_dep(); wg_gemm<false, 4, 128>(WG_PASS); }

extern "C" __global__ void __launch_bounds__(256) wg_gemm_x3(WG_ARGS) { mf_grid_dep(); wg_gemm<true, 3, 128>(WG_PASS); }

// 128 x 256 tiles (m64n256 per warpgroup): a quarter less operand traffic per product than 128 x 128, for products
// with enough 256-wide blocks to fill the device. x3: 2 stages of 96 KB; x1: 4 of 48 KB.
extern "C" __global__ void __launch_bounds__(256) wg_gemm_x1_n256(WG_ARGS) { mf_grid_dep(); wg_gemm<false, 4, 256>(WG_PASS); }

extern "C" __global__ void __launch_bounds__(256) wg_gemm_x3_n256(WG_ARGS) { mf_grid_dep(); wg_gemm<true, 2, 256>(WG_PASS); }

// wg_ws_*: the same products as wg_gemm_*, persistent and warp-specialized. One block of 384 threads per SM walks the
// output tiles t = blockIdx.x, + gridDim.x, ... (128 rows x BN outputs; rows fastest, so the blocks at work at one time
// share a few BN-wide slices of W and an LM head's weights are read from HBM about once, not once per row block).
// Warpgroup 0 loads: its 128 threads cp.async every K tile (BK wide) into a ring of STAGES stages, each thread waits
// for its own copies, fences them for the tensor cores' (async proxy) reads and arrives on the stage's `full` barrier;
// it runs STAGES - 2 tiles ahead, across output tiles, so the next tile's operands load while this one's epilogue runs.
// Warpgroups 1 and 2 multiply (rows 0-63 and 64-127 of the tile), each warp handing a stage back on its `empty`
// barrier once the wgmma group that read it is done, then write the tile (bf_epilogue). 384 threads of at most 168
// registers fit the register file; 128 accumulators per multiplying thread at BN 256 fit without setmaxnreg.
// Launch: grid min(SMs, tiles), block 384, dynamic shared memory wsSmemBytes (LinearKernel): STAGES * (1 or 2) *
// (128 + BN) * BK * 2 + 1 KB alignment + 16 * STAGES barrier bytes. No split-K (k_per_split unused).
template <bool LO, int BN, int BK, int STAGES>
MF_DEVICE void wg_ws(const int* __restrict__ n_rows, const __nv_bfloat16* __restrict__ x_hi, const __nv_bfloat16* __restrict__ x_lo,
                     const __nv_bfloat16* __restrict__ w_hi, const __nv_bfloat16* __restrict__ w_lo, const float* __restrict__ bias,
                     int in, int out, float* __restrict__ y, int y_stride, int accumulate) {
#ifdef WG_ENABLED
    constexpr int TILE = 128 * BK;                        // bf16 per x tile
    constexpr int WTILE = BN * BK;                        // bf16 per W tile
    constexpr int STAGE = (LO ? 2 : 1) * (TILE + WTILE);  // x hi, w hi (, x lo, w lo)
    // K tiles the loaders keep in flight before publishing the oldest: at most STAGES - 2, since a multiplier hands a
    // stage back only once it has issued the next K tile's products (one wgmma group stays in flight)
    constexpr int AHEAD = STAGES - 2;
    extern __shared__ __align__(1024) unsigned char wg_smem[];
    unsigned base = (unsigned)__cvta_generic_to_shared(wg_smem);
    unsigned char* aligned = wg_smem + (((base + 1023) & ~1023u) - base);
    __nv_bfloat16* sm = reinterpret_cast<__nv_bfloat16*>(aligned);
    unsigned long long* full = reinterpret_cast<unsigned long long*>(aligned + STAGES * STAGE * 2);
    unsigned long long* empty = full + STAGES;
    int n = *n_rows;
    int n_mb = (n + 127) / 128;
    int tiles = n_mb * ((out + BN - 1) / BN);
    int k_tiles = (in + BK - 1) / BK;
    int wg = threadIdx.x >> 7;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            asm volatile("mbarrier.init.shared::cta.b64 [%0], 128;\n" ::"r"(mf_smem_addr(full + s)));
            asm volatile("mbarrier.init.shared::cta.b64 [%0], 8;\n" ::"r"(mf_smem_addr(empty + s)));
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (wg == 0) {
        int tid = threadIdx.x;
        int i = 0;  // K tiles issued so far, over all output tiles
        for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
            int m0 = (t % n_mb) * 128, o0 = (t / n_mb) * BN;
            for (int kt = 0; kt < k_tiles; kt++, i++) {
                int s = i % STAGES;
                if (i >= STAGES) mf_bar_wait(empty + s, ((i / STAGES) - 1) & 1);
                __nv_bfloat16* st = sm + s * STAGE;
                int k0 = kt * BK;
                wg_fill<128, BK>(st, x_hi, in, m0, n, k0, in, tid);
                wg_fill<BN, BK>(st + TILE, w_hi, in, o0, out, k0, in, tid);
                if (LO) {
                    wg_fill<128, BK>(st + TILE + WTILE, x_lo, in, m0, n, k0, in, tid);
                    wg_fill<BN, BK>(st + 2 * TILE + WTILE, w_lo, in, o0, out, k0, in, tid);
                }
                cp_async_commit();
                if (i >= AHEAD) {
                    cp_async_wait<AHEAD>();  // tile i - AHEAD has landed (this thread's part)
                    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
                    mf_bar_arrive(full + (i - AHEAD) % STAGES);
                }
            }
        }
        cp_async_wait<0>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        for (int j = max(0, i - AHEAD); j < i; j++) mf_bar_arrive(full + j % STAGES);
        return;
    }
    int warp = (threadIdx.x >> 5) - 4;  // 0..7: rows 16 warp .. 16 warp + 15 of the tile
    int lane = threadIdx.x & 31;
    int half = wg - 1;                  // this warpgroup's 64 rows
    int i = 0;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int m0 = (t % n_mb) * 128, o0 = (t / n_mb) * BN;
        float d[BN / 2];
#pragma unroll
        for (int e = 0; e < BN / 2; e++) d[e] = 0.0f;
        for (int kt = 0; kt < k_tiles; kt++, i++) {
            int s = i % STAGES;
            mf_bar_wait(full + s, (i / STAGES) & 1);
            const __nv_bfloat16* st = sm + s * STAGE;
            const __nv_bfloat16* xa = st + half * 64 * BK;
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int k = 0; k < BK / 16; k++) {
                unsigned long long ah = wg_desc<BK>(xa + k * 16), bh = wg_desc<BK>(st + TILE + k * 16);
                if (LO) {
                    wg_mma<BN>(d, wg_desc<BK>(xa + TILE + WTILE + k * 16), bh);
                    wg_mma<BN>(d, ah, wg_desc<BK>(st + 2 * TILE + WTILE + k * 16));
                }
                wg_mma<BN>(d, ah, bh);
            }
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // the previous K tile's group is done
            if (kt > 0 && lane == 0) mf_bar_arrive(empty + (i - 1) % STAGES);
        }
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        if (k_tiles > 0 && lane == 0) mf_bar_arrive(empty + (i - 1) % STAGES);
        float acc[1][BN / 8][4];
#pragma unroll
        for (int e = 0; e < BN / 2; e++) acc[0][e >> 2][e & 3] = d[e];
        bf_epilogue<128, BN, 8, 1, 1, BN / 8>(acc, m0, o0, n, out, warp, 0, lane >> 2, lane & 3, bias, y, y_stride, accumulate);
    }
#endif
}

#define WS_PASS n_rows, x_hi, x_lo, w_hi, w_lo, bias, in, out, y, y_stride, accumulate

// x3 with K tiles of 32 (64-byte swizzle), x1 with 64: every build 192 KB of stages.
extern "C" __global__ void __launch_bounds__(384, 1) wg_ws_x3(WG_ARGS) { mf_grid_dep(); wg_ws<true, 128, 32, 6>(WS_PASS); }

extern "C" __global__ void __launch_bounds__(384, 1) wg_ws_x1(WG_ARGS) { mf_grid_dep(); wg_ws<false, 128, 64, 6>(WS_PASS); }

extern "C" __global__ void __launch_bounds__(384, 1) wg_ws_x3_n256(WG_ARGS) { mf_grid_dep(); wg_ws<true, 256, 32, 4>(WS_PASS); }

extern "C" __global__ void __launch_bounds__(384, 1) wg_ws_x1_n256(WG_ARGS) { mf_grid_dep(); wg_ws<false, 256, 64, 4>(WS_PASS); }
