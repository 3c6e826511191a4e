/*
 * test_gemm.c - the matrix kernels (engine/gemm.h): every kernel this CPU supports (AVX-512,
 * AVX2/FMA, portable C) against a double-precision reference on odd sizes (M, N 1..67, K up to
 * 600, so K blocks, partial register tiles and masked columns all occur), packed and strided A,
 * row and column biases and the fused relu; and agreement between the kernels.
 */
#include "tc_test.h"

#include "gemm.h"

/* Deterministic values in [-1, 1). */
static float val(unsigned i, unsigned salt)
{
    unsigned h = (i + 1) * 2654435761u ^ salt * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return (float)(h % 2001u) / 1000.0f - 1.0f;
}

static const tc_gemm_kernel *kernel_at(int i)
{
    return i == 0 ? tc_gemm_kernel_c() : i == 1 ? tc_gemm_kernel_avx2() : tc_gemm_kernel_avx512();
}

/*
 * C = A * B (+ biases, relu) with kern, checked against a double loop: |got - want| <= 1e-5 +
 * 1e-5 * sum |a * b| (float rounding grows with K). Returns through *out (M x N, caller frees)
 * when out != NULL, for comparing kernels.
 */
static void check_one(const tc_gemm_kernel *kern, size_t m, size_t n, size_t k, bool packed_a,
                      bool bias_row, bool bias_col, bool relu, float **out)
{
    float *a = test_malloc(m * k * sizeof *a);
    float *b = test_malloc(k * n * sizeof *b);
    float *c = test_malloc(m * n * sizeof *c);
    float *br = test_malloc(m * sizeof *br);
    float *bc = test_malloc(n * sizeof *bc);
    void *raw_a = NULL;
    void *raw_b = NULL;
    float *pa = tc_gemm_buffer(m * k, &raw_a);
    float *pb = tc_gemm_buffer(k * tc_gemm_npad(kern, n), &raw_b);
    assert_non_null(pa);
    assert_non_null(pb);
    for (size_t i = 0; i < m * k; i++)
        a[i] = val((unsigned)i, 1);
    for (size_t i = 0; i < k * n; i++)
        b[i] = val((unsigned)i, 2);
    for (size_t i = 0; i < m; i++)
        br[i] = val((unsigned)i, 3);
    for (size_t i = 0; i < n; i++)
        bc[i] = val((unsigned)i, 4);
    for (size_t i = 0; i < m * n; i++)
        c[i] = 1e30f; /* every element must be written */
    tc_gemm_pack_b(kern, k, n, b, (ptrdiff_t)n, 1, pb);
    tc_gemm_a av = {a, 0, (ptrdiff_t)k, 1};
    if (packed_a) {
        tc_gemm_pack_a(kern, m, k, a, (ptrdiff_t)k, 1, pa);
        av = (tc_gemm_a){pa, 1, 0, 0};
    }
    tc_act act = {.kind = relu ? TC_ACT_RELU : TC_ACT_IDENTITY};
    const tc_gemm_epilogue epi = {bias_row ? br : NULL, bias_col ? bc : NULL, &act};
    tc_gemm(kern, m, n, k, &av, pb, c, n, &epi);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double want = (bias_row ? br[i] : 0.0) + (bias_col ? bc[j] : 0.0);
            double mag = fabs(want);
            for (size_t q = 0; q < k; q++) {
                want += (double)a[i * k + q] * b[q * n + j];
                mag += fabs((double)a[i * k + q] * b[q * n + j]);
            }
            if (relu && want < 0)
                want = 0;
            const double got = c[i * n + j];
            if (fabs(got - want) > 1e-5 + 1e-5 * mag)
                fail_msg("kernel %s, %zux%zux%zu: C[%zu][%zu] = %.9g, want %.9g", kern->name, m,
                         n, k, i, j, got, want);
        }
    }
    test_free(a);
    test_free(b);
    test_free(br);
    test_free(bc);
    TC_FREE(raw_a);
    TC_FREE(raw_b);
    if (out != NULL)
        *out = c;
    else
        test_free(c);
}

/* Odd sizes around the tile edges (mr 4 or 6, nr 16 or 64, K blocks of 128). */
static void test_gemm_odd_sizes_all_kernels(void **state)
{
    (void)state;
    static const size_t ms[] = {1, 2, 5, 6, 7, 13, 67};
    static const size_t ns[] = {1, 3, 15, 16, 17, 63, 64, 65, 67};
    static const size_t ks[] = {1, 7, 127, 128, 129, 600};
    int tested = 0;
    for (int q = 0; q < 3; q++) {
        const tc_gemm_kernel *kern = kernel_at(q);
        if (kern == NULL)
            continue;
        tested++;
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
                for (size_t l = 0; l < sizeof ks / sizeof ks[0]; l++)
                    check_one(kern, ms[i], ns[j], ks[l], (i + j + l) % 2 == 0, false, false,
                              false, NULL);
    }
    assert_true(tested >= 1);
}

static void test_gemm_every_size_to_67(void **state)
{
    (void)state;
    const tc_gemm_kernel *kern = tc_gemm_best();
    for (size_t s = 1; s <= 67; s++)
        check_one(kern, s, 68 - s, 2 * s + 3, s % 2 == 0, s % 3 == 0, s % 5 == 0, s % 2 == 1,
                  NULL);
}

static void test_gemm_epilogue_all_kernels(void **state)
{
    (void)state;
    for (int q = 0; q < 3; q++) {
        const tc_gemm_kernel *kern = kernel_at(q);
        if (kern == NULL)
            continue;
        check_one(kern, 13, 67, 300, true, true, false, true, NULL);
        check_one(kern, 7, 33, 129, false, false, true, true, NULL);
        check_one(kern, 6, 64, 128, true, true, true, false, NULL);
    }
}

/* The SIMD kernels agree with the portable one within 1e-5 (relative to the sums' size). */
static void test_gemm_kernels_agree(void **state)
{
    (void)state;
    float *ref = NULL;
    check_one(tc_gemm_kernel_c(), 29, 45, 600, true, true, false, false, &ref);
    for (int q = 1; q < 3; q++) {
        const tc_gemm_kernel *kern = kernel_at(q);
        if (kern == NULL)
            continue;
        float *got = NULL;
        check_one(kern, 29, 45, 600, true, true, false, false, &got);
        for (size_t i = 0; i < 29 * 45; i++)
            assert_true(fabs(got[i] - ref[i]) <= 1e-5 * (1.0 + fabs(ref[i])));
        test_free(got);
    }
    test_free(ref);
}

/* The best kernel is one this CPU runs, and AVX-512 is preferred where it exists. */
static void test_gemm_best_kernel(void **state)
{
    (void)state;
    const tc_gemm_kernel *best = tc_gemm_best();
    assert_non_null(best);
    if (tc_gemm_kernel_avx512() != NULL)
        assert_string_equal(best->name, "avx512");
    else if (tc_gemm_kernel_avx2() != NULL)
        assert_string_equal(best->name, "avx2");
    else
        assert_string_equal(best->name, "c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_odd_sizes_all_kernels),
        cmocka_unit_test(test_gemm_every_size_to_67),
        cmocka_unit_test(test_gemm_epilogue_all_kernels),
        cmocka_unit_test(test_gemm_kernels_agree),
        cmocka_unit_test(test_gemm_best_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
