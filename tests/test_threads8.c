/*
 * test_threads8.c - one loaded model run from 8 threads at once, each with its own workspace,
 * gives bit for bit what a single-threaded run gives (tinycnn.h: a loaded model is read-only and
 * the library has no global state). Also built with -fsanitize=thread by .ci/tsan.sh.
 *
 * cmocka's checked allocator is not thread-safe, so everything that allocates (model, inputs,
 * workspaces, result buffers) happens on the main thread; the threads only call tc_model_run /
 * tc_model_run_checked (which allocate nothing) and compare, and the main thread checks the
 * results after joining.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include <pthread.h>

#include "tc_test.h"

#define N_THREADS 8
#define N_RUNS 25 /* runs per thread: long enough for the threads to overlap */
#define MODEL "tests/torch_cases/lenet_330_relu_max"

typedef struct job {
    const tc_model *model;
    tc_workspace *ws;
    const float *input;     /* batch samples */
    int batch;
    bool check_finite;      /* odd threads use tc_model_run_checked */
    const float *expected;  /* the single-threaded output for input */
    size_t out_numel;       /* batch * output numel */
    pthread_barrier_t *start;
    /* results, read by the main thread after the join */
    int failed_runs;        /* runs that did not return TC_OK */
    int mismatches;         /* runs whose output differed from expected */
    tc_status first_error;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    for (int r = 0; r < N_RUNS; r++) {
        tc_error err;
        tc_status st = tc_model_run_checked(j->model, j->ws, j->input, j->batch, j->check_finite,
                                            &err);
        if (st != TC_OK) {
            if (j->failed_runs++ == 0)
                j->first_error = st;
            continue;
        }
        const float *y = tc_workspace_output(j->ws, 0);
        if (y == NULL || memcmp(y, j->expected, j->out_numel * sizeof *y) != 0)
            j->mismatches++;
    }
    return NULL;
}

/* Thread t runs a batch of 1 + t % 3 samples taken from the 3 in the input file, starting at
 * sample t % 3 (wrapping), so that threads hold different data and batch sizes at once. */
static float *thread_input(const tc_array *x, size_t in_numel, int t, int *batch)
{
    *batch = 1 + t % 3;
    float *in = test_malloc((size_t)*batch * in_numel * sizeof *in);
    for (int s = 0; s < *batch; s++)
        memcpy(in + (size_t)s * in_numel, x->data + (size_t)((t + s) % 3) * in_numel,
               in_numel * sizeof *in);
    return in;
}

static void eight_threads_match_one(void **state)
{
    (void)state;
    tc_model *model = NULL;
    tc_error err;
    char line[1024];
    if (tc_model_load(tct_source_path(MODEL ".json"), NULL, &model, &err) != TC_OK)
        fail_msg("load: %s", tc_error_format(&err, line, sizeof line));
    tc_array x;
    assert_int_equal(tc_npy_read(tct_source_path(MODEL ".in.npy"), &x, &err), TC_OK);
    size_t in_numel = tc_model_input_numel(model);
    size_t classes = tc_model_output_numel(model, 0);
    assert_int_equal(x.numel, 3 * in_numel);

    job jobs[N_THREADS];
    float *inputs[N_THREADS];
    float *expected[N_THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, N_THREADS), 0);
    for (int t = 0; t < N_THREADS; t++) {
        int batch;
        inputs[t] = thread_input(&x, in_numel, t, &batch);
        /* the reference: the same batch, run alone on this thread before any worker starts */
        expected[t] = tct_run(model, inputs[t], batch);
        jobs[t] = (job){model, NULL, inputs[t], batch, t % 2 == 1, expected[t],
                        (size_t)batch * classes, &start, 0, 0, TC_OK};
        assert_int_equal(tc_workspace_create(model, batch, &jobs[t].ws, &err), TC_OK);
    }
    /* The reference is the model's real answer: sample 0 as PyTorch computed it. */
    tc_array want;
    assert_int_equal(tc_npy_read(tct_source_path(MODEL ".out.npy"), &want, &err), TC_OK);
    tct_assert_close(expected[0], want.data, classes, 1e-5, 1e-4);
    tc_array_free(&want);

    pthread_t threads[N_THREADS];
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, worker, &jobs[t]), 0);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&start);

    for (int t = 0; t < N_THREADS; t++) {
        if (jobs[t].failed_runs != 0 || jobs[t].mismatches != 0)
            fail_msg("thread %d: %d of %d runs failed (first: %s), %d gave other results", t,
                     jobs[t].failed_runs, N_RUNS, tc_status_str(jobs[t].first_error),
                     jobs[t].mismatches);
        /* the last output is still there after the join, and still the same */
        const float *y = tc_workspace_output(jobs[t].ws, 0);
        assert_non_null(y);
        assert_memory_equal(y, expected[t], jobs[t].out_numel * sizeof *y);
    }
    for (int t = 0; t < N_THREADS; t++) {
        tc_workspace_free(jobs[t].ws);
        test_free(inputs[t]);
        test_free(expected[t]);
    }
    tc_array_free(&x);
    tc_model_free(model);
}

/* The test must be able to fail: a thread given a wrong expected output reports mismatches. */
static void a_wrong_expectation_is_caught(void **state)
{
    (void)state;
    tc_model *model = NULL;
    tc_error err;
    assert_int_equal(tc_model_load(tct_source_path(MODEL ".json"), NULL, &model, &err), TC_OK);
    size_t in_numel = tc_model_input_numel(model);
    float *input = test_calloc(in_numel, sizeof *input);
    float *wrong = tct_run(model, input, 1);
    wrong[0] += 1.0f;
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 1), 0);
    job j = {model, NULL, input, 1, false, wrong, tc_model_output_numel(model, 0), &start, 0, 0,
             TC_OK};
    assert_int_equal(tc_workspace_create(model, 1, &j.ws, &err), TC_OK);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, worker, &j), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    pthread_barrier_destroy(&start);
    assert_int_equal(j.failed_runs, 0);
    assert_int_equal(j.mismatches, N_RUNS);
    tc_workspace_free(j.ws);
    test_free(wrong);
    test_free(input);
    tc_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eight_threads_match_one),
        cmocka_unit_test(a_wrong_expectation_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
