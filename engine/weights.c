/*
 * weights.c - weight blobs: declared while parsing (inline arrays or {offset, shape} into the
 * weights file), size-checked during shape inference, then read into one block.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

#define MAX_WEIGHT_OFFSET 9007199254740992.0 /* 2^53: exact in a JSON double */
/* 2^128 - 2^103, halfway between FLT_MAX and 2^128: doubles from here on round to an infinite
 * float32, those below round to at most FLT_MAX (so "3.4028235e+38", float32 max as Python prints
 * it, is fine). */
#define FLOAT32_INF_FROM 0x1.ffffffp+127

/* Finds the dims of a nested inline array by following first elements. */
static tc_status inline_shape(const cJSON *arr, const char *path, tc_shape *shape, tc_error *err)
{
    shape->ndim = 0;
    const cJSON *item = arr;
    while (cJSON_IsArray(item)) {
        int n = cJSON_GetArraySize(item);
        if (n < 1)
            return tc_error_set(err, TC_ERR_WEIGHTS, path, "weight arrays must not be empty");
        if (shape->ndim == TC_MAX_DIMS)
            return tc_error_set(err, TC_ERR_WEIGHTS, path,
                                "weight arrays are nested deeper than %d levels", TC_MAX_DIMS);
        shape->dim[shape->ndim++] = n;
        item = item->child;
    }
    return TC_OK;
}

/* Checks that item is a rectangular array of finite float32 numbers with shape dims[depth..]. */
static tc_status check_nested(const cJSON *item, const tc_shape *shape, int depth, char *path,
                              size_t path_len, tc_error *err)
{
    size_t base_len = strlen(path);
    if (depth == shape->ndim) {
        if (!cJSON_IsNumber(item)) {
            char got[80];
            tc_json_describe(item, got, sizeof got);
            return tc_error_set(err, TC_ERR_WEIGHTS, path, "expected a number, got %s", got);
        }
        if (!isfinite(item->valuedouble) || fabs(item->valuedouble) >= FLOAT32_INF_FROM)
            return tc_error_set(err, TC_ERR_WEIGHTS, path,
                                "weight is not a finite float32 number");
        return TC_OK;
    }
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != shape->dim[depth]) {
        char got[80];
        tc_json_describe(item, got, sizeof got);
        return tc_error_set(err, TC_ERR_WEIGHTS, path,
                            "ragged weight array: expected an array of %d, got %s",
                            (int)shape->dim[depth], got);
    }
    int i = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, item) {
        snprintf(path + base_len, path_len - base_len, "[%d]", i++);
        tc_status st = check_nested(child, shape, depth + 1, path, path_len, err);
        if (st != TC_OK)
            return st;
    }
    path[base_len] = '\0';
    return TC_OK;
}

static tc_status parse_file_ref(const cJSON *ref, const char *path, tc_weight *w, tc_error *err)
{
    static const char *const keys[] = {"offset", "shape", NULL};
    tc_status st = tc_json_check_keys(ref, path, keys, err);
    if (st != TC_OK)
        return st;
    char p[256];
    tc_path_join(p, sizeof p, path, "offset");
    const cJSON *off = tc_json_get(ref, "offset");
    if (off == NULL)
        return tc_error_set(err, TC_ERR_SCHEMA, p, "required field is missing");
    if (!cJSON_IsNumber(off) || off->valuedouble != floor(off->valuedouble))
        return tc_error_set(err, TC_ERR_SCHEMA, p, "expected a byte offset (an integer)");
    if (!(off->valuedouble >= 0 && off->valuedouble <= MAX_WEIGHT_OFFSET))
        return tc_error_set(err, TC_ERR_RANGE, p, "expected an offset in 0..2^53, got %.17g",
                            off->valuedouble);
    w->offset = (uint64_t)off->valuedouble;
    int n = 0;
    st = tc_json_int_list(ref, "shape", path, 1, TC_MAX_DIMS, 1, INT32_MAX, TC_REQUIRED,
                          w->shape.dim, &n, err);
    w->shape.ndim = n;
    return st;
}

tc_status tc_layer_add_weight(tc_layer *l, const cJSON *obj, const char *key, const char *path,
                              tc_presence presence, int *slot, tc_error *err)
{
    char p[256];
    tc_path_join(p, sizeof p, path, key);
    *slot = -1;
    const cJSON *item = tc_json_get(obj, key);
    if (item == NULL) {
        if (presence == TC_REQUIRED)
            return tc_error_set(err, TC_ERR_SCHEMA, p, "required weight is missing");
        return TC_OK;
    }
    if (l->n_weights >= TC_MAX_WEIGHTS)
        return tc_error_set(err, TC_ERR_INTERNAL, p, "too many weights for one layer");
    tc_weight *w = &l->weights[l->n_weights];
    memset(w, 0, sizeof *w);
    snprintf(w->key, sizeof w->key, "%s", key);
    tc_status st;
    if (cJSON_IsArray(item)) {
        w->is_inline = true;
        w->json = item;
        if ((st = inline_shape(item, p, &w->shape, err)) != TC_OK)
            return st;
        char walk[320];
        snprintf(walk, sizeof walk, "%s", p);
        if ((st = check_nested(item, &w->shape, 0, walk, sizeof walk, err)) != TC_OK)
            return st;
    } else if (cJSON_IsObject(item)) {
        if ((st = parse_file_ref(item, p, w, err)) != TC_OK)
            return st;
    } else {
        char got[80];
        tc_json_describe(item, got, sizeof got);
        return tc_error_set(err, TC_ERR_SCHEMA, p,
                            "expected an array of numbers or {\"offset\", \"shape\"}, got %s", got);
    }
    if (!tc_shape_numel(&w->shape, SIZE_MAX / sizeof(float), &w->numel))
        return tc_error_set(err, TC_ERR_LIMIT, p, "weight element count overflows");
    *slot = l->n_weights++;
    return TC_OK;
}

tc_status tc_layer_expect_weight(const tc_layer *l, int slot, const tc_shape *expected,
                                 tc_error *err)
{
    if (slot < 0)
        return TC_OK;
    const tc_weight *w = &l->weights[slot];
    size_t want = 0;
    char ws[64];
    char es[64];
    char p[TC_MAX_NAME + 48];
    snprintf(p, sizeof p, "%s.%s", l->where, w->key);
    tc_shape_str(&w->shape, ws, sizeof ws);
    tc_shape_str(expected, es, sizeof es);
    if (!tc_shape_numel(expected, SIZE_MAX / sizeof(float), &want))
        return tc_error_set(err, TC_ERR_LIMIT, p, "needed weight shape %s is too large", es);
    bool shape_ok = w->shape.ndim <= 1 ? w->numel == want : tc_shape_equal(&w->shape, expected);
    if (!shape_ok)
        return tc_error_set(err, TC_ERR_WEIGHTS, p, "has shape %s (%zu values) but the layer needs %s (%zu values)",
                            ws, w->numel, es, want);
    return TC_OK;
}

/* Copies a validated nested inline array into dst in row-major order; returns the count. */
static size_t fill_inline(const cJSON *item, float *dst)
{
    if (!cJSON_IsArray(item)) {
        *dst = (float)item->valuedouble;
        return 1;
    }
    size_t n = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, item)
        n += fill_inline(child, dst + n);
    return n;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void swap_bytes(float *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b[4];
        memcpy(b, &data[i], 4);
        uint8_t r[4] = {b[3], b[2], b[1], b[0]};
        memcpy(&data[i], r, 4);
    }
}

/* Whether every value is finite: one pass without early exit (it vectorizes), so that only a
 * bad file pays for finding the first bad value. */
static bool all_finite(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u; /* exponent all ones: inf or NaN */
    }
    return bad == 0;
}

/* Reads weight w of layer l from the open weights file (its length is file_len). */
static tc_status read_from_file(const tc_layer *l, tc_weight *w, FILE *f, uint64_t file_len,
                                const char *file_name, tc_error *err)
{
    char p[256];
    snprintf(p, sizeof p, "layers[%d].%s", l->index, w->key);
    uint64_t bytes = (uint64_t)w->numel * sizeof(float);
    if (f == NULL)
        return tc_error_set(err, TC_ERR_WEIGHTS, p,
                            "{offset, shape} weights need a top-level \"weights_file\"");
    if (w->offset > file_len || bytes > file_len - w->offset)
        return tc_error_set(err, TC_ERR_WEIGHTS, p,
                            "bytes %llu..%llu are outside weights_file \"%.80s\" (%llu bytes)",
                            (unsigned long long)w->offset,
                            (unsigned long long)(w->offset + bytes),
                            file_name, (unsigned long long)file_len);
    if (fseek(f, (long)w->offset, SEEK_SET) != 0 || fread(w->data, sizeof(float), w->numel, f) != w->numel)
        return tc_error_set(err, TC_ERR_IO, p, "could not read %llu bytes at offset %llu of \"%.80s\"",
                            (unsigned long long)bytes, (unsigned long long)w->offset, file_name);
    if (!host_is_little_endian())
        swap_bytes(w->data, w->numel);
    if (all_finite(w->data, w->numel))
        return TC_OK;
    size_t i = 0;
    while (isfinite(w->data[i])) /* there is a bad value: find the first */
        i++;
    return tc_error_set(err, TC_ERR_WEIGHTS, p,
                        "value %zu (from byte %llu of the weights file) of layer \"%s\" is %g: "
                        "weights must be finite",
                        i, (unsigned long long)(w->offset + 4 * (uint64_t)i), l->name,
                        (double)w->data[i]);
}

static tc_status open_weights_file(const char *json_dir, const char *weights_file, FILE **f,
                                   uint64_t *len, tc_error *err)
{
    char path[1024];
    if (json_dir == NULL)
        return tc_error_set(err, TC_ERR_WEIGHTS, "weights_file",
                            "a model loaded from memory without a base directory cannot use a weights file");
    if (weights_file[0] == '/' || json_dir[0] == '\0')
        snprintf(path, sizeof path, "%s", weights_file);
    else
        snprintf(path, sizeof path, "%s/%s", json_dir, weights_file);
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return tc_error_set(err, TC_ERR_WEIGHTS, "weights_file",
                            "\"%.200s\" is not a regular file", path);
    *f = fopen(path, "rb");
    if (*f == NULL || stat(path, &sb) != 0) {
        if (*f)
            fclose(*f);
        *f = NULL;
        return tc_error_set(err, TC_ERR_WEIGHTS, "weights_file", "cannot open \"%.200s\"", path);
    }
    *len = (uint64_t)sb.st_size;
    return TC_OK;
}

tc_status tc_weights_load(tc_model *model, const char *json_dir, const char *weights_file,
                          tc_error *err)
{
    size_t total = 0;
    for (int i = 0; i < model->n_layers; i++) {
        tc_layer *l = &model->layers[i];
        for (int k = 0; k < l->n_weights; k++) {
            const tc_weight *w = &l->weights[k];
            size_t bytes;
            if (w->numel > model->limits.max_tensor_elements)
                return tc_error_set(err, TC_ERR_LIMIT, l->where,
                                    "weight \"%s\" has %zu elements, above the limit "
                                    "max_tensor_elements = %zu", w->key, w->numel,
                                    model->limits.max_tensor_elements);
            if (!tc_add_size(total, w->numel, &total) ||
                !tc_mul_size(total, sizeof(float), &bytes))
                return tc_error_set(err, TC_ERR_LIMIT, l->where,
                                    "the weights up to this layer need more than SIZE_MAX "
                                    "bytes, above the limit max_weight_bytes = %zu",
                                    model->limits.max_weight_bytes);
        }
    }
    if (total > model->limits.max_weight_bytes / sizeof(float))
        return tc_error_set(err, TC_ERR_LIMIT, "layers",
                            "the weights need %zu bytes, above the limit max_weight_bytes = %zu",
                            total * sizeof(float), model->limits.max_weight_bytes);
    model->weight_floats = total;
    if (total == 0)
        return TC_OK;
    model->weights = TC_MALLOC(total * sizeof(float));
    if (model->weights == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes of weights",
                            total * sizeof(float));
    FILE *f = NULL;
    uint64_t file_len = 0;
    tc_status st = TC_OK;
    if (weights_file[0] != '\0')
        st = open_weights_file(json_dir, weights_file, &f, &file_len, err);
    if (st == TC_OK && file_len > model->limits.max_weight_bytes)
        st = tc_error_set(err, TC_ERR_LIMIT, "weights_file",
                          "\"%.200s\" is %llu bytes, above the limit max_weight_bytes = %zu",
                          weights_file, (unsigned long long)file_len,
                          model->limits.max_weight_bytes);
    size_t used = 0;
    for (int i = 0; i < model->n_layers && st == TC_OK; i++) {
        tc_layer *l = &model->layers[i];
        for (int k = 0; k < l->n_weights && st == TC_OK; k++) {
            tc_weight *w = &l->weights[k];
            w->data = model->weights + used;
            used += w->numel;
            if (w->is_inline)
                fill_inline(w->json, w->data);
            else
                st = read_from_file(l, w, f, file_len, weights_file, err);
            w->json = NULL; /* the JSON tree is freed after loading */
        }
    }
    if (f != NULL)
        fclose(f);
    return st;
}
