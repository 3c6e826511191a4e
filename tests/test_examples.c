/*
 * test_examples.c - the activation-function article's worked examples, shipped as models in
 * models/examples/, run end to end through the library (tc_model_load from the file) and through
 * `tinycnn run`, against the article's results (abs tolerance 1e-6).
 *
 * Expected values are the article's; checked independently with NumPy (/usr/bin/python3):
 *   x = np.array([[0.8, -0.9], [1.2, -1.1]]); 1 / (1 + np.exp(-x))
 *       -> [[0.68997448, 0.2890505], [0.76852478, 0.24973989]]
 *   np.tanh(np.array([[0.5, -0.6], [0.9, -1.0]]))
 *       -> [[0.46211716, -0.53704957], [0.71629787, -0.76159416]]
 *   z = np.array([2.0, 1.0, 0.1]); e = np.exp(z - z.max()); e / e.sum()
 *       -> [0.65900114, 0.24243297, 0.09856589]
 *   max(0, np.dot([1, -2, 3], [0.4, 0.3, 0.5]) - 0.5) -> 0.8
 * and by hand for the convolution: out[i][j] = x[i+1][j+1] - x[i][j] = 4 for 1..9 row-major.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn */
#include "tct_cli.h" /* first: it includes system headers, then tc_test.h */

#include <assert.h>

#define ATOL 1e-6

typedef struct example {
    const char *name;      /* models/examples/<name>.json and <name>.input.npy */
    int in_ndim;           /* per-sample input shape */
    int32_t in_dim[3];
    float input[9];        /* the article's input, row-major */
    int out_ndim;          /* per-sample output shape */
    int32_t out_dim[3];
    float expected[4];     /* the article's result */
} example;

static const example examples[] = {
    {"sigmoid", 2, {2, 2}, {0.8f, -0.9f, 1.2f, -1.1f},
     2, {2, 2}, {0.68997448f, 0.28905050f, 0.76852478f, 0.24973989f}},
    {"tanh", 2, {2, 2}, {0.5f, -0.6f, 0.9f, -1.0f},
     2, {2, 2}, {0.46211716f, -0.53704957f, 0.71629787f, -0.76159416f}},
    {"softmax", 1, {3}, {2.0f, 1.0f, 0.1f},
     1, {3}, {0.65900114f, 0.24243297f, 0.09856589f}},
    {"dense_relu", 1, {3}, {1.0f, -2.0f, 3.0f},
     1, {1}, {0.8f}},
    {"conv_relu", 3, {1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9},
     3, {1, 2, 2}, {4, 4, 4, 4}},
};

static size_t count(int ndim, const int32_t *dim)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)dim[d];
    return n;
}

static const char *model_path(const example *ex, char *buf, size_t len)
{
    char rel[128];
    snprintf(rel, sizeof rel, "models/examples/%s.json", ex->name);
    snprintf(buf, len, "%s", tct_source_path(rel));
    return buf;
}

static const char *input_path(const example *ex, char *buf, size_t len)
{
    char rel[128];
    snprintf(rel, sizeof rel, "models/examples/%s.input.npy", ex->name);
    snprintf(buf, len, "%s", tct_source_path(rel));
    return buf;
}

/* The model file loads, has the documented shapes and gives the article's numbers. */
static void example_runs_in_library(void **state)
{
    const example *ex = *state;
    char path[TCT_PATH_MAX];
    tc_model *model = NULL;
    tc_error err;
    char line[1024];
    if (tc_model_load(model_path(ex, path, sizeof path), NULL, &model, &err) != TC_OK)
        fail_msg("%s: %s", ex->name, tc_error_format(&err, line, sizeof line));
    tc_shape in = tc_model_input_shape(model);
    tc_shape out = tc_model_output_shape(model, 0);
    assert_int_equal(in.ndim, ex->in_ndim);
    assert_int_equal(out.ndim, ex->out_ndim);
    for (int d = 0; d < ex->in_ndim; d++)
        assert_int_equal(in.dim[d], ex->in_dim[d]);
    for (int d = 0; d < ex->out_ndim; d++)
        assert_int_equal(out.dim[d], ex->out_dim[d]);
    size_t n = count(ex->out_ndim, ex->out_dim);
    assert_int_equal(tc_model_output_numel(model, 0), n);
    float *got = tct_run(model, ex->input, 1);
    tct_assert_close(got, ex->expected, n, ATOL, 0.0);
    test_free(got);
    tc_model_free(model);
}

/* The shipped NAME.input.npy holds exactly the article's input, in the per-sample shape. */
static void example_input_file_matches_article(void **state)
{
    const example *ex = *state;
    char path[TCT_PATH_MAX];
    tc_array x = {0};
    tc_error err;
    char line[1024];
    if (tc_npy_read(input_path(ex, path, sizeof path), &x, &err) != TC_OK)
        fail_msg("%s: %s", ex->name, tc_error_format(&err, line, sizeof line));
    assert_int_equal(x.ndim, ex->in_ndim);
    for (int d = 0; d < ex->in_ndim; d++)
        assert_int_equal(x.dim[d], ex->in_dim[d]);
    size_t n = count(ex->in_ndim, ex->in_dim);
    assert_int_equal(x.numel, n);
    tct_assert_close(x.data, ex->input, n, 0.0, 0.0);
    tc_array_free(&x);
}

/* `tinycnn run` on the shipped files writes [1, *output_shape] with the article's numbers. */
static void example_runs_through_cli(void **state)
{
    const example *ex = *state;
    char dir[TCT_PATH_MAX];
    char model[TCT_PATH_MAX];
    char input[TCT_PATH_MAX];
    char output[TCT_PATH_MAX];
    tct_tmpdir_make(dir, sizeof dir);
    tct_join(output, sizeof output, dir, "y.npy");
    const char *args[] = {"run", "-m", model_path(ex, model, sizeof model), "--input",
                          input_path(ex, input, sizeof input), "--output", output, NULL};
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    if (r.status != 0 || r.err[0] != '\0')
        fail_msg("%s: exit %d, stderr \"%s\"", ex->name, r.status, r.err);
    tct_cli_free(&r);

    tc_array y = {0};
    tc_error err;
    char line[1024];
    if (tc_npy_read(output, &y, &err) != TC_OK)
        fail_msg("%s: %s", ex->name, tc_error_format(&err, line, sizeof line));
    tct_tmpdir_remove(dir);
    assert_int_equal(y.ndim, ex->out_ndim + 1);
    assert_int_equal(y.dim[0], 1);
    for (int d = 0; d < ex->out_ndim; d++)
        assert_int_equal(y.dim[d + 1], ex->out_dim[d]);
    size_t n = count(ex->out_ndim, ex->out_dim);
    assert_int_equal(y.numel, n);
    tct_assert_close(y.data, ex->expected, n, ATOL, 0.0);
    tc_array_free(&y);
}

/* One test per example, named e.g. "example_runs_in_library(sigmoid)". */
#define FOR_EXAMPLE(f, i, label) {#f "(" label ")", f, NULL, NULL, (void *)&examples[i]}
#define FOR_EACH_EXAMPLE(f)                                                                    \
    FOR_EXAMPLE(f, 0, "sigmoid"), FOR_EXAMPLE(f, 1, "tanh"), FOR_EXAMPLE(f, 2, "softmax"),    \
        FOR_EXAMPLE(f, 3, "dense_relu"), FOR_EXAMPLE(f, 4, "conv_relu")

int main(void)
{
    static_assert(sizeof examples / sizeof examples[0] == 5, "FOR_EACH_EXAMPLE lists 5");
    const struct CMUnitTest tests[] = {
        FOR_EACH_EXAMPLE(example_input_file_matches_article),
        FOR_EACH_EXAMPLE(example_runs_in_library),
        FOR_EACH_EXAMPLE(example_runs_through_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
