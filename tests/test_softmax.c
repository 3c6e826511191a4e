/*
 * test_softmax.c - the softmax and log_softmax layers.
 *
 * Expected values: the article's worked example, a slow double-precision reference written here
 * (naive indexing, no max trick needed in double for these inputs), and PyTorch 1.13 run with
 * /usr/bin/python3 and this snippet (float32; printed with "%.9g"):
 *
 *   import torch
 *   torch.manual_seed(1); x = torch.randn(2, 2, 3, 4) * 2      # batch 2 of [C=2, H=3, W=4]
 *   torch.softmax(x, dim=1), torch.softmax(x, dim=2), torch.softmax(x, dim=3)   # axis 0, 1, 2
 *   torch.log_softmax(x, dim=1)
 *   big = torch.tensor([[-1000.0, 1000.0, 0.0, 999.0], [-1000.0, -1000.0, -1001.0, -999.0],
 *                       [-90.0, 88.0, 89.0, 90.0]])              # batch 3 of [4]
 *   torch.softmax(big, dim=1), torch.log_softmax(big, dim=1)
 *   bt = big.t().contiguous()                                 # one sample [4, 3], axis 0
 *   torch.softmax(bt, dim=0), torch.log_softmax(bt, dim=0)
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

/* A one-layer model: input of `shape`, a layer of `type` with optional extra `fields`. */
static const char *sm_model(char *buf, size_t len, const char *type, const char *shape,
                            const char *fields)
{
    snprintf(buf, len,
             "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": %s},"
             " \"layers\": [{\"type\": \"%s\"%s%s}]}",
             shape, type, fields[0] ? ", " : "", fields);
    return buf;
}

static const float sm_x[48] = {
    -3.05119181f, -1.5004636f, -1.30796182f, -3.21896958f, -0.200334355f, -1.21837783f,
    -1.95954454f, -3.21819258f, -1.42428923f, 0.607443988f, -1.55462861f, -0.502910495f,
    -0.444540977f, 3.37422681f, 0.45685035f, 0.935271025f, -1.39394486f, -2.32152295f,
    1.39908481f, 0.398163259f, 1.73138475f, 0.488807797f, -1.32582271f, 1.61461651f,
    2.20336127f, -0.351872087f, -4.49111557f, -2.89291596f, 0.122310564f, -1.23548889f,
    -1.59613967f, -0.263246417f, 3.75869155f, -0.144263566f, 0.315541208f, -1.54690981f,
    0.398113012f, 0.0914055556f, 0.305913836f, -0.951357603f, -0.222039655f, 0.585470498f,
    -0.315690309f, -0.0575742796f, 4.71422195f, -2.07467747f, 3.14959621f, -1.25969446f};

static const float sm_axis0[48] = {
    0.0687116086f, 0.00757956831f, 0.146188676f, 0.015455097f, 0.767386138f, 0.750849009f,
    0.0336137228f, 0.0261768084f, 0.040868286f, 0.529624283f, 0.443046808f, 0.107404932f,
    0.931288362f, 0.992420375f, 0.853811383f, 0.984544873f, 0.232613802f, 0.249151066f,
    0.966386318f, 0.97382313f, 0.959131718f, 0.470375687f, 0.556953251f, 0.892595112f,
    0.858786643f, 0.390960246f, 0.00818665512f, 0.125476748f, 0.585246861f, 0.139318809f,
    0.21747373f, 0.448762447f, 0.277773976f, 0.873295248f, 0.055511415f, 0.428685725f,
    0.141213402f, 0.609039783f, 0.991813302f, 0.874523222f, 0.414753169f, 0.860681236f,
    0.782526255f, 0.551237583f, 0.722226083f, 0.126704767f, 0.944488645f, 0.571314275f};

static const float sm_axis1[48] = {
    0.0427520312f, 0.0947248414f, 0.434287637f, 0.0584064536f, 0.739721775f, 0.125594944f,
    0.226359501f, 0.0584518686f, 0.217526183f, 0.779680192f, 0.339352816f, 0.883141696f,
    0.0980650857f, 0.944116175f, 0.267816782f, 0.281134039f, 0.037948411f, 0.0031724351f,
    0.68713969f, 0.164304867f, 0.863986492f, 0.0527113266f, 0.0450435653f, 0.554561138f,
    0.170606256f, 0.378212452f, 0.00707188295f, 0.0534438193f, 0.0212914944f, 0.156309694f,
    0.127881318f, 0.741222322f, 0.80810225f, 0.465477884f, 0.865046799f, 0.205333859f,
    0.0130831022f, 0.36316219f, 0.0534302518f, 0.239290103f, 0.00703690527f, 0.595210135f,
    0.0286964364f, 0.584911168f, 0.979880035f, 0.0416277312f, 0.917873383f, 0.175798729f};

static const float sm_axis2[48] = {
    0.0814583004f, 0.384067953f, 0.465597361f, 0.0688763931f, 0.631956339f, 0.228326529f,
    0.108810753f, 0.0309063625f, 0.0832095891f, 0.634664118f, 0.0730411708f, 0.209085122f,
    0.0188731831f, 0.859636664f, 0.046485167f, 0.0750049502f, 0.0421442538f, 0.0166684948f,
    0.688233495f, 0.252953738f, 0.449347407f, 0.129699394f, 0.021127779f, 0.399825454f,
    0.921632349f, 0.0715869516f, 0.00114073104f, 0.00563991582f, 0.472446442f, 0.121525601f,
    0.0847303793f, 0.321297467f, 0.945975602f, 0.0190918539f, 0.030237006f, 0.00469555194f,
    0.343977481f, 0.253121287f, 0.313681155f, 0.0892200321f, 0.187558085f, 0.42056486f,
    0.170790538f, 0.221086472f, 0.824513257f, 0.000928573019f, 0.172460377f, 0.00209777383f};

static const float lsm_axis0[48] = {
    -2.67783713f, -4.88229895f, -1.92285717f, -4.16981649f, -0.264765143f, -0.28655073f,
    -3.39282084f, -3.64288139f, -3.19740081f, -0.635587394f, -0.814079881f, -2.2311492f,
    -0.0711862966f, -0.00760848261f, -0.158044979f, -0.0155757833f, -1.45837569f,
    -1.38969588f, -0.0341916345f, -0.0265255682f, -0.0417268872f, -0.754223585f,
    -0.585273981f, -0.113622196f, -0.152234793f, -0.93914938f, -4.80524969f, -2.07563472f,
    -0.53572154f, -1.97099042f, -1.5256772f, -0.801261544f, -1.28094745f, -0.135481551f,
    -2.89116669f, -0.847031176f, -1.95748305f, -0.495871723f, -0.00822040904f, -0.134076402f,
    -0.880071759f, -0.15003109f, -0.245227799f, -0.595589399f, -0.325417101f, -2.06589556f,
    -0.0571116284f, -0.559815824f};

static const float big_x[12] = {
    -1000, 1000, 0, 999, -1000, -1000, -1001, -999, -90, 88, 89, 90};

static const float sm_big[12] = {
    0, 0.731058598f, 0, 0.268941432f, 0.196611941f, 0.196611941f, 0.0723294914f, 0.534446657f,
    0, 0.0900305733f, 0.244728476f, 0.665240943f};

static const float lsm_big[12] = {
    -2000.31323f, -0.313261658f, -1000.31323f, -1.31326163f, -1.62652349f, -1.62652349f,
    -2.62652349f, -0.626523435f, -180.407608f, -2.40760589f, -1.40760589f, -0.407605946f};

static const float big_t[12] = {
    -1000, -1000, -90, 1000, -1000, 88, 0, -1001, 89, 999, -999, 90};

static const float sm_big_t[12] = {
    0, 0.196611926f, 0, 0.731058598f, 0.196611926f, 0.0900305733f, 0, 0.0723294839f,
    0.244728476f, 0.268941432f, 0.534446657f, 0.665240943f};

static const float lsm_big_t[12] = {
    -2000.31323f, -1.62652349f, -180.407608f, -0.313261658f, -1.62652349f, -2.40760589f,
    -1000.31323f, -2.62652349f, -1.40760589f, -1.31326163f, -0.626523435f, -0.407605946f};

static void test_softmax_article(void **state)
{
    (void)state;
    char json[512];
    const float in[3] = {2.0f, 1.0f, 0.1f};
    const float want[3] = {0.65900114f, 0.24243297f, 0.09856589f};
    tct_check_run(sm_model(json, sizeof json, "softmax", "[3]", ""), in, 1, want, 3, ATOL, RTOL);
}

/* Default axis 0 of [C, H, W]: over the channels at each (h, w), values 12 floats apart. */
static void test_softmax_axis0_default_chw(void **state)
{
    (void)state;
    char json[512];
    tct_check_run(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", ""), sm_x, 2, sm_axis0, 48,
                  ATOL, RTOL);
    tct_check_run(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", "\"axis\": -3"), sm_x, 2,
                  sm_axis0, 48, ATOL, RTOL);
}

static void test_softmax_axis1_and_2(void **state)
{
    (void)state;
    char json[512];
    tct_check_run(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", "\"axis\": 1"), sm_x, 2,
                  sm_axis1, 48, ATOL, RTOL);
    tct_check_run(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", "\"axis\": -2"), sm_x, 2,
                  sm_axis1, 48, ATOL, RTOL);
    tct_check_run(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", "\"axis\": 2"), sm_x, 2,
                  sm_axis2, 48, ATOL, RTOL);
    tct_check_run(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", "\"axis\": -1"), sm_x, 2,
                  sm_axis2, 48, ATOL, RTOL);
}

static void test_log_softmax_axis0(void **state)
{
    (void)state;
    char json[512];
    tct_check_run(sm_model(json, sizeof json, "log_softmax", "[2, 3, 4]", ""), sm_x, 2, lsm_axis0,
                  48, ATOL, RTOL);
}

/* Logits of +-1000 must not overflow: exact probabilities, finite log-probabilities. */
static void test_softmax_large_logits_batch3(void **state)
{
    (void)state;
    char json[512];
    tct_check_run(sm_model(json, sizeof json, "softmax", "[4]", ""), big_x, 3, sm_big, 12, ATOL,
                  RTOL);
    tct_check_run(sm_model(json, sizeof json, "log_softmax", "[4]", ""), big_x, 3, lsm_big, 12,
                  ATOL, RTOL);
    /* The same rows as columns: the strided path. */
    tct_check_run(sm_model(json, sizeof json, "softmax", "[4, 3]", ""), big_t, 1, sm_big_t, 12,
                  ATOL, RTOL);
    tct_check_run(sm_model(json, sizeof json, "log_softmax", "[4, 3]", ""), big_t, 1, lsm_big_t,
                  12, ATOL, RTOL);
}

/* After another layer, so that the planner may let softmax run in place. */
static void test_softmax_after_activation(void **state)
{
    (void)state;
    const char *json = "{\"format\": \"tinycnn\", \"version\": 1,"
                       " \"input\": {\"shape\": [2, 3, 4]}, \"layers\": ["
                       " {\"type\": \"activation\", \"function\": \"identity\"},"
                       " {\"type\": \"softmax\", \"axis\": 1}]}";
    tct_check_run(json, sm_x, 2, sm_axis1, 48, ATOL, RTOL);
}

/* ---- a slow reference, in double, on pseudo-random [3, 4, 5] inputs ---- */

#define R_C 3
#define R_H 4
#define R_W 5
#define R_N (R_C * R_H * R_W)
#define R_BATCH 2

static void reference(const float *x, double *y, int axis, bool log_form)
{
    const int dim[3] = {R_C, R_H, R_W};
    for (int b = 0; b < R_BATCH; b++) {
        for (int c = 0; c < R_C; c++) {
            for (int h = 0; h < R_H; h++) {
                for (int w = 0; w < R_W; w++) {
                    int at[3] = {c, h, w};
                    double sum = 0.0;
                    for (int k = 0; k < dim[axis]; k++) {
                        int idx[3] = {c, h, w};
                        idx[axis] = k;
                        sum += exp((double)x[b * R_N + (idx[0] * R_H + idx[1]) * R_W + idx[2]]);
                    }
                    int i = b * R_N + (at[0] * R_H + at[1]) * R_W + at[2];
                    y[i] = log_form ? (double)x[i] - log(sum) : exp((double)x[i]) / sum;
                }
            }
        }
    }
}

static void test_softmax_matches_reference_every_axis(void **state)
{
    (void)state;
    float x[R_BATCH * R_N];
    double ref[R_BATCH * R_N];
    float want[R_BATCH * R_N];
    uint32_t seed = 12345;
    for (int i = 0; i < R_BATCH * R_N; i++) {
        seed = seed * 1664525u + 1013904223u; /* LCG: values in [-8, 8) */
        x[i] = (float)(seed >> 8) / (float)(1u << 24) * 16.0f - 8.0f;
    }
    for (int log_form = 0; log_form < 2; log_form++) {
        for (int axis = 0; axis < 3; axis++) {
            char fields[32];
            char json[512];
            snprintf(fields, sizeof fields, "\"axis\": %d", axis);
            reference(x, ref, axis, log_form);
            for (int i = 0; i < R_BATCH * R_N; i++)
                want[i] = (float)ref[i];
            sm_model(json, sizeof json, log_form ? "log_softmax" : "softmax", "[3, 4, 5]", fields);
            tct_check_run(json, x, R_BATCH, want, R_BATCH * R_N, ATOL, RTOL);
        }
    }
}

/* ---- errors ---- */

static void test_softmax_rejects_bad_axis(void **state)
{
    (void)state;
    char json[512];
    tct_expect_error(sm_model(json, sizeof json, "softmax", "[2, 3, 4]", "\"axis\": 3"),
                     TC_ERR_SHAPE,
                     "axis is 3 but the input [2, 3, 4] has 3 dimensions (expected -3..2)");
    tct_expect_error(sm_model(json, sizeof json, "log_softmax", "[2, 3, 4]", "\"axis\": -4"),
                     TC_ERR_SHAPE, "axis is -4 but the input [2, 3, 4] has 3 dimensions");
    tct_expect_error(sm_model(json, sizeof json, "softmax", "[10]", "\"axis\": 1"), TC_ERR_SHAPE,
                     "axis is 1");
    tct_expect_error(sm_model(json, sizeof json, "softmax", "[10]", "\"axis\": 4"), TC_ERR_RANGE,
                     "layers[0].axis");
    tct_expect_error(sm_model(json, sizeof json, "softmax", "[10]", "\"axis\": -5"), TC_ERR_RANGE,
                     "layers[0].axis");
    tct_expect_error(sm_model(json, sizeof json, "softmax", "[10]", "\"axis\": 0.5"),
                     TC_ERR_SCHEMA, "layers[0].axis");
    tct_expect_error(sm_model(json, sizeof json, "softmax", "[10]", "\"axis\": \"c\""),
                     TC_ERR_SCHEMA, "layers[0].axis");
    tct_expect_error(sm_model(json, sizeof json, "log_softmax", "[10]", "\"dim\": 0"),
                     TC_ERR_SCHEMA, "dim");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_article),
        cmocka_unit_test(test_softmax_axis0_default_chw),
        cmocka_unit_test(test_softmax_axis1_and_2),
        cmocka_unit_test(test_log_softmax_axis0),
        cmocka_unit_test(test_softmax_large_logits_batch3),
        cmocka_unit_test(test_softmax_after_activation),
        cmocka_unit_test(test_softmax_matches_reference_every_axis),
        cmocka_unit_test(test_softmax_rejects_bad_axis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
