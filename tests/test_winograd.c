/*
 * test_winograd.c - Winograd F(2x2, 3x3) convolution (layers/conv2d_winograd.c) against a
 * double-precision direct convolution: several channel counts, even and odd output sizes, 1x1
 * and 1x2 outputs, asymmetric and no padding, more tiles than one block holds, with and without
 * bias and relu, for every matrix kernel this CPU supports. Tolerance: 1e-5 + 1e-4 * |ref| (the
 * torch tolerance), with weights scaled as PyTorch initializes them.
 * Also the direct one-input-channel convolution (layers/conv2d_direct.c) on odd sizes, kernel
 * shapes and dilations, channel counts that leave a partial block of 8, with and without relu.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#include "conv2d_direct.h"
#include "conv2d_winograd.h"

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

typedef struct wcase {
    size_t cin, cout, h, w;
    size_t pt, pl, pb, pr; /* padding */
    bool bias, relu;
} wcase;

/* Runs one case with kern and checks every output against the direct double loop. */
static void check_case(const tc_gemm_kernel *kern, const wcase *k)
{
    const size_t oh = k->h + k->pt + k->pb - 2, ow = k->w + k->pl + k->pr - 2;
    const size_t nx = k->cin * k->h * k->w, nw = k->cout * k->cin * 9, ny = k->cout * oh * ow;
    float *x = test_malloc(nx * sizeof *x);
    float *wt = test_malloc(nw * sizeof *wt);
    float *b = test_malloc(k->cout * sizeof *b);
    float *y = test_malloc(ny * sizeof *y);
    const float scale = 1.0f / sqrtf((float)(9 * k->cin)); /* PyTorch's init bound */
    for (size_t i = 0; i < nx; i++)
        x[i] = val((unsigned)i, 1);
    for (size_t i = 0; i < nw; i++)
        wt[i] = scale * val((unsigned)i, 2);
    for (size_t i = 0; i < k->cout; i++)
        b[i] = scale * val((unsigned)i, 3);
    for (size_t i = 0; i < ny; i++)
        y[i] = 1e30f; /* every output must be written */

    tc_wino wp = {0};
    assert_true(tc_wino_plan(&wp, k->cin, k->cout, k->h, k->w, oh, ow, k->pt, k->pl));
    assert_true(tc_wino_prepare(&wp, kern, wt));
    void *raw = NULL;
    float *scratch = tc_gemm_buffer(wp.scratch_bytes / sizeof(float) + 1, &raw);
    assert_non_null(scratch);
    const tc_act act = {.kind = k->relu ? TC_ACT_RELU : TC_ACT_IDENTITY};
    tc_wino_forward(&wp, x, 1, k->bias ? b : NULL, &act, y, scratch, NULL);

    for (size_t o = 0; o < k->cout; o++) {
        for (size_t i = 0; i < oh; i++) {
            for (size_t j = 0; j < ow; j++) {
                double want = k->bias ? b[o] : 0.0;
                for (size_t c = 0; c < k->cin; c++) {
                    for (size_t u = 0; u < 3; u++) {
                        for (size_t v = 0; v < 3; v++) {
                            const long iy = (long)(i + u) - (long)k->pt;
                            const long ix = (long)(j + v) - (long)k->pl;
                            if (iy < 0 || ix < 0 || iy >= (long)k->h || ix >= (long)k->w)
                                continue;
                            want += (double)wt[((o * k->cin + c) * 3 + u) * 3 + v] *
                                    x[(c * k->h + (size_t)iy) * k->w + (size_t)ix];
                        }
                    }
                }
                if (k->relu && want < 0)
                    want = 0;
                const double got = y[(o * oh + i) * ow + j];
                if (!(fabs(got - want) <= 1e-5 + 1e-4 * fabs(want)))
                    fail_msg("kernel %s, cin %zu cout %zu %zux%zu: y[%zu][%zu][%zu] = %.9g, "
                             "want %.9g",
                             kern->name, k->cin, k->cout, k->h, k->w, o, i, j, got, want);
            }
        }
    }
    TC_FREE(raw);
    tc_wino_free(&wp);
    test_free(x);
    test_free(wt);
    test_free(b);
    test_free(y);
}

static void run_cases(const wcase *cases, size_t n)
{
    int tested = 0;
    for (int q = 0; q < 3; q++) {
        const tc_gemm_kernel *kern = kernel_at(q);
        if (kern == NULL)
            continue;
        tested++;
        for (size_t i = 0; i < n; i++)
            check_case(kern, &cases[i]);
    }
    assert_true(tested >= 1);
}

static void test_winograd_same_padding(void **state)
{
    (void)state;
    static const wcase cases[] = {
        {16, 16, 8, 8, 1, 1, 1, 1, true, false},
        {32, 64, 14, 14, 1, 1, 1, 1, true, true},
        {17, 19, 7, 9, 1, 1, 1, 1, false, true},
        {16, 16, 16, 15, 1, 1, 1, 1, true, true}, /* rows of 8 tiles: two fill a vector */
        {16, 16, 1, 1, 1, 1, 1, 1, true, false}, /* 1x1 output from a 1x1 input */
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_winograd_valid_and_asymmetric(void **state)
{
    (void)state;
    static const wcase cases[] = {
        {16, 24, 7, 9, 0, 0, 0, 0, true, false},  /* 5x7: odd output both ways */
        {20, 16, 3, 3, 0, 0, 0, 0, true, true},   /* 1x1 output */
        {16, 17, 3, 4, 0, 0, 0, 0, false, false}, /* 1x2 output */
        {17, 19, 5, 6, 1, 0, 2, 1, true, false},  /* top 1, left 0, bottom 2, right 1 */
        {16, 16, 6, 5, 2, 2, 0, 0, true, true},   /* padding only at the start */
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* 64 + 64 channels give blocks of well under 380 tiles: several blocks, the last one partial. */
static void test_winograd_many_blocks(void **state)
{
    (void)state;
    static const wcase cases[] = {
        {64, 64, 40, 37, 1, 1, 1, 1, true, true},
        {64, 128, 14, 14, 1, 1, 1, 1, true, false},
    };
    tc_wino wp = {0};
    assert_true(tc_wino_plan(&wp, 64, 64, 40, 37, 40, 37, 1, 1));
    assert_true(wp.tb < wp.ty * wp.tx); /* more than one block */
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Planning refuses inputs whose padded copy would be too large. */
static void test_winograd_plan_limits(void **state)
{
    (void)state;
    tc_wino wp = {0};
    assert_false(tc_wino_plan(&wp, 4096, 16, 1024, 1024, 1024, 1024, 1, 1));
    assert_true(tc_wino_plan(&wp, 16, 16, 28, 28, 28, 28, 1, 1));
    assert_int_equal(wp.ty, 14);
    assert_int_equal(wp.tx, 14);
}

/* Splitting a run over a pool of 2 or 3 threads gives the same bits as one thread, with
 * several blocks of tiles and a channel count that does not divide evenly. */
static void test_winograd_threads_same_bits(void **state)
{
    (void)state;
    const size_t cin = 67, cout = 35, h = 30, w = 29;
    float *x = test_malloc(cin * h * w * sizeof *x);
    float *wt = test_malloc(cout * cin * 9 * sizeof *wt);
    float *b = test_malloc(cout * sizeof *b);
    float *y1 = test_malloc(cout * h * w * sizeof *y1);
    float *yn = test_malloc(cout * h * w * sizeof *yn);
    for (size_t i = 0; i < cin * h * w; i++)
        x[i] = val((unsigned)i, 8);
    for (size_t i = 0; i < cout * cin * 9; i++)
        wt[i] = val((unsigned)i, 9) / 25.0f;
    for (size_t i = 0; i < cout; i++)
        b[i] = val((unsigned)i, 10);
    tc_wino wp = {0};
    assert_true(tc_wino_plan(&wp, cin, cout, h, w, h, w, 1, 1));
    assert_true(tc_wino_prepare(&wp, tc_gemm_best(), wt));
    void *raw = NULL;
    float *scratch = tc_gemm_buffer(wp.scratch_bytes / sizeof(float) + 1, &raw);
    assert_non_null(scratch);
    const tc_act act = {.kind = TC_ACT_RELU};
    tc_wino_forward(&wp, x, 1, b, &act, y1, scratch, NULL);
    for (int n = 2; n <= 3; n++) {
        tc_pool *pool = NULL;
        tc_error err;
        assert_int_equal(tc_pool_create(n, &pool, &err), TC_OK);
        memset(yn, 0, cout * h * w * sizeof *yn);
        tc_wino_forward(&wp, x, 1, b, &act, yn, scratch, pool);
        tc_pool_free(pool);
        assert_memory_equal(y1, yn, cout * h * w * sizeof *yn);
    }
    TC_FREE(raw);
    tc_wino_free(&wp);
    test_free(x);
    test_free(wt);
    test_free(b);
    test_free(y1);
    test_free(yn);
}

/* A batch shares blocks of tiles across samples: every sample of a batch gives the same bits as
 * when run alone, for small images (a block holds several samples and ends mid-sample) and
 * large ones (a sample spans blocks), on one thread and on a pool of 2. */
static void test_winograd_batch_same_bits(void **state)
{
    (void)state;
    /* image side, batch, input channels: a block holds several samples; a sample spans
     * blocks; padded copies too large for two slots (blocks end with each sample) */
    static const size_t sizes[][3] = {{9, 23, 40}, {40, 3, 40}, {180, 2, 64}};
    const size_t cout = 24;
    for (size_t si = 0; si < 3; si++) {
        const size_t hw = sizes[si][0], batch = sizes[si][1], cin = sizes[si][2];
        const size_t nx = cin * hw * hw, ny = cout * hw * hw;
        float *x = test_malloc(batch * nx * sizeof *x);
        float *wt = test_malloc(cout * cin * 9 * sizeof *wt);
        float *b = test_malloc(cout * sizeof *b);
        float *y1 = test_malloc(ny * sizeof *y1);
        float *yb = test_malloc(batch * ny * sizeof *yb);
        for (size_t i = 0; i < batch * nx; i++)
            x[i] = val((unsigned)i, 11);
        for (size_t i = 0; i < cout * cin * 9; i++)
            wt[i] = val((unsigned)i, 12) / 20.0f;
        for (size_t i = 0; i < cout; i++)
            b[i] = val((unsigned)i, 13);
        tc_wino wp = {0};
        assert_true(tc_wino_plan(&wp, cin, cout, hw, hw, hw, hw, 1, 1));
        assert_true(tc_wino_prepare(&wp, tc_gemm_best(), wt));
        /* the cases must exercise what they claim */
        assert_true(si == 0   ? wp.tb % wp.tiles != 0 && wp.tb < batch * wp.tiles
                    : si == 1 ? wp.tiles > wp.tb && wp.nimg == 2
                              : wp.nimg == 1);
        void *raw = NULL;
        float *scratch = tc_gemm_buffer(wp.scratch_bytes / sizeof(float) + 1, &raw);
        assert_non_null(scratch);
        const tc_act act = {.kind = TC_ACT_RELU};
        tc_pool *pool = NULL;
        tc_error err;
        assert_int_equal(tc_pool_create(2, &pool, &err), TC_OK);
        for (int threads = 1; threads <= 2; threads++) {
            memset(yb, 0, batch * ny * sizeof *yb);
            tc_wino_forward(&wp, x, batch, b, &act, yb, scratch, threads == 2 ? pool : NULL);
            for (size_t s = 0; s < batch; s++) {
                tc_wino_forward(&wp, x + s * nx, 1, b, &act, y1, scratch, NULL);
                assert_memory_equal(y1, yb + s * ny, ny * sizeof *y1);
            }
        }
        tc_pool_free(pool);
        TC_FREE(raw);
        tc_wino_free(&wp);
        test_free(x);
        test_free(wt);
        test_free(b);
        test_free(y1);
        test_free(yb);
    }
}

/* maxpool2d's rule (layers/pool.c): the larger, or a NaN if either is one. */
static float max_nan(float a, float b)
{
    return (b > a || b != b) ? b : a;
}

/* tc_wino_pool: the pooled output has the same bits as pooling the written output with
 * maxpool2d's 2x2 stride-2 rule (floor: an odd last row or column is dropped), with and without
 * relu, for every kernel this CPU has, over a batch, also when an input is NaN. */
static void test_winograd_pool_same_bits(void **state)
{
    (void)state;
    static const size_t sizes[][2] = {{14, 14}, {7, 7}, {9, 8}, {2, 3}};
    const size_t cin = 17, batch = 3;
    /* 32 channels: AVX-512 blocks of few tiles take them as the rows of the products (the
     * plain output still takes them as columns), with 14x14, 9x8 and 2x3 */
    for (int ki = 0; ki < 3 * 2; ki++) {
        const tc_gemm_kernel *kern = kernel_at(ki % 3);
        const size_t cout = ki < 3 ? 19 : 32;
        if (kern == NULL)
            continue;
        for (size_t si = 0; si < 4; si++) {
            for (int variant = 0; variant < 3; variant++) { /* identity, relu, relu + NaN */
                const size_t h = sizes[si][0], w = sizes[si][1], ph = h / 2, pw = w / 2;
                const size_t nx = cin * h * w, ny = cout * h * w, np = cout * ph * pw;
                float *x = test_malloc(batch * nx * sizeof *x);
                float *wt = test_malloc(cout * cin * 9 * sizeof *wt);
                float *b = test_malloc(cout * sizeof *b);
                float *y = test_malloc(batch * ny * sizeof *y);
                float *yp = test_malloc(batch * np * sizeof *yp);
                for (size_t i = 0; i < batch * nx; i++)
                    x[i] = val((unsigned)i, 14);
                if (variant == 2)
                    x[nx + 5] = NAN;
                for (size_t i = 0; i < cout * cin * 9; i++)
                    wt[i] = val((unsigned)i, 15) / 10.0f;
                for (size_t i = 0; i < cout; i++)
                    b[i] = val((unsigned)i, 16);
                tc_wino plain = {0}, pooled = {0};
                assert_true(tc_wino_plan(&plain, cin, cout, h, w, h, w, 1, 1));
                tc_wino_pool(&pooled);
                assert_true(tc_wino_plan(&pooled, cin, cout, h, w, h, w, 1, 1));
                assert_true(pooled.pool);
                assert_true(tc_wino_prepare(&plain, kern, wt));
                assert_true(tc_wino_prepare(&pooled, kern, wt));
                void *raw = NULL;
                float *scratch = tc_gemm_buffer(plain.scratch_bytes / sizeof(float) + 1, &raw);
                assert_non_null(scratch);
                const tc_act act = {.kind = variant == 0 ? TC_ACT_IDENTITY : TC_ACT_RELU};
                tc_wino_forward(&plain, x, batch, b, &act, y, scratch, NULL);
                for (size_t i = 0; i < batch * np; i++)
                    yp[i] = 12345.0f; /* every pooled value must be written */
                tc_wino_forward(&pooled, x, batch, b, &act, yp, scratch, NULL);
                if (cout == 32 && kern->vl == 16 && pooled.tiles % 16 != 0) {
                    assert_non_null(pooled.ut);
                    /* 14x14 (147 tiles) and 9x8 (60) take the tiles as rows, 2x3 (6) too */
                    assert_true(tc_wino_tiles_as_rows(&pooled, batch * pooled.tiles));
                    float *y2 = test_malloc(batch * np * sizeof *y2); /* the same on 2 threads */
                    tc_pool *tp = NULL;
                    tc_error err;
                    assert_int_equal(tc_pool_create(2, &tp, &err), TC_OK);
                    tc_wino_forward(&pooled, x, batch, b, &act, y2, scratch, tp);
                    tc_pool_free(tp);
                    assert_memory_equal(y2, yp, batch * np * sizeof *yp);
                    test_free(y2);
                }
                for (size_t plane = 0; plane < batch * cout; plane++) {
                    for (size_t i = 0; i < ph; i++) {
                        for (size_t j = 0; j < pw; j++) {
                            const float *r0 = y + plane * h * w + 2 * i * w + 2 * j;
                            float want = max_nan(-INFINITY, r0[0]);
                            want = max_nan(want, r0[1]);
                            want = max_nan(want, r0[w]);
                            want = max_nan(want, r0[w + 1]);
                            const float got = yp[plane * ph * pw + i * pw + j];
                            if (memcmp(&got, &want, sizeof got) != 0)
                                fail_msg("kernel %d, %zux%zu, variant %d: plane %zu (%zu, %zu): "
                                         "%g, want %g", ki, h, w, variant, plane, i, j,
                                         (double)got, (double)want);
                        }
                    }
                }
                TC_FREE(raw);
                tc_wino_free(&plain);
                tc_wino_free(&pooled);
                test_free(x);
                test_free(wt);
                test_free(b);
                test_free(y);
                test_free(yp);
            }
        }
    }
}

/* Appends a nested JSON array of n values (shape dims) from val(.., salt) / div to buf. */
static size_t put_weights(char *buf, size_t at, size_t cap, const int *dims, int nd, unsigned salt,
                          float div, unsigned *idx)
{
    at += (size_t)snprintf(buf + at, cap - at, "[");
    for (int i = 0; i < dims[0]; i++) {
        if (i > 0)
            at += (size_t)snprintf(buf + at, cap - at, ",");
        if (nd == 1)
            at += (size_t)snprintf(buf + at, cap - at, "%.6g", (double)(val((*idx)++, salt) / div));
        else
            at = put_weights(buf, at, cap, dims + 1, nd - 1, salt, div, idx);
    }
    return at + (size_t)snprintf(buf + at, cap - at, "]");
}

/* A whole model through the runtime: a grey first layer (direct path) and two Winograd layers;
 * batch 1 on 2 and 3 threads (the layers split their work over the pool) and batch 3 give the
 * same bits as batch 1 on one thread, sample by sample. */
static void test_winograd_model_threads_and_batches(void **state)
{
    (void)state;
    static const int w0[] = {16, 1, 3, 3}, w1[] = {16, 16, 3, 3}, w2[] = {17, 16, 3, 3};
    const size_t cap = 200000;
    char *json = test_malloc(cap);
    unsigned idx = 0;
    size_t at = (size_t)snprintf(json, cap,
                                 "{\"format\": \"tinycnn\", \"version\": 1, \"input\": "
                                 "{\"shape\": [1, 12, 11]}, \"layers\": [{\"name\": \"a\", "
                                 "\"type\": \"conv2d\", \"in_channels\": 1, \"out_channels\": "
                                 "16, \"kernel_size\": 3, \"padding\": 1, \"activation\": "
                                 "\"relu\", \"weight\": ");
    at = put_weights(json, at, cap, w0, 4, 11, 3.0f, &idx);
    at += (size_t)snprintf(json + at, cap - at,
                           "}, {\"name\": \"b\", \"type\": \"conv2d\", \"in_channels\": 16, "
                           "\"out_channels\": 16, \"kernel_size\": 3, \"padding\": 1, "
                           "\"activation\": \"relu\", \"weight\": ");
    at = put_weights(json, at, cap, w1, 4, 12, 12.0f, &idx);
    at += (size_t)snprintf(json + at, cap - at,
                           "}, {\"name\": \"c\", \"type\": \"conv2d\", \"in_channels\": 16, "
                           "\"out_channels\": 17, \"kernel_size\": 3, \"weight\": ");
    at = put_weights(json, at, cap, w2, 4, 13, 12.0f, &idx);
    at += (size_t)snprintf(json + at, cap - at, "}]}");
    assert_true(at < cap);
    tc_model *model = tct_load(json);
    const size_t in_n = tc_model_input_numel(model), out_n = tc_model_output_numel(model, 0);
    assert_int_equal(out_n, 17 * 10 * 9);
    float *x = test_malloc(3 * in_n * sizeof *x);
    for (size_t i = 0; i < 3 * in_n; i++)
        x[i] = val((unsigned)i, 14);
    float *want = test_malloc(3 * out_n * sizeof *want);
    tc_error err;
    for (int t = 1; t <= 3; t++) {
        tc_workspace *ws = NULL;
        assert_int_equal(tc_workspace_create(model, 3, &ws, &err), TC_OK);
        assert_int_equal(tc_workspace_set_threads(ws, t, &err), TC_OK);
        for (size_t b = 0; b < 3; b++) {
            assert_int_equal(tc_model_run(model, ws, x + b * in_n, 1, &err), TC_OK);
            if (t == 1)
                memcpy(want + b * out_n, tc_workspace_output(ws, 0), out_n * sizeof *want);
            else
                assert_memory_equal(tc_workspace_output(ws, 0), want + b * out_n,
                                    out_n * sizeof *want);
        }
        assert_int_equal(tc_model_run(model, ws, x, 3, &err), TC_OK);
        assert_memory_equal(tc_workspace_output(ws, 0), want, 3 * out_n * sizeof *want);
        tc_workspace_free(ws);
    }
    tc_model_free(model);
    test_free(x);
    test_free(want);
    test_free(json);
}

/* Direct path: y from a padded plane xpad [hp, wp] against the double loop. */
static void check_direct(size_t oh, size_t ow, size_t kh, size_t kw, size_t dh, size_t dw,
                         size_t cout, bool relu)
{
    const size_t hp = oh + (kh - 1) * dh, wp = ow + (kw - 1) * dw + 3; /* wider than needed */
    float *x = test_malloc(hp * wp * sizeof *x);
    float *wt = test_malloc(cout * kh * kw * sizeof *wt);
    float *b = test_malloc(cout * sizeof *b);
    float *y = test_malloc(cout * oh * ow * sizeof *y);
    for (size_t i = 0; i < hp * wp; i++)
        x[i] = val((unsigned)i, 5);
    for (size_t i = 0; i < cout * kh * kw; i++)
        wt[i] = val((unsigned)i, 6) / 3.0f;
    for (size_t i = 0; i < cout; i++)
        b[i] = val((unsigned)i, 7);
    for (size_t i = 0; i < cout * oh * ow; i++)
        y[i] = 1e30f;
    tc_conv_direct1(x, wp, oh, ow, kh, kw, dh, dw, wt, b, cout, relu, y);
    for (size_t o = 0; o < cout; o++) {
        for (size_t i = 0; i < oh; i++) {
            for (size_t j = 0; j < ow; j++) {
                double want = b[o];
                for (size_t u = 0; u < kh; u++)
                    for (size_t v = 0; v < kw; v++)
                        want +=
                            (double)wt[(o * kh + u) * kw + v] * x[(i + u * dh) * wp + j + v * dw];
                if (relu && want < 0)
                    want = 0;
                const double got = y[(o * oh + i) * ow + j];
                if (!(fabs(got - want) <= 1e-5 + 1e-4 * fabs(want)))
                    fail_msg("direct %zux%zu k %zux%zu d %zu,%zu cout %zu: y[%zu][%zu][%zu] = "
                             "%.9g, want %.9g",
                             oh, ow, kh, kw, dh, dw, cout, o, i, j, got, want);
            }
        }
    }
    test_free(x);
    test_free(wt);
    test_free(b);
    test_free(y);
}

/* Which blocks take the tiles as the rows of their products: the one-image block of a 14x14
 * pooled layer (49 tiles: 49 of 64 columns, 49 of 54 rows) does, whole vectors of tiles do
 * not, nor a layer whose blocks are always whole vectors (7x7: 16 tiles per image) or whose
 * output is not pooled. */
static void test_winograd_tiles_as_rows_choice(void **state)
{
    (void)state;
    const tc_gemm_kernel *kern = tc_gemm_kernel_avx512();
    if (kern == NULL)
        skip();
    float *wt = test_calloc(96 * 48 * 9, sizeof *wt);
    tc_wino a = {0}, b = {0}, c = {0};
    tc_wino_pool(&a);
    tc_wino_pool(&b);
    assert_true(tc_wino_plan(&a, 32, 64, 14, 14, 14, 14, 1, 1)); /* the Fashion CNN's conv2 */
    assert_true(tc_wino_plan(&b, 48, 96, 7, 7, 7, 7, 1, 1));
    assert_true(tc_wino_plan(&c, 32, 64, 14, 14, 14, 14, 1, 1)); /* not pooled */
    assert_true(tc_wino_prepare(&a, kern, wt));
    assert_true(tc_wino_prepare(&b, kern, wt));
    assert_true(tc_wino_prepare(&c, kern, wt));
    assert_true(tc_wino_tiles_as_rows(&a, 49));
    assert_true(tc_wino_tiles_as_rows(&a, 98));
    assert_false(tc_wino_tiles_as_rows(&a, 64));
    assert_false(tc_wino_tiles_as_rows(&a, a.tb));
    assert_null(b.ut);
    assert_false(tc_wino_tiles_as_rows(&b, 16));
    assert_false(tc_wino_tiles_as_rows(&c, 49));
    tc_wino_free(&a);
    tc_wino_free(&b);
    tc_wino_free(&c);
    test_free(wt);
}

/* tc_conv_direct1_pool gives the same bits as tc_conv_direct1 followed by maxpool2d's 2x2
 * stride-2 rule (floor), also with a NaN input and channel counts leaving a partial block. */
static void check_direct_pool(size_t oh, size_t ow, size_t kh, size_t kw, size_t cout, bool relu,
                              bool with_nan)
{
    const size_t hp = oh + kh - 1, wp = ow + kw - 1, ph = oh / 2, pw = ow / 2;
    float *x = test_malloc(hp * wp * sizeof *x);
    float *wt = test_malloc(cout * kh * kw * sizeof *wt);
    float *b = test_malloc(cout * sizeof *b);
    float *y = test_malloc(cout * oh * ow * sizeof *y);
    float *yp = test_malloc((cout * ph * pw + 1) * sizeof *yp);
    for (size_t i = 0; i < hp * wp; i++)
        x[i] = val((unsigned)i, 17);
    if (with_nan)
        x[wp + 2] = NAN;
    for (size_t i = 0; i < cout * kh * kw; i++)
        wt[i] = val((unsigned)i, 18) / 3.0f;
    for (size_t i = 0; i < cout; i++)
        b[i] = val((unsigned)i, 19);
    for (size_t i = 0; i <= cout * ph * pw; i++)
        yp[i] = 12345.0f;
    tc_conv_direct1(x, wp, oh, ow, kh, kw, 1, 1, wt, b, cout, relu, y);
    tc_conv_direct1_pool(x, wp, oh, ow, kh, kw, 1, 1, wt, b, cout, relu, yp);
    for (size_t o = 0; o < cout; o++) {
        for (size_t i = 0; i < ph; i++) {
            for (size_t j = 0; j < pw; j++) {
                const float *r0 = y + (o * oh + 2 * i) * ow + 2 * j;
                float want = max_nan(-INFINITY, r0[0]);
                want = max_nan(want, r0[1]);
                want = max_nan(want, r0[ow]);
                want = max_nan(want, r0[ow + 1]);
                const float got = yp[(o * ph + i) * pw + j];
                if (memcmp(&got, &want, sizeof got) != 0)
                    fail_msg("direct pool %zux%zu cout %zu: [%zu][%zu][%zu] = %g, want %g", oh,
                             ow, cout, o, i, j, (double)got, (double)want);
            }
        }
    }
    assert_true(yp[cout * ph * pw] == 12345.0f); /* nothing written past the end */
    test_free(x);
    test_free(wt);
    test_free(b);
    test_free(y);
    test_free(yp);
}

static void test_direct_pool_same_bits(void **state)
{
    (void)state;
    if (!tc_conv_direct1_available())
        skip();
    check_direct_pool(28, 28, 3, 3, 32, true, false);
    check_direct_pool(28, 28, 3, 3, 32, false, true); /* 3x3 taps unrolled; a NaN */
    check_direct_pool(28, 28, 5, 5, 6, true, true); /* LeNet's first layer; a NaN */
    check_direct_pool(9, 35, 3, 3, 11, false, false); /* odd sizes, 8 + 3 channels */
    check_direct_pool(3, 2, 3, 3, 17, true, true);
}

static void test_direct_one_channel(void **state)
{
    (void)state;
    if (!tc_conv_direct1_available())
        skip();
    check_direct(28, 28, 3, 3, 1, 1, 32, true);
    check_direct(5, 17, 3, 3, 1, 1, 11, false); /* one block of 8 and 3 single channels */
    check_direct(1, 1, 5, 3, 2, 1, 1, true);
    check_direct(9, 33, 2, 4, 1, 3, 16, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winograd_same_padding),
        cmocka_unit_test(test_winograd_valid_and_asymmetric),
        cmocka_unit_test(test_winograd_many_blocks),
        cmocka_unit_test(test_winograd_plan_limits),
        cmocka_unit_test(test_direct_one_channel),
        cmocka_unit_test(test_winograd_tiles_as_rows_choice),
        cmocka_unit_test(test_direct_pool_same_bits),
        cmocka_unit_test(test_winograd_threads_same_bits),
        cmocka_unit_test(test_winograd_batch_same_bits),
        cmocka_unit_test(test_winograd_pool_same_bits),
        cmocka_unit_test(test_winograd_model_threads_and_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
