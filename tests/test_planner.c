/* test_planner.c - the memory plan (reuse, in-place layers, outputs kept alive), batches,
 * workspaces and concurrent runs of one model. Expected arena sizes are worked out by hand. */
#define _POSIX_C_SOURCE 200809L
#include "tc_test.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HEAD "{\"format\":\"tinycnn\",\"version\":1,"

static void in_place_chain_uses_one_buffer(void **state)
{
    (void)state;
    /* ten element-wise layers on [1000]: the first cannot overwrite the caller's input, the
     * other nine write over their input, so one buffer of 1000 floats (1008 with 64-byte
     * alignment) is all it takes; without reuse it would be 10 * 1008 floats. */
    char json[2048];
    int n = snprintf(json, sizeof json, HEAD "\"input\":{\"shape\":[1000]},\"layers\":[");
    for (int i = 0; i < 10; i++)
        n += snprintf(json + n, sizeof json - (size_t)n, "%s{\"type\":\"activation\",\"function\":\"%s\"}",
                      i ? "," : "", i % 2 ? "relu" : "identity");
    snprintf(json + n, sizeof json - (size_t)n, "]}");
    tc_model *m = tct_load(json);
    assert_int_equal(tc_model_arena_bytes_per_sample(m), 1008 * 4);
    assert_int_equal(tc_model_unplanned_bytes_per_sample(m), 10 * 1008 * 4);
    float x[1000];
    float want[1000];
    for (int i = 0; i < 1000; i++) {
        x[i] = (float)(i - 500);
        want[i] = x[i] > 0 ? x[i] : 0;
    }
    float *y = tct_run(m, x, 1);
    tct_assert_close(y, want, 1000, 0, 0);
    assert_true(x[0] == -500.0f); /* the caller's input is untouched */
    test_free(y);
    tc_model_free(m);
}

/* Appends a dense layer in -> out with all-zero inline weights to json at *used. */
static void append_dense(char *json, size_t len, int *used, int in, int out, bool first)
{
    *used += snprintf(json + *used, len - (size_t)*used,
                      "%s{\"type\":\"dense\",\"in_features\":%d,\"out_features\":%d,\"weight\":[",
                      first ? "" : ",", in, out);
    for (int i = 0; i < in * out; i++)
        *used += snprintf(json + *used, len - (size_t)*used, "%s0", i ? "," : "");
    *used += snprintf(json + *used, len - (size_t)*used, "]}");
}

static void dead_buffers_are_reused(void **state)
{
    (void)state;
    /* dense 10 -> 20 -> 10 -> 20: the outputs of layers 0 (live 0..1) and 2 (live 2..end) never
     * overlap in time and share offset 0; layer 1's output (10 floats, 16 aligned) sits after
     * 20 (32 aligned): arena = 32 + 16 = 48 floats; without reuse 32 + 16 + 32 = 80. */
    static char json[4096];
    int used = snprintf(json, sizeof json, HEAD "\"input\":{\"shape\":[10]},\"layers\":[");
    append_dense(json, sizeof json, &used, 10, 20, true);
    append_dense(json, sizeof json, &used, 20, 10, false);
    append_dense(json, sizeof json, &used, 10, 20, false);
    snprintf(json + used, sizeof json - (size_t)used, "]}");
    tc_model *m = tct_load(json);
    assert_int_equal(tc_model_arena_bytes_per_sample(m), 48 * 4);
    assert_int_equal(tc_model_unplanned_bytes_per_sample(m), 80 * 4);
    tc_model_free(m);
}

static void outputs_and_branches_stay_alive(void **state)
{
    (void)state;
    /* "a" is read again by "sum" after "b" runs, so "b" (in-place capable) must not overwrite
     * it. x = [-1, 2]: a = relu(x) = [0, 2]; b = sigmoid(a) = [0.5, 0.88079708]; sum = a + b.
     * sigmoid(2) = 1 / (1 + e^-2) = 0.8807970779778823 (numpy). */
    const char *json = HEAD "\"input\":{\"shape\":[2]},\"layers\":["
        "{\"name\":\"a\",\"type\":\"activation\",\"function\":\"relu\"},"
        "{\"name\":\"b\",\"type\":\"activation\",\"function\":\"sigmoid\"},"
        "{\"name\":\"sum\",\"type\":\"add\",\"inputs\":[\"a\",\"b\"]}]}";
    const float x[2] = {-1, 2};
    const float want[2] = {0.5f, 2.8807970779778823f};
    tct_check_run(json, x, 1, want, 2, 1e-6, 1e-6);
}

static const char *const batch_model = HEAD "\"input\":{\"shape\":[1,3,3]},\"layers\":["
    "{\"type\":\"conv2d\",\"in_channels\":1,\"out_channels\":2,\"kernel_size\":2,"
    "\"weight\":[[[[1,0],[0,-1]]],[[[0.5,0.5],[0.5,0.5]]]],\"bias\":[0.25,-1]},"
    "{\"type\":\"activation\",\"function\":\"relu\"},{\"type\":\"flatten\"},"
    "{\"type\":\"dense\",\"in_features\":8,\"out_features\":2,"
    "\"weight\":[[1,2,3,4,5,6,7,8],[-1,1,-1,1,-1,1,-1,1]]}]}";

static void batch_equals_single_runs(void **state)
{
    (void)state;
    tc_model *m = tct_load(batch_model);
    float x[27];
    for (int i = 0; i < 27; i++)
        x[i] = (float)((i * 7) % 11) - 5.0f;
    float *all = tct_run(m, x, 3);
    for (int s = 0; s < 3; s++) {
        float *one = tct_run(m, x + 9 * s, 1);
        tct_assert_close(all + 2 * s, one, 2, 0, 0);
        test_free(one);
    }
    /* sample 0 by hand: x = [[-5,2,-2],[5,1,-3],[4,0,-4]];
     * conv ch0 = x[i][j] - x[i+1][j+1] + 0.25 = [[-5.75,5.25],[5.25,5.25]] -> relu [0,5.25,5.25,5.25]
     * conv ch1 = 0.5 * window sum - 1 = [[0.5,-2],[4,-4]] -> relu [0.5,0,4,0]
     * dense0 = 2*5.25 + 3*5.25 + 4*5.25 + 5*0.5 + 7*4 = 77.75
     * dense1 = 5.25 - 5.25 + 5.25 - 0.5 - 4 = 0.75 */
    const float want0[2] = {77.75f, 0.75f};
    tct_assert_close(all, want0, 2, 1e-5, 1e-6);
    test_free(all);
    tc_model_free(m);
}

static void workspaces_refuse_misuse(void **state)
{
    (void)state;
    tc_model *m = tct_load(batch_model);
    tc_model *other = tct_load(batch_model);
    tc_workspace *ws = NULL;
    tc_error err;
    float x[18] = {0};
    assert_int_equal(tc_workspace_create(m, 0, &ws, &err), TC_ERR_ARGUMENT);
    assert_null(ws);
    assert_int_equal(tc_workspace_create(m, 100000, &ws, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_workspace_create(m, 2, &ws, &err), TC_OK);
    assert_int_equal(tc_model_run(m, ws, x, 3, &err), TC_ERR_ARGUMENT);
    assert_non_null(strstr(err.message, "batch must be in 1..2"));
    assert_int_equal(tc_model_run(other, ws, x, 1, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_model_run(m, ws, NULL, 1, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_model_run(m, ws, x, 2, &err), TC_OK);
    tc_workspace_free(ws);
    tc_workspace_free(NULL);
    tc_model_free(other);
    tc_model_free(m);
    tc_model_free(NULL);
}

/* One thread's share: ROUNDS runs on its own workspace, counting results that differ from the
 * single-threaded run (cmocka's asserts are not thread-safe, so the main thread checks). */
typedef struct worker {
    const tc_model *model;
    tc_workspace *ws;
    const float *x;
    const float *want;
    int n_bad;
} worker;

enum { N_THREADS = 4, ROUNDS = 300 };

static void *run_worker(void *arg)
{
    worker *w = arg;
    for (int r = 0; r < ROUNDS; r++) {
        if (tc_model_run(w->model, w->ws, w->x, 1, NULL) != TC_OK ||
            memcmp(tc_workspace_output(w->ws, 0), w->want, 2 * sizeof(float)) != 0)
            w->n_bad++;
    }
    return NULL;
}

static void one_model_runs_on_several_threads(void **state)
{
    (void)state;
    tc_model *m = tct_load(batch_model);
    float x[N_THREADS][9];
    float want[N_THREADS][2];
    worker w[N_THREADS];
    pthread_t threads[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        for (int i = 0; i < 9; i++)
            x[t][i] = (float)(t + 1) * ((float)i - 4.0f);
        float *y = tct_run(m, x[t], 1);
        memcpy(want[t], y, sizeof want[t]);
        test_free(y);
        w[t] = (worker){m, NULL, x[t], want[t], 0};
        assert_int_equal(tc_workspace_create(m, 1, &w[t].ws, NULL), TC_OK);
    }
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, run_worker, &w[t]), 0);
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(w[t].n_bad, 0);
        tc_workspace_free(w[t].ws);
    }
    tc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_place_chain_uses_one_buffer),
        cmocka_unit_test(dead_buffers_are_reused),
        cmocka_unit_test(outputs_and_branches_stay_alive),
        cmocka_unit_test(batch_equals_single_runs),
        cmocka_unit_test(workspaces_refuse_misuse),
        cmocka_unit_test(one_model_runs_on_several_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
