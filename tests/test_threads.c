/*
 * test_threads.c - runs on several threads (tc_workspace_set_threads): outputs bit-identical to
 * one thread for every thread count and batch (including batches smaller than the thread count
 * and not divisible by it), repeated runs on the same pool, the observer API, and argument
 * errors.
 */
#include "tc_test.h"

#define MAX_BATCH 9

static tc_model *load_mnist(void)
{
    tc_error err;
    tc_model *model = NULL;
    if (tc_model_load(tct_source_path("models/mnist/model.json"), NULL, &model, &err) != TC_OK)
        fail_msg("loading models/mnist/model.json: %s", err.message);
    return model;
}

static float *inputs(size_t n)
{
    float *x = test_malloc(n * sizeof *x);
    unsigned s = 7;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 9) % 1000u) / 1000.0f;
    }
    return x;
}

static void test_threads_identical_results(void **state)
{
    (void)state;
    tc_model *model = load_mnist();
    tc_error err;
    const size_t in_n = tc_model_input_numel(model);
    const size_t out_n = tc_model_output_numel(model, 0);
    float *x = inputs(in_n * MAX_BATCH);
    float *want = test_malloc(out_n * MAX_BATCH * sizeof *want);
    tc_workspace *ws = NULL;
    assert_int_equal(tc_workspace_create(model, MAX_BATCH, &ws, &err), TC_OK);
    assert_int_equal(tc_workspace_threads(ws), 1);
    assert_int_equal(tc_model_run(model, ws, x, MAX_BATCH, &err), TC_OK);
    memcpy(want, tc_workspace_output(ws, 0), out_n * MAX_BATCH * sizeof *want);
    for (int t = 1; t <= 4; t++) {
        assert_int_equal(tc_workspace_set_threads(ws, t, &err), TC_OK);
        assert_int_equal(tc_workspace_threads(ws), t);
        for (int batch = 1; batch <= MAX_BATCH; batch++) {
            for (int rep = 0; rep < 2; rep++) {
                /* samples from `batch` on: the first sample of the run is not always sample 0 */
                const float *xb = x + (size_t)(MAX_BATCH - batch) * in_n;
                assert_int_equal(tc_model_run(model, ws, xb, batch, &err), TC_OK);
                const float *got = tc_workspace_output(ws, 0);
                assert_non_null(got);
                if (memcmp(got, want + (size_t)(MAX_BATCH - batch) * out_n,
                           (size_t)batch * out_n * sizeof *got) != 0)
                    fail_msg("%d threads, batch %d: outputs differ from one thread", t, batch);
            }
        }
    }
    tc_workspace_free(ws);
    test_free(x);
    test_free(want);
    tc_model_free(model);
}

static void count_layer(void *user, int layer)
{
    int *seen = user;
    assert_int_equal(layer, seen[0]);
    seen[0]++;
}

static void test_threads_observer_and_errors(void **state)
{
    (void)state;
    tc_model *model = load_mnist();
    tc_error err;
    float *x = inputs(tc_model_input_numel(model) * 2);
    tc_workspace *ws = NULL;
    assert_int_equal(tc_workspace_create(model, 2, &ws, &err), TC_OK);
    assert_int_equal(tc_workspace_set_threads(ws, 0, &err), TC_ERR_ARGUMENT);
    assert_non_null(strstr(err.message, "got 0"));
    assert_int_equal(tc_workspace_set_threads(ws, 257, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_workspace_set_threads(NULL, 2, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_workspace_set_threads(ws, 2, &err), TC_OK);
    int seen[1] = {0};
    assert_int_equal(tc_model_run_observed(model, ws, x, 2, count_layer, seen, &err), TC_OK);
    assert_int_equal(seen[0], tc_model_num_layers(model));
    assert_non_null(tc_workspace_output(ws, 0));
    /* back to one thread frees the pool; the workspace still runs */
    assert_int_equal(tc_workspace_set_threads(ws, 1, &err), TC_OK);
    assert_null(tc_workspace_output(ws, 0));
    assert_int_equal(tc_model_run(model, ws, x, 2, &err), TC_OK);
    tc_workspace_free(ws);
    test_free(x);
    tc_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_identical_results),
        cmocka_unit_test(test_threads_observer_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
