/*
 * test_activation.c - the activation layer and the shared tc_act_* helpers (fused activations).
 *
 * Expected values: the article's worked examples, and PyTorch 1.13 (Debian python3-torch) run
 * with /usr/bin/python3 and this snippet (float32; printed with "%.9g"):
 *
 *   import torch, torch.nn.functional as F
 *   X = torch.tensor([-1e4, -90, -20.5, -5, -3, -2.5, -1.5, -0.5, -1e-3, -1e-7, 0,
 *                     1e-7, 1e-3, 0.5, 1.5, 2.5, 3, 5, 20.5, 90, 1e4], dtype=torch.float32)
 *   relu: F.relu(X)   relu6: F.relu6(X)   leaky_relu: F.leaky_relu(X), F.leaky_relu(X, 0.2)
 *   elu: F.elu(X), F.elu(X, 0.5)   selu: F.selu(X)   sigmoid: torch.sigmoid(X)
 *   hard_sigmoid: torch.clamp(0.2 * X + 0.5, 0, 1) (ONNX defaults), F.hardsigmoid(X) (1/6, 0.5)
 *   tanh: torch.tanh(X)   softplus: F.softplus(X)   softsign: F.softsign(X)
 *   gelu: F.gelu(X), F.gelu(X, approximate="tanh")   silu: F.silu(X)   hard_swish: F.hardswish(X)
 *   clip: torch.clamp(X, -1.0, 2.5), torch.clamp(X, min=-3.0), torch.clamp(X, max=0.5)
 *   prelu: F.prelu(X, torch.tensor([0.25]))   chain: torch.tanh(F.leaky_relu(X, 0.2))
 *   torch.manual_seed(0); x = torch.randn(3, 3, 2, 2) * 3           # batch 3 of [3, 2, 2]
 *   F.prelu(x, torch.tensor([0.1, -0.2, 0.3]))
 *   F.prelu(torch.tensor([[-1.0, -2.0, 3.0, -4.0]]), torch.tensor([0.5, 0.25, 2.0, -1.0]))
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tc_internal.h"
#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define N_X 21

/* The input of every torch case: extremes (+-1e4, +-90), the softplus threshold, small values. */
static const float X[N_X] = {-1e4f, -90.0f, -20.5f, -5.0f, -3.0f, -2.5f, -1.5f, -0.5f, -1e-3f,
                             -1e-7f, 0.0f,  1e-7f,  1e-3f, 0.5f,  1.5f,  2.5f,  3.0f,  5.0f,
                             20.5f,  90.0f, 1e4f};

/* A one-layer model: input of `shape`, an activation layer with `fields`. */
static const char *act_model(char *buf, size_t len, const char *shape, const char *fields)
{
    snprintf(buf, len,
             "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": %s},"
             " \"layers\": [{\"type\": \"activation\", %s}]}",
             shape, fields);
    return buf;
}

/* ---- the article's worked examples ---- */

static void test_activation_article_sigmoid(void **state)
{
    (void)state;
    char json[512];
    const float in[4] = {0.8f, -0.9f, 1.2f, -1.1f};
    const float want[4] = {0.68997448f, 0.28905050f, 0.76852478f, 0.24973989f};
    tct_check_run(act_model(json, sizeof json, "[2, 2]", "\"function\": \"sigmoid\""), in, 1,
                  want, 4, ATOL, RTOL);
}

static void test_activation_article_tanh(void **state)
{
    (void)state;
    char json[512];
    const float in[4] = {0.5f, -0.6f, 0.9f, -1.0f};
    const float want[4] = {0.46211716f, -0.53704957f, 0.71629787f, -0.76159416f};
    tct_check_run(act_model(json, sizeof json, "[2, 2]", "\"function\": \"tanh\""), in, 1, want,
                  4, ATOL, RTOL);
}

/* ---- every function against PyTorch over X ---- */

typedef struct act_case {
    const char *name;   /* test name */
    const char *fields; /* the layer's JSON fields */
    float want[N_X];    /* PyTorch's output for X */
} act_case;

static act_case cases[] = {
    {"torch_identity", "\"function\": \"identity\"",
     {-10000, -90, -20.5, -5, -3, -2.5, -1.5, -0.5, -0.00100000005, -1.00000001e-07, 0,
      1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3, 5, 20.5, 90, 10000}},
    {"torch_relu", "\"function\": \"relu\"",
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3, 5,
      20.5, 90, 10000}},
    {"torch_relu6", "\"function\": \"relu6\"",
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3, 5,
      6, 6, 6}},
    {"torch_leaky_relu", "\"function\": \"leaky_relu\"",
     {-100, -0.899999976, -0.204999998, -0.049999997, -0.0299999993, -0.0249999985,
      -0.0149999997, -0.00499999989, -1.00000007e-05, -9.99999972e-10, 0, 1.00000001e-07,
      0.00100000005, 0.5, 1.5, 2.5, 3, 5, 20.5, 90, 10000}},
    {"torch_leaky_relu_a02", "\"function\": \"leaky_relu\", \"alpha\": 0.2",
     {-2000, -18, -4.0999999, -1, -0.600000024, -0.5, -0.300000012, -0.100000001,
      -0.000200000009, -1.99999999e-08, 0, 1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5,
      3, 5, 20.5, 90, 10000}},
    {"torch_elu", "\"function\": \"elu\"",
     {-1, -1, -1, -0.993262053, -0.950212955, -0.917914987, -0.776869833, -0.393469334,
      -0.000999510288, -1.1920929e-07, 0, 1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3,
      5, 20.5, 90, 10000}},
    {"torch_elu_a05", "\"function\": \"elu\", \"alpha\": 0.5",
     {-0.5, -0.5, -0.5, -0.496631026, -0.475106478, -0.458957493, -0.388434917,
      -0.196734667, -0.000499755144, -5.96046448e-08, 0, 1.00000001e-07, 0.00100000005,
      0.5, 1.5, 2.5, 3, 5, 20.5, 90, 10000}},
    {"torch_selu", "\"function\": \"selu\"",
     {-1.75809932, -1.75809932, -1.75809932, -1.74625337, -1.6705687, -1.61378574,
      -1.36581433, -0.691758156, -0.00175723841, -2.09581771e-07, 0, 1.050701e-07,
      0.00105070102, 0.525350511, 1.57605147, 2.62675261, 3.15210295, 5.25350523,
      21.5393715, 94.5630951, 10507.0098}},
    {"torch_sigmoid", "\"function\": \"sigmoid\"",
     {0, 0, 1.25015287e-09, 0.00669285096, 0.0474258736, 0.0758581758, 0.182425529,
      0.377540678, 0.499750018, 0.5, 0.5, 0.50000006, 0.500249982, 0.622459352,
      0.817574441, 0.924141824, 0.952574134, 0.993307173, 1, 1, 1}},
    {"torch_hard_sigmoid", "\"function\": \"hard_sigmoid\"",
     {0, 0, 0, 0, 0, 0, 0.199999988, 0.400000006, 0.499799997, 0.49999997, 0.5, 0.5,
      0.500199974, 0.600000024, 0.800000012, 1, 1, 1, 1, 1, 1}},
    {"torch_hard_sigmoid_torch",
     "\"function\": \"hard_sigmoid\", \"alpha\": 0.16666666666666666, \"beta\": 0.5",
     {0, 0, 0, 0, 0, 0.0833333358, 0.25, 0.416666657, 0.499833345, 0.5, 0.5, 0.5,
      0.500166655, 0.583333313, 0.75, 0.916666687, 1, 1, 1, 1, 1}},
    {"torch_tanh", "\"function\": \"tanh\"",
     {-1, -1, -1, -0.999909222, -0.995054781, -0.986614287, -0.905148268, -0.462117165,
      -0.000999999698, -1.00000001e-07, 0, 1.00000001e-07, 0.000999999698, 0.462117165,
      0.905148268, 0.986614287, 0.995054781, 0.999909222, 1, 1, 1}},
    {"torch_softplus", "\"function\": \"softplus\"",
     {0, 8.19400869e-40, 1.25015287e-09, 0.00671534846, 0.048587352, 0.078889735,
      0.201413289, 0.474076986, 0.692647278, 0.693147123, 0.693147182, 0.693147242,
      0.693647325, 0.974076986, 1.70141327, 2.57888985, 3.04858732, 5.0067153, 20.5, 90,
      10000}},
    {"torch_softsign", "\"function\": \"softsign\"",
     {-0.999899983, -0.98901099, -0.95348835, -0.833333313, -0.75, -0.714285731,
      -0.600000024, -0.333333343, -0.000999000971, -9.9999987e-08, 0, 9.9999987e-08,
      0.000999000971, 0.333333343, 0.600000024, 0.714285731, 0.75, 0.833333313,
      0.95348835, 0.98901099, 0.999899983}},
    {"torch_gelu", "\"function\": \"gelu\"",
     {0, 0, 0, -1.49011612e-06, -0.00404986739, -0.0155241787, -0.10021086, -0.154268786,
      -0.000499601127, -5.00000006e-08, 0, 5.00000006e-08, 0.000500398921, 0.345731199,
      1.39978909, 2.48447585, 2.99595022, 4.99999857, 20.5, 90, 10000}},
    {"torch_gelu_none", "\"function\": \"gelu\", \"approximate\": \"none\"",
     {0, 0, 0, -1.49011612e-06, -0.00404986739, -0.0155241787, -0.10021086, -0.154268786,
      -0.000499601127, -5.00000006e-08, 0, 5.00000006e-08, 0.000500398921, 0.345731199,
      1.39978909, 2.48447585, 2.99595022, 4.99999857, 20.5, 90, 10000}},
    {"torch_gelu_tanh", "\"function\": \"gelu\", \"approximate\": \"tanh\"",
     {-0, -0, -0, -2.98023224e-07, -0.00363743305, -0.0150842965, -0.100428432,
      -0.154285997, -0.000499601068, -4.9999997e-08, 0, 5.00000077e-08, 0.000500398979,
      0.345714003, 1.39957154, 2.48491573, 2.99636269, 4.99999952, 20.5, 90, 10000}},
    {"torch_silu", "\"function\": \"silu\"",
     {-0, -0, -2.56281325e-08, -0.0334642529, -0.142277613, -0.189645454, -0.273638278,
      -0.188770339, -0.000499750022, -5.00000006e-08, 0, 5.00000041e-08, 0.000500250026,
      0.311229676, 1.22636163, 2.31035447, 2.85772252, 4.96653557, 20.5, 90, 10000}},
    {"torch_hard_swish", "\"function\": \"hard_swish\"",
     {-0, -0, -0, -0, -0, -0.208333328, -0.375, -0.208333328, -0.000499833375,
      -5.00000006e-08, 0, 5.00000006e-08, 0.000500166672, 0.291666657, 1.125, 2.29166675,
      3, 5, 20.5, 90, 10000}},
    {"torch_clip", "\"function\": \"clip\", \"min\": -1, \"max\": 2.5",
     {-1, -1, -1, -1, -1, -1, -1, -0.5, -0.00100000005, -1.00000001e-07, 0,
      1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5}},
    {"torch_clip_min", "\"function\": \"clip\", \"min\": -3",
     {-3, -3, -3, -3, -3, -2.5, -1.5, -0.5, -0.00100000005, -1.00000001e-07, 0,
      1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3, 5, 20.5, 90, 10000}},
    {"torch_clip_max", "\"function\": \"clip\", \"max\": 0.5",
     {-10000, -90, -20.5, -5, -3, -2.5, -1.5, -0.5, -0.00100000005, -1.00000001e-07, 0,
      1.00000001e-07, 0.00100000005, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
    {"torch_prelu", "\"function\": \"prelu\", \"slope\": 0.25",
     {-2500, -22.5, -5.125, -1.25, -0.75, -0.625, -0.375, -0.125, -0.000250000012,
      -2.50000003e-08, 0, 1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3, 5, 20.5, 90,
      10000}},
    {"torch_prelu_array", "\"function\": \"prelu\", \"slope\": [0.25]",
     {-2500, -22.5, -5.125, -1.25, -0.75, -0.625, -0.375, -0.125, -0.000250000012,
      -2.50000003e-08, 0, 1.00000001e-07, 0.00100000005, 0.5, 1.5, 2.5, 3, 5, 20.5, 90,
      10000}},
};

static void test_torch_case(void **state)
{
    const act_case *c = *state;
    char json[512];
    tct_check_run(act_model(json, sizeof json, "[21]", c->fields), X, 1, c->want, N_X, ATOL,
                  RTOL);
}

/* Every function again with batch 3: the same values in each sample. */
static void test_activation_batch3(void **state)
{
    (void)state;
    char json[512];
    float in[3 * N_X];
    float want[3 * N_X];
    const act_case *silu = NULL;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (strcmp(cases[k].name, "torch_silu") == 0)
            silu = &cases[k];
    }
    assert_non_null(silu);
    for (int b = 0; b < 3; b++) {
        memcpy(in + b * N_X, X, sizeof X);
        memcpy(want + b * N_X, silu->want, sizeof silu->want);
    }
    tct_check_run(act_model(json, sizeof json, "[21]", silu->fields), in, 3, want, 3 * N_X, ATOL,
                  RTOL);
}

/* Two activations in a row, so the second may run in place on the first's buffer. */
static void test_activation_chain_in_place(void **state)
{
    (void)state;
    const char *json = "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [21]},"
                       " \"layers\": [{\"type\": \"activation\", \"function\": \"leaky_relu\","
                       " \"alpha\": 0.2}, {\"type\": \"activation\", \"function\": \"tanh\"}]}";
    const float want[N_X] = {
        -1, -1, -0.999450862f, -0.761594176f, -0.537049592f, -0.462117165f, -0.291312635f,
        -0.0996679962f, -0.000200000009f, -1.99999999e-08f, 0, 1.00000001e-07f, 0.000999999698f,
        0.462117165f, 0.905148268f, 0.986614287f, 0.995054781f, 0.999909222f, 1, 1, 1};
    tct_check_run(json, X, 1, want, N_X, ATOL, RTOL);
}

/* ---- prelu with one slope per channel ---- */

static const float prelu_x[36] = {
    -3.37751961f, -3.4570806f,  -0.751735747f, -1.30163646f, 2.54613113f,  2.07602739f,
    -0.94803834f, -6.3456583f,  0.96682477f,   -3.79000425f, 1.04994953f,  0.92440176f,
    0.359524518f, 3.71297359f,  3.35033154f,   -0.741834462f, -4.05796146f, -5.08779335f,
    1.69995189f,  2.38052511f,  1.31908751f,   0.337233543f, 1.92237711f,  1.3234688f,
    -0.647589803f, -2.22764444f, 1.68816411f,  0.778882205f, 1.56858134f,  6.90661621f,
    -4.40668154f, -4.76006603f, 3.60967112f,   0.253604084f, -3.60041809f, -0.0143572139f};
static const float prelu_y[36] = {
    -0.337751955f, -0.345708072f, -0.0751735792f, -0.130163655f, 2.54613113f,  2.07602739f,
    0.189607665f,  1.26913166f,   0.96682477f,    -1.13700128f,  1.04994953f,  0.92440176f,
    0.359524518f,  3.71297359f,   3.35033154f,    -0.0741834491f, 0.811592281f, 1.01755869f,
    1.69995189f,   2.38052511f,   1.31908751f,    0.337233543f,  1.92237711f,  1.3234688f,
    -0.0647589788f, -0.222764447f, 1.68816411f,   0.778882205f,  1.56858134f,  6.90661621f,
    0.881336331f,  0.952013195f,  3.60967112f,    0.253604084f,  -1.08012545f, -0.00430716434f};

static void test_activation_prelu_per_channel_batch3(void **state)
{
    (void)state;
    char json[512];
    act_model(json, sizeof json, "[3, 2, 2]",
              "\"function\": \"prelu\", \"slope\": [0.1, -0.2, 0.3]");
    tct_check_run(json, prelu_x, 3, prelu_y, 36, ATOL, RTOL);
}

/* A nested [C, 1, 1] slope (as ONNX stores it) holds one value per channel too. */
static void test_activation_prelu_nested_slope(void **state)
{
    (void)state;
    char json[512];
    act_model(json, sizeof json, "[3, 2, 2]",
              "\"function\": \"prelu\", \"slope\": [[[0.1]], [[-0.2]], [[0.3]]]");
    tct_check_run(json, prelu_x, 1, prelu_y, 12, ATOL, RTOL);
}

/* On a 1-D input the channel is the only dimension. */
static void test_activation_prelu_1d(void **state)
{
    (void)state;
    char json[512];
    const float in[4] = {-1, -2, 3, -4};
    const float want[4] = {-0.5f, -0.5f, 3, 4}; /* -1*0.5, -2*0.25, 3, -4*-1 */
    act_model(json, sizeof json, "[4]", "\"function\": \"prelu\", \"slope\": [0.5, 0.25, 2, -1]");
    tct_check_run(json, in, 1, want, 4, ATOL, RTOL);
}

/* ---- the fused "activation" field of conv2d/dense ---- */

static tc_status parse_fused(const char *layer_json, tc_act *act, tc_error *err)
{
    cJSON *obj = cJSON_Parse(layer_json);
    assert_non_null(obj);
    tc_error_clear(err);
    memset(act, 0xff, sizeof *act);
    tc_status st = tc_act_parse_fused(act, obj, "layers[0]", err);
    cJSON_Delete(obj);
    return st;
}

static void test_act_fused_forms(void **state)
{
    (void)state;
    tc_act act;
    tc_error err;
    assert_int_equal(parse_fused("{\"type\": \"dense\"}", &act, &err), TC_OK);
    assert_int_equal(act.kind, TC_ACT_IDENTITY);
    assert_int_equal(parse_fused("{\"activation\": \"relu\"}", &act, &err), TC_OK);
    assert_int_equal(act.kind, TC_ACT_RELU);
    assert_int_equal(parse_fused("{\"activation\": \"leaky_relu\"}", &act, &err), TC_OK);
    assert_int_equal(act.kind, TC_ACT_LEAKY_RELU);
    assert_float_equal(act.alpha, 0.01f, 1e-9);
    assert_int_equal(parse_fused("{\"activation\": {\"function\": \"hard_sigmoid\", "
                                 "\"alpha\": 0.25}}", &act, &err), TC_OK);
    assert_int_equal(act.kind, TC_ACT_HARD_SIGMOID);
    assert_float_equal(act.alpha, 0.25f, 1e-9);
    assert_float_equal(act.beta, 0.5f, 1e-9);
    assert_int_equal(parse_fused("{\"activation\": {\"function\": \"gelu\", "
                                 "\"approximate\": \"tanh\"}}", &act, &err), TC_OK);
    assert_true(act.gelu_tanh);
    assert_int_equal(parse_fused("{\"activation\": {\"function\": \"clip\", \"max\": 6}}", &act,
                                 &err), TC_OK);
    assert_true(isinf(act.min) && act.min < 0);
    assert_float_equal(act.max, 6.0f, 1e-9);
}

/* Each bad fused field: the status and the JSON path the error names. */
static void expect_fused_error(const char *layer_json, tc_status code, const char *path)
{
    tc_act act;
    tc_error err;
    tc_status st = parse_fused(layer_json, &act, &err);
    if (st != code || strstr(err.path, path) == NULL)
        fail_msg("%s: got %s at \"%s\" (%s), expected %s at \"%s\"", layer_json,
                 tc_status_str(st), err.path, err.message, tc_status_str(code), path);
}

static void test_act_fused_errors(void **state)
{
    (void)state;
    expect_fused_error("{\"activation\": \"prelu\"}", TC_ERR_SCHEMA, "layers[0].activation");
    expect_fused_error("{\"activation\": {\"function\": \"prelu\", \"slope\": 0.1}}",
                       TC_ERR_SCHEMA, "layers[0].activation.function");
    expect_fused_error("{\"activation\": {\"function\": \"relu\", \"alpha\": 0.1}}",
                       TC_ERR_SCHEMA, "layers[0].activation.alpha");
    expect_fused_error("{\"activation\": {\"function\": \"relu\", \"foo\": 1}}", TC_ERR_SCHEMA,
                       "layers[0].activation");
    expect_fused_error("{\"activation\": {\"alpha\": 0.1}}", TC_ERR_SCHEMA,
                       "layers[0].activation.function");
    expect_fused_error("{\"activation\": 3}", TC_ERR_SCHEMA, "layers[0].activation");
    expect_fused_error("{\"activation\": {\"function\": \"clip\", \"min\": 2, \"max\": 1}}",
                       TC_ERR_RANGE, "layers[0].activation.min");

    tc_act act;
    tc_error err;
    assert_int_equal(parse_fused("{\"activation\": \"swish\"}", &act, &err), TC_ERR_RANGE);
    assert_string_equal(err.path, "layers[0].activation");
    assert_non_null(strstr(err.message, "\"swish\""));
    assert_non_null(strstr(err.message, "\"hard_swish\"")); /* the valid names are listed */
}

/* tc_act_apply on its own, at the extremes: no NaN, saturated sigmoid. */
static void test_act_apply_extremes(void **state)
{
    (void)state;
    tc_act act;
    tc_error err;
    float x[5] = {-1e4f, -90.0f, 0.0f, 90.0f, 1e4f};
    const float sig[5] = {0.0f, 8.19401e-40f, 0.5f, 1.0f, 1.0f};
    assert_int_equal(parse_fused("{\"activation\": \"sigmoid\"}", &act, &err), TC_OK);
    tc_act_apply(&act, x, 5);
    tct_assert_close(x, sig, 5, ATOL, RTOL);
    const float same[5] = {1.0f, -2.0f, 3.0f, -4.0f, 5.0f};
    float y[5];
    memcpy(y, same, sizeof y);
    assert_int_equal(parse_fused("{}", &act, &err), TC_OK);
    tc_act_apply(&act, y, 5);
    assert_memory_equal(y, same, sizeof y);
}

/* ---- errors of the layer ---- */

static void expect_layer_error(const char *shape, const char *fields, tc_status code,
                               const char *needle)
{
    char json[512];
    tct_expect_error(act_model(json, sizeof json, shape, fields), code, needle);
}

static void test_activation_rejects(void **state)
{
    (void)state;
    expect_layer_error("[4]", "\"function\": \"swish\"", TC_ERR_RANGE,
                       "layers[0].function: expected one of \"identity\", \"relu\"");
    expect_layer_error("[4]", "\"function\": \"swish\"", TC_ERR_RANGE, "\"hard_swish\"");
    expect_layer_error("[4]", "\"function\": \"gelu\", \"approximate\": \"fast\"",
                       TC_ERR_RANGE, "layers[0].approximate: expected one of \"none\", \"tanh\"");
    expect_layer_error("[4]", "\"function\": \"relu\", \"alpha\": 0.1", TC_ERR_SCHEMA,
                       "layers[0].alpha: not used by function \"relu\"");
    expect_layer_error("[4]", "\"function\": \"leaky_relu\", \"beta\": 0.1", TC_ERR_SCHEMA,
                       "layers[0].beta: not used by function \"leaky_relu\"");
    expect_layer_error("[4]", "\"function\": \"sigmoid\", \"slope\": 0.1", TC_ERR_SCHEMA,
                       "layers[0].slope: not used by function \"sigmoid\"");
    expect_layer_error("[4]", "\"function\": \"silu\", \"approximate\": \"tanh\"", TC_ERR_SCHEMA,
                       "layers[0].approximate: not used");
    expect_layer_error("[4]", "\"function\": \"relu6\", \"max\": 6", TC_ERR_SCHEMA,
                       "layers[0].max: not used");
    expect_layer_error("[4]", "\"function\": \"clip\", \"min\": 3, \"max\": 1", TC_ERR_RANGE,
                       "layers[0].min: min (3) must be <= max (1)");
    expect_layer_error("[4]", "\"alpha\": 0.1", TC_ERR_SCHEMA, "layers[0].function");
    expect_layer_error("[4]", "\"function\": 1", TC_ERR_SCHEMA, "layers[0].function");
    expect_layer_error("[4]", "\"function\": \"elu\", \"alpha\": \"big\"", TC_ERR_SCHEMA,
                       "layers[0].alpha");
    expect_layer_error("[4]", "\"function\": \"relu\", \"slopes\": 1", TC_ERR_SCHEMA, "slopes");
}

static void test_activation_prelu_rejects(void **state)
{
    (void)state;
    expect_layer_error("[3, 2, 2]", "\"function\": \"prelu\", \"slope\": [0.1, 0.2]",
                       TC_ERR_WEIGHTS, "slope has 2 values but the input [3, 2, 2] has 3 channels");
    expect_layer_error("[4]", "\"function\": \"prelu\", \"slope\": [1, 2, 3]", TC_ERR_WEIGHTS,
                       "expected 1 or 4");
    expect_layer_error("[4]", "\"function\": \"prelu\"", TC_ERR_SCHEMA, "layers[0].slope");
    expect_layer_error("[4]", "\"function\": \"prelu\", \"slope\": \"x\"", TC_ERR_SCHEMA,
                       "layers[0].slope");
}

#define TORCH_TEST(i) {cases[i].name, test_torch_case, NULL, NULL, &cases[i]}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_article_sigmoid),
        cmocka_unit_test(test_activation_article_tanh),
        TORCH_TEST(0),  TORCH_TEST(1),  TORCH_TEST(2),  TORCH_TEST(3),  TORCH_TEST(4),
        TORCH_TEST(5),  TORCH_TEST(6),  TORCH_TEST(7),  TORCH_TEST(8),  TORCH_TEST(9),
        TORCH_TEST(10), TORCH_TEST(11), TORCH_TEST(12), TORCH_TEST(13), TORCH_TEST(14),
        TORCH_TEST(15), TORCH_TEST(16), TORCH_TEST(17), TORCH_TEST(18), TORCH_TEST(19),
        TORCH_TEST(20), TORCH_TEST(21), TORCH_TEST(22), TORCH_TEST(23),
        cmocka_unit_test(test_activation_batch3),
        cmocka_unit_test(test_activation_chain_in_place),
        cmocka_unit_test(test_activation_prelu_per_channel_batch3),
        cmocka_unit_test(test_activation_prelu_nested_slope),
        cmocka_unit_test(test_activation_prelu_1d),
        cmocka_unit_test(test_act_fused_forms),
        cmocka_unit_test(test_act_fused_errors),
        cmocka_unit_test(test_act_apply_extremes),
        cmocka_unit_test(test_activation_rejects),
        cmocka_unit_test(test_activation_prelu_rejects),
    };
    /* Every torch case is listed above exactly once. */
    static_assert(sizeof cases / sizeof cases[0] == 24, "update the TORCH_TEST list");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
