/*
 * gemm_avx2.c - the AVX2/FMA micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators; per value
 * of k, 2 vector loads of B and 6 broadcasts of A feed 12 FMAs. Compiled for AVX2 and FMA by a
 * function attribute only; used when the CPU reports both (tc_gemm_best).
 */
#include "gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define MR 6
#define NV 2
#define VL 8
#define TARGET __attribute__((target("avx2,fma")))
#define VEC __m256
#define MASK __m256i
#define MAKE_MASK(n)                                                                               \
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define LOAD(p) _mm256_loadu_ps(p)
#define LOAD_M(m, p) _mm256_maskload_ps((p), (m))
#define STORE(p, x) _mm256_storeu_ps((p), (x))
#define STORE_M(p, m, x) _mm256_maskstore_ps((p), (m), (x))
#define SET1(f) _mm256_set1_ps(f)
#define ZERO() _mm256_setzero_ps()
#define ADD(x, y) _mm256_add_ps((x), (y))
#define FMA(x, y, z) _mm256_fmadd_ps((x), (y), (z))
#define MAX(x, y) _mm256_max_ps((x), (y))
#include "gemm_kernel.h"

#define ROW(m) TILE(m, 1) TILE(m, 2)
ROW(1)
ROW(2)
ROW(3)
ROW(4)
ROW(5)
ROW(6)

#define FNS(m) {tile_##m##_1, tile_##m##_2}
static const tile_fn tiles[MR][NV] = {FNS(1), FNS(2), FNS(3), FNS(4), FNS(5), FNS(6)};

static void tile(const tc_gemm_tile *t, int mr, int nv)
{
    tiles[mr - 1][nv - 1](t);
}

static const tc_gemm_kernel kernel = {"avx2", MR, NV * VL, VL, tile};

const tc_gemm_kernel *tc_gemm_kernel_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &kernel : NULL;
}

#else

const tc_gemm_kernel *tc_gemm_kernel_avx2(void)
{
    return NULL;
}

#endif
