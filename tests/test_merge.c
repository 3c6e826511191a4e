/*
 * test_merge.c - the add and concat layers, in graphs built with "inputs".
 *
 * Expected values: PyTorch 1.13 (float32, /usr/bin/python3, printed with "%.9g"). The input is
 * exact in float32 and made the same way here (make_input):
 *
 *   import torch, torch.nn.functional as F
 *   x = (((torch.arange(36) * 11) % 36).float() / 6 - 3).reshape(3, 2, 2, 3)  # batch 3, [2, 2, 3]
 *   a, b = torch.relu(x), torch.tanh(x)
 *   add2 = a + b; add3 = a + b + x; add_aba = a + b + a
 *   cat_c = torch.cat([a, x], dim=1)                                  # axis 0
 *   cat_h = torch.cat([b, F.max_pool2d(x, (2, 1)), a], dim=2)         # axis 1: H = 2 + 1 + 2
 *   cat_w = torch.cat([a, b], dim=3)                                  # axis -1
 *   cat_nested = torch.cat([x, torch.cat([x, a], dim=1)], dim=1)      # C = 2 + 4
 */
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4

/* Model head, and layers "a" = relu(input), "b" = tanh(input), "p" = maxpool over H pairs. */
#define HEAD "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [2, 2, 3]},"
#define LAYER_A "{\"name\": \"a\", \"type\": \"activation\", \"function\": \"relu\"}"
#define LAYER_B                                                                                  \
    "{\"name\": \"b\", \"type\": \"activation\", \"function\": \"tanh\", \"inputs\": [\"input\"]}"
#define LAYER_P                                                                                  \
    "{\"name\": \"p\", \"type\": \"maxpool2d\", \"kernel_size\": [2, 1], \"inputs\": [\"input\"]}"

static const float add2[36] = {
    -0.995054781f, -0.823200643f, 1.24944973f, 3.48661423f, -0.931109607f, 0.331807256f,
    2.96402764f, -0.974092543f, -0.321512669f, 2.40514827f, -0.99039048f, -0.682261765f,
    1.76159418f, 3.82643867f, -0.870061696f, 0.962117195f, 3.31470156f, -0.950151145f, 0,
    2.7834847f, -0.981368065f, -0.462117165f, 2.20339513f, -0.993105114f, -0.761594176f,
    1.51559496f, 3.65705705f, -0.905148268f, 0.654845953f, 3.14075899f, -0.964027584f,
    -0.165140495f, 2.59777617f, -0.986614287f, -0.582782984f, 1.98986709f
};
static const float add3[36] = {
    -3.99505472f, -1.98986721f, 1.91611648f, 5.98661423f, -2.59777617f, 0.498474002f, 4.9640274f,
    -3.14075923f, -0.654845953f, 3.90514827f, -3.65705729f, -1.51559496f, 2.7615943f, 6.65977192f,
    -2.20339513f, 1.4621172f, 5.64803505f, -2.78348446f, 0, 4.61681843f, -3.31470132f,
    -0.962117195f, 3.53672862f, -3.82643843f, -1.76159418f, 2.34892821f, 6.32372379f, -2.40514827f,
    0.988179207f, 5.3074255f, -2.96402764f, -0.331807256f, 4.26444244f, -3.48661423f, -1.24944973f,
    3.15653372f
};
static const float add_aba[36] = {
    -0.995054781f, -0.823200643f, 1.91611648f, 5.98661423f, -0.931109607f, 0.498474002f,
    4.9640274f, -0.974092543f, -0.321512669f, 3.90514827f, -0.99039048f, -0.682261765f, 2.7615943f,
    6.65977192f, -0.870061696f, 1.4621172f, 5.64803505f, -0.950151145f, 0, 4.61681843f,
    -0.981368065f, -0.462117165f, 3.53672862f, -0.993105114f, -0.761594176f, 2.34892821f,
    6.32372379f, -0.905148268f, 0.988179207f, 5.3074255f, -0.964027584f, -0.165140495f,
    4.26444244f, -0.986614287f, -0.582782984f, 3.15653372f
};
static const float cat_c[72] = {
    0, 0, 0.666666746f, 2.5f, 0, 0.166666746f, 2, 0, 0, 1.5f, 0, 0, -3, -1.16666663f, 0.666666746f,
    2.5f, -1.66666663f, 0.166666746f, 2, -2.16666675f, -0.333333254f, 1.5f, -2.66666675f,
    -0.833333254f, 1, 2.83333349f, 0, 0.5f, 2.33333349f, 0, 0, 1.83333349f, 0, 0, 1.33333349f, 0,
    1, 2.83333349f, -1.33333337f, 0.5f, 2.33333349f, -1.83333337f, 0, 1.83333349f, -2.33333325f,
    -0.5f, 1.33333349f, -2.83333325f, 0, 0.833333254f, 2.66666651f, 0, 0.333333254f, 2.16666651f,
    0, 0, 1.66666651f, 0, 0, 1.16666651f, -1, 0.833333254f, 2.66666651f, -1.5f, 0.333333254f,
    2.16666651f, -2, -0.166666746f, 1.66666651f, -2.5f, -0.666666746f, 1.16666651f
};
static const float cat_h[90] = {
    -0.995054781f, -0.823200643f, 0.582782984f, 0.986614287f, -0.931109607f, 0.165140495f, 2.5f,
    -1.16666663f, 0.666666746f, 0, 0, 0.666666746f, 2.5f, 0, 0.166666746f, 0.964027584f,
    -0.974092543f, -0.321512669f, 0.905148268f, -0.99039048f, -0.682261765f, 2, -2.16666675f,
    -0.333333254f, 2, 0, 0, 1.5f, 0, 0, 0.761594176f, 0.993105114f, -0.870061696f, 0.462117165f,
    0.981368065f, -0.950151145f, 1, 2.83333349f, -1.33333337f, 1, 2.83333349f, 0, 0.5f,
    2.33333349f, 0, 0, 0.950151145f, -0.981368065f, -0.462117165f, 0.870061696f, -0.993105114f, 0,
    1.83333349f, -2.33333325f, 0, 1.83333349f, 0, 0, 1.33333349f, 0, -0.761594176f, 0.682261765f,
    0.99039048f, -0.905148268f, 0.321512669f, 0.974092543f, -1, 0.833333254f, 2.66666651f, 0,
    0.833333254f, 2.66666651f, 0, 0.333333254f, 2.16666651f, -0.964027584f, -0.165140495f,
    0.931109607f, -0.986614287f, -0.582782984f, 0.823200583f, -2, -0.166666746f, 1.66666651f, 0, 0,
    1.66666651f, 0, 0, 1.16666651f
};
static const float cat_w[72] = {
    0, 0, 0.666666746f, -0.995054781f, -0.823200643f, 0.582782984f, 2.5f, 0, 0.166666746f,
    0.986614287f, -0.931109607f, 0.165140495f, 2, 0, 0, 0.964027584f, -0.974092543f, -0.321512669f,
    1.5f, 0, 0, 0.905148268f, -0.99039048f, -0.682261765f, 1, 2.83333349f, 0, 0.761594176f,
    0.993105114f, -0.870061696f, 0.5f, 2.33333349f, 0, 0.462117165f, 0.981368065f, -0.950151145f,
    0, 1.83333349f, 0, 0, 0.950151145f, -0.981368065f, 0, 1.33333349f, 0, -0.462117165f,
    0.870061696f, -0.993105114f, 0, 0.833333254f, 2.66666651f, -0.761594176f, 0.682261765f,
    0.99039048f, 0, 0.333333254f, 2.16666651f, -0.905148268f, 0.321512669f, 0.974092543f, 0, 0,
    1.66666651f, -0.964027584f, -0.165140495f, 0.931109607f, 0, 0, 1.16666651f, -0.986614287f,
    -0.582782984f, 0.823200583f
};
static const float cat_nested[108] = {
    -3, -1.16666663f, 0.666666746f, 2.5f, -1.66666663f, 0.166666746f, 2, -2.16666675f,
    -0.333333254f, 1.5f, -2.66666675f, -0.833333254f, -3, -1.16666663f, 0.666666746f, 2.5f,
    -1.66666663f, 0.166666746f, 2, -2.16666675f, -0.333333254f, 1.5f, -2.66666675f, -0.833333254f,
    0, 0, 0.666666746f, 2.5f, 0, 0.166666746f, 2, 0, 0, 1.5f, 0, 0, 1, 2.83333349f, -1.33333337f,
    0.5f, 2.33333349f, -1.83333337f, 0, 1.83333349f, -2.33333325f, -0.5f, 1.33333349f,
    -2.83333325f, 1, 2.83333349f, -1.33333337f, 0.5f, 2.33333349f, -1.83333337f, 0, 1.83333349f,
    -2.33333325f, -0.5f, 1.33333349f, -2.83333325f, 1, 2.83333349f, 0, 0.5f, 2.33333349f, 0, 0,
    1.83333349f, 0, 0, 1.33333349f, 0, -1, 0.833333254f, 2.66666651f, -1.5f, 0.333333254f,
    2.16666651f, -2, -0.166666746f, 1.66666651f, -2.5f, -0.666666746f, 1.16666651f, -1,
    0.833333254f, 2.66666651f, -1.5f, 0.333333254f, 2.16666651f, -2, -0.166666746f, 1.66666651f,
    -2.5f, -0.666666746f, 1.16666651f, 0, 0.833333254f, 2.66666651f, 0, 0.333333254f, 2.16666651f,
    0, 0, 1.66666651f, 0, 0, 1.16666651f
};

/* x[i] = ((i * mul) % n) / div - off: a permutation of exact float32 values (see the header). */
static void make_input(float *x, int n, int mul, float div, float off)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)((i * mul) % n) / div - off;
}

/* HEAD + "layers": [LAYER_A, LAYER_B, LAYER_P, last] where `last` is the layer under test. */
static const char *merge_model(char *buf, size_t len, const char *last)
{
    snprintf(buf, len, HEAD " \"layers\": [" LAYER_A ", " LAYER_B ", " LAYER_P ", %s]}", last);
    return buf;
}

/* Runs merge_model(last) on the batch-3 input x and compares with want. */
static void check_merge(const char *last, const float *want, size_t n)
{
    char json[1024];
    float x[36];
    make_input(x, 36, 11, 6.0f, 3.0f);
    tct_check_run(merge_model(json, sizeof json, last), x, 3, want, n, ATOL, RTOL);
}

/* By hand: relu(x) + x for x = [-2, -0.5, 1, 3] is [-2, -0.5, 2, 6]. */
static void test_add_residual_worked_example(void **state)
{
    (void)state;
    const char *json = "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [4]},"
                       " \"layers\": [" LAYER_A ","
                       " {\"type\": \"add\", \"inputs\": [\"a\", \"input\"]}]}";
    const float in[4] = {-2, -0.5f, 1, 3};
    const float want[4] = {-2, -0.5f, 2, 6};
    tct_check_run(json, in, 1, want, 4, ATOL, RTOL);
}

static void test_add_two_and_three_inputs(void **state)
{
    (void)state;
    check_merge("{\"type\": \"add\", \"inputs\": [\"a\", \"b\"]}", add2, 36);
    check_merge("{\"type\": \"add\", \"inputs\": [\"a\", \"b\", \"input\"]}", add3, 36);
}

/* "a" dies at the add, so the add writes into a's buffer, which is also its third input:
 * every input must be read before the output is written. */
static void test_add_same_producer_twice_in_place(void **state)
{
    (void)state;
    char json[1024];
    const char *last = "{\"type\": \"add\", \"inputs\": [\"a\", \"b\", \"a\"]}";
    check_merge(last, add_aba, 36);
    tc_model *m = tct_load(merge_model(json, sizeof json, last));
    assert_true(tc_model_arena_bytes_per_sample(m) < tc_model_unplanned_bytes_per_sample(m));
    tc_model_free(m);
}

static void test_concat_axis0_with_model_input(void **state)
{
    (void)state;
    check_merge("{\"type\": \"concat\", \"inputs\": [\"a\", \"input\"]}", cat_c, 72);
    check_merge("{\"type\": \"concat\", \"axis\": 0, \"inputs\": [\"a\", \"input\"]}", cat_c, 72);
    check_merge("{\"type\": \"concat\", \"axis\": -3, \"inputs\": [\"a\", \"input\"]}", cat_c, 72);
}

/* Along H, with inputs of different heights (2, 1 and 2). */
static void test_concat_axis1_unequal_sizes(void **state)
{
    (void)state;
    check_merge("{\"type\": \"concat\", \"axis\": 1, \"inputs\": [\"b\", \"p\", \"a\"]}", cat_h,
                90);
}

static void test_concat_last_axis_and_nested(void **state)
{
    (void)state;
    char json[1024];
    float x[36];
    make_input(x, 36, 11, 6.0f, 3.0f);
    check_merge("{\"type\": \"concat\", \"axis\": -1, \"inputs\": [\"a\", \"b\"]}", cat_w, 72);
    /* One input: a plain copy. */
    check_merge("{\"type\": \"concat\", \"inputs\": [\"input\"]}", x, 36);
    snprintf(json, sizeof json,
             HEAD " \"layers\": [" LAYER_A ", {\"name\": \"xa\", \"type\": \"concat\", "
                  "\"inputs\": [\"input\", \"a\"]}, {\"type\": \"concat\", "
                  "\"inputs\": [\"input\", \"xa\"]}]}");
    tct_check_run(json, x, 3, cat_nested, 108, ATOL, RTOL);
}

static void test_merge_rejects_bad_graphs(void **state)
{
    (void)state;
    char json[1024];
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"add\", \"inputs\": [\"a\", "
                                                    "\"b\", \"p\"]}"),
                     TC_ERR_SHAPE,
                     "layers[3] \"add_3\": input 2 has shape [2, 1, 3] but input 0 has [2, 2, 3]: "
                     "add needs equal shapes");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"add\", \"inputs\": [\"a\"]}"),
                     TC_ERR_GRAPH, "add takes 2 to 64 inputs, got 1");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"add\", \"axis\": 0, "
                                                    "\"inputs\": [\"a\", \"b\"]}"),
                     TC_ERR_SCHEMA, "layers[3].axis: unknown field");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"concat\", \"inputs\": [\"p\", "
                                                    "\"a\"]}"),
                     TC_ERR_SHAPE,
                     "input 1 has shape [2, 2, 3] but input 0 has [2, 1, 3]: concat needs the "
                     "same rank and equal dimensions except axis 0");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"concat\", \"axis\": -1, "
                                                    "\"inputs\": [\"a\", \"p\"]}"),
                     TC_ERR_SHAPE, "except axis 2");
    snprintf(json, sizeof json,
             HEAD " \"layers\": [{\"name\": \"f\", \"type\": \"flatten\"}, {\"type\": \"concat\", "
                  "\"inputs\": [\"input\", \"f\"]}]}");
    tct_expect_error(json, TC_ERR_SHAPE, "input 1 has shape [12] but input 0 has [2, 2, 3]");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"concat\", \"axis\": 3, "
                                                    "\"inputs\": [\"a\", \"b\"]}"),
                     TC_ERR_SHAPE,
                     "axis is 3 but input 0 [2, 2, 3] has 3 dimensions (expected -3..2)");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"concat\", \"axis\": -4, "
                                                    "\"inputs\": [\"a\", \"b\"]}"),
                     TC_ERR_SHAPE, "axis is -4");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"concat\", \"axis\": 4, "
                                                    "\"inputs\": [\"a\", \"b\"]}"),
                     TC_ERR_RANGE, "layers[3].axis");
    tct_expect_error(merge_model(json, sizeof json, "{\"type\": \"concat\", \"axis\": \"0\", "
                                                    "\"inputs\": [\"a\", \"b\"]}"),
                     TC_ERR_SCHEMA, "layers[3].axis");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_residual_worked_example),
        cmocka_unit_test(test_add_two_and_three_inputs),
        cmocka_unit_test(test_add_same_producer_twice_in_place),
        cmocka_unit_test(test_concat_axis0_with_model_input),
        cmocka_unit_test(test_concat_axis1_unequal_sizes),
        cmocka_unit_test(test_concat_last_axis_and_nested),
        cmocka_unit_test(test_merge_rejects_bad_graphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
