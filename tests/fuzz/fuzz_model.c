/*
 * fuzz_model.c - libFuzzer target for the model loader: JSON parsing, schema checks, graph
 * building, shape inference, memory planning and weight loading, then a run.
 *
 * Input: the model JSON, optionally followed by FUZZ_WEIGHTS_SEP and the bytes of a weights
 * file. The weights go to "w.bin" in a per-process scratch directory, which is the base
 * directory of tc_model_load_buffer, so seeds say "weights_file": "w.bin". A model that loads is
 * inspected through every getter and, when cheap enough, run on a batch of 2 (zeros, and a
 * pattern with extremes, NaN and infinities), with and without the finite check, and its preprocess
 * applied to a small synthetic image.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define FUZZ_WEIGHTS_SEP "\n#weights\n"
/* Bounds for running a loaded model: loading is always exercised; a run only when it is small
 * (elements per tensor, arena, estimated operations), so that each input takes milliseconds. */
#define RUN_MAX_ELEMENTS ((size_t)1 << 15)
#define RUN_MAX_ARENA_BYTES ((size_t)32 << 20)
#define RUN_MAX_OPS 20000000.0

static const uint8_t *find_sep(const uint8_t *data, size_t size)
{
    size_t n = strlen(FUZZ_WEIGHTS_SEP);
    for (size_t i = 0; i + n <= size; i++) {
        if (memcmp(data + i, FUZZ_WEIGHTS_SEP, n) == 0)
            return data + i;
    }
    return NULL;
}

static size_t shape_numel(tc_shape s)
{
    size_t n = 1;
    FUZZ_CHECK(s.ndim >= 1 && s.ndim <= TC_MAX_DIMS);
    for (int d = 0; d < s.ndim; d++) {
        FUZZ_CHECK(s.dim[d] >= 1);
        n *= (size_t)s.dim[d];
    }
    return n;
}

/* Reads everything a loaded model reports; returns an upper estimate of one sample's operations
 * (pooling reports no MACs: bounded by output elements times the window, at most the input's
 * plane). *max_numel gets the largest tensor. */
static double inspect(const tc_model *m, size_t *max_numel)
{
    tc_limits lim;
    tc_limits_default(&lim);
    size_t in_n = tc_model_input_numel(m);
    FUZZ_CHECK(in_n == shape_numel(tc_model_input_shape(m)) && in_n <= lim.max_tensor_elements);
    FUZZ_CHECK(tc_model_name(m) != NULL && tc_model_preprocess(m) != NULL);
    int n_out = tc_model_num_outputs(m);
    FUZZ_CHECK(n_out >= 1);
    for (int k = 0; k < n_out; k++)
        FUZZ_CHECK(tc_model_output_numel(m, k) == shape_numel(tc_model_output_shape(m, k)));
    FUZZ_CHECK((size_t)tc_model_num_classes(m) == tc_model_output_numel(m, 0));
    int n_labels = tc_model_num_labels(m);
    FUZZ_CHECK(n_labels == 0 || n_labels == tc_model_num_classes(m));
    for (int i = 0; i < n_labels; i++)
        FUZZ_CHECK(tc_model_label(m, i) != NULL && strlen(tc_model_label(m, i)) < 256);
    FUZZ_CHECK(tc_model_label(m, n_labels) == NULL && tc_model_label(m, -1) == NULL);
    FUZZ_CHECK(tc_model_arena_bytes_per_sample(m) <= tc_model_unplanned_bytes_per_sample(m));
    *max_numel = in_n;
    double ops = 0;
    int n_layers = tc_model_num_layers(m);
    for (int i = 0; i < n_layers; i++) {
        tc_layer_info info;
        FUZZ_CHECK(tc_model_layer_info(m, i, &info) == TC_OK);
        FUZZ_CHECK(info.name != NULL && info.type != NULL);
        size_t n = shape_numel(info.out_shape);
        if (n > *max_numel)
            *max_numel = n;
        ops += (double)info.macs + 4.0 * (double)n;
    }
    for (int i = 0; i < n_layers; i++) {
        tc_layer_info info;
        tc_model_layer_info(m, i, &info);
        if (strcmp(info.type, "maxpool2d") == 0 || strcmp(info.type, "avgpool2d") == 0)
            ops += (double)shape_numel(info.out_shape) * (double)*max_numel /
                   (double)info.out_shape.dim[0];
    }
    tc_layer_info info;
    FUZZ_CHECK(tc_model_layer_info(m, n_layers, &info) == TC_ERR_ARGUMENT);
    return ops;
}

/* Applies the model's preprocess to a 5 x 3 RGBA image with a transparent corner. */
static void preprocess_image(const tc_model *m, float *out)
{
    uint8_t px[5 * 3 * 4];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 37 + 11);
    px[3] = 0;
    tc_image img = {5, 3, 4, px};
    tc_shape in = tc_model_input_shape(m);
    tc_error err;
    tc_status st = tc_image_to_tensor(&img, tc_model_preprocess(m), in, out, &err);
    bool is_image = (in.ndim == 2) || (in.ndim == 3 && (in.dim[0] == 1 || in.dim[0] == 3));
    FUZZ_CHECK(st == (is_image ? TC_OK : TC_ERR_ARGUMENT));
}

/* Largest |a - b| allowed between the same sample run in batches of 1 and 2. */
static bool close_enough(float a, float b)
{
    if (!isfinite(a) || !isfinite(b))
        return true; /* summation order may turn an overflow into a finite value and back */
    double scale = fmax(1.0, fmax(fabs((double)a), fabs((double)b)));
    return fabs((double)a - (double)b) <= 1e-3 * scale;
}

static void run_model(const tc_model *m)
{
    size_t in_n = tc_model_input_numel(m);
    float *x = calloc(2 * in_n, sizeof *x);
    if (x == NULL)
        return;
    static const float pattern[] = {1.0f, -2.5f, 1e30f, -1e30f, 0.5f, NAN, INFINITY, 3.0f};
    for (size_t i = 0; i < in_n; i++)
        x[in_n + i] = pattern[i % (sizeof pattern / sizeof pattern[0])];
    tc_workspace *ws = NULL;
    tc_workspace *ws1 = NULL;
    tc_error err;
    tc_status st = tc_workspace_create(m, 2, &ws, &err);
    if (st != TC_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(st == TC_ERR_LIMIT || st == TC_ERR_NOMEM);
        free(x);
        return;
    }
    FUZZ_CHECK(tc_workspace_output(ws, 0) == NULL); /* nothing ran yet */
    FUZZ_CHECK(tc_model_run(m, ws, x, 3, &err) == TC_ERR_ARGUMENT);
    FUZZ_CHECK(tc_model_run(m, ws, x, 2, &err) == TC_OK);
    int n_out = tc_model_num_outputs(m);
    float *first = NULL;
    size_t first_n = tc_model_output_numel(m, 0);
    if (tc_workspace_create(m, 1, &ws1, &err) == TC_OK)
        first = malloc(first_n * sizeof *first);
    if (first != NULL)
        memcpy(first, tc_workspace_output(ws, 0), first_n * sizeof *first);
    for (int k = 0; k < n_out; k++) {
        const float *y = tc_workspace_output(ws, k);
        FUZZ_CHECK(y != NULL);
        volatile float sink = 0;
        for (size_t i = 0; i < 2 * tc_model_output_numel(m, k); i++)
            sink += y[i]; /* every output value must be readable */
        (void)sink;
    }
    FUZZ_CHECK(tc_workspace_output(ws, n_out) == NULL);
    /* Sample 0 (zeros) alone must give what it gave in the batch. */
    if (first != NULL && tc_model_run(m, ws1, x, 1, &err) == TC_OK) {
        const float *y = tc_workspace_output(ws1, 0);
        for (size_t i = 0; i < first_n; i++)
            FUZZ_CHECK(close_enough(first[i], y[i]));
    }
    st = tc_model_run_checked(m, ws, x + in_n, 1, true, &err);
    FUZZ_CHECK(st == TC_OK || (st == TC_ERR_RANGE && err.path[0] != '\0'));
    FUZZ_CHECK(tc_model_run(m, ws1 != NULL ? ws1 : ws, x, 1, &err) == TC_OK);
    if (ws1 != NULL)
        FUZZ_CHECK(tc_model_run(m, ws, x, 1, &err) == TC_OK);
    free(first);
    tc_workspace_free(ws1);
    tc_workspace_free(ws);
    free(x);
}

int tc_fuzz_model(const uint8_t *data, size_t size)
{
    const uint8_t *sep = find_sep(data, size);
    size_t json_len = sep != NULL ? (size_t)(sep - data) : size;
    const uint8_t *weights = sep != NULL ? sep + strlen(FUZZ_WEIGHTS_SEP) : data + size;
    char wpath[FUZZ_PATH_MAX + 16];
    if (!fuzz_write_file("w.bin", weights, (size_t)(data + size - weights), wpath, sizeof wpath))
        return 0;
    tc_model *m = (tc_model *)&m; /* must become NULL on failure */
    tc_error err;
    tc_status st = tc_model_load_buffer((const char *)data, json_len, fuzz_scratch_dir(),
                                        "fuzz.json", NULL, &m, &err);
    if (st != TC_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(strcmp(err.file, "fuzz.json") == 0);
        return 0;
    }
    FUZZ_CHECK(m != NULL);
    size_t max_numel = 0;
    double ops = inspect(m, &max_numel);
    if (tc_model_input_numel(m) <= RUN_MAX_ELEMENTS) {
        float *img = malloc(tc_model_input_numel(m) * sizeof *img);
        if (img != NULL)
            preprocess_image(m, img);
        free(img);
    }
    if (max_numel <= RUN_MAX_ELEMENTS && ops <= RUN_MAX_OPS &&
        tc_model_arena_bytes_per_sample(m) <= RUN_MAX_ARENA_BYTES / 2)
        run_model(m);
    tc_model_free(m);
    return 0;
}

#ifdef TC_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tc_fuzz_model(data, size);
}
#endif
