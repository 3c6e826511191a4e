/*
 * test_batchnorm.c - the batchnorm layer (inference form, fixed statistics).
 *
 * Expected values: PyTorch 1.13 (float32, /usr/bin/python3, printed with "%.9g"). The inputs are
 * exact in float32 and made the same way here (make_input):
 *
 *   import torch, torch.nn.functional as F
 *   x = (((torch.arange(36) * 7) % 36).float() / 4 - 4).reshape(2, 3, 2, 3)  # batch 2, [3, 2, 3]
 *   scale = torch.tensor([0.5, -1.25, 2.0]); bias = torch.tensor([0.1, 0.0, -3.0])
 *   mean = torch.tensor([-0.5, 1.0, 0.25]); var = torch.tensor([4.0, 0.0, 0.3])
 *   bn_chw = F.batch_norm(x, mean, var, scale, bias, training=False, eps=1e-5)
 *   v = (((torch.arange(12) * 5) % 12).float() / 2 - 3).reshape(3, 4)        # batch 3 of [4]
 *   s4 = torch.tensor([1.0, 2.0, -0.5, 0.75]); b4 = torch.tensor([0.0, 1.0, 2.0, -1.0])
 *   m4 = torch.tensor([0.5, -1.0, 2.0, 0.0]); v4 = torch.tensor([1.0, 9.0, 0.01, 100.0])
 *   bn_c = F.batch_norm(v, m4, v4, s4, b4, training=False, eps=1e-3)
 *   bn_c_l = F.batch_norm(v.reshape(3, 2, 2), m4[:2], v4[:2], s4[:2], b4[:2], training=False)
 * The zero variance in bn_chw makes the default epsilon visible (outputs near 1400).
 */
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

#define CHW_WEIGHTS                                                                              \
    "\"scale\": [0.5, -1.25, 2.0], \"bias\": [0.1, 0.0, -3.0], \"mean\": [-0.5, 1.0, 0.25], "  \
    "\"var\": [4.0, 0.0, 0.3]"
#define C4_WEIGHTS                                                                               \
    "\"scale\": [1.0, 2.0, -0.5, 0.75], \"bias\": [0.0, 1.0, 2.0, -1.0], "                     \
    "\"mean\": [0.5, -1.0, 2.0, 0.0], \"var\": [1.0, 9.0, 0.01, 100.0]"
#define C2_WEIGHTS                                                                               \
    "\"scale\": [1.0, 2.0], \"bias\": [0.0, 1.0], \"mean\": [0.5, -1.0], \"var\": [1.0, 9.0]"

static const float bn_chw[36] = {
    -0.774998963f, -0.337499499f, 0.099999994f, 0.537499487f, 0.974998951f, 1.41249847f,
    1383.49658f, 691.748291f, 0, -691.748291f, -1383.49658f, 1482.31775f, -7.5642786f,
    -1.17428851f, 5.2157011f, 11.605691f, -14.8671236f, -8.47713375f, 0.349999696f, 0.787499189f,
    1.22499871f, -0.587499201f, -0.149999708f, 0.287499785f, -395.284729f, -1087.03296f,
    1778.78125f, 1087.03296f, 395.284729f, -296.463562f, 8.8671236f, -17.60569f, -11.2157011f,
    -4.82571125f, 1.56427848f, 7.95426846f
};
static const float bn_c[12] = {
    -3.49825144f, 1.33331478f, 2, -1.11249948f, 0.499750197f, 5.55217266e-05f, 11.534626f,
    -0.812500954f, -1.49925065f, 2.666574f, 21.069252f, -0.962500215f
};
static const float bn_c_l[12] = {
    -3.49998236f, -0.999994993f, 2.99999881f, 0.666666865f, 0.499997497f, -2.99998498f,
    1.66666627f, 3.33333206f, -1.49999249f, 0.999994993f, 0.333333731f, 1.9999994f
};

/* x[i] = ((i * mul) % n) / div - off: a permutation of exact float32 values (see the header). */
static void make_input(float *x, int n, int mul, float div, float off)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)((i * mul) % n) / div - off;
}

/* A one-layer batchnorm model on an input of `shape` with `fields`. */
static const char *bn_model(char *buf, size_t len, const char *shape, const char *fields)
{
    snprintf(buf, len,
             "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": %s},"
             " \"layers\": [{\"name\": \"bn\", \"type\": \"batchnorm\", %s}]}",
             shape, fields);
    return buf;
}

static void test_batchnorm_chw_default_epsilon(void **state)
{
    (void)state;
    char json[1024];
    float x[36];
    make_input(x, 36, 7, 4.0f, 4.0f);
    tct_check_run(bn_model(json, sizeof json, "[3, 2, 3]", CHW_WEIGHTS), x, 2, bn_chw, 36, ATOL,
                  RTOL);
    tct_check_run(bn_model(json, sizeof json, "[3, 2, 3]", CHW_WEIGHTS ", \"epsilon\": 1e-5"), x,
                  2, bn_chw, 36, ATOL, RTOL);
}

/* A 1-D input: each element is its own channel (BatchNorm1d on [N, C]). */
static void test_batchnorm_1d_channels_batch3(void **state)
{
    (void)state;
    char json[1024];
    float v[12];
    make_input(v, 12, 5, 2.0f, 3.0f);
    tct_check_run(bn_model(json, sizeof json, "[4]", C4_WEIGHTS ", \"epsilon\": 0.001"), v, 3,
                  bn_c, 12, ATOL, RTOL);
}

/* [C, L]: channels first, L values each (BatchNorm1d on [N, C, L]). */
static void test_batchnorm_2d_input(void **state)
{
    (void)state;
    char json[1024];
    float v[12];
    make_input(v, 12, 5, 2.0f, 3.0f);
    tct_check_run(bn_model(json, sizeof json, "[2, 2]", C2_WEIGHTS), v, 3, bn_c_l, 12, ATOL,
                  RTOL);
}

/* After a relu whose output dies at the batchnorm, the planner lets it run in place. */
static void test_batchnorm_in_place_after_relu(void **state)
{
    (void)state;
    const char *json = "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [2, 2]},"
                       " \"layers\": [{\"type\": \"activation\", \"function\": \"relu\"},"
                       " {\"type\": \"batchnorm\", " C2_WEIGHTS "}]}";
    /* relu(v) by hand, then y = (x - mean) / sqrt(var + 1e-5) * scale + bias per channel:
     * channel 0 (x, 0.5, 1), channel 1 (x, -1, 9, scale 2, bias 1). */
    const float in[4] = {-3, 2, -1, 4};
    const float want[4] = {(0 - 0.5f) / 1.000005f, (2 - 0.5f) / 1.000005f,
                           (0 + 1) / 3.00000167f * 2 + 1, (4 + 1) / 3.00000167f * 2 + 1};
    tct_check_run(json, in, 1, want, 4, ATOL, RTOL);
}

/* A negative variance is only visible once the weights are read (after shape inference); the
 * load still refuses it, naming the layer and the index, instead of producing NaN later. */
static void test_batchnorm_load_refuses_negative_var(void **state)
{
    (void)state;
    char json[1024];
    tct_expect_error(bn_model(json, sizeof json, "[2]",
                              "\"scale\": [1, 1], \"bias\": [0, 0], \"mean\": [0, 0], "
                              "\"var\": [1, -0.5]"),
                     TC_ERR_WEIGHTS, "\"bn\": var[1] is -0.5; a variance must not be negative");
}

static void test_batchnorm_rejects_bad_models(void **state)
{
    (void)state;
    char json[1024];
    tct_expect_error(bn_model(json, sizeof json, "[2, 2, 3]", CHW_WEIGHTS), TC_ERR_WEIGHTS,
                     "layers[0] \"bn\".scale: has shape [3] (3 values) but the layer needs [2]");
    tct_expect_error(bn_model(json, sizeof json, "[3, 1, 1]",
                              "\"scale\": [[1, 2, 3]], \"bias\": [0, 0, 0], "
                              "\"mean\": [0, 0, 0], \"var\": [1, 1, 1]"),
                     TC_ERR_WEIGHTS, "scale: has shape [1, 3]");
    tct_expect_error(bn_model(json, sizeof json, "[4]", C4_WEIGHTS ", \"epsilon\": 0"),
                     TC_ERR_RANGE, "layers[0].epsilon: epsilon must be > 0, got 0");
    tct_expect_error(bn_model(json, sizeof json, "[4]", C4_WEIGHTS ", \"epsilon\": -1e-5"),
                     TC_ERR_RANGE, "layers[0].epsilon: epsilon must be > 0");
    tct_expect_error(bn_model(json, sizeof json, "[4]", C4_WEIGHTS ", \"epsilon\": \"small\""),
                     TC_ERR_SCHEMA, "layers[0].epsilon");
    tct_expect_error(bn_model(json, sizeof json, "[2]",
                              "\"scale\": [1, 1], \"bias\": [0, 0], \"mean\": [0, 0]"),
                     TC_ERR_SCHEMA, "layers[0].var: required weight is missing");
    tct_expect_error(bn_model(json, sizeof json, "[2]", C2_WEIGHTS ", \"momentum\": 0.1"),
                     TC_ERR_SCHEMA, "layers[0].momentum: unknown field");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_chw_default_epsilon),
        cmocka_unit_test(test_batchnorm_1d_channels_batch3),
        cmocka_unit_test(test_batchnorm_2d_input),
        cmocka_unit_test(test_batchnorm_in_place_after_relu),
        cmocka_unit_test(test_batchnorm_load_refuses_negative_var),
        cmocka_unit_test(test_batchnorm_rejects_bad_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
