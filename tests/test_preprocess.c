/*
 * test_preprocess.c - tc_image_to_tensor against independently computed values: BT.601 luma,
 * alpha over the background, invert / scale / mean / std (one value or per channel), resize by
 * area averaging (integer and fractional factors), bilinear enlarging, both at once, letterbox,
 * center crop, the [H, W] input shape, and refusing input shapes that are not images.
 *
 * Resize references were computed with /usr/bin/python3 (numpy 1.24, torch 1.13):
 *
 *   import numpy as np, torch, torch.nn.functional as F
 *   def img(w, h, f): return np.array([[f(x, y) for x in range(w)] for y in range(h)], float)
 *   def t(a): return torch.tensor(a, dtype=torch.float64)[None, None]
 *   a = img(6, 4, lambda x, y: (x * 37 + y * 11) % 256)            # integer shrink
 *   F.adaptive_avg_pool2d(t(a), (2, 3))      # == F.interpolate(t(a), size=(2, 3), mode="area")
 *   b = img(6, 6, lambda x, y: (x * x * 7 + y * 29) % 256)
 *   F.adaptive_avg_pool2d(t(b), (3, 2))
 *   e = np.array([[10, 50], [90, 250]], float)                      # enlarge
 *   F.interpolate(t(e), size=(4, 4), mode="bilinear", align_corners=False)
 *   f = img(2, 3, lambda x, y: x * 100 + y * 30 + 5)
 *   F.interpolate(t(f), size=(7, 5), mode="bilinear", align_corners=False)
 *   # fractional shrink (torch's "area" is not exact coverage there): exact area coverage,
 *   # separable, out = Ay @ img @ Ax.T
 *   def area_matrix(n_src, n_dst):
 *       s = n_src / n_dst; m = np.zeros((n_dst, n_src))
 *       for i in range(n_dst):
 *           for j in range(n_src):
 *               m[i, j] = max(0.0, min((i + 1) * s, j + 1) - max(i * s, j)) / s
 *       return m
 *   c = img(5, 3, lambda x, y: (x * 50 + y * 7) % 256)
 *   area_matrix(3, 2) @ c @ area_matrix(5, 2).T
 *   d = img(7, 1, lambda x, y: x * x * 5); d @ area_matrix(7, 3).T
 *   # both at once: width 4 -> 2 by area, height 2 -> 3 bilinear (bilinear_matrix(n_src, n_dst)
 *   # is torch's align_corners=False weights; it matches F.interpolate to 3e-14)
 *   g = img(4, 2, lambda x, y: x * 20 + y * 100); bilinear_matrix(2, 3) @ g @ area_matrix(4, 2).T
 *
 * Letterbox and center crop cases are worked out by hand next to each case.
 */
#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

static tc_preprocess pp_default(void)
{
    tc_preprocess pp;
    memset(&pp, 0, sizeof pp);
    pp.scale = 1.0f;
    for (int c = 0; c < TC_MAX_CHANNELS; c++)
        pp.std[c] = 1.0f;
    return pp;
}

static tc_shape shape3(int c, int h, int w)
{
    tc_shape s = {3, {c, h, w, 0}};
    return s;
}

static tc_image image(int w, int h, int c, uint8_t *pixels)
{
    tc_image img = {w, h, c, pixels};
    return img;
}

/* Fills a w x h gray image with f(x, y) = (ax * x + ay * y + ax2 * x * x) mod 256. */
static void fill(uint8_t *px, int w, int h, int ax, int ay, int ax2)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[y * w + x] = (uint8_t)((ax * x + ay * y + ax2 * x * x) % 256);
}

/* Runs tc_image_to_tensor and compares with want (numel of `in` values). */
static void check(const tc_image *img, const tc_preprocess *pp, tc_shape in, const float *want)
{
    size_t n = 1;
    for (int i = 0; i < in.ndim; i++)
        n *= (size_t)in.dim[i];
    float *got = test_malloc(n * sizeof *got);
    tc_error err;
    char line[512];
    if (tc_image_to_tensor(img, pp, in, got, &err) != TC_OK)
        fail_msg("tc_image_to_tensor failed: %s", tc_error_format(&err, line, sizeof line));
    tct_assert_close(got, want, n, ATOL, RTOL);
    test_free(got);
}

static void luma_bt601_and_gray_to_rgb(void **state)
{
    (void)state;
    uint8_t rgb[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30};
    tc_image img = image(4, 1, 3, rgb);
    tc_preprocess pp = pp_default();
    /* 0.299 R + 0.587 G + 0.114 B; 10, 200, 30: 2.99 + 117.4 + 3.42 */
    const float luma[] = {76.245f, 149.685f, 29.07f, 123.81f};
    check(&img, &pp, shape3(1, 1, 4), luma);
    const float planar[] = {255, 0, 0, 10, 0, 255, 0, 200, 0, 0, 255, 30}; /* C, H, W */
    check(&img, &pp, shape3(3, 1, 4), planar);
    uint8_t gray[] = {0, 77, 255};
    img = image(3, 1, 1, gray);
    const float gray3[] = {0, 77, 255, 0, 77, 255, 0, 77, 255};
    check(&img, &pp, shape3(3, 1, 3), gray3);
}

static void alpha_over_background(void **state)
{
    (void)state;
    /* RGBA (200, 100, 50, a) and gray+alpha (90, a) over background 30: v a + 30 (1 - a) */
    uint8_t rgba[] = {200, 100, 50, 128, 200, 100, 50, 0, 200, 100, 50, 255};
    uint8_t ga[] = {90, 128, 90, 0, 90, 255};
    tc_preprocess pp = pp_default();
    pp.background = 30;
    double a = 128.0 / 255.0;
    double luma = 0.299 * 200 + 0.587 * 100 + 0.114 * 50; /* 124.2 */
    const float want_rgb[] = {(float)(200 * a + 30 * (1 - a)), 30, 200,
                              (float)(100 * a + 30 * (1 - a)), 30, 100,
                              (float)(50 * a + 30 * (1 - a)),  30, 50};
    const float want_luma[] = {(float)(luma * a + 30 * (1 - a)), 30, (float)luma};
    const float want_ga[] = {(float)(90 * a + 30 * (1 - a)), 30, 90};
    tc_image img = image(3, 1, 4, rgba);
    check(&img, &pp, shape3(3, 1, 3), want_rgb);
    check(&img, &pp, shape3(1, 1, 3), want_luma);
    img = image(3, 1, 2, ga);
    check(&img, &pp, shape3(1, 1, 3), want_ga);
}

static void invert_scale_mean_std(void **state)
{
    (void)state;
    uint8_t gray[] = {200, 0};
    tc_image img = image(2, 1, 1, gray);
    tc_preprocess pp = pp_default();
    pp.invert = 1;
    pp.scale = 1.0f / 255.0f;
    pp.n_mean = 1;
    pp.mean[0] = 0.5f;
    pp.std[0] = 0.25f;
    /* 200 -> 55 -> 55/255 -> (0.2156863 - 0.5) / 0.25; 0 -> 255 -> 1 -> 2 */
    const float want[] = {(float)((55.0 / 255.0 - 0.5) / 0.25), 2.0f};
    check(&img, &pp, shape3(1, 1, 2), want);
    /* per channel, the ImageNet constants: (255, 128, 0) / 255 */
    uint8_t rgb[] = {255, 128, 0};
    img = image(1, 1, 3, rgb);
    pp = pp_default();
    pp.scale = 1.0f / 255.0f;
    pp.n_mean = 3;
    const float m[] = {0.485f, 0.456f, 0.406f};
    const float s[] = {0.229f, 0.224f, 0.225f};
    memcpy(pp.mean, m, sizeof m);
    memcpy(pp.std, s, sizeof s);
    const float want_rgb[] = {(float)((1.0 - 0.485) / 0.229),
                              (float)((128 / 255.0 - 0.456) / 0.224),
                              (float)((0.0 - 0.406) / 0.225)};
    check(&img, &pp, shape3(3, 1, 1), want_rgb);
}

static void one_mean_std_value_means_all_channels(void **state)
{
    (void)state;
    /* tinycnn.h: n_mean 1 means mean[0] and std[0] apply to all channels, 0 means none; a C
     * caller filling tc_preprocess need not repeat them */
    uint8_t rgb[] = {100, 150, 200};
    tc_image img = image(1, 1, 3, rgb);
    tc_preprocess pp;
    memset(&pp, 0, sizeof pp);
    pp.scale = 1.0f;
    pp.n_mean = 1;
    pp.mean[0] = 50.0f;
    pp.std[0] = 2.0f;
    const float want[] = {25, 50, 75};
    check(&img, &pp, shape3(3, 1, 1), want);
    pp.n_mean = 0;
    const float want_none[] = {100, 150, 200};
    check(&img, &pp, shape3(3, 1, 1), want_none);
}

static void shrink_by_integer_factors(void **state)
{
    (void)state;
    uint8_t a[6 * 4];
    uint8_t b[6 * 6];
    fill(a, 6, 4, 37, 11, 0);
    fill(b, 6, 6, 0, 29, 7);
    tc_preprocess pp = pp_default();
    const float want_a[] = {24, 98, 172, 46, 120, 194};
    tc_image img = image(6, 4, 1, a);
    check(&img, &pp, shape3(1, 2, 3), want_a);
    const float want_b[] = {26.166666667f, 131.166666667f, 84.166666667f,
                            146.5f,        142.166666667f, 119.166666667f};
    img = image(6, 6, 1, b);
    check(&img, &pp, shape3(1, 3, 2), want_b);
}

static void shrink_by_fractional_factors(void **state)
{
    (void)state;
    uint8_t c[5 * 3];
    uint8_t d[7];
    fill(c, 5, 3, 50, 7, 0);
    fill(d, 7, 1, 0, 0, 5);
    tc_preprocess pp = pp_default();
    const float want_c[] = {42.333333333f, 162.333333333f, 51.666666667f, 171.666666667f};
    tc_image img = image(5, 3, 1, c);
    check(&img, &pp, shape3(1, 2, 2), want_c);
    const float want_d[] = {5.0f, 47.857142857f, 142.142857143f};
    img = image(7, 1, 1, d);
    check(&img, &pp, shape3(1, 1, 3), want_d);
}

static void enlarge_bilinear_and_mixed(void **state)
{
    (void)state;
    uint8_t e[] = {10, 50, 90, 250};
    tc_preprocess pp = pp_default();
    const float want_e[] = {10, 20,  40,    50,    30, 47.5f, 82.5f, 100,
                            70, 102.5f, 167.5f, 200, 90, 130,  210,  250};
    tc_image img = image(2, 2, 1, e);
    check(&img, &pp, shape3(1, 4, 4), want_e);
    uint8_t f[2 * 3];
    for (int i = 0; i < 6; i++)
        f[i] = (uint8_t)(i % 2 * 100 + i / 2 * 30 + 5);
    const float want_f[] = {
        5,             15,            55,            95,            105,
        9.285714286f,  19.285714286f, 59.285714286f, 99.285714286f, 109.285714286f,
        22.142857143f, 32.142857143f, 72.142857143f, 112.142857143f, 122.142857143f,
        35,            45,            85,            125,           135,
        47.857142857f, 57.857142857f, 97.857142857f, 137.857142857f, 147.857142857f,
        60.714285714f, 70.714285714f, 110.714285714f, 150.714285714f, 160.714285714f,
        65,            75,            115,           155,           165};
    img = image(2, 3, 1, f);
    check(&img, &pp, shape3(1, 7, 5), want_f);
    uint8_t g[4 * 2];
    fill(g, 4, 2, 20, 100, 0);
    const float want_g[] = {10, 50, 60, 100, 110, 150};
    img = image(4, 2, 1, g);
    check(&img, &pp, shape3(1, 3, 2), want_g);
}

static void letterbox(void **state)
{
    (void)state;
    tc_preprocess pp = pp_default();
    pp.resize = TC_RESIZE_LETTERBOX;
    pp.background = 7;
    /* 4 x 2 into 4 x 4: scale min(4/4, 4/2) = 1, box 4 x 2 at row (4 - 2) / 2 = 1 */
    uint8_t a[] = {10, 20, 30, 40, 50, 60, 70, 80};
    const float want_a[] = {7, 7, 7, 7, 10, 20, 30, 40, 50, 60, 70, 80, 7, 7, 7, 7};
    tc_image img = image(4, 2, 1, a);
    check(&img, &pp, shape3(1, 4, 4), want_a);
    /* 8 x 4 (4x + 32y) into 4 x 4: scale 1/2, box 4 x 2 at row 1, 2 x 2 block means
     * 4 (2i + 0.5) + 32 (2j + 0.5) = 18 + 8i + 64j */
    uint8_t b[8 * 4];
    fill(b, 8, 4, 4, 32, 0);
    const float want_b[] = {7, 7, 7, 7, 18, 26, 34, 42, 82, 90, 98, 106, 7, 7, 7, 7};
    img = image(8, 4, 1, b);
    check(&img, &pp, shape3(1, 4, 4), want_b);
    /* 3 x 1 (0 100 200) into 4 x 4: scale min(4/3, 4) = 4/3, box round(4) x round(4/3) = 4 x 1
     * at row (4 - 1) / 2 = 1; bilinear 3 -> 4: source x = (i + 0.5) * 3/4 - 0.5 = -0.125 (clamped
     * to 0), 0.625, 1.375, 2.125 (clamped to 2): 0, 62.5, 137.5, 200 */
    uint8_t c[] = {0, 100, 200};
    const float want_c[] = {7, 7, 7, 7, 0, 62.5f, 137.5f, 200, 7, 7, 7, 7, 7, 7, 7, 7};
    img = image(3, 1, 1, c);
    check(&img, &pp, shape3(1, 4, 4), want_c);
    /* the same standing up (1 x 3): box 1 x 4 at column (4 - 1) / 2 = 1 */
    const float want_d[] = {7, 0, 7, 7, 7, 62.5f, 7, 7, 7, 137.5f, 7, 7, 7, 200, 7, 7};
    img = image(1, 3, 1, c);
    check(&img, &pp, shape3(1, 4, 4), want_d);
    /* bars take part in invert and scale like the image: 255 - 7 = 248, / 2 */
    pp.invert = 1;
    pp.scale = 0.5f;
    float want_e[16];
    for (int i = 0; i < 16; i++)
        want_e[i] = (255.0f - want_c[i]) * 0.5f;
    img = image(3, 1, 1, c);
    check(&img, &pp, shape3(1, 4, 4), want_e);
}

static void center_crop(void **state)
{
    (void)state;
    tc_preprocess pp = pp_default();
    pp.resize = TC_RESIZE_CENTER_CROP;
    /* 6 x 2 (10x + y) into 2 x 2: scale max(2/6, 2/2) = 1, window 2 x 2 at column 2 */
    uint8_t a[6 * 2];
    fill(a, 6, 2, 10, 1, 0);
    const float want_a[] = {20, 30, 21, 31};
    tc_image img = image(6, 2, 1, a);
    check(&img, &pp, shape3(1, 2, 2), want_a);
    /* 8 x 4 (4x + 32y) into 2 x 2: scale max(2/8, 2/4) = 1/2, window 4 x 4 at column 2, 2 x 2
     * block means 4 (2 + 2i + 0.5) + 32 (2j + 0.5) = 26 + 8i + 64j */
    uint8_t b[8 * 4];
    fill(b, 8, 4, 4, 32, 0);
    const float want_b[] = {26, 34, 90, 98};
    img = image(8, 4, 1, b);
    check(&img, &pp, shape3(1, 2, 2), want_b);
    /* 5 x 2 (10x + 100y) into 2 x 2: scale 1, window x in [1.5, 3.5): pixel centres at source
     * x 2 and 3 in window coordinates 1.5 and 2.5, halfway between columns: (v1 + v2) / 2 ... */
    uint8_t c[5 * 2];
    fill(c, 5, 2, 10, 100, 0);
    const float want_c[] = {15, 25, 115, 125};
    img = image(5, 2, 1, c);
    check(&img, &pp, shape3(1, 2, 2), want_c);
}

static void hw_input_shape(void **state)
{
    (void)state;
    uint8_t rgb[] = {255, 0, 0, 0, 0, 255};
    tc_image img = image(2, 1, 3, rgb);
    tc_preprocess pp = pp_default();
    tc_shape hw = {2, {1, 2, 0, 0}};
    const float want[] = {76.245f, 29.07f};
    check(&img, &pp, hw, want);
}

static void refuses_non_image_shapes(void **state)
{
    (void)state;
    uint8_t px[4] = {0};
    tc_image img = image(2, 2, 1, px);
    tc_preprocess pp = pp_default();
    float out[64];
    tc_error err;
    char line[512];
    const tc_shape bad[] = {
        {1, {4, 0, 0, 0}}, {3, {2, 2, 2, 0}}, {3, {4, 2, 2, 0}}, {4, {1, 1, 2, 2}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tc_image_to_tensor(&img, &pp, bad[i], out, &err), TC_ERR_ARGUMENT);
        if (!strstr(tc_error_format(&err, line, sizeof line), "not an image"))
            fail_msg("shape %zu: unclear message \"%s\"", i, line);
    }
    assert_int_equal(tc_image_to_tensor(NULL, &pp, shape3(1, 2, 2), out, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_image_to_tensor(&img, NULL, shape3(1, 2, 2), out, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_image_to_tensor(&img, &pp, shape3(1, 2, 2), NULL, &err), TC_ERR_ARGUMENT);
    img.channels = 5;
    assert_int_equal(tc_image_to_tensor(&img, &pp, shape3(1, 2, 2), out, &err), TC_ERR_ARGUMENT);
}

static void model_preprocess_defaults_and_parsing(void **state)
{
    (void)state;
    tc_model *m = tct_load("{\"format\": \"tinycnn\", \"version\": 1,"
                           " \"input\": {\"shape\": [3, 2, 2]},"
                           " \"layers\": [{\"type\": \"flatten\"}]}");
    const tc_preprocess *d = tc_model_preprocess(m);
    assert_true(d->scale == 1.0f && d->invert == 0 && d->background == 0.0f);
    assert_int_equal(d->resize, TC_RESIZE_STRETCH);
    for (int c = 0; c < 3; c++)
        assert_true(d->mean[c] == 0.0f && d->std[c] == 1.0f);
    tc_model_free(m);
    m = tct_load("{\"format\": \"tinycnn\", \"version\": 1,"
                 " \"input\": {\"shape\": [3, 2, 2]},"
                 " \"preprocess\": {\"scale\": 0.5, \"mean\": [10], \"std\": [4], \"invert\": true,"
                 " \"background\": 255, \"resize\": \"letterbox\"},"
                 " \"layers\": [{\"type\": \"flatten\"}]}");
    /* RGBA (100, 50, 0, opaque) and a transparent pixel, 2 x 1 into 2 x 2: box 2 x 1 at row 0,
     * bar and transparent pixel are the background 255; then ((255 - v) * 0.5 - 10) / 4:
     * 255 -> -2.5, 100 -> 16.875, 50 -> 23.125, 0 -> 29.375 */
    uint8_t rgba[] = {100, 50, 0, 255, 9, 9, 9, 0};
    tc_image img = image(2, 1, 4, rgba);
    const float want[] = {16.875f, -2.5f, -2.5f, -2.5f, 23.125f, -2.5f, -2.5f, -2.5f,
                          29.375f, -2.5f, -2.5f, -2.5f};
    check(&img, tc_model_preprocess(m), tc_model_input_shape(m), want);
    tc_model_free(m);
}

/* Runs img into `in` twice: both results must be finite and bit-identical. Returns the first
 * (caller test_frees). */
static float *run_twice(const tc_image *img, const tc_preprocess *pp, tc_shape in)
{
    size_t n = (size_t)in.dim[0] * (size_t)in.dim[1] * (size_t)in.dim[2];
    float *a = test_malloc(n * sizeof *a);
    float *b = test_malloc(n * sizeof *b);
    assert_int_equal(tc_image_to_tensor(img, pp, in, a, NULL), TC_OK);
    assert_int_equal(tc_image_to_tensor(img, pp, in, b, NULL), TC_OK);
    assert_memory_equal(a, b, n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        assert_true(isfinite(a[i]));
    test_free(b);
    return a;
}

static void extreme_aspect_ratios(void **state)
{
    (void)state;
    uint8_t *line = test_malloc(1000);
    for (int x = 0; x < 1000; x++)
        line[x] = (uint8_t)(x % 256);
    /* 1000 x 1 stretched to 2 x 2: each column is the mean of 500 pixels, repeated down */
    double mean[2] = {0, 0};
    for (int x = 0; x < 1000; x++)
        mean[x / 500] += (x % 256) / 500.0;
    tc_preprocess pp = pp_default();
    tc_image img = image(1000, 1, 1, line);
    float *got = run_twice(&img, &pp, shape3(1, 2, 2));
    const float want[] = {(float)mean[0], (float)mean[1], (float)mean[0], (float)mean[1]};
    tct_assert_close(got, want, 4, ATOL, RTOL);
    test_free(got);
    for (int mode = TC_RESIZE_STRETCH; mode <= TC_RESIZE_CENTER_CROP; mode++) {
        pp.resize = (tc_resize_mode)mode;
        for (int tall = 0; tall < 2; tall++) {
            img = tall ? image(1, 1000, 1, line) : image(1000, 1, 1, line);
            test_free(run_twice(&img, &pp, shape3(3, 3, 5)));
        }
    }
    /* one pixel enlarged to 5 x 5 stays flat */
    pp.resize = TC_RESIZE_STRETCH;
    img = image(1, 1, 1, line + 77);
    got = run_twice(&img, &pp, shape3(1, 5, 5));
    for (int i = 0; i < 25; i++)
        assert_true(got[i] == 77.0f);
    test_free(got);
    test_free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(luma_bt601_and_gray_to_rgb),
        cmocka_unit_test(alpha_over_background),
        cmocka_unit_test(invert_scale_mean_std),
        cmocka_unit_test(one_mean_std_value_means_all_channels),
        cmocka_unit_test(shrink_by_integer_factors),
        cmocka_unit_test(shrink_by_fractional_factors),
        cmocka_unit_test(enlarge_bilinear_and_mixed),
        cmocka_unit_test(letterbox),
        cmocka_unit_test(center_crop),
        cmocka_unit_test(hw_input_shape),
        cmocka_unit_test(refuses_non_image_shapes),
        cmocka_unit_test(model_preprocess_defaults_and_parsing),
        cmocka_unit_test(extreme_aspect_ratios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
