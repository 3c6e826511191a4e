/*
 * test_numeric.c - numeric hygiene: weights that are NaN or infinite are refused at load, naming
 * the layer and the index; tc_model_run_checked and `tinycnn run --check-finite` name the first
 * layer whose output stops being finite (and plain runs do not check).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent */
#include "tct_cli.h"             /* first: it includes system headers, then tc_test.h */

#include <float.h>

#define HEAD "{\"format\":\"tinycnn\",\"version\":1,"

/* Two dense layers on [2]: fc1 = 1e20 * (x0 + x1) in both outputs, finite for small x;
 * fc2 = 1e20 * (h0 + h1), which for x = [1, 1] is 4e40, above FLT_MAX (3.4e38): infinite, while
 * x = [1e-20, 0] gives fc1 = [1, 1] and fc2 = 2e20. */
static const char *const overflow_model =
    HEAD "\"input\":{\"shape\":[2]},\"layers\":["
    "{\"name\":\"fc1\",\"type\":\"dense\",\"in_features\":2,\"out_features\":2,"
    "\"weight\":[[1e20,1e20],[1e20,1e20]]},"
    "{\"name\":\"act\",\"type\":\"activation\",\"function\":\"relu\"},"
    "{\"name\":\"fc2\",\"type\":\"dense\",\"in_features\":2,\"out_features\":1,"
    "\"weight\":[[1e20,1e20]]}]}";

static tc_status load_in(const char *dir, const char *json, tc_model **m, tc_error *err)
{
    return tc_model_load_buffer(json, strlen(json), dir, "numeric.json", NULL, m, err);
}

static void expect_in_message(const tc_error *err, const char *needle)
{
    char line[1024];
    tc_error_format(err, line, sizeof line);
    if (strstr(line, needle) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", needle, line);
}

/* tests/fixtures/bad_weights_nan.bin holds [1, nan, 0, 1]: value 1 is NaN. */
static void nan_in_weights_file_is_refused(void **state)
{
    (void)state;
    tc_model *m = NULL;
    tc_error err;
    const char *path = tct_source_path("tests/fixtures/bad_weights_nan_in_file.json");
    assert_int_equal(tc_model_load(path, NULL, &m, &err), TC_ERR_WEIGHTS);
    assert_null(m);
    assert_string_equal(err.path, "layers[0].weight");
    expect_in_message(&err, "value 1 ");
    expect_in_message(&err, "\"conv\"");
    expect_in_message(&err, "nan");
}

/* An infinity at index 2 of a weights file written here (bytes 8..11). */
static void infinity_in_weights_file_is_refused(void **state)
{
    char *dir = *state;
    char path[TCT_PATH_MAX];
    const float w[4] = {1.0f, 2.0f, INFINITY, 4.0f};
    FILE *f = fopen(tct_join(path, sizeof path, dir, "w.bin"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(w, sizeof w[0], 4, f), 4);
    fclose(f);
    const char *json = HEAD "\"input\":{\"shape\":[2]},\"weights_file\":\"w.bin\",\"layers\":["
                       "{\"name\":\"fc\",\"type\":\"dense\",\"in_features\":2,\"out_features\":2,"
                       "\"weight\":{\"offset\":0,\"shape\":[2,2]}}]}";
    tc_model *m = NULL;
    tc_error err;
    assert_int_equal(load_in(dir, json, &m, &err), TC_ERR_WEIGHTS);
    assert_null(m);
    assert_string_equal(err.path, "layers[0].weight");
    expect_in_message(&err, "value 2 ");
    expect_in_message(&err, "byte 8 ");
    expect_in_message(&err, "inf");
}

/* Inline numbers beyond float32 (1e39 > FLT_MAX) would become infinite: refused with their
 * index in the path. JSON itself has no NaN or Infinity literals. Numbers that round to FLT_MAX
 * (3.40282347e+38 as printed with 9 digits, 3.4028235e+38 as Python prints float32 max) load. */
static void inline_overflow_is_refused(void **state)
{
    (void)state;
    tct_expect_error(HEAD "\"input\":{\"shape\":[2]},\"layers\":[{\"type\":\"dense\","
                          "\"in_features\":2,\"out_features\":1,\"weight\":[[1,1e39]]}]}",
                     TC_ERR_WEIGHTS, "layers[0].weight[0][1]: weight is not a finite float32");
    tct_expect_error(HEAD "\"input\":{\"shape\":[2]},\"layers\":[{\"type\":\"dense\","
                          "\"in_features\":2,\"out_features\":1,\"weight\":[1,NaN]}]}",
                     TC_ERR_JSON, "not valid JSON");
    char json[512];
    snprintf(json, sizeof json,
             HEAD "\"input\":{\"shape\":[1]},\"layers\":[{\"type\":\"dense\",\"in_features\":1,"
                  "\"out_features\":2,\"weight\":[%.9g,-3.4028235e+38]}]}", (double)FLT_MAX);
    tc_model *m = tct_load(json);
    const float x[1] = {1.0f};
    const float want[2] = {FLT_MAX, -FLT_MAX};
    float *y = tct_run(m, x, 1);
    tct_assert_close(y, want, 2, 0, 0);
    test_free(y);
    tc_model_free(m);
    /* 2^128 - 2^103 is where rounding to float32 reaches infinity */
    tct_expect_error(HEAD "\"input\":{\"shape\":[1]},\"layers\":[{\"type\":\"dense\","
                          "\"in_features\":1,\"out_features\":1,"
                          "\"weight\":[3.4028235677973366e+38]}]}",
                     TC_ERR_WEIGHTS, "not a finite float32");
}

static void checked_run_names_the_first_nonfinite_layer(void **state)
{
    (void)state;
    tc_model *m = tct_load(overflow_model);
    tc_workspace *ws = NULL;
    tc_error err;
    assert_int_equal(tc_workspace_create(m, 2, &ws, &err), TC_OK);
    /* sample 0: fc1 = [1, 1], fc2 = 2e20, finite; sample 1: fc1 = [2e20, 2e20], fc2 = 4e40 */
    const float x[4] = {1e-20f, 0.0f, 1.0f, 1.0f};
    assert_int_equal(tc_model_run(m, ws, x, 2, &err), TC_OK); /* unchecked: no complaint */
    const float *y = tc_workspace_output(ws, 0);
    assert_true(isfinite(y[0]));
    assert_true(isinf(y[1]));
    assert_int_equal(tc_model_run_checked(m, ws, x, 1, true, &err), TC_OK);
    assert_int_equal(tc_model_run_checked(m, ws, x, 2, true, &err), TC_ERR_RANGE);
    assert_string_equal(err.path, "layers[2] \"fc2\"");
    expect_in_message(&err, "index 0 of batch sample 1 is inf");
    /* a NaN input is caught at the first layer */
    const float bad[2] = {NAN, 1.0f};
    assert_int_equal(tc_model_run_checked(m, ws, bad, 1, true, &err), TC_ERR_RANGE);
    assert_string_equal(err.path, "layers[0] \"fc1\"");
    expect_in_message(&err, "nan");
    tc_workspace_free(ws);
    tc_model_free(m);
}

/* Writes the overflow model and a [2, 2] input (sample 0 finite, sample 1 overflows) into dir. */
static void write_overflow_case(const char *dir, char *model, char *input)
{
    FILE *f = fopen(tct_join(model, TCT_PATH_MAX, dir, "overflow.json"), "w");
    assert_non_null(f);
    fputs(overflow_model, f);
    fclose(f);
    const float x[4] = {1e-20f, 0.0f, 1.0f, 1.0f};
    const int64_t dim[2] = {2, 2};
    tc_error err;
    assert_int_equal(tc_npy_write(tct_join(input, TCT_PATH_MAX, dir, "x.npy"), x, dim, 2, &err),
                     TC_OK);
}

static void cli_check_finite_names_the_layer(void **state)
{
    char *dir = *state;
    char model[TCT_PATH_MAX];
    char input[TCT_PATH_MAX];
    write_overflow_case(dir, model, input);
    tct_cli_result r;
    const char *checked[] = {"run", "-m", model, "--input", input, "--check-finite", NULL};
    tct_cli_run(dir, checked, &r);
    tct_cli_expect_failure(&r, 1, "input sample 1: ");
    if (!strstr(r.err, "layers[2] \"fc2\"") || !strstr(r.err, "not finite"))
        fail_msg("--check-finite should name fc2: \"%s\"", r.err);
    tct_cli_free(&r);
    /* without the flag the infinity is printed and the run succeeds */
    const char *plain[] = {"run", "-m", model, "--input", input, NULL};
    tct_cli_run(dir, plain, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "inf"));
    tct_cli_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nan_in_weights_file_is_refused),
        cmocka_unit_test_setup_teardown(infinity_in_weights_file_is_refused, tct_tmpdir_setup,
                                        tct_tmpdir_teardown),
        cmocka_unit_test(inline_overflow_is_refused),
        cmocka_unit_test(checked_run_names_the_first_nonfinite_layer),
        cmocka_unit_test_setup_teardown(cli_check_finite_names_the_layer, tct_tmpdir_setup,
                                        tct_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
