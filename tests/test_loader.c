/* test_loader.c - the model file: top-level fields, JSON errors, weights files, limits, labels. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "tc_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEAD "{\"format\":\"tinycnn\",\"version\":1,"

static void loads_minimal_model_and_reports_it(void **state)
{
    (void)state;
    tc_model *m = tct_load(HEAD "\"name\":\"tiny\",\"input\":{\"shape\":[2,3]},"
                           "\"labels\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"],"
                           "\"layers\":[{\"type\":\"activation\",\"function\":\"relu\"}]}");
    assert_string_equal(tc_model_name(m), "tiny");
    tc_shape in = tc_model_input_shape(m);
    assert_int_equal(in.ndim, 2);
    assert_int_equal(in.dim[0], 2);
    assert_int_equal(in.dim[1], 3);
    assert_int_equal(tc_model_input_numel(m), 6);
    assert_int_equal(tc_model_num_outputs(m), 1);
    assert_int_equal(tc_model_output_numel(m, 0), 6);
    assert_int_equal(tc_model_num_labels(m), 6);
    assert_string_equal(tc_model_label(m, 5), "f");
    assert_null(tc_model_label(m, 6));
    assert_int_equal(tc_model_num_layers(m), 1);
    tc_layer_info info;
    assert_int_equal(tc_model_layer_info(m, 0, &info), TC_OK);
    assert_string_equal(info.name, "activation_0"); /* default name: type_index */
    assert_int_equal(tc_model_layer_info(m, 1, &info), TC_ERR_ARGUMENT);
    assert_int_equal(tc_model_output_is_probability(m, 0), 0);
    tc_model_free(m);
}

static void refuses_bad_top_level_fields(void **state)
{
    (void)state;
    const char *layers = "\"layers\":[{\"type\":\"flatten\"}]}";
    char buf[512];
    snprintf(buf, sizeof buf, HEAD "\"input\":{\"shape\":[3]},\"colour\":1,%s", layers);
    tct_expect_error(buf, TC_ERR_SCHEMA, "colour: unknown field");
    snprintf(buf, sizeof buf, HEAD "\"input\":{\"shape\":[3]},\"input\":{\"shape\":[3]},%s", layers);
    tct_expect_error(buf, TC_ERR_SCHEMA, "input: field appears twice");
    snprintf(buf, sizeof buf, "{\"format\":\"onnx\",\"version\":1,\"input\":{\"shape\":[3]},%s", layers);
    tct_expect_error(buf, TC_ERR_SCHEMA, "format: expected \"tinycnn\"");
    snprintf(buf, sizeof buf, "{\"format\":\"tinycnn\",\"version\":2,\"input\":{\"shape\":[3]},%s", layers);
    tct_expect_error(buf, TC_ERR_RANGE, "version");
    snprintf(buf, sizeof buf, "{\"format\":\"tinycnn\",\"input\":{\"shape\":[3]},%s", layers);
    tct_expect_error(buf, TC_ERR_SCHEMA, "version: required field is missing");
    snprintf(buf, sizeof buf, HEAD "%s", layers);
    tct_expect_error(buf, TC_ERR_SCHEMA, "input: required field is missing");
    snprintf(buf, sizeof buf, HEAD "\"input\":{\"shape\":[1,2,3,4,5]},%s", layers);
    tct_expect_error(buf, TC_ERR_RANGE, "input.shape: expected an integer or 1 to 4 integers, got an array of 5");
    snprintf(buf, sizeof buf, HEAD "\"input\":{\"shape\":[3,0]},%s", layers);
    tct_expect_error(buf, TC_ERR_RANGE, "input.shape[1]");
    tct_expect_error(HEAD "\"input\":{\"shape\":[3]},\"layers\":[]}", TC_ERR_RANGE, "layers");
    tct_expect_error(HEAD "\"input\":{\"shape\":[3]},\"layers\":{}}", TC_ERR_SCHEMA, "layers");
    tct_expect_error("[1,2]", TC_ERR_SCHEMA, "must be a JSON object");
}

static void reports_json_syntax_errors_with_line_and_column(void **state)
{
    (void)state;
    tct_expect_error("{\n  \"format\": \"tinycnn\",\n  \"version\": 1,,\n}", TC_ERR_JSON, "line 3");
    tct_expect_error("", TC_ERR_JSON, "empty");
    tct_expect_error("{\"format\":\"tinycnn\"} x", TC_ERR_JSON, "unexpected text after");
    /* 2000 nested arrays: cJSON's nesting limit refuses it instead of recursing deeply */
    size_t n = 2000;
    char *deep = test_malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    tct_expect_error(deep, TC_ERR_JSON, "nested more than 1000 levels");
    test_free(deep);
}

static void refuses_missing_and_unreadable_files(void **state)
{
    (void)state;
    tc_model *m = (tc_model *)&m; /* must be reset to NULL */
    tc_error err;
    assert_int_equal(tc_model_load("/nonexistent/model.json", NULL, &m, &err), TC_ERR_IO);
    assert_null(m);
    assert_string_equal(err.file, "/nonexistent/model.json");
    assert_int_equal(tc_model_load("/tmp", NULL, &m, NULL), TC_ERR_IO); /* a directory; err NULL */
}

/* A scratch directory holding a weights file of `n` floats 0, 1, 2, ... */
static char *make_weights_dir(size_t n)
{
    char *dir = test_malloc(64);
    snprintf(dir, 64, "/tmp/tc_loader_XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        float v = (float)i;
        fwrite(&v, sizeof v, 1, f);
    }
    fclose(f);
    return dir;
}

static void remove_weights_dir(char *dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    unlink(path);
    rmdir(dir);
    test_free(dir);
}

static tc_status load_in(const char *dir, const char *json, tc_model **m, tc_error *err)
{
    return tc_model_load_buffer(json, strlen(json), dir, "m.json", NULL, m, err);
}

static void reads_weights_from_the_weights_file(void **state)
{
    (void)state;
    char *dir = make_weights_dir(8);
    tc_model *m = NULL;
    tc_error err;
    /* weight = floats 2..7 as [2, 3]; bias = floats 0..1: y = W x + b with x = [1, 1, 1]
     * gives [2+3+4+0, 5+6+7+1] = [9, 19] */
    const char *json = HEAD "\"input\":{\"shape\":[3]},\"weights_file\":\"w.bin\",\"layers\":["
                       "{\"type\":\"dense\",\"in_features\":3,\"out_features\":2,"
                       "\"weight\":{\"offset\":8,\"shape\":[2,3]},"
                       "\"bias\":{\"offset\":0,\"shape\":[2]}}]}";
    assert_int_equal(load_in(dir, json, &m, &err), TC_OK);
    const float x[3] = {1, 1, 1};
    const float want[2] = {9, 19};
    float *y = tct_run(m, x, 1);
    tct_assert_close(y, want, 2, 0, 0);
    test_free(y);
    assert_int_equal(tc_model_weight_bytes(m), 8 * sizeof(float));
    tc_model_free(m);
    remove_weights_dir(dir);
}

static void refuses_weights_outside_the_file(void **state)
{
    (void)state;
    char *dir = make_weights_dir(4); /* 16 bytes */
    tc_model *m = NULL;
    tc_error err;
    char json[512];
    const char *fmt = HEAD "\"input\":{\"shape\":[2]},\"weights_file\":\"%s\",\"layers\":["
                      "{\"type\":\"dense\",\"in_features\":2,\"out_features\":2,"
                      "\"weight\":{\"offset\":%s,\"shape\":[2,2]}}]}";
    snprintf(json, sizeof json, fmt, "w.bin", "4"); /* bytes 4..20 of 16 */
    assert_int_equal(load_in(dir, json, &m, &err), TC_ERR_WEIGHTS);
    assert_null(m);
    assert_string_equal(err.path, "layers[0].weight");
    assert_non_null(strstr(err.message, "outside weights_file"));
    snprintf(json, sizeof json, fmt, "w.bin", "-4");
    assert_int_equal(load_in(dir, json, &m, &err), TC_ERR_RANGE);
    snprintf(json, sizeof json, fmt, "w.bin", "18446744073709551616");
    assert_int_equal(load_in(dir, json, &m, &err), TC_ERR_RANGE);
    snprintf(json, sizeof json, fmt, "missing.bin", "0");
    assert_int_equal(load_in(dir, json, &m, &err), TC_ERR_WEIGHTS);
    assert_non_null(strstr(err.message, "cannot open"));
    /* {offset, shape} without any weights_file */
    const char *no_file = HEAD "\"input\":{\"shape\":[2]},\"layers\":["
                          "{\"type\":\"dense\",\"in_features\":2,\"out_features\":2,"
                          "\"weight\":{\"offset\":0,\"shape\":[2,2]}}]}";
    assert_int_equal(load_in(dir, no_file, &m, &err), TC_ERR_WEIGHTS);
    assert_non_null(strstr(err.message, "weights_file"));
    remove_weights_dir(dir);
}

static void refuses_bad_inline_weights(void **state)
{
    (void)state;
    const char *fmt = HEAD "\"input\":{\"shape\":[2]},\"layers\":[{\"type\":\"dense\","
                      "\"in_features\":2,\"out_features\":2,\"weight\":%s}]}";
    char json[512];
    snprintf(json, sizeof json, fmt, "[[1,2],[3]]");
    tct_expect_error(json, TC_ERR_WEIGHTS, "layers[0].weight[1]: ragged");
    snprintf(json, sizeof json, fmt, "[[1,2],[3,\"x\"]]");
    tct_expect_error(json, TC_ERR_WEIGHTS, "layers[0].weight[1][1]: expected a number");
    snprintf(json, sizeof json, fmt, "[[1,2],[3,1e999]]");
    tct_expect_error(json, TC_ERR_WEIGHTS, "not a finite");
    snprintf(json, sizeof json, fmt, "[1,2,3]");
    tct_expect_error(json, TC_ERR_WEIGHTS, "needs [2, 2]");
    snprintf(json, sizeof json, fmt, "[]");
    tct_expect_error(json, TC_ERR_WEIGHTS, "must not be empty");
    snprintf(json, sizeof json, fmt, "[[[[[1]]]]]");
    tct_expect_error(json, TC_ERR_WEIGHTS, "nested deeper");
    snprintf(json, sizeof json, fmt, "\"1,2,3,4\"");
    tct_expect_error(json, TC_ERR_SCHEMA, "expected an array of numbers");
    /* flat and nested forms give the same model: y = [1*1+2*2, 3*1+4*2] = [5, 11] */
    const float x[2] = {1, 2};
    const float want[2] = {5, 11};
    snprintf(json, sizeof json, fmt, "[1,2,3,4]");
    tct_check_run(json, x, 1, want, 2, 0, 0);
    snprintf(json, sizeof json, fmt, "[[1,2],[3,4]]");
    tct_check_run(json, x, 1, want, 2, 0, 0);
}

static void enforces_resource_limits(void **state)
{
    (void)state;
    tc_limits lim;
    tc_limits_default(&lim);
    tc_model *m = NULL;
    tc_error err;
    const char *big = HEAD "\"input\":{\"shape\":[65536,65536,65536]},\"layers\":[{\"type\":\"flatten\"}]}";
    assert_int_equal(tc_model_load_buffer(big, strlen(big), NULL, NULL, NULL, &m, &err), TC_ERR_LIMIT);
    assert_string_equal(err.path, "input.shape");
    const char *small = HEAD "\"input\":{\"shape\":[100]},\"layers\":[{\"type\":\"flatten\"}]}";
    lim.max_tensor_elements = 99;
    assert_int_equal(tc_model_load_buffer(small, strlen(small), NULL, NULL, &lim, &m, &err), TC_ERR_LIMIT);
    tc_limits_default(&lim);
    lim.max_json_bytes = 10;
    assert_int_equal(tc_model_load_buffer(small, strlen(small), NULL, NULL, &lim, &m, &err), TC_ERR_LIMIT);
    tc_limits_default(&lim);
    lim.max_layers = 1;
    const char *two = HEAD "\"input\":{\"shape\":[4]},\"layers\":[{\"type\":\"flatten\"},{\"type\":\"flatten\"}]}";
    assert_int_equal(tc_model_load_buffer(two, strlen(two), NULL, NULL, &lim, &m, &err), TC_ERR_LIMIT);
    assert_non_null(strstr(err.message, "max_layers = 1"));
    tc_limits_default(&lim);
    lim.max_arena_bytes = 100; /* [100] needs 400 bytes of activations */
    assert_int_equal(tc_model_load_buffer(small, strlen(small), NULL, NULL, &lim, &m, &err), TC_ERR_LIMIT);
    assert_null(m);
}

static void checks_labels_against_the_output(void **state)
{
    (void)state;
    tct_expect_error(HEAD "\"input\":{\"shape\":[3]},\"labels\":[\"a\",\"b\"],"
                     "\"layers\":[{\"type\":\"softmax\"}]}",
                     TC_ERR_SHAPE, "labels: has 2 names but the output");
    tct_expect_error(HEAD "\"input\":{\"shape\":[2]},\"labels\":[\"a\",2],"
                     "\"layers\":[{\"type\":\"softmax\"}]}",
                     TC_ERR_SCHEMA, "labels[1]");
    tc_model *m = tct_load(HEAD "\"input\":{\"shape\":[2]},\"layers\":[{\"type\":\"softmax\"}]}");
    assert_int_equal(tc_model_output_is_probability(m, 0), 1);
    assert_int_equal(tc_model_num_classes(m), 2);
    tc_model_free(m);
}

static void parses_preprocess(void **state)
{
    (void)state;
    tc_model *m = tct_load(HEAD "\"input\":{\"shape\":[3,4,4]},\"preprocess\":{\"scale\":0.5,"
                           "\"mean\":[1,2,3],\"std\":[4,5,6],\"invert\":true,\"resize\":\"letterbox\"},"
                           "\"layers\":[{\"type\":\"flatten\"}]}");
    const tc_preprocess *p = tc_model_preprocess(m);
    assert_true(p->scale == 0.5f);
    assert_int_equal(p->n_mean, 3);
    assert_true(p->mean[2] == 3.0f && p->std[1] == 5.0f);
    assert_int_equal(p->invert, 1);
    assert_int_equal(p->resize, TC_RESIZE_LETTERBOX);
    tc_model_free(m);
    tct_expect_error(HEAD "\"input\":{\"shape\":[3,4,4]},\"preprocess\":{\"mean\":[1,2]},"
                     "\"layers\":[{\"type\":\"flatten\"}]}",
                     TC_ERR_RANGE, "one per input channel (3)");
    tct_expect_error(HEAD "\"input\":{\"shape\":[1,4,4]},\"preprocess\":{\"std\":[0]},"
                     "\"layers\":[{\"type\":\"flatten\"}]}",
                     TC_ERR_RANGE, "preprocess.std[0]");
    tct_expect_error(HEAD "\"input\":{\"shape\":[1,4,4]},\"preprocess\":{\"resize\":\"zoom\"},"
                     "\"layers\":[{\"type\":\"flatten\"}]}",
                     TC_ERR_RANGE, "preprocess.resize: expected one of");
}

static void formats_errors_on_one_line(void **state)
{
    (void)state;
    tc_error err = {TC_ERR_SHAPE, "m.json", "layers[2] \"conv2\"", "in_channels is 3\nbut 6"};
    char line[128];
    assert_string_equal(tc_error_format(&err, line, sizeof line),
                        "m.json: layers[2] \"conv2\": in_channels is 3 but 6");
    tc_error bare = {TC_ERR_IO, "", "", "cannot open"};
    assert_string_equal(tc_error_format(&bare, line, sizeof line), "cannot open");
    assert_string_equal(tc_status_str(TC_ERR_LIMIT), "TC_ERR_LIMIT");
    char tiny[8];
    assert_true(strlen(tc_error_format(&err, tiny, sizeof tiny)) < sizeof tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_minimal_model_and_reports_it),
        cmocka_unit_test(refuses_bad_top_level_fields),
        cmocka_unit_test(reports_json_syntax_errors_with_line_and_column),
        cmocka_unit_test(refuses_missing_and_unreadable_files),
        cmocka_unit_test(reads_weights_from_the_weights_file),
        cmocka_unit_test(refuses_weights_outside_the_file),
        cmocka_unit_test(refuses_bad_inline_weights),
        cmocka_unit_test(enforces_resource_limits),
        cmocka_unit_test(checks_labels_against_the_output),
        cmocka_unit_test(parses_preprocess),
        cmocka_unit_test(formats_errors_on_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
