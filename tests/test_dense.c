/*
 * test_dense.c - the dense layer: the article's worked example, PyTorch goldens (batch 3, with
 * and without bias, fused activations), a naive reference loop on seeded random data, the
 * reported shape and MACs, and the load errors.
 *
 * Expected values from PyTorch 1.13 (Debian python3-torch) with /usr/bin/python3, "%.9g":
 *
 *   import torch, torch.nn.functional as F
 *   def pat(n, mul, mod, div):
 *       return torch.tensor([((i * mul) % mod - mod // 2) / div for i in range(n)])
 *   x = pat(39, 7, 11, 4).reshape(3, 13); w = pat(52, 5, 9, 8).reshape(4, 13); b = pat(4, 3, 5, 4)
 *   F.leaky_relu(F.linear(x, w))               # test_dense_batch3_no_bias_leaky_relu
 *   F.linear(x, w, b)                          # test_dense_batch3_bias
 *   torch.sigmoid(F.linear(x[:1], w, b))       # test_dense_fused_sigmoid_object
 * (X13 and W4X13 below are x and w printed with tolist().)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

#define MODEL_HEAD "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": "

static const float X13[3 * 13] = {-1.25f, 0.5f,   -0.5f,  1.25f,  0.25f, -0.75f, 1.0f,   0.0f,
                                  -1.0f,  0.75f,  -0.25f, -1.25f, 0.5f,  -0.5f,  1.25f,  0.25f,
                                  -0.75f, 1.0f,   0.0f,   -1.0f,  0.75f, -0.25f, -1.25f, 0.5f,
                                  -0.5f,  1.25f,  0.25f,  -0.75f, 1.0f,  0.0f,   -1.0f,  0.75f,
                                  -0.25f, -1.25f, 0.5f,   -0.5f,  1.25f, 0.25f,  -0.75f};

#define W4X13                                                                                      \
    "[[-0.5, 0.125, -0.375, 0.25, -0.25, 0.375, -0.125, 0.5, 0.0, -0.5, 0.125, -0.375, 0.25],"     \
    " [-0.25, 0.375, -0.125, 0.5, 0.0, -0.5, 0.125, -0.375, 0.25, -0.25, 0.375, -0.125, 0.5],"     \
    " [0.0, -0.5, 0.125, -0.375, 0.25, -0.25, 0.375, -0.125, 0.5, 0.0, -0.5, 0.125, -0.375],"      \
    " [0.25, -0.25, 0.375, -0.125, 0.5, 0.0, -0.5, 0.125, -0.375, 0.25, -0.25, 0.375, -0.125]]"

/* A dense 13 -> 4 model with the pattern weights and `extra` fields. */
static const char *dense13_model(char *buf, size_t len, const char *extra)
{
    snprintf(buf, len,
             MODEL_HEAD "[13]}, \"layers\": [{\"type\": \"dense\", \"in_features\": 13,"
                        " \"out_features\": 4, \"weight\": " W4X13 "%s}]}",
             extra);
    return buf;
}

/* ---- the article's worked example ---- */

/* 0.4 * 1 + 0.3 * -2 + 0.5 * 3 - 0.5 = 0.8; relu keeps it. With b = -2.5 the sum is -1.2. */
static void test_dense_article_unit_relu(void **state)
{
    (void)state;
    const float x[3] = {1, -2, 3};
    const float want[1] = {0.8f};
    tct_check_run(MODEL_HEAD
                  "[3]}, \"layers\": [{\"type\": \"dense\", \"in_features\": 3,"
                  " \"out_features\": 1, \"weight\": [[0.4, 0.3, 0.5]], \"bias\": [-0.5],"
                  " \"activation\": \"relu\"}]}",
                  x, 1, want, 1, ATOL, RTOL);
    const float clamped[1] = {0.0f};
    tct_check_run(MODEL_HEAD "[3]}, \"layers\": [{\"type\": \"dense\", \"in_features\": 3,"
                             " \"out_features\": 1, \"weight\": [0.4, 0.3, 0.5], \"bias\": [-2.5],"
                             " \"activation\": \"relu\"}]}",
                  x, 1, clamped, 1, ATOL, RTOL);
    const float linear[1] = {-1.2f};
    tct_check_run(MODEL_HEAD
                  "[3]}, \"layers\": [{\"type\": \"dense\", \"in_features\": 3,"
                  " \"out_features\": 1, \"weight\": [0.4, 0.3, 0.5], \"bias\": [-2.5]}]}",
                  x, 1, linear, 1, ATOL, RTOL);
}

/* ---- PyTorch goldens: 13 inputs (an 8-wide block plus a tail of 5) ---- */

static void test_dense_batch3_no_bias_leaky_relu(void **state)
{
    (void)state;
    char json[2048];
    const float want[12] = {0.90625f,        1.5625f,          -0.00875000004f, -0.0106250001f,
                            1.5625f,         0.90625f,         -0.0143749993f,  0.15625f,
                            -0.00531250006f, -0.000937499979f, 0.0625f,         -0.00343749998f};
    tct_check_run(dense13_model(json, sizeof json, ", \"activation\": \"leaky_relu\""), X13, 3,
                  want, 12, ATOL, RTOL);
}

static void test_dense_batch3_bias(void **state)
{
    (void)state;
    char json[2048];
    const float want[12] = {0.40625f, 1.8125f,  -1.125f,   -0.5625f, 1.0625f,  1.15625f,
                            -1.6875f, 0.65625f, -1.03125f, 0.15625f, -0.1875f, 0.15625f};
    tct_check_run(dense13_model(json, sizeof json, ", \"bias\": [-0.5, 0.25, -0.25, 0.5]"), X13, 3,
                  want, 12, ATOL, RTOL);
}

static void test_dense_fused_sigmoid_object(void **state)
{
    (void)state;
    char json[2048];
    const float want[4] = {0.600188315f, 0.859663725f, 0.245085016f, 0.36296919f};
    tct_check_run(dense13_model(json, sizeof json,
                                ", \"bias\": [-0.5, 0.25, -0.25, 0.5],"
                                " \"activation\": {\"function\": \"sigmoid\"}"),
                  X13, 1, want, 4, ATOL, RTOL);
}

/* ---- naive reference on seeded random data ---- */

/* n uniform values in [-scale, scale) from a seeded LCG; written as a JSON list into *json_out
 * too when json_out is not NULL. Both test_malloc'd. */
static float *random_values(size_t n, float scale, uint32_t *seed, char **json_out)
{
    float *v = test_malloc(n * sizeof *v);
    char *s = json_out ? test_malloc(n * 18 + 3) : NULL;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        v[i] = scale * ((float)(*seed >> 8) / 8388608.0f - 1.0f);
        if (s)
            used += (size_t)sprintf(s + used, "%s%.9g", i ? "," : "[", (double)v[i]);
    }
    if (s) {
        strcpy(s + used, "]");
        *json_out = s;
    }
    return v;
}

/* 203 inputs (25 blocks of 8 and a tail of 3), 37 outputs, batch 3, against a double sum. */
static void test_dense_random_vs_naive(void **state)
{
    (void)state;
    enum { IN = 203, OUT = 37, BATCH = 3 };
    uint32_t seed = 777;
    char *w_json = NULL;
    char *b_json = NULL;
    float *x = random_values(BATCH * IN, 1.0f, &seed, NULL);
    float *w = random_values(OUT * IN, 1.0f / sqrtf((float)IN), &seed, &w_json);
    float *b = random_values(OUT, 0.5f, &seed, &b_json);
    float want[BATCH * OUT];
    for (int n = 0; n < BATCH; n++) {
        for (int o = 0; o < OUT; o++) {
            double s = b[o];
            for (int i = 0; i < IN; i++)
                s += (double)w[o * IN + i] * x[n * IN + i];
            want[n * OUT + o] = (float)(s > 0 ? s : 0); /* relu */
        }
    }
    size_t len = strlen(w_json) + strlen(b_json) + 512;
    char *json = test_malloc(len);
    snprintf(json, len,
             MODEL_HEAD "[%d]}, \"layers\": [{\"type\": \"dense\", \"in_features\": %d,"
                        " \"out_features\": %d, \"weight\": %s, \"bias\": %s,"
                        " \"activation\": \"relu\"}]}",
             IN, IN, OUT, w_json, b_json);
    tct_check_run(json, x, BATCH, want, BATCH * OUT, ATOL, RTOL);
    test_free(json);
    test_free(b_json);
    test_free(w_json);
    test_free(b);
    test_free(w);
    test_free(x);
}

/* ---- shape and MACs ---- */

static void test_dense_reports_shape_and_macs(void **state)
{
    (void)state;
    char json[2048];
    tc_model *model = tct_load(dense13_model(json, sizeof json, ", \"bias\": [1, 2, 3, 4]"));
    tc_layer_info info;
    assert_int_equal(tc_model_layer_info(model, 0, &info), TC_OK);
    assert_int_equal(info.out_shape.ndim, 1);
    assert_int_equal(info.out_shape.dim[0], 4);
    assert_int_equal(info.macs, 13 * 4);
    assert_int_equal(info.n_params, 13 * 4 + 4);
    tc_model_free(model);
}

/* ---- errors ---- */

static void expect_dense_error(const char *shape, const char *fields, tc_status code,
                               const char *needle)
{
    char json[1024];
    snprintf(json, sizeof json, MODEL_HEAD "%s}, \"layers\": [{\"type\": \"dense\", %s}]}", shape,
             fields);
    tct_expect_error(json, code, needle);
}

#define D32 "\"in_features\": 3, \"out_features\": 2"
#define W23 "\"weight\": [[1, 2, 3], [4, 5, 6]]"

static void test_dense_rejects(void **state)
{
    (void)state;
    expect_dense_error("[1, 1, 3]", "\"name\": \"fc\", " D32 ", " W23, TC_ERR_SHAPE,
                       "layers[0] \"fc\": dense needs a 1-D input per sample, got [1, 1, 3]; "
                       "add a \"flatten\" layer before it");
    expect_dense_error("[4]", D32 ", " W23, TC_ERR_SHAPE,
                       "in_features is 3 but its input has 4 features");
    expect_dense_error("[3]", D32 ", \"weight\": [1, 2, 3, 4, 5]", TC_ERR_WEIGHTS,
                       "weight: has shape [5] (5 values) but the layer needs [2, 3] (6 values)");
    expect_dense_error("[3]", D32 ", \"weight\": [[1, 2], [3, 4], [5, 6]]", TC_ERR_WEIGHTS,
                       "has shape [3, 2] (6 values) but the layer needs [2, 3]");
    expect_dense_error("[3]", D32 ", " W23 ", \"bias\": [1, 2, 3]", TC_ERR_WEIGHTS,
                       "bias: has shape [3]");
    expect_dense_error("[3]", "\"out_features\": 2, " W23, TC_ERR_SCHEMA,
                       "layers[0].in_features: required field is missing");
    expect_dense_error("[3]", "\"in_features\": 3, \"out_features\": 0, " W23, TC_ERR_RANGE,
                       "layers[0].out_features");
    expect_dense_error("[3]", "\"in_features\": \"3\", \"out_features\": 2, " W23, TC_ERR_SCHEMA,
                       "layers[0].in_features");
    expect_dense_error("[3]", D32, TC_ERR_SCHEMA, "layers[0].weight");
    expect_dense_error("[3]", D32 ", \"units\": 2, " W23, TC_ERR_SCHEMA, "units");
    expect_dense_error("[3]", D32 ", \"activation\": 1, " W23, TC_ERR_SCHEMA,
                       "layers[0].activation");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_article_unit_relu),
        cmocka_unit_test(test_dense_batch3_no_bias_leaky_relu),
        cmocka_unit_test(test_dense_batch3_bias),
        cmocka_unit_test(test_dense_fused_sigmoid_object),
        cmocka_unit_test(test_dense_random_vs_naive),
        cmocka_unit_test(test_dense_reports_shape_and_macs),
        cmocka_unit_test(test_dense_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
