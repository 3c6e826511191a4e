/* tc_test.c - helpers shared by the cmocka tests (see tc_test.h). */
#include "tc_test.h"

#include <stdbool.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tct_source_path(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", TC_SOURCE_DIR, rel);
    return buf;
}

tc_model *tct_load(const char *json)
{
    tc_model *model = NULL;
    tc_error err;
    tc_status st = tc_model_load_buffer(json, strlen(json), tct_source_path("tests/fixtures"),
                                        "test.json", NULL, &model, &err);
    if (st != TC_OK) {
        char line[1024];
        fail_msg("load failed: %s", tc_error_format(&err, line, sizeof line));
    }
    return model;
}

float *tct_run(const tc_model *model, const float *input, int batch)
{
    tc_workspace *ws = NULL;
    tc_error err;
    char line[1024];
    if (tc_workspace_create(model, batch, &ws, &err) != TC_OK)
        fail_msg("workspace: %s", tc_error_format(&err, line, sizeof line));
    if (tc_model_run(model, ws, input, batch, &err) != TC_OK)
        fail_msg("run: %s", tc_error_format(&err, line, sizeof line));
    size_t n = (size_t)batch * tc_model_output_numel(model, 0);
    float *out = test_malloc(n * sizeof *out);
    memcpy(out, tc_workspace_output(ws, 0), n * sizeof *out);
    tc_workspace_free(ws);
    return out;
}

void tct_assert_close(const float *got, const float *want, size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - (double)want[i]);
        bool same_inf = isinf(got[i]) && isinf(want[i]) && signbit(got[i]) == signbit(want[i]);
        if (!(diff <= atol + rtol * fabs((double)want[i])) && !same_inf)
            fail_msg("index %zu: got %.9g, expected %.9g (diff %.3g)", i, (double)got[i],
                     (double)want[i], diff);
    }
}

void tct_check_run(const char *json, const float *input, int batch, const float *expected,
                   size_t n, double atol, double rtol)
{
    tc_model *model = tct_load(json);
    size_t out_n = (size_t)batch * tc_model_output_numel(model, 0);
    if (out_n != n)
        fail_msg("output has %zu values, expected %zu", out_n, n);
    float *out = tct_run(model, input, batch);
    tct_assert_close(out, expected, n, atol, rtol);
    test_free(out);
    tc_model_free(model);
}

void tct_expect_error(const char *json, tc_status code, const char *needle)
{
    tc_model *model = NULL;
    tc_error err;
    char line[1024];
    tc_status st = tc_model_load_buffer(json, strlen(json), tct_source_path("tests/fixtures"),
                                        "test.json", NULL, &model, &err);
    if (st == TC_OK) {
        tc_model_free(model);
        fail_msg("model loaded, expected %s containing \"%s\"", tc_status_str(code), needle);
    }
    assert_null(model);
    tc_error_format(&err, line, sizeof line);
    if (st != code)
        fail_msg("got %s (%s), expected %s", tc_status_str(st), line, tc_status_str(code));
    if (strstr(line, needle) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", line, needle);
}
