/*
 * test_pool.c - maxpool2d, avgpool2d, global_maxpool2d and global_avgpool2d.
 *
 * Expected values: two small examples worked by hand, and PyTorch 1.13 (float32, run with
 * /usr/bin/python3, printed with "%.9g") for the rest. The inputs are exact in float32 and made
 * the same way here (make_input), so no input arrays need copying:
 *
 *   import torch, torch.nn.functional as F
 *   x = (((torch.arange(120) * 37) % 120).float() / 8 - 7.5).reshape(2, 2, 5, 6)  # batch 2
 *   ninf = float("-inf")                       # F.pad order: (left, right, top, bottom)
 *   max_k3s2p1 = F.max_pool2d(x, 3, 2, 1)
 *   max_k2_ceil = F.max_pool2d(x, 2, 2, ceil_mode=True)
 *   max_k2d2p1 = F.max_pool2d(x, 2, 1, 1, dilation=2)
 *   max_asym = F.max_pool2d(F.pad(x, (0, 2, 1, 0), value=ninf), 3, 2)  # [t 1, l 0, b 0, r 2]
 *   max_same = F.max_pool2d(F.pad(x, (0, 1, 1, 1), value=ninf), 3, 2)  # "same": H 1+1, W 0+1
 *   avg_k3s2p1 = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)     # torch's default is True
 *   avg_k3s2p1_incl = F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)
 *   avg_ceil = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
 *   avg_ceil_incl = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
 *   def sums(pad): return F.avg_pool2d(F.pad(x, pad), 3, 2, divisor_override=1)
 *   def count(pad): return F.avg_pool2d(F.pad(torch.ones_like(x), pad), 3, 2, divisor_override=1)
 *   avg_asym = sums((1, 1, 0, 2)) / count((1, 1, 0, 2))   # [t 0, l 1, b 2, r 1], real elements
 *   avg_asym_incl = sums((1, 1, 0, 2)) / 9
 *   avg_same = sums((0, 1, 1, 1)) / count((0, 1, 1, 1))   # "same_lower" (W 1+0) = avg_k3s2p1
 *   g = (((torch.arange(180) * 53) % 180).float() / 16 - 5).reshape(3, 3, 4, 5)  # batch 3
 *   gmax = F.adaptive_max_pool2d(g, 1); gavg = F.adaptive_avg_pool2d(g, 1)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

static const float max_k3s2p1[36] = {
    5.25f, 6.375f, 6.375f, 5.375f, 5.375f, 6.5f, 5.375f, 5.375f, 6.625f, 0.875f, 5.5f, 4.375f,
    6.75f, 5.625f, 5.625f, 6.875f, 6.875f, 5.75f, 4.625f, 7, 5.875f, 2.375f, 7.125f, 7.125f, 6,
    7.125f, 7.125f, 6.125f, 6.125f, 7.25f, 6.125f, 6.25f, 7.375f, 1.625f, 6.25f, 5.125f
};
static const float max_k2_ceil[36] = {
    5.25f, 6.375f, 0.625f, 5.375f, 1.875f, 6.5f, 3.125f, -2.625f, 6.625f, 0.875f, 5.5f, 4.375f,
    6.75f, 5.625f, -0.125f, 6.875f, 1.125f, 5.75f, 4.625f, 7, 5.875f, 0.125f, 7.125f, 3.625f, 6,
    4.875f, -0.875f, 6.125f, 2.625f, 7.25f, 3.875f, 6.25f, 7.375f, -0.625f, 4, 2.875f
};
static const float max_k2d2p1[120] = {
    -5.125f, 5.25f, 4.125f, -0.5f, 4.125f, -6.25f, -2.875f, 3, 6.375f, 6.5f, 6.375f, 6.5f, 5.375f,
    5.25f, 5.375f, 4.25f, 4.125f, 4.25f, 3.125f, 3, 3.125f, 6.5f, 6.625f, 6.5f, 5.375f, 0.75f,
    5.375f, 4.25f, -0.375f, 4.25f, -1.375f, 3.25f, -1.375f, 3.25f, 2.125f, -2.5f, 0.875f, 6.75f,
    5.625f, 5.5f, 5.625f, -0.25f, -1.375f, 4.5f, 3.375f, 3.25f, 3.375f, -2.5f, 6.875f, 6.75f,
    6.875f, 5.75f, 5.625f, 5.75f, -5.875f, 4.5f, 3.375f, -1.25f, 3.375f, -7, 2.375f, 7, 2.375f, 7,
    5.875f, 1.25f, 4.625f, 4.75f, 4.625f, 4.75f, 3.625f, 3.5f, 2.375f, 7, 7.125f, 7, 7.125f, 1.25f,
    0.125f, 6, 4.875f, 4.75f, 4.875f, -1, -2.125f, 2.5f, 7.125f, 2.5f, 7.125f, -3.25f, 6.125f,
    1.5f, 6.125f, 5, 0.375f, 5, 3.875f, 3.75f, 3.875f, 7.25f, 7.375f, 7.25f, 6.125f, 6.25f, 6.125f,
    6.25f, 5.125f, 5, 3.875f, 4, 3.875f, 4, 7.375f, 2.75f, 1.625f, 6.25f, 1.625f, 6.25f, 5.125f,
    0.5f
};
static const float max_asym[24] = {
    5.25f, 6.375f, 0.625f, 5.375f, 6.5f, 6.5f, 5.5f, 5.5f, 4.375f, 6.75f, 5.625f, 2.125f, 7, 7,
    5.875f, 7, 7.125f, 5.875f, 6.125f, 7.25f, 7.25f, 6.25f, 6.25f, 7.375f
};
static const float max_same[36] = {
    5.25f, 6.375f, 0.625f, 5.375f, 6.5f, 6.5f, 5.375f, 4.25f, 6.625f, 5.5f, 5.5f, 4.375f, 6.75f,
    5.625f, 2.125f, 6.875f, 5.75f, 5.75f, 7, 7, 5.875f, 7, 7.125f, 5.875f, 6, 7.125f, 1.375f,
    6.125f, 7.25f, 7.25f, 6.25f, 6.25f, 7.375f, 6.25f, 6.25f, 5.125f
};
static const float avg_k3s2p1[36] = {
    -2.5625f, 0.625f, -0.125f, 0.3125f, -1.08333337f, -0.166666672f, 1.9375f, -1.125f, 0.625f,
    -2.5625f, -0.625f, -1.375f, -0.9375f, -0.666666687f, -1.41666663f, 1.9375f, 0.125f, -0.625f,
    1.1875f, 0.625f, -0.125f, -2.1875f, 1.41666663f, 0.666666687f, -1.8125f, 1.375f, 0.625f,
    1.1875f, -0.625f, 1.125f, 1.5625f, 0.166666672f, 1.08333337f, -1.8125f, 0.125f, -0.625f
};
static const float avg_k3s2p1_incl[36] = {
    -1.13888884f, 0.416666657f, -0.0833333358f, 0.208333328f, -1.08333337f, -0.166666672f,
    0.861111104f, -0.75f, 0.416666657f, -1.13888884f, -0.416666657f, -0.916666687f, -0.625f,
    -0.666666687f, -1.41666663f, 0.861111104f, 0.0833333358f, -0.416666657f, 0.527777791f,
    0.416666657f, -0.0833333358f, -1.45833337f, 1.41666663f, 0.666666687f, -0.805555582f,
    0.916666687f, 0.416666657f, 0.527777791f, -0.416666657f, 0.75f, 1.04166663f, 0.166666672f,
    1.08333337f, -0.805555582f, 0.0833333358f, -0.416666657f
};
static const float avg_ceil[48] = {
    -2.5625f, 0.625f, -0.125f, -0.5f, 0.3125f, -1.08333337f, -0.166666672f, -3.875f, 1.9375f,
    -1.125f, 0.625f, 0.25f, -2.5625f, -0.625f, -1.375f, 3.25f, -0.9375f, -0.666666687f,
    -1.41666663f, -0.125f, 1.9375f, 0.125f, -0.625f, -3.5f, 1.1875f, 0.625f, -0.125f, -0.5f,
    -2.1875f, 1.41666663f, 0.666666687f, 3.625f, -1.8125f, 1.375f, 0.625f, 0.25f, 1.1875f, -0.625f,
    1.125f, -4.25f, 1.5625f, 0.166666672f, 1.08333337f, 2.375f, -1.8125f, 0.125f, -0.625f, 4
};
static const float avg_ceil_incl[48] = {
    -1.13888884f, 0.416666657f, -0.0833333358f, -0.166666672f, 0.208333328f, -1.08333337f,
    -0.166666672f, -1.9375f, 0.861111104f, -0.75f, 0.416666657f, 0.0833333358f, -1.13888884f,
    -0.416666657f, -0.916666687f, 1.08333337f, -0.625f, -0.666666687f, -1.41666663f, -0.0625f,
    0.861111104f, 0.0833333358f, -0.416666657f, -1.16666663f, 0.527777791f, 0.416666657f,
    -0.0833333358f, -0.166666672f, -1.45833337f, 1.41666663f, 0.666666687f, 1.8125f, -0.805555582f,
    0.916666687f, 0.416666657f, 0.0833333358f, 0.527777791f, -0.416666657f, 0.75f, -1.41666663f,
    1.04166663f, 0.166666672f, 1.08333337f, 1.1875f, -0.805555582f, 0.0833333358f, -0.416666657f,
    1.33333337f
};
static const float avg_asym[36] = {
    -2.4375f, -0.5f, 0.416666657f, 0.5625f, -1.66666663f, 0.916666687f, 0.8125f, -2.25f, 2,
    -1.1875f, -0.0833333358f, -0.833333313f, 1.8125f, 0.416666657f, -0.333333343f, 4.5625f, 1.5f,
    0.75f, 0.0625f, 0.333333343f, -0.416666657f, -1.9375f, 0.833333313f, 0.0833333358f, 0.8125f,
    0.25f, -0.5f, 1.3125f, -0.916666687f, 1.66666663f, -0.6875f, -0.416666657f, 0.5f, -2.9375f, -1,
    -1.75f
};
static const float avg_asym_incl[36] = {
    -1.625f, -0.5f, 0.416666657f, 0.375f, -1.66666663f, 0.916666687f, 0.180555552f, -0.75f,
    0.666666687f, -0.791666687f, -0.0833333358f, -0.833333313f, 1.20833337f, 0.416666657f,
    -0.333333343f, 1.01388884f, 0.5f, 0.25f, 0.0416666679f, 0.333333343f, -0.416666657f,
    -1.29166663f, 0.833333313f, 0.0833333358f, 0.180555552f, 0.0833333358f, -0.166666672f, 0.875f,
    -0.916666687f, 1.66666663f, -0.458333343f, -0.416666657f, 0.5f, -0.652777791f, -0.333333343f,
    -0.583333313f
};
static const float avg_same[36] = {
    -1.5f, 0.25f, -2.8125f, -0.708333313f, 0.208333328f, -1.1875f, -0.75f, -1.5f, 1.6875f, -0.25f,
    -1, 0.9375f, -0.291666657f, -1.04166663f, -2.4375f, 0.5f, -0.25f, -2.0625f, 1, 0.25f, 0.9375f,
    0.125f, 1.04166663f, 1.3125f, -0.75f, 1, -2.0625f, -0.25f, 1.5f, 0.9375f, 0.541666687f,
    -0.208333328f, 2.5625f, 0.5f, -0.25f, 1.6875f
};
static const float gmax[9] = {5.625f, 5.6875f, 5.75f, 5.875f, 5.9375f, 6, 6.0625f, 6.125f, 6.1875f};
static const float gavg[9] = {
    0.03125f, 0.46875f, 0.34375f, 0.78125f, 0.65625f, 0.53125f, 0.96875f, 0.84375f, 0.71875f
};

/* x[i] = ((i * mul) % n) / div - off: a permutation of exact float32 values (see the header). */
static void make_input(float *x, int n, int mul, float div, float off)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)((i * mul) % n) / div - off;
}

/* A one-layer model: input of `shape`, a layer of `type` with extra `fields` (may be ""). */
static const char *pool_model(char *buf, size_t len, const char *type, const char *shape,
                              const char *fields)
{
    snprintf(buf, len,
             "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": %s},"
             " \"layers\": [{\"name\": \"p\", \"type\": \"%s\"%s%s}]}",
             shape, type, fields[0] ? ", " : "", fields);
    return buf;
}

/* Runs `type` with `fields` on the batch-2 [2, 5, 6] input x and compares with want. */
static void check_x(const char *type, const char *fields, const float *want, size_t n)
{
    char json[512];
    float x[120];
    make_input(x, 120, 37, 8.0f, 7.5f);
    tct_check_run(pool_model(json, sizeof json, type, "[2, 5, 6]", fields), x, 2, want, n, ATOL,
                  RTOL);
}

/* 2x2 windows, stride defaulting to the kernel size:
 *   -1 -2 |  3  0        max: -1  8     avg: (-1-2-5-6)/4 = -3.5   (3+0-7+8)/4 = 1
 *   -5 -6 | -7  8              9  5          (9+1+0-3)/4 = 1.75    (-1+2+4+5)/4 = 2.5
 *   ------+------
 *    9  1 | -1  2
 *    0 -3 |  4  5 */
static void test_pool_2x2_worked_example(void **state)
{
    (void)state;
    char json[512];
    const float in[16] = {-1, -2, 3, 0, -5, -6, -7, 8, 9, 1, -1, 2, 0, -3, 4, 5};
    const float want_max[4] = {-1, 8, 9, 5};
    const float want_avg[4] = {-3.5f, 1, 1.75f, 2.5f};
    pool_model(json, sizeof json, "maxpool2d", "[1, 4, 4]", "\"kernel_size\": 2");
    tct_check_run(json, in, 1, want_max, 4, ATOL, RTOL);
    pool_model(json, sizeof json, "avgpool2d", "[1, 4, 4]", "\"kernel_size\": [2, 2]");
    tct_check_run(json, in, 1, want_avg, 4, ATOL, RTOL);
}

/* A [2, 3] kernel and stride on 1..24 laid out as 4 x 6: the bottom-right of each window. */
static void test_maxpool_rectangular_kernel(void **state)
{
    (void)state;
    char json[512];
    float in[24];
    for (int i = 0; i < 24; i++)
        in[i] = (float)(i + 1);
    const float want[4] = {9, 12, 21, 24};
    pool_model(json, sizeof json, "maxpool2d", "[1, 4, 6]",
               "\"kernel_size\": [2, 3], \"stride\": [2, 3]");
    tct_check_run(json, in, 1, want, 4, ATOL, RTOL);
}

static void test_maxpool_3x3_stride2_pad1(void **state)
{
    (void)state;
    check_x("maxpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": 1", max_k3s2p1, 36);
    check_x("maxpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": [1, 1, 1, 1]",
            max_k3s2p1, 36);
}

/* 5 x 6 with 2x2 windows: ceil_mode adds a last row of windows that hang over the edge. */
static void test_maxpool_ceil_mode(void **state)
{
    (void)state;
    check_x("maxpool2d", "\"kernel_size\": 2, \"ceil_mode\": true", max_k2_ceil, 36);
}

static void test_maxpool_dilation2(void **state)
{
    (void)state;
    check_x("maxpool2d", "\"kernel_size\": 2, \"stride\": 1, \"padding\": 1, \"dilation\": 2",
            max_k2d2p1, 120);
}

static void test_maxpool_asymmetric_and_same_padding(void **state)
{
    (void)state;
    check_x("maxpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": [1, 0, 0, 2]", max_asym,
            24);
    check_x("maxpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": \"same\"", max_same, 36);
    /* "same_lower" puts W's odd pixel first: here the windows of padding 1 on every side. */
    check_x("maxpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": \"same_lower\"",
            max_k3s2p1, 36);
}

static void test_avgpool_count_include_pad(void **state)
{
    (void)state;
    check_x("avgpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": [1, 1]", avg_k3s2p1,
            36);
    check_x("avgpool2d",
            "\"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"count_include_pad\": false",
            avg_k3s2p1, 36);
    check_x("avgpool2d",
            "\"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"count_include_pad\": true",
            avg_k3s2p1_incl, 36);
}

/* W = 6 with padding 1: the last ceil_mode window covers columns 5, 6 (padding) and 7 (past
 * the padding), so count_include_pad divides by 2 columns there, not 3. */
static void test_avgpool_ceil_mode_with_padding(void **state)
{
    (void)state;
    check_x("avgpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"ceil_mode\": true",
            avg_ceil, 48);
    check_x("avgpool2d",
            "\"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"ceil_mode\": true, "
            "\"count_include_pad\": true",
            avg_ceil_incl, 48);
}

static void test_avgpool_asymmetric_and_same_padding(void **state)
{
    (void)state;
    check_x("avgpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": [0, 1, 2, 1]", avg_asym,
            36);
    check_x("avgpool2d",
            "\"kernel_size\": 3, \"stride\": 2, \"padding\": [0, 1, 2, 1], "
            "\"count_include_pad\": true",
            avg_asym_incl, 36);
    check_x("avgpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": \"same\"", avg_same, 36);
    check_x("avgpool2d", "\"kernel_size\": 3, \"stride\": 2, \"padding\": \"same_lower\"",
            avg_k3s2p1, 36);
}

static void test_global_pools_batch3(void **state)
{
    (void)state;
    char json[512];
    float g[180];
    make_input(g, 180, 53, 16.0f, 5.0f);
    tct_check_run(pool_model(json, sizeof json, "global_maxpool2d", "[3, 4, 5]", ""), g, 3, gmax,
                  9, ATOL, RTOL);
    tct_check_run(pool_model(json, sizeof json, "global_avgpool2d", "[3, 4, 5]", ""), g, 3, gavg,
                  9, ATOL, RTOL);
}

/* As in PyTorch (F.max_pool2d and F.adaptive_max_pool2d of [[1, nan, 3, 4], [5, 6, 7, 8]] give
 * [nan, 8] and nan), a NaN in a window wins over larger numbers. */
static void test_maxpool_propagates_nan(void **state)
{
    (void)state;
    char json[512];
    const float in[8] = {1, NAN, 3, 4, 5, 6, 7, 8};
    const char *types[2] = {"maxpool2d", "global_maxpool2d"};
    for (int t = 0; t < 2; t++) {
        tc_model *m = tct_load(pool_model(json, sizeof json, types[t], "[1, 2, 4]",
                                          t == 0 ? "\"kernel_size\": 2" : ""));
        float *out = tct_run(m, in, 1);
        assert_true(isnan(out[0]));
        if (t == 0)
            assert_true(out[1] == 8.0f);
        test_free(out);
        tc_model_free(m);
    }
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The 2x2 windows' rule at the bit level, on 22 windows (a full 16-lane vector and a tail):
 * taps in maxpool2d's order (top-left, top-right, bottom-left, bottom-right) and, for each,
 * "take the tap if larger, or if a NaN": so among equal taps the first stays (+0 before -0 and
 * the reverse) and the last NaN wins, payload included. Worked by hand per window. The fast
 * path without NaNs and the exact one with them each get a vector of these. */
static void test_maxpool2x2_ties_and_nans_bitwise(void **state)
{
    (void)state;
    const float nan1 = bits_to_float(0x7fc00001u), nan2 = bits_to_float(0x7fc00002u);
    const float pz = 0.0f, nz = -0.0f;
    /* {tl, tr, bl, br, expected}; windows 0-15 (one vector) without NaNs, then the NaNs */
    const float w[][5] = {
        {-1, pz, nz, nz, pz}, /* +0 first among the largest */
        {-1, nz, pz, pz, nz}, /* -0 first */
        {nz, pz, pz, pz, nz},
        {pz, nz, nz, nz, pz},
        {-3, -2, nz, pz, nz},
        {-3, -2, pz, nz, pz},
        {-3, nz, -2, pz, nz},
        {nz, -1, -2, pz, nz},
        {1, 2, 3, 4, 4},
        {4, 3, 2, 1, 4},
        {2, 4, 4, 1, 4},
        {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY},
        {INFINITY, 1, 2, 3, INFINITY},
        {0.5f, 0.25f, -8, 0.75f, 0.75f},
        {nz, nz, nz, nz, nz},
        {7, 7, 7, 7, 7},
        {nan1, 5, 6, 7, nan1},    /* a NaN stays */
        {5, nan1, 9, nan2, nan2}, /* the last NaN */
        {nan2, 1, nan1, 2, nan1},
        {1, 2, 3, nan2, nan2},
        {nan2, nan2, nan1, 3, nan1},
        {-1, pz, nz, nz, pz}, /* ties next to NaNs */
    };
    enum { NW = sizeof w / sizeof w[0] };
    float in[2 * 2 * NW];
    for (size_t j = 0; j < NW; j++) {
        in[2 * j] = w[j][0];
        in[2 * j + 1] = w[j][1];
        in[2 * NW + 2 * j] = w[j][2];
        in[2 * NW + 2 * j + 1] = w[j][3];
    }
    char json[512], shape[32];
    snprintf(shape, sizeof shape, "[1, 2, %d]", 2 * NW);
    tc_model *m = tct_load(pool_model(json, sizeof json, "maxpool2d", shape, "\"kernel_size\": 2"));
    float *out = tct_run(m, in, 1);
    for (size_t j = 0; j < NW; j++) {
        uint32_t got, want;
        memcpy(&got, &out[j], sizeof got);
        memcpy(&want, &w[j][4], sizeof want);
        if (got != want)
            fail_msg("window %zu: 0x%08x, want 0x%08x", j, got, want);
    }
    test_free(out);
    tc_model_free(m);
}

/* Output shapes, as F.max_pool2d gives them on [1, 2, 5, 6] ("valid" = no padding). In the
 * third case ceil_mode would add a row of windows starting at padded row 6, past the input and
 * its begin padding (5 + 1), so PyTorch drops it: H is 3, not 4. */
static void test_pool_output_shapes(void **state)
{
    (void)state;
    char json[512];
    const struct {
        const char *fields;
        size_t numel;
    } cases[] = {
        {"\"kernel_size\": 3, \"stride\": 2, \"padding\": \"valid\"", 2 * 2 * 2},
        {"\"kernel_size\": 3, \"stride\": 2, \"ceil_mode\": true", 2 * 2 * 3},
        {"\"kernel_size\": 2, \"padding\": 1, \"ceil_mode\": true", 2 * 3 * 4},
        {"\"kernel_size\": [5, 1], \"stride\": 1", 2 * 1 * 6},
        {"\"kernel_size\": 1, \"stride\": [4, 5]", 2 * 2 * 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_model *m = tct_load(pool_model(json, sizeof json, "maxpool2d", "[2, 5, 6]",
                                          cases[i].fields));
        assert_int_equal(tc_model_output_numel(m, 0), cases[i].numel);
        tc_model_free(m);
    }
}

static void expect_pool_error(const char *type, const char *shape, const char *fields,
                              tc_status code, const char *needle)
{
    char json[512];
    tct_expect_error(pool_model(json, sizeof json, type, shape, fields), code, needle);
}

static void test_pool_rejects_bad_shapes(void **state)
{
    (void)state;
    expect_pool_error("maxpool2d", "[1, 2, 2]", "\"kernel_size\": 3", TC_ERR_SHAPE,
                      "layers[0] \"p\": the window spans 3 along H but the padded input has "
                      "only 2");
    expect_pool_error("avgpool2d", "[1, 4, 2]", "\"kernel_size\": [2, 3], \"padding\": [0, 0]",
                      TC_ERR_SHAPE, "spans 3 along W");
    expect_pool_error("maxpool2d", "[1, 4, 4]", "\"kernel_size\": 2, \"padding\": [2, 0, 0, 0]",
                      TC_ERR_SHAPE, "first window along H covers only padding");
    expect_pool_error("avgpool2d", "[1, 4, 4]",
                      "\"kernel_size\": 2, \"stride\": 1, \"padding\": [0, 0, 0, 3]", TC_ERR_SHAPE,
                      "last window along W covers only padding");
    /* PyTorch gives -inf here: taps at -1 and 2 miss both input rows 0 and 1. */
    expect_pool_error("maxpool2d", "[1, 2, 2]",
                      "\"kernel_size\": 2, \"stride\": 1, \"padding\": 1, \"dilation\": 3",
                      TC_ERR_SHAPE,
                      "window 0 along H has its taps (dilation 3) only in the padding");
    expect_pool_error("maxpool2d", "[4, 4]", "\"kernel_size\": 2", TC_ERR_SHAPE,
                      "maxpool2d needs a [C, H, W] input, got [4, 4]");
    expect_pool_error("global_avgpool2d", "[1, 2, 3, 4]", "", TC_ERR_SHAPE,
                      "global_avgpool2d needs a [C, H, W] input");
    expect_pool_error("global_maxpool2d", "[7]", "", TC_ERR_SHAPE, "got [7]");
}

static void test_pool_rejects_bad_fields(void **state)
{
    (void)state;
    const char *s = "[1, 4, 4]";
    expect_pool_error("avgpool2d", s, "\"kernel_size\": 2, \"dilation\": 2", TC_ERR_SCHEMA,
                      "layers[0].dilation: unknown field");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 2, \"count_include_pad\": true",
                      TC_ERR_SCHEMA, "layers[0].count_include_pad: unknown field");
    expect_pool_error("global_maxpool2d", s, "\"kernel_size\": 2", TC_ERR_SCHEMA,
                      "layers[0].kernel_size: unknown field");
    expect_pool_error("maxpool2d", s, "\"stride\": 2", TC_ERR_SCHEMA,
                      "layers[0].kernel_size: required field is missing");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 0", TC_ERR_RANGE,
                      "layers[0].kernel_size");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 1048577", TC_ERR_RANGE,
                      "layers[0].kernel_size");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": [2, 2, 2]", TC_ERR_RANGE,
                      "layers[0].kernel_size");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 2, \"stride\": [1, 0]", TC_ERR_RANGE,
                      "layers[0].stride[1]");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 2, \"dilation\": 0", TC_ERR_RANGE,
                      "layers[0].dilation");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 2, \"padding\": -1", TC_ERR_RANGE,
                      "layers[0].padding");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 2, \"padding\": [1, 1, 1]", TC_ERR_RANGE,
                      "layers[0].padding: expected 1, 2 or 4 integers");
    expect_pool_error("avgpool2d", s, "\"kernel_size\": 2, \"padding\": \"full\"", TC_ERR_RANGE,
                      "layers[0].padding");
    expect_pool_error("avgpool2d", s, "\"kernel_size\": 2, \"padding\": true", TC_ERR_SCHEMA,
                      "layers[0].padding: expected an integer");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": \"2\"", TC_ERR_SCHEMA,
                      "layers[0].kernel_size");
    expect_pool_error("maxpool2d", s, "\"kernel_size\": 2, \"ceil_mode\": 1", TC_ERR_SCHEMA,
                      "layers[0].ceil_mode");
    expect_pool_error("avgpool2d", s, "\"kernel_size\": 2, \"count_include_pad\": \"yes\"",
                      TC_ERR_SCHEMA, "layers[0].count_include_pad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_2x2_worked_example),
        cmocka_unit_test(test_maxpool_rectangular_kernel),
        cmocka_unit_test(test_maxpool_3x3_stride2_pad1),
        cmocka_unit_test(test_maxpool_ceil_mode),
        cmocka_unit_test(test_maxpool_dilation2),
        cmocka_unit_test(test_maxpool_asymmetric_and_same_padding),
        cmocka_unit_test(test_avgpool_count_include_pad),
        cmocka_unit_test(test_avgpool_ceil_mode_with_padding),
        cmocka_unit_test(test_avgpool_asymmetric_and_same_padding),
        cmocka_unit_test(test_global_pools_batch3),
        cmocka_unit_test(test_maxpool_propagates_nan),
        cmocka_unit_test(test_maxpool2x2_ties_and_nans_bitwise),
        cmocka_unit_test(test_pool_output_shapes),
        cmocka_unit_test(test_pool_rejects_bad_shapes),
        cmocka_unit_test(test_pool_rejects_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
