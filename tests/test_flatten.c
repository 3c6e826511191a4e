/*
 * test_flatten.c - the flatten layer: C, H, W order, batches, running in place or copying.
 *
 * Expected values are worked by hand: flatten keeps row-major order, so sample n of a [C, H, W]
 * input is the same C*H*W floats in the same order (PyTorch's torch.flatten(x, 1)).
 */
#include <stdio.h>
#include <string.h>

#include "tc_test.h"

#define ATOL 0.0
#define RTOL 0.0

#define HEAD "{\"format\": \"tinycnn\", \"version\": 1, "

/* From the model input (never aliased): a copy. x[n][c][h][w] = 100n + 10c + 3h + w, so each
 * value says where it came from; batch 3 of [2, 2, 3] becomes batch 3 of [12]. */
static void test_flatten_chw_order_batch3(void **state)
{
    (void)state;
    const char *json = HEAD "\"input\": {\"shape\": [2, 2, 3]}, \"layers\": ["
                            "{\"name\": \"f\", \"type\": \"flatten\"}]}";
    float in[36];
    float want[36];
    for (int n = 0, i = 0; n < 3; n++) {
        for (int c = 0; c < 2; c++) {
            for (int h = 0; h < 2; h++) {
                for (int w = 0; w < 3; w++, i++) {
                    in[i] = (float)(100 * n + 10 * c + 3 * h + w);
                    want[n * 12 + c * 6 + h * 3 + w] = in[i];
                }
            }
        }
    }
    tct_check_run(json, in, 3, want, 36, ATOL, RTOL);
    tc_model *m = tct_load(json);
    tc_layer_info info;
    assert_int_equal(tc_model_layer_info(m, 0, &info), TC_OK);
    assert_int_equal(info.out_shape.ndim, 1);
    assert_int_equal(info.out_shape.dim[0], 12);
    tc_model_free(m);
}

/* After a relu whose output dies here, flatten shares its buffer and does nothing. */
static void test_flatten_in_place_after_relu(void **state)
{
    (void)state;
    const char *json = HEAD "\"input\": {\"shape\": [1, 2, 2]}, \"layers\": ["
                            "{\"type\": \"activation\", \"function\": \"relu\"},"
                            "{\"type\": \"flatten\"}]}";
    const float in[8] = {-1, 2, -3, 4, 5, -6, 7, -8};
    const float want[8] = {0, 2, 0, 4, 5, 0, 7, 0};
    tct_check_run(json, in, 2, want, 8, ATOL, RTOL);
    tc_model *m = tct_load(json);
    assert_true(tc_model_arena_bytes_per_sample(m) < tc_model_unplanned_bytes_per_sample(m));
    tc_model_free(m);
}

/* The relu output is also a model output, so it stays alive and flatten must copy it. */
static void test_flatten_copies_a_live_input(void **state)
{
    (void)state;
    const char *json = HEAD "\"input\": {\"shape\": [2, 1, 2]}, \"layers\": ["
                            "{\"name\": \"r\", \"type\": \"activation\", \"function\": \"relu\"},"
                            "{\"name\": \"f\", \"type\": \"flatten\"}],"
                            " \"outputs\": [\"f\", \"r\"]}";
    const float in[4] = {3, -1, -2, 0.5f};
    const float want[4] = {3, 0, 0, 0.5f};
    tct_check_run(json, in, 1, want, 4, ATOL, RTOL);
}

static void test_flatten_of_1d_and_4d(void **state)
{
    (void)state;
    const float in[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tct_check_run(HEAD "\"input\": {\"shape\": [16]}, \"layers\": [{\"type\": \"flatten\"}]}", in,
                  1, in, 16, ATOL, RTOL);
    tct_check_run(HEAD "\"input\": {\"shape\": [2, 2, 1, 2]}, \"layers\": "
                       "[{\"type\": \"flatten\"}]}",
                  in, 2, in, 16, ATOL, RTOL);
}

static void test_flatten_rejects_fields_and_inputs(void **state)
{
    (void)state;
    tct_expect_error(HEAD "\"input\": {\"shape\": [2, 3]}, \"layers\": "
                          "[{\"type\": \"flatten\", \"start_dim\": 1}]}",
                     TC_ERR_SCHEMA, "layers[0].start_dim: unknown field");
    tct_expect_error(HEAD "\"input\": {\"shape\": [2, 3]}, \"layers\": [{\"name\": \"r\", "
                          "\"type\": \"activation\", \"function\": \"relu\"}, {\"type\": "
                          "\"flatten\", \"inputs\": [\"r\", \"input\"]}]}",
                     TC_ERR_GRAPH, "flatten takes 1 to 1 inputs, got 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten_chw_order_batch3),
        cmocka_unit_test(test_flatten_in_place_after_relu),
        cmocka_unit_test(test_flatten_copies_a_live_input),
        cmocka_unit_test(test_flatten_of_1d_and_4d),
        cmocka_unit_test(test_flatten_rejects_fields_and_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
