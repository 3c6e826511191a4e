/*
 * test_conv2d.c - the conv2d layer: the article's worked example, PyTorch goldens (stride,
 * dilation, same / same_lower / explicit asymmetric padding, groups, depthwise, no bias, batch,
 * fused leaky_relu), a naive reference loop on seeded random cases (several im2col tiles, the
 * 1x1 path, kernels wider than the input), the reported shape and MACs, and the load errors.
 *
 * Golden inputs and weights follow pattern() below (multiples of 1/4 and 1/8, exact in float).
 * Expected values from PyTorch 1.13 (Debian python3-torch) with /usr/bin/python3, "%.9g":
 *
 *   import torch, torch.nn.functional as F
 *   def pat(n, mul, mod, div):
 *       return torch.tensor([((i * mul) % mod - mod // 2) / div for i in range(n)])
 *   def X(*s): return pat(torch.Size(s).numel(), 7, 11, 4).reshape(s)
 *   def W(*s): return pat(torch.Size(s).numel(), 5, 9, 8).reshape(s)
 *   def B(n):  return pat(n, 3, 5, 4)
 *   def conv(x, w, b=None, pad=(0, 0, 0, 0), **kw):  # pad = (top, left, bottom, right)
 *       t, l, bo, r = pad
 *       return F.conv2d(F.pad(x, (l, r, t, bo)), w, b, **kw)
 *   stride2       conv(X(1, 2, 5, 5), W(3, 2, 3, 3), B(3), stride=2)
 *   dilation2     conv(X(1, 2, 7, 7), W(2, 2, 3, 3), B(2), dilation=2)
 *   same_s2       conv(X(1, 2, 5, 7), W(3, 2, 2, 4), B(3), pad=(0, 1, 1, 2), stride=2)
 *   same_lower_s2 conv(X(1, 2, 5, 7), W(3, 2, 2, 4), B(3), pad=(1, 2, 0, 1), stride=2)
 *   explicit      conv(X(1, 1, 4, 4), W(2, 1, 3, 3), B(2), pad=(1, 0, 2, 3), stride=(2, 1))
 *   pad_hw        conv(X(1, 1, 4, 4), W(1, 1, 3, 3), B(1), pad=(1, 2, 1, 2))
 *   groups2       conv(X(1, 4, 3, 3), W(6, 2, 3, 3), B(6), pad=(1, 1, 1, 1), groups=2)
 *   depthwise     conv(X(1, 3, 5, 5), W(3, 1, 3, 3), B(3), pad=(1, 1, 1, 1), stride=2, groups=3)
 *   nobias_1x1    conv(X(1, 3, 3, 3), W(4, 3, 1, 1))
 *   batch3_leaky  F.leaky_relu(conv(X(3, 2, 4, 4), W(2, 2, 3, 3), B(2)), 0.2)
 * The "same" paddings are worked out by hand: H 5, stride 2, kernel 2: out 3, total 1;
 * W 7, stride 2, kernel 4: out 4, total 3 (same puts the odd pixel at the end).
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

/* A growing JSON text (test_malloc'd, so a leak fails the test). */
typedef struct jbuf {
    char *s;
    size_t len;
    size_t cap;
} jbuf;

static jbuf jb_new(void)
{
    jbuf j = {test_malloc(4096), 0, 4096};
    j.s[0] = '\0';
    return j;
}

static void jb_add(jbuf *j, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->s + j->len, j->cap - j->len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < j->cap - j->len) {
            j->len += (size_t)n;
            return;
        }
        j->cap = 2 * (j->cap + (size_t)n);
        j->s = test_realloc(j->s, j->cap);
    }
}

/* Appends [v0, v1, ...] with enough digits to read back the same floats. */
static void jb_floats(jbuf *j, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jb_add(j, "%s%.9g", i ? ", " : "[", (double)v[i]);
    jb_add(j, "]");
}

/* n values ((i * mul) % mod - mod / 2) / div: the pat() of the PyTorch snippet. */
static float *pattern(size_t n, int mul, int mod, int div)
{
    float *v = test_malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((int)((i * (size_t)mul) % (size_t)mod) - mod / 2) / (float)div;
    return v;
}

/* n uniform values in [-scale, scale) from a seeded LCG (reproducible on every platform). */
static float *random_floats(size_t n, float scale, uint32_t *seed)
{
    float *v = test_malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        v[i] = scale * ((float)(*seed >> 8) / 8388608.0f - 1.0f);
    }
    return v;
}

/* A one-layer conv2d model on input [c, h, w]; fields are the layer's JSON without weights. */
static void conv_json(jbuf *j, int c, int h, int w, const char *fields, const float *wt, size_t n_w,
                      const float *bias, size_t n_b)
{
    jb_add(j,
           "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [%d, %d, %d]},"
           " \"layers\": [{\"type\": \"conv2d\", %s, \"weight\": ",
           c, h, w, fields);
    jb_floats(j, wt, n_w);
    if (n_b > 0) {
        jb_add(j, ", \"bias\": ");
        jb_floats(j, bias, n_b);
    }
    jb_add(j, "}]}");
}

/* Runs a golden case: input X(batch, c, h, w), weights W (n_w values), bias B (n_b, 0: none). */
static void run_golden(int batch, int c, int h, int w, const char *fields, size_t n_w, size_t n_b,
                       const float *want, size_t n_want)
{
    size_t n_x = (size_t)batch * (size_t)(c * h * w);
    float *x = pattern(n_x, 7, 11, 4);
    float *wt = pattern(n_w, 5, 9, 8);
    float *bias = pattern(n_b > 0 ? n_b : 1, 3, 5, 4);
    jbuf j = jb_new();
    conv_json(&j, c, h, w, fields, wt, n_w, bias, n_b);
    tct_check_run(j.s, x, batch, want, n_want, ATOL, RTOL);
    test_free(j.s);
    test_free(bias);
    test_free(wt);
    test_free(x);
}

/* ---- the article's worked example ---- */

/* [[1,2,3],[4,5,6],[7,8,9]] with [[-1,0],[0,1]]: each output is -x[i][j] + x[i+1][j+1] = 4. */
static void test_conv2d_article_valid_2x2_relu(void **state)
{
    (void)state;
    const char *json =
        "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [1, 3, 3]},"
        " \"layers\": [{\"type\": \"conv2d\", \"in_channels\": 1, \"out_channels\": 1,"
        " \"kernel_size\": 2, \"weight\": [[[[-1, 0], [0, 1]]]],"
        " \"activation\": \"relu\"}]}";
    const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float want[4] = {4, 4, 4, 4};
    tct_check_run(json, in, 1, want, 4, ATOL, RTOL);
    /* The negated kernel plus bias 0.5 gives -3.5 everywhere, which relu clamps to 0. */
    const char *neg =
        "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [1, 3, 3]},"
        " \"layers\": [{\"type\": \"conv2d\", \"in_channels\": 1, \"out_channels\": 1,"
        " \"kernel_size\": [2, 2], \"weight\": [1, 0, 0, -1], \"bias\": [0.5],"
        " \"activation\": \"relu\"}]}";
    const float zero[4] = {0, 0, 0, 0};
    tct_check_run(neg, in, 1, zero, 4, ATOL, RTOL);
}

/* ---- PyTorch goldens ---- */

static void test_conv2d_stride2(void **state)
{
    (void)state;
    const float want[12] = {-0.8125f, 0.5625f,   0.21875f, -1.84375f, -0.0625f, 1.3125f,
                            0.96875f, -1.09375f, -0.5625f, 0.8125f,   0.46875f, -1.59375f};
    run_golden(1, 2, 5, 5,
               "\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"stride\": 2", 54, 3,
               want, 12);
}

static void test_conv2d_dilation2(void **state)
{
    (void)state;
    const float want[18] = {-0.15625f, -0.15625f, 0.53125f, 0.53125f, -0.84375f, -1.875f,
                            -1.875f,   -0.84375f, -0.5f,    0.59375f, 0.59375f,  1.28125f,
                            1.28125f,  -0.09375f, -1.125f,  -1.125f,  -0.09375f, 0.25f};
    run_golden(1, 2, 7, 7,
               "\"in_channels\": 2, \"out_channels\": 2, \"kernel_size\": [3, 3],"
               " \"dilation\": [2, 2]",
               36, 2, want, 18);
}

static void test_conv2d_same_stride2_even_kernel(void **state)
{
    (void)state;
    const float want[36] = {-0.28125f, -1.375f,   -0.71875f, 0.4375f,   -0.28125f, -0.5625f,
                            0.4375f,   0.625f,    0.0625f,   -1.1875f,  -1.09375f, -0.4375f,
                            0.0625f,   0.21875f,  2.4375f,   -0.875f,   -0.53125f, 0.28125f,
                            3.1875f,   -1.0f,     -0.25f,    -0.625f,   1.09375f,  0.3125f,
                            0.5625f,   2.25f,     -0.15625f, -1.46875f, -0.90625f, 1.5625f,
                            0.1875f,   -1.34375f, -0.96875f, 0.375f,    0.625f,    -0.1875f};
    run_golden(1, 2, 5, 7,
               "\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": [2, 4], \"stride\": 2,"
               " \"padding\": \"same\"",
               48, 3, want, 36);
}

static void test_conv2d_same_lower_stride2_even_kernel(void **state)
{
    (void)state;
    const float want[36] = {-0.4375f,  0.4375f,   0.3125f,   -1.09375f, -1.0f,     -1.125f,
                            -0.46875f, -0.90625f, -1.0625f,  -0.65625f, -1.375f,   -1.0625f,
                            0.3125f,   1.15625f,  0.96875f,  -0.40625f, -0.40625f, -0.6875f,
                            1.875f,    0.0f,      -0.21875f, -0.625f,   0.21875f,  2.0625f,
                            -0.1875f,  0.625f,    0.375f,    -0.96875f, -1.34375f, 0.1875f,
                            1.5625f,   -0.90625f, -1.46875f, -0.15625f, 2.25f,     0.5625f};
    run_golden(
        1, 2, 5, 7,
        "\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": [2, 4], \"stride\": [2, 2],"
        " \"padding\": \"same_lower\"",
        48, 3, want, 36);
}

static void test_conv2d_explicit_asymmetric_padding(void **state)
{
    (void)state;
    const float want[30] = {-1.53125f, 0.8125f,   -1.0625f,  -0.1875f,  -0.5f,     -1.9375f,
                            0.46875f,  -0.78125f, -0.84375f, -0.5f,     -1.28125f, -0.1875f,
                            -1.09375f, -0.625f,   -0.5f,     -0.78125f, 1.5625f,   -0.3125f,
                            0.5625f,   0.25f,     -1.1875f,  1.21875f,  -0.03125f, -0.09375f,
                            0.25f,     -0.53125f, 0.5625f,   -0.34375f, 0.125f,    0.25f};
    run_golden(1, 1, 4, 4,
               "\"in_channels\": 1, \"out_channels\": 2, \"kernel_size\": 3, \"stride\": [2, 1],"
               " \"padding\": [1, 0, 2, 3]",
               18, 2, want, 30);
}

/* padding [h, w] is [top = bottom = h, left = right = w]. */
static void test_conv2d_padding_hw_short_form(void **state)
{
    (void)state;
    const float want[24] = {-0.96875f, 0.125f,    -1.53125f, 0.8125f,   -1.0625f,  -0.1875f,
                            0.0625f,   -1.6875f,  1.5f,      -1.9375f,  -0.4375f,  -0.96875f,
                            -0.96875f, 0.59375f,  -1.9375f,  0.46875f,  -0.78125f, -0.84375f,
                            0.0625f,   -1.21875f, 0.90625f,  -0.78125f, -0.28125f, 0.1875f};
    run_golden(1, 1, 4, 4,
               "\"in_channels\": 1, \"out_channels\": 1, \"kernel_size\": 3,"
               " \"padding\": [1, 2]",
               9, 1, want, 24);
}

static void test_conv2d_groups2(void **state)
{
    (void)state;
    const float want[54] = {
        0.59375f,  -1.6875f,  0.28125f, -0.5625f, 0.59375f, -0.9375f, -0.78125f, -1.09375f,
        -0.5f,     1.34375f,  -0.9375f, 1.03125f, 0.1875f,  1.34375f, -0.1875f,  -0.03125f,
        -0.34375f, 0.25f,     0.84375f, -1.4375f, 0.53125f, -0.3125f, 0.84375f,  -0.6875f,
        -0.53125f, -0.84375f, -0.25f,   0.0625f,  0.5f,     0.5f,     -0.34375f, 1.59375f,
        0.0625f,   1.625f,    0.0f,     1.28125f, -0.4375f, 0.0f,     0.0f,      -0.84375f,
        1.09375f,  -0.4375f,  1.125f,   -0.5f,    0.78125f, -0.9375f, -0.5f,     -0.5f,
        -1.34375f, 0.59375f,  -0.9375f, 0.625f,   -1.0f,    0.28125f};
    run_golden(1, 4, 3, 3,
               "\"in_channels\": 4, \"out_channels\": 6, \"kernel_size\": 3, \"padding\": 1,"
               " \"groups\": 2",
               108, 6, want, 54);
}

/* groups == in_channels == out_channels; "same" with stride 2 on 5: total padding 2, even. */
static void test_conv2d_depthwise_same_stride2(void **state)
{
    (void)state;
    const float want[27] = {-0.375f,   0.09375f,  0.25f,     -1.25f,    -0.65625f, -0.84375f,
                            -0.46875f, 0.4375f,   -0.375f,   -0.46875f, 0.65625f,  0.90625f,
                            0.4375f,   0.78125f,  -0.09375f, 0.3125f,   0.59375f,  0.46875f,
                            -1.125f,   -0.03125f, -0.03125f, -0.15625f, -0.75f,    -0.59375f,
                            -0.15625f, 0.1875f,   0.40625f};
    run_golden(1, 3, 5, 5,
               "\"in_channels\": 3, \"out_channels\": 3, \"kernel_size\": 3, \"stride\": 2,"
               " \"padding\": \"same\", \"groups\": 3",
               27, 3, want, 27);
}

/* 1x1, stride 1, unpadded: the path that multiplies the input in place. */
static void test_conv2d_no_bias_1x1_multichannel(void **state)
{
    (void)state;
    const float want[36] = {0.71875f,  0.09375f,  -0.1875f, -0.46875f, 0.28125f,  0.34375f,
                            -0.28125f, -0.5625f,  0.53125f, -0.5f,     -0.1875f,  0.46875f,
                            0.09375f,  -0.28125f, -0.3125f, 0.0f,      0.65625f,  -0.40625f,
                            0.53125f,  -0.1875f,  -0.5625f, 0.09375f,  -0.28125f, 0.71875f,
                            0.0f,      -0.375f,   0.625f,   0.71875f,  0.09375f,  -0.1875f,
                            -0.46875f, 0.28125f,  0.34375f, -0.28125f, -0.5625f,  0.53125f};
    run_golden(1, 3, 3, 3, "\"in_channels\": 3, \"out_channels\": 4, \"kernel_size\": 1", 12, 0,
               want, 36);
}

static void test_conv2d_batch3_fused_leaky_relu(void **state)
{
    (void)state;
    const float want[24] = {2.46875f,      -0.331250012f,  -0.46875f,     -0.0562500022f, 3.21875f,
                            -0.181250006f, -0.318749994f,  0.46875f,      -0.537500024f,  2.46875f,
                            2.125f,        -0.46875f,      -0.387500018f, 3.21875f,       2.875f,
                            -0.318749994f, -0.0562500022f, -0.537500024f, -0.46875f,      2.125f,
                            0.46875f,      -0.387500018f,  -0.318749994f, 2.875f};
    run_golden(
        3, 2, 4, 4,
        "\"in_channels\": 2, \"out_channels\": 2, \"kernel_size\": 3, \"padding\": \"valid\","
        " \"activation\": {\"function\": \"leaky_relu\", \"alpha\": 0.2}",
        36, 2, want, 24);
}

/* ---- naive reference on seeded random data ---- */

enum { EXPLICIT, SAME, SAME_LOWER };

typedef struct conv_cfg {
    const char *name;
    int batch, in_c, h, w, out_c, kh, kw, sh, sw, dh, dw, groups;
    int mode;   /* EXPLICIT (pad below), SAME or SAME_LOWER */
    int pad[4]; /* EXPLICIT: top, left, bottom, right */
    bool bias;
} conv_cfg;

static const conv_cfg random_cases[] = {
    /* 1600 positions: two im2col tiles */
    {"rand_3x3_same_40x40", 1, 3, 40, 40, 8, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, true},
    /* the in-place 1x1 path over several tiles, batch 2, no bias */
    {"rand_1x1_direct", 2, 16, 40, 40, 8, 1, 1, 1, 1, 1, 1, 1, EXPLICIT, {0}, false},
    {"rand_5x5_s3_d2_same_lower_g2", 1, 4, 33, 47, 6, 5, 5, 3, 3, 2, 2, 2, SAME_LOWER, {0}, true},
    {"rand_depthwise_asym_b3", 3, 6, 17, 19, 6, 3, 4, 2, 1, 1, 3, 6, EXPLICIT, {2, 0, 1, 3}, true},
    {"rand_depth_mult2_same", 1, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1, 8, SAME, {0}, true},
    {"rand_k576", 1, 64, 9, 9, 5, 3, 3, 1, 1, 1, 1, 1, EXPLICIT, {1, 1, 1, 1}, true},
    {"rand_wide_1x7_s2_same", 1, 2, 1, 70, 3, 1, 7, 1, 2, 1, 1, 1, SAME, {0}, true},
    {"rand_1x1_stride2", 1, 5, 9, 9, 7, 1, 1, 2, 2, 1, 1, 1, EXPLICIT, {0}, true},
    {"rand_1x1_padded", 1, 5, 6, 7, 3, 1, 1, 1, 1, 1, 1, 1, EXPLICIT, {1, 0, 0, 2}, false},
    {"rand_kernel_wider_than_input",
     1,
     2,
     3,
     3,
     2,
     5,
     5,
     1,
     1,
     1,
     1,
     1,
     EXPLICIT,
     {2, 2, 2, 2},
     true},
    {"rand_dilated_span_over_input", 1, 1, 6, 6, 2, 3, 3, 1, 1, 3, 3, 1, SAME, {0}, true},
    {"rand_stride_over_kernel", 2, 2, 11, 13, 3, 2, 2, 4, 5, 1, 1, 1, EXPLICIT, {0}, true},
};

/* Padding on one axis, computed here independently of the layer. */
static void axis_pads(int mode, int in, int k, int s, int d, int *begin, int *end)
{
    int out = (in + s - 1) / s;
    int total = (out - 1) * s + (k - 1) * d + 1 - in;
    total = total > 0 ? total : 0;
    *begin = mode == SAME ? total / 2 : total - total / 2;
    *end = total - *begin;
}

/* A deliberately plain convolution, summed in double. */
static void naive_conv(const conv_cfg *c, const int pad[4], int oh, int ow, const float *x,
                       const float *wt, const float *bias, float *y)
{
    const int cg = c->in_c / c->groups;
    const int og = c->out_c / c->groups;
    for (int n = 0; n < c->batch; n++)
        for (int o = 0; o < c->out_c; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int u = 0; u < c->kh; u++)
                            for (int v = 0; v < c->kw; v++) {
                                int iy = i * c->sh - pad[0] + u * c->dh;
                                int ix = j * c->sw - pad[1] + v * c->dw;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                int ch = (o / og) * cg + ci;
                                s += (double)wt[((o * cg + ci) * c->kh + u) * c->kw + v] *
                                     x[((n * c->in_c + ch) * c->h + iy) * c->w + ix];
                            }
                    y[((n * c->out_c + o) * oh + i) * ow + j] = (float)s;
                }
}

static void test_conv2d_random_vs_naive(void **state)
{
    const conv_cfg *c = *state;
    int pad[4] = {c->pad[0], c->pad[1], c->pad[2], c->pad[3]};
    if (c->mode != EXPLICIT) {
        axis_pads(c->mode, c->h, c->kh, c->sh, c->dh, &pad[0], &pad[2]);
        axis_pads(c->mode, c->w, c->kw, c->sw, c->dw, &pad[1], &pad[3]);
    }
    int oh = (c->h + pad[0] + pad[2] - c->dh * (c->kh - 1) - 1) / c->sh + 1;
    int ow = (c->w + pad[1] + pad[3] - c->dw * (c->kw - 1) - 1) / c->sw + 1;
    size_t k_n = (size_t)(c->in_c / c->groups * c->kh * c->kw);
    size_t n_x = (size_t)(c->batch * c->in_c * c->h * c->w);
    size_t n_w = (size_t)c->out_c * k_n;
    size_t n_y = (size_t)(c->batch * c->out_c * oh * ow);
    uint32_t seed = 12345;
    float *x = random_floats(n_x, 1.0f, &seed);
    /* weights scaled as PyTorch's default init, so sums stay near 1 and float error small */
    float *wt = random_floats(n_w, 1.0f / sqrtf((float)k_n), &seed);
    float *bias = random_floats((size_t)c->out_c, 0.5f, &seed);
    float *want = test_malloc(n_y * sizeof *want);
    naive_conv(c, pad, oh, ow, x, wt, c->bias ? bias : NULL, want);

    char fields[256];
    if (c->mode == EXPLICIT)
        snprintf(fields, sizeof fields, "\"padding\": [%d, %d, %d, %d]", pad[0], pad[1], pad[2],
                 pad[3]);
    else
        snprintf(fields, sizeof fields, "\"padding\": \"%s\"",
                 c->mode == SAME ? "same" : "same_lower");
    jbuf j = jb_new();
    char all[512];
    snprintf(all, sizeof all,
             "\"in_channels\": %d, \"out_channels\": %d, \"kernel_size\": [%d, %d],"
             " \"stride\": [%d, %d], \"dilation\": [%d, %d], \"groups\": %d, %s",
             c->in_c, c->out_c, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->groups, fields);
    conv_json(&j, c->in_c, c->h, c->w, all, wt, n_w, bias, c->bias ? (size_t)c->out_c : 0);
    tct_check_run(j.s, x, c->batch, want, n_y, ATOL, RTOL);
    test_free(j.s);
    test_free(want);
    test_free(bias);
    test_free(wt);
    test_free(x);
}

/* ---- shape and MACs ---- */

static void test_conv2d_reports_shape_and_macs(void **state)
{
    (void)state;
    float wt[54] = {0};
    jbuf j = jb_new();
    conv_json(&j, 2, 5, 5,
              "\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"stride\": 2", wt, 54,
              NULL, 0);
    tc_model *model = tct_load(j.s);
    tc_layer_info info;
    assert_int_equal(tc_model_layer_info(model, 0, &info), TC_OK);
    assert_int_equal(info.out_shape.ndim, 3);
    assert_int_equal(info.out_shape.dim[0], 3);
    assert_int_equal(info.out_shape.dim[1], 2);
    assert_int_equal(info.out_shape.dim[2], 2);
    /* out_c * oh * ow * (in_c / groups) * kh * kw = 3 * 2 * 2 * 2 * 3 * 3 */
    assert_int_equal(info.macs, 216);
    assert_int_equal(info.n_params, 54);
    tc_model_free(model);
    test_free(j.s);
}

/* ---- errors ---- */

/* Loading a conv2d on input `shape` with `fields` (weights included) must fail as given. */
static void expect_conv_error(const char *shape, const char *fields, tc_status code,
                              const char *needle)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": %s},"
             " \"layers\": [{\"type\": \"conv2d\", %s}]}",
             shape, fields);
    tct_expect_error(json, code, needle);
}

#define C1K2  "\"in_channels\": 1, \"out_channels\": 1, \"kernel_size\": 2"
#define W1122 "\"weight\": [[[[-1, 0], [0, 1]]]]"

static void test_conv2d_rejects_bad_shapes(void **state)
{
    (void)state;
    expect_conv_error("[6, 4, 4]",
                      "\"name\": \"conv2\", \"in_channels\": 3, \"out_channels\": 1,"
                      " \"kernel_size\": 1, \"weight\": [1, 2, 3]",
                      TC_ERR_SHAPE,
                      "layers[0] \"conv2\": in_channels is 3 but its input has 6 channels");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"weight\": [1, 2, 3, 4, 5]", TC_ERR_WEIGHTS,
                      "weight: has shape [5] (5 values) but the layer needs [1, 1, 2, 2]");
    expect_conv_error("[2, 3, 3]",
                      "\"in_channels\": 2, \"out_channels\": 1, \"kernel_size\": 2,"
                      " \"weight\": [[[[1, 2], [3, 4]]], [[[5, 6], [7, 8]]]]",
                      TC_ERR_WEIGHTS,
                      "has shape [2, 1, 2, 2] (8 values) but the layer needs [1, 2, 2, 2]");
    expect_conv_error("[1, 3, 3]", C1K2 ", " W1122 ", \"bias\": [1, 2]", TC_ERR_WEIGHTS,
                      "bias: has shape [2]");
    expect_conv_error("[1, 3, 3]",
                      "\"in_channels\": 1, \"out_channels\": 1, \"kernel_size\": 5,"
                      " \"weight\": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,"
                      " 1, 1, 1, 1, 1]",
                      TC_ERR_SHAPE, "output height would be below 1");
    expect_conv_error("[1, 5, 5]",
                      "\"in_channels\": 1, \"out_channels\": 1, \"kernel_size\": [1, 3],"
                      " \"dilation\": 3, \"weight\": [1, 1, 1]",
                      TC_ERR_SHAPE, "output width would be below 1: the kernel spans 7");
    expect_conv_error("[3, 3]", C1K2 ", " W1122, TC_ERR_SHAPE, "needs a 3-D input");
    expect_conv_error("[1, 1, 3, 3]", C1K2 ", " W1122, TC_ERR_SHAPE, "got [1, 1, 3, 3]");
}

static void test_conv2d_rejects_bad_fields(void **state)
{
    (void)state;
    expect_conv_error("[3, 4, 4]",
                      "\"in_channels\": 3, \"out_channels\": 4, \"kernel_size\": 1, \"groups\": 2,"
                      " \"weight\": [1, 2, 3, 4, 5, 6]",
                      TC_ERR_RANGE, "layers[0].groups: groups (2) must divide in_channels (3)");
    expect_conv_error("[4, 4, 4]",
                      "\"in_channels\": 4, \"out_channels\": 3, \"kernel_size\": 1, \"groups\": 2,"
                      " \"weight\": [1, 2, 3, 4, 5, 6]",
                      TC_ERR_RANGE, "out_channels (3)");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"padding\": [1, 1, 1], " W1122, TC_ERR_RANGE,
                      "layers[0].padding: expected 1, 2 or 4 integers");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"padding\": [1, 1, 1, 1, 1], " W1122, TC_ERR_RANGE,
                      "layers[0].padding");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"padding\": \"full\", " W1122, TC_ERR_RANGE,
                      "layers[0].padding: expected one of \"valid\", \"same\", \"same_lower\"");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"padding\": true, " W1122, TC_ERR_SCHEMA,
                      "layers[0].padding: expected \"valid\"");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"padding\": -1, " W1122, TC_ERR_RANGE,
                      "layers[0].padding");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"padding\": [0, 4097], " W1122, TC_ERR_RANGE,
                      "layers[0].padding[1]");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"stride\": 0, " W1122, TC_ERR_RANGE,
                      "layers[0].stride");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"dilation\": [1, 4097], " W1122, TC_ERR_RANGE,
                      "layers[0].dilation[1]");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"stride\": [1, 1, 1], " W1122, TC_ERR_RANGE,
                      "layers[0].stride");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"groups\": 0, " W1122, TC_ERR_RANGE,
                      "layers[0].groups");
    expect_conv_error("[1, 3, 3]",
                      "\"in_channels\": 1, \"out_channels\": 1, \"kernel_size\": 0, " W1122,
                      TC_ERR_RANGE, "layers[0].kernel_size");
    expect_conv_error("[1, 3, 3]",
                      "\"in_channels\": 1, \"out_channels\": 1, \"kernel_size\": \"3\", " W1122,
                      TC_ERR_SCHEMA, "layers[0].kernel_size");
    expect_conv_error("[1, 3, 3]",
                      "\"in_channels\": 0, \"out_channels\": 1, \"kernel_size\": 2, " W1122,
                      TC_ERR_RANGE, "layers[0].in_channels");
    expect_conv_error("[1, 3, 3]", "\"in_channels\": 1, \"kernel_size\": 2, " W1122, TC_ERR_SCHEMA,
                      "layers[0].out_channels: required field is missing");
    expect_conv_error("[1, 3, 3]", C1K2, TC_ERR_SCHEMA, "layers[0].weight");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"activation\": \"prelu\", " W1122, TC_ERR_SCHEMA,
                      "prelu");
    expect_conv_error("[1, 3, 3]", C1K2 ", \"strides\": 1, " W1122, TC_ERR_SCHEMA, "strides");
}

#define RANDOM_TEST(i)                                                                             \
    {                                                                                              \
        random_cases[i].name, test_conv2d_random_vs_naive, NULL, NULL, (void *)&random_cases[i]    \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_article_valid_2x2_relu),
        cmocka_unit_test(test_conv2d_stride2),
        cmocka_unit_test(test_conv2d_dilation2),
        cmocka_unit_test(test_conv2d_same_stride2_even_kernel),
        cmocka_unit_test(test_conv2d_same_lower_stride2_even_kernel),
        cmocka_unit_test(test_conv2d_explicit_asymmetric_padding),
        cmocka_unit_test(test_conv2d_padding_hw_short_form),
        cmocka_unit_test(test_conv2d_groups2),
        cmocka_unit_test(test_conv2d_depthwise_same_stride2),
        cmocka_unit_test(test_conv2d_no_bias_1x1_multichannel),
        cmocka_unit_test(test_conv2d_batch3_fused_leaky_relu),
        RANDOM_TEST(0),
        RANDOM_TEST(1),
        RANDOM_TEST(2),
        RANDOM_TEST(3),
        RANDOM_TEST(4),
        RANDOM_TEST(5),
        RANDOM_TEST(6),
        RANDOM_TEST(7),
        RANDOM_TEST(8),
        RANDOM_TEST(9),
        RANDOM_TEST(10),
        RANDOM_TEST(11),
        cmocka_unit_test(test_conv2d_reports_shape_and_macs),
        cmocka_unit_test(test_conv2d_rejects_bad_shapes),
        cmocka_unit_test(test_conv2d_rejects_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
