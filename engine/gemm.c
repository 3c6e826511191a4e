/*
 * gemm.c - the portable parts of the matrix multiplication: kernel choice, packing, the blocked
 * driver and the portable C micro-kernel (the SIMD ones are in gemm_avx512.c and gemm_avx2.c).
 */
#include <string.h>

#include "gemm.h"

#define C_MR 4
#define C_NR 16

/* Portable kernel: a plain loop nest over an mr x n block kept in a local array. */
static void tile_c(const tc_gemm_tile *t, int mr, int nv)
{
    float acc[C_MR][C_NR];
    const int w = nv; /* vl is 1: nv is the panel width */
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < w; j++) {
            float v = 0.0f;
            if (t->accumulate) {
                v = j < t->n ? t->c[(size_t)r * t->ldc + (size_t)j] : 0.0f;
            } else {
                if (t->bias_row)
                    v += t->bias_row[r];
                if (t->bias_col && j < t->n)
                    v += t->bias_col[j];
            }
            acc[r][j] = v;
        }
    }
    const float *a = t->a;
    const float *b = t->b;
    for (size_t kk = 0; kk < t->kc; kk++) {
        const float *bk = t->b_rows != NULL ? t->b_rows[kk] + t->b_col : b;
        for (int r = 0; r < mr; r++) {
            const float ar = a[r * t->a_rs];
            for (int j = 0; j < w; j++)
                acc[r][j] += ar * bk[j];
        }
        a += t->a_ks;
        if (t->b_rows == NULL)
            b += w;
    }
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < t->n; j++) {
            float v = acc[r][j];
            if (t->relu && v < 0.0f)
                v = 0.0f; /* NaN passes, as in tc_act_apply */
            t->c[(size_t)r * t->ldc + (size_t)j] = v;
        }
    }
}

static const tc_gemm_kernel kernel_c = {"c", C_MR, C_NR, 1, tile_c};

const tc_gemm_kernel *tc_gemm_kernel_c(void)
{
    return &kernel_c;
}

const tc_gemm_kernel *tc_gemm_best(void)
{
    const tc_gemm_kernel *k = tc_gemm_kernel_avx512();
    if (k == NULL)
        k = tc_gemm_kernel_avx2();
    return k != NULL ? k : &kernel_c;
}

size_t tc_gemm_npad(const tc_gemm_kernel *k, size_t n)
{
    size_t vl = (size_t)k->vl;
    return (n + vl - 1) / vl * vl;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

void tc_gemm_pack_b(const tc_gemm_kernel *kern, size_t K, size_t N, const float *b, ptrdiff_t rs,
                    ptrdiff_t cs, float *dst)
{
    const size_t np = tc_gemm_npad(kern, N);
    for (size_t k0 = 0; k0 < K; k0 += TC_GEMM_KC) {
        const size_t kc = min_size(TC_GEMM_KC, K - k0);
        for (size_t j0 = 0; j0 < np; j0 += (size_t)kern->nr) {
            const size_t w = min_size((size_t)kern->nr, np - j0);
            float *d = dst + k0 * np + j0 * kc;
            if (rs == 1) { /* columns of B contiguous (B^T given, as a dense layer's weight):
                            * read them in order, the panel being written stays in L1 */
                for (size_t jj = 0; jj < w; jj++) {
                    const float *src = b + (ptrdiff_t)(j0 + jj) * cs + (ptrdiff_t)k0;
                    for (size_t kk = 0; kk < kc; kk++)
                        d[kk * w + jj] = j0 + jj < N ? src[kk] : 0.0f;
                }
                continue;
            }
            for (size_t kk = 0; kk < kc; kk++) {
                const float *src = b + (ptrdiff_t)(k0 + kk) * rs;
                for (size_t jj = 0; jj < w; jj++)
                    d[kk * w + jj] = j0 + jj < N ? src[(ptrdiff_t)(j0 + jj) * cs] : 0.0f;
            }
        }
    }
}

void tc_gemm_pack_a(const tc_gemm_kernel *kern, size_t M, size_t K, const float *a, ptrdiff_t rs,
                    ptrdiff_t cs, float *dst)
{
    for (size_t k0 = 0; k0 < K; k0 += TC_GEMM_KC) {
        const size_t kc = min_size(TC_GEMM_KC, K - k0);
        for (size_t i0 = 0; i0 < M; i0 += (size_t)kern->mr) {
            const size_t h = min_size((size_t)kern->mr, M - i0);
            float *d = dst + k0 * M + i0 * kc;
            for (size_t kk = 0; kk < kc; kk++) {
                for (size_t r = 0; r < h; r++)
                    d[kk * h + r] = a[(ptrdiff_t)(i0 + r) * rs + (ptrdiff_t)(k0 + kk) * cs];
            }
        }
    }
}

/* Activations the kernels apply themselves; the rest run over each finished tile. */
static int fused_relu(const tc_act *act)
{
    return act != NULL && act->kind == TC_ACT_RELU;
}

static int needs_act_pass(const tc_act *act)
{
    return act != NULL && act->kind != TC_ACT_IDENTITY && act->kind != TC_ACT_RELU;
}

/* The driver behind tc_gemm and tc_gemm_rows: exactly one of packed_b and b_rows is set. */
static void gemm(const tc_gemm_kernel *kern, size_t M, size_t N, size_t K, const tc_gemm_a *a,
                 const float *packed_b, const float *const *b_rows, float *c, size_t ldc,
                 const tc_gemm_epilogue *epi)
{
    const size_t np = tc_gemm_npad(kern, N);
    const size_t mr = (size_t)kern->mr;
    const size_t nr = (size_t)kern->nr;
    const tc_act *act = epi ? epi->act : NULL;
    tc_gemm_tile t;
    t.ldc = ldc;
    for (size_t k0 = 0; k0 < K; k0 += TC_GEMM_KC) {
        const size_t kc = min_size(TC_GEMM_KC, K - k0);
        const int last = k0 + kc >= K;
        t.kc = kc;
        t.accumulate = k0 > 0;
        t.relu = last && fused_relu(act);
        /* The B panel (kc x nr) stays in L1 while it meets every A panel (from L2). */
        for (size_t j0 = 0; j0 < N; j0 += nr) {
            const size_t w = min_size(nr, np - j0);
            t.b = packed_b != NULL ? packed_b + k0 * np + j0 * kc : NULL;
            t.b_rows = b_rows != NULL ? b_rows + k0 : NULL;
            t.b_col = j0;
            t.n = (int)min_size(nr, N - j0);
            t.bias_col = epi && epi->bias_col && k0 == 0 ? epi->bias_col + j0 : NULL;
            for (size_t i0 = 0; i0 < M; i0 += mr) {
                const size_t h = min_size(mr, M - i0);
                if (a->packed) {
                    t.a = a->data + k0 * M + i0 * kc;
                    t.a_rs = 1;
                    t.a_ks = (ptrdiff_t)h;
                } else {
                    t.a = a->data + (ptrdiff_t)i0 * a->rs + (ptrdiff_t)k0 * a->ks;
                    t.a_rs = a->rs;
                    t.a_ks = a->ks;
                }
                t.bias_row = epi && epi->bias_row && k0 == 0 ? epi->bias_row + i0 : NULL;
                t.c = c + i0 * ldc + j0;
                kern->tile(&t, (int)h, (int)(w / (size_t)kern->vl));
                if (last && needs_act_pass(act)) {
                    for (size_t r = 0; r < h; r++)
                        tc_act_apply(act, t.c + r * ldc, (size_t)t.n);
                }
            }
        }
    }
}

void tc_gemm(const tc_gemm_kernel *kern, size_t M, size_t N, size_t K, const tc_gemm_a *a,
             const float *packed_b, float *c, size_t ldc, const tc_gemm_epilogue *epi)
{
    gemm(kern, M, N, K, a, packed_b, NULL, c, ldc, epi);
}

void tc_gemm_rows(const tc_gemm_kernel *kern, size_t M, size_t N, size_t K, const tc_gemm_a *a,
                  const float *const *b_rows, float *c, size_t ldc, const tc_gemm_epilogue *epi)
{
    gemm(kern, M, N, K, a, NULL, b_rows, c, ldc, epi);
}

float *tc_gemm_buffer(size_t n_floats, void **raw)
{
    size_t bytes;
    *raw = NULL;
    if (!tc_mul_size(n_floats, sizeof(float), &bytes) || !tc_add_size(bytes, 64, &bytes))
        return NULL;
    *raw = TC_MALLOC(bytes);
    if (*raw == NULL)
        return NULL;
    uintptr_t u = (uintptr_t)*raw;
    return (float *)((u + 63) / 64 * 64);
}
