/*
 * gemm_avx512.c - the AVX-512 micro-kernel: a 6 x 64 tile of C in 24 zmm accumulators; per
 * value of k, 4 vector loads of B and 6 broadcasts of A feed 24 FMAs. Compiled for AVX-512 by a
 * function attribute only, so the rest of the library keeps the baseline instruction set; it is
 * used only when the CPU reports AVX-512F (tc_gemm_best).
 */
#include "gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define MR 6
#define NV 4
#define VL 16
#define TARGET __attribute__((target("avx512f")))
#define VEC __m512
#define MASK __mmask16
#define MAKE_MASK(n) ((__mmask16)((n) >= VL ? 0xFFFFu : (1u << (n)) - 1u))
#define LOAD(p) _mm512_loadu_ps(p)
#define LOAD_M(m, p) _mm512_maskz_loadu_ps((m), (p))
#define STORE(p, x) _mm512_storeu_ps((p), (x))
#define STORE_M(p, m, x) _mm512_mask_storeu_ps((p), (m), (x))
#define SET1(f) _mm512_set1_ps(f)
#define ZERO() _mm512_setzero_ps()
#define ADD(x, y) _mm512_add_ps((x), (y))
#define FMA(x, y, z) _mm512_fmadd_ps((x), (y), (z))
#define MAX(x, y) _mm512_max_ps((x), (y))
#include "gemm_kernel.h"

#define ROW(m) TILE(m, 1) TILE(m, 2) TILE(m, 3) TILE(m, 4)
ROW(1)
ROW(2)
ROW(3)
ROW(4)
ROW(5)
ROW(6)

#define FNS(m) {tile_##m##_1, tile_##m##_2, tile_##m##_3, tile_##m##_4}
static const tile_fn tiles[MR][NV] = {FNS(1), FNS(2), FNS(3), FNS(4), FNS(5), FNS(6)};

static void tile(const tc_gemm_tile *t, int mr, int nv)
{
    tiles[mr - 1][nv - 1](t);
}

static const tc_gemm_kernel kernel = {"avx512", MR, NV * VL, VL, tile};

const tc_gemm_kernel *tc_gemm_kernel_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? &kernel : NULL;
}

#else

const tc_gemm_kernel *tc_gemm_kernel_avx512(void)
{
    return NULL;
}

#endif
