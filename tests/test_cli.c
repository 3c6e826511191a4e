/*
 * test_cli.c - the contract of the `tinycnn` command: --help everywhere, exit status 0 success /
 * 1 runtime failure / 2 bad usage or bad input, errors as one "tinycnn: ..." line on stderr,
 * `run` with batched and unbatched inputs, and what `summary` prints.
 *
 * The model is models/examples/conv_relu.json: input [1, 3, 3], valid 2x2 convolution with
 * [[-1, 0], [0, 1]] (no bias), then relu; so out[i][j] = relu(x[i+1][j+1] - x[i][j]).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent */
#include "tct_cli.h" /* first: it includes system headers, then tc_test.h */

#include <math.h>

#define MODEL "models/examples/conv_relu.json"

/* Per-test scratch directory, removed by the teardown. */
/* Writes a float32 .npy of the given shape into dir/name; path gets its full name. */
static void write_npy(const char *dir, const char *name, const float *data, const int64_t *dim,
                      int ndim, char *path, size_t path_len)
{
    tc_error err;
    char line[1024];
    tct_join(path, path_len, dir, name);
    if (tc_npy_write(path, data, dim, ndim, &err) != TC_OK)
        fail_msg("writing %s: %s", path, tc_error_format(&err, line, sizeof line));
}

/* Runs the command and checks the usual failure contract (see tct_cli_expect_failure). */
static void expect_failure(const char *dir, const char *const *args, int status,
                           const char *needle)
{
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    tct_cli_expect_failure(&r, status, needle);
    tct_cli_free(&r);
}

/* Runs the command; it must succeed with nothing on stderr. Returns stdout (caller test_frees). */
static char *expect_success(const char *dir, const char *const *args)
{
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    if (r.status != 0 || r.err[0] != '\0')
        fail_msg("%s: exit %d, stderr \"%.400s\"", args[0], r.status, r.err);
    test_free(r.err);
    return r.out;
}

static void help_prints_usage_to_stdout(void **state)
{
    const char *const cases[][3] = {
        {"--help", NULL, NULL}, {"-h", NULL, NULL}, {"run", "--help", NULL},
        {"summary", "--help", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = expect_success(*state, cases[i]);
        if (strstr(out, "usage") == NULL)
            fail_msg("`tinycnn %s %s` printed no usage: \"%.300s\"", cases[i][0],
                     cases[i][1] ? cases[i][1] : "", out);
        if (strcmp(cases[i][0], "run") == 0 &&
            (strstr(out, "--input") == NULL || strstr(out, "--output") == NULL))
            fail_msg("run --help does not describe --input and --output: \"%.300s\"", out);
        if (strcmp(cases[i][0], "summary") == 0 && strstr(out, "-m") == NULL)
            fail_msg("summary --help does not describe -m: \"%.300s\"", out);
        test_free(out);
    }
    /* --help wins even after other options */
    const char *late[] = {"summary", "-m", tct_source_path(MODEL), "--help", NULL};
    char *out = expect_success(*state, late);
    assert_non_null(strstr(out, "usage"));
    test_free(out);
}

static void usage_errors_exit_2_with_one_line(void **state)
{
    char model[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    const char *none[] = {NULL};
    expect_failure(*state, none, 2, NULL);
    const char *unknown_cmd[] = {"frobnicate", NULL};
    expect_failure(*state, unknown_cmd, 2, "frobnicate");
    const char *unknown_run_opt[] = {"run", "-m", model, "--input", "x.npy", "--bogus", NULL};
    expect_failure(*state, unknown_run_opt, 2, "--bogus");
    const char *unknown_summary_opt[] = {"summary", "-m", model, "--bogus", NULL};
    expect_failure(*state, unknown_summary_opt, 2, "--bogus");
    const char *summary_no_model[] = {"summary", NULL};
    expect_failure(*state, summary_no_model, 2, "-m");
    const char *missing_value[] = {"summary", "-m", NULL};
    expect_failure(*state, missing_value, 2, "-m");
}

static void run_requires_model_and_input(void **state)
{
    char model[TCT_PATH_MAX];
    char y[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    tct_join(y, sizeof y, *state, "y.npy");
    const char *no_model[] = {"run", "--input", "x.npy", "--output", y, NULL};
    expect_failure(*state, no_model, 2, "-m");
    const char *no_input[] = {"run", "-m", model, "--output", y, NULL};
    expect_failure(*state, no_input, 2, "--input");
    assert_false(tct_file_exists(y));
}

/* Runs the model on x (shape dim[0..ndim)) and checks y.npy against [n, 1, 2, 2] = expected. */
static void check_run(const char *dir, const float *x, const int64_t *dim, int ndim, int64_t n,
                      const float *expected)
{
    char model[TCT_PATH_MAX];
    char xp[TCT_PATH_MAX];
    char yp[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    write_npy(dir, "x.npy", x, dim, ndim, xp, sizeof xp);
    tct_join(yp, sizeof yp, dir, "y.npy");
    const char *args[] = {"run", "-m", model, "--input", xp, "--output", yp, NULL};
    test_free(expect_success(dir, args));
    tc_array y = {0};
    tc_error err;
    char line[1024];
    if (tc_npy_read(yp, &y, &err) != TC_OK)
        fail_msg("%s", tc_error_format(&err, line, sizeof line));
    assert_int_equal(y.ndim, 4);
    assert_int_equal(y.dim[0], n);
    assert_int_equal(y.dim[1], 1);
    assert_int_equal(y.dim[2], 2);
    assert_int_equal(y.dim[3], 2);
    tct_assert_close(y.data, expected, (size_t)n * 4, 1e-6, 0.0);
    tc_array_free(&y);
}

static void run_accepts_batched_input(void **state)
{
    /* sample 0: 1..9 -> all 4. sample 1: 5 in the middle, 2 bottom right:
     * [5 - 0, 0 - 0; 0 - 0, 2 - 5] -> relu -> [5, 0; 0, 0] */
    const float x[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 5, 0, 0, 0, 2};
    const float expected[8] = {4, 4, 4, 4, 5, 0, 0, 0};
    const int64_t dim[4] = {2, 1, 3, 3};
    check_run(*state, x, dim, 4, 2, expected);
}

static void run_accepts_input_without_batch(void **state)
{
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float expected[4] = {4, 4, 4, 4};
    const int64_t dim[3] = {1, 3, 3};
    check_run(*state, x, dim, 3, 1, expected);
}

static void run_refuses_wrong_input_shape(void **state)
{
    char model[TCT_PATH_MAX];
    char xp[TCT_PATH_MAX];
    char yp[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    tct_join(yp, sizeof yp, *state, "y.npy");
    const float x[24] = {0}; /* enough for the largest shape below */
    const int64_t shapes[][4] = {{1, 4, 4}, {3, 3}, {2, 1, 3, 4}, {16}};
    const int ndims[] = {3, 2, 4, 1};
    for (int i = 0; i < 4; i++) {
        write_npy(*state, "x.npy", x, shapes[i], ndims[i], xp, sizeof xp);
        const char *args[] = {"run", "-m", model, "--input", xp, "--output", yp, NULL};
        expect_failure(*state, args, 2, "[1, 3, 3]"); /* names the shape it needs */
        assert_false(tct_file_exists(yp));
    }
}

static void run_refuses_missing_or_bad_files(void **state)
{
    char model[TCT_PATH_MAX];
    char xp[TCT_PATH_MAX];
    char yp[TCT_PATH_MAX];
    char missing[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    tct_join(missing, sizeof missing, *state, "no_such_input.npy");
    tct_join(yp, sizeof yp, *state, "y.npy");
    const char *no_input_file[] = {"run", "-m", model, "--input", missing, "--output", yp, NULL};
    expect_failure(*state, no_input_file, 2, "no_such_input.npy");

    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const int64_t dim[3] = {1, 3, 3};
    write_npy(*state, "x.npy", x, dim, 3, xp, sizeof xp);
    const char *no_model_file[] = {"run", "-m", "no_such_model.json", "--input", xp, NULL};
    expect_failure(*state, no_model_file, 2, "no_such_model.json");
    const char *cyclic = tct_source_path("tests/fixtures/bad_graph_self_cycle.json");
    const char *bad_model[] = {"run", "-m", cyclic, "--input", xp, "--output", yp, NULL};
    expect_failure(*state, bad_model, 2, "cycle");
    assert_false(tct_file_exists(yp));

    /* the run itself works but the output cannot be written: a runtime failure */
    char unwritable[TCT_PATH_MAX];
    tct_join(unwritable, sizeof unwritable, *state, "no_such_dir/y.npy");
    const char *bad_output[] = {"run", "-m", model, "--input", xp, "--output", unwritable, NULL};
    expect_failure(*state, bad_output, 1, "no_such_dir");
}

/* Copies the first line of out containing ` word ` into buf as " line " (tabs as spaces, so
 * whole words can be found by searching for " w "); NULL if there is none. */
static const char *line_with(const char *out, const char *word, char *buf, size_t len)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, " %s ", word);
    for (const char *line = out; *line != '\0';) {
        size_t n = strcspn(line, "\n");
        snprintf(buf, len, " %.*s ", (int)n, line);
        for (char *p = buf; *p; p++) {
            if (*p == '\t')
                *p = ' ';
        }
        if (strstr(buf, pattern) != NULL)
            return buf;
        line += n + (line[n] == '\n');
    }
    return NULL;
}

static void summary_prints_layers_shapes_params_macs(void **state)
{
    const char *args[] = {"summary", "-m", tct_source_path(MODEL), NULL};
    char *out = expect_success(*state, args);
    char buf[512];
    /* conv: output [1, 2, 2]; params 4 (1 * 1 * 2 * 2 weights, no bias);
     * MACs 16 (4 outputs x 4 kernel taps) */
    const char *conv = line_with(out, "conv2d", buf, sizeof buf);
    if (conv == NULL || strstr(conv, " conv ") == NULL || strstr(conv, "[1, 2, 2]") == NULL ||
        strstr(conv, " 4 ") == NULL || strstr(conv, " 16 ") == NULL)
        fail_msg("no line with conv, conv2d, [1, 2, 2], 4 params and 16 MACs in:\n%s", out);
    const char *relu = line_with(out, "activation", buf, sizeof buf);
    if (relu == NULL || strstr(relu, " relu ") == NULL || strstr(relu, "[1, 2, 2]") == NULL ||
        strstr(relu, " 0 ") == NULL)
        fail_msg("no line with relu, activation, [1, 2, 2] and 0 params in:\n%s", out);
    test_free(out);
}

/* The number after "key": in a one-line JSON object. */
static double json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    if (p == NULL)
        fail_msg("no %s in \"%.300s\"", key, json);
    return strtod(p + strlen(pat), NULL);
}

/* bench --json: the keys issue 7 names, consistent with each other and with the model (16 MACs
 * per sample: 32 FLOP), and the batch and threads asked for. */
static void bench_json_is_consistent(void **state)
{
    char model[1024];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    const char *const args[] = {"bench", "-m", model, "--batch", "3", "--threads", "2",
                                "--seconds", "0.05", "--json", NULL};
    char *out = expect_success(*state, args);
    const double us = json_number(out, "us_per_image"), ips = json_number(out, "images_per_s");
    const double median = json_number(out, "median_us"), gflops = json_number(out, "gflops");
    assert_int_equal((int)json_number(out, "batch"), 3);
    assert_int_equal((int)json_number(out, "threads"), 2);
    assert_true(us > 0 && fabs(us * ips - 1e6) < 1e6 * 0.01);
    assert_true(fabs(median / 3 - us) <= 0.001 + 0.01 * us); /* printed to 3 decimals */
    assert_true(fabs(gflops - 32.0 * ips * 1e-9) <= 0.006);  /* printed to 2 decimals */
    test_free(out);
}

/* bench --gemm: one line per kernel this CPU has, the portable one always. */
static void bench_gemm_prints_each_kernel(void **state)
{
    const char *const args[] = {"bench", "--gemm", "16", "--seconds", "0.05", NULL};
    char *out = expect_success(*state, args);
    if (strstr(out, "gemm 16x16x16 c ") == NULL || strstr(out, "GFLOP/s") == NULL)
        fail_msg("no line for the portable kernel: \"%.400s\"", out);
    test_free(out);
}

#define WITH_DIR(f) cmocka_unit_test_setup_teardown(f, tct_tmpdir_setup, tct_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_DIR(help_prints_usage_to_stdout),
        WITH_DIR(bench_json_is_consistent),
        WITH_DIR(bench_gemm_prints_each_kernel),
        WITH_DIR(usage_errors_exit_2_with_one_line),
        WITH_DIR(run_requires_model_and_input),
        WITH_DIR(run_accepts_batched_input),
        WITH_DIR(run_accepts_input_without_batch),
        WITH_DIR(run_refuses_wrong_input_shape),
        WITH_DIR(run_refuses_missing_or_bad_files),
        WITH_DIR(summary_prints_layers_shapes_params_macs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
