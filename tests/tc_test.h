/*
 * tc_test.h - shared helpers for the cmocka tests: load a model from JSON text, run it, compare
 * with independently computed expected values, check the error a bad model gets.
 */
#ifndef TC_TEST_H
#define TC_TEST_H

/* Standard headers come before cmocka.h: with UNIT_TESTING it redefines malloc and free, which
 * would break a later <stdlib.h>. Tests may include these again (a no-op). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tinycnn.h"

/* Loads a model from JSON text (weights_file resolved against TC_SOURCE_DIR/tests/fixtures);
 * fails the test with the library's message if loading fails. */
tc_model *tct_load(const char *json);

/* Loads json, runs `batch` samples of `input`, and checks output 0 against expected (n values)
 * with |got - want| <= atol + rtol * |want|. Fails the test naming the first bad index. */
void tct_check_run(const char *json, const float *input, int batch, const float *expected,
                   size_t n, double atol, double rtol);

/* Runs model on input into a freshly allocated buffer of output 0 (caller frees with test_free). */
float *tct_run(const tc_model *model, const float *input, int batch);

/* Checks got against want element-wise (same tolerance rule as above). */
void tct_assert_close(const float *got, const float *want, size_t n, double atol, double rtol);

/* Loading json must fail with `code`, and the formatted one-line error must contain `needle`. */
void tct_expect_error(const char *json, tc_status code, const char *needle);

/* Path of a file in the source tree: TC_SOURCE_DIR "/" rel. Returns a static buffer. */
const char *tct_source_path(const char *rel);

#endif
