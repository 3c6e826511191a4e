/* json.c - typed, range-checked reads of cJSON values; the messages name the JSON path. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tc_internal.h"

const cJSON *tc_json_get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

bool tc_json_has(const cJSON *obj, const char *key)
{
    return tc_json_get(obj, key) != NULL;
}

void tc_json_describe(const cJSON *item, char *buf, size_t buf_len)
{
    if (item == NULL)
        snprintf(buf, buf_len, "nothing");
    else if (cJSON_IsNumber(item))
        snprintf(buf, buf_len, "the number %.9g", item->valuedouble);
    else if (cJSON_IsString(item))
        snprintf(buf, buf_len, "the string \"%.40s%s\"", item->valuestring,
                 strlen(item->valuestring) > 40 ? "..." : "");
    else if (cJSON_IsBool(item))
        snprintf(buf, buf_len, "%s", cJSON_IsTrue(item) ? "true" : "false");
    else if (cJSON_IsNull(item))
        snprintf(buf, buf_len, "null");
    else if (cJSON_IsArray(item))
        snprintf(buf, buf_len, "an array of %d", cJSON_GetArraySize(item));
    else if (cJSON_IsObject(item))
        snprintf(buf, buf_len, "an object");
    else
        snprintf(buf, buf_len, "an invalid value");
}

/* Looks up obj[key]; on absence reports a missing required field. *item = NULL if absent. */
static tc_status lookup(const cJSON *obj, const char *key, const char *path, tc_presence presence,
                        const cJSON **item, char *item_path, size_t item_path_len, tc_error *err)
{
    tc_path_join(item_path, item_path_len, path, key);
    *item = tc_json_get(obj, key);
    if (*item == NULL && presence == TC_REQUIRED)
        return tc_error_set(err, TC_ERR_SCHEMA, item_path, "required field is missing");
    return TC_OK;
}

static tc_status wrong_type(const cJSON *item, const char *path, const char *expected,
                            tc_error *err)
{
    char got[80];
    tc_json_describe(item, got, sizeof got);
    return tc_error_set(err, TC_ERR_SCHEMA, path, "expected %s, got %s", expected, got);
}

/* Reads one integer item in [lo, hi]. */
static tc_status read_int(const cJSON *item, const char *path, int64_t lo, int64_t hi,
                          int32_t *out, tc_error *err)
{
    if (!cJSON_IsNumber(item))
        return wrong_type(item, path, "an integer", err);
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return wrong_type(item, path, "an integer", err);
    if (v < (double)lo || v > (double)hi)
        return tc_error_set(err, TC_ERR_RANGE, path, "expected an integer in %lld..%lld, got %.17g",
                            (long long)lo, (long long)hi, v);
    *out = (int32_t)v;
    return TC_OK;
}

static tc_status read_float(const cJSON *item, const char *path, double lo, double hi, float *out,
                            tc_error *err)
{
    if (!cJSON_IsNumber(item))
        return wrong_type(item, path, "a number", err);
    double v = item->valuedouble;
    if (!isfinite(v))
        return tc_error_set(err, TC_ERR_RANGE, path, "expected a finite number, got %g", v);
    if (v < lo || v > hi)
        return tc_error_set(err, TC_ERR_RANGE, path, "expected a number in [%g, %g], got %.9g",
                            lo, hi, v);
    *out = (float)v;
    return TC_OK;
}

tc_status tc_json_int(const cJSON *obj, const char *key, const char *path, int64_t lo, int64_t hi,
                      tc_presence presence, int32_t *out, tc_error *err)
{
    char p[256];
    const cJSON *item;
    tc_status st = lookup(obj, key, path, presence, &item, p, sizeof p, err);
    if (st != TC_OK || item == NULL)
        return st;
    return read_int(item, p, lo, hi, out, err);
}

tc_status tc_json_float(const cJSON *obj, const char *key, const char *path, double lo, double hi,
                        tc_presence presence, float *out, tc_error *err)
{
    char p[256];
    const cJSON *item;
    tc_status st = lookup(obj, key, path, presence, &item, p, sizeof p, err);
    if (st != TC_OK || item == NULL)
        return st;
    return read_float(item, p, lo, hi, out, err);
}

tc_status tc_json_bool(const cJSON *obj, const char *key, const char *path, tc_presence presence,
                       bool *out, tc_error *err)
{
    char p[256];
    const cJSON *item;
    tc_status st = lookup(obj, key, path, presence, &item, p, sizeof p, err);
    if (st != TC_OK || item == NULL)
        return st;
    if (!cJSON_IsBool(item))
        return wrong_type(item, p, "true or false", err);
    *out = cJSON_IsTrue(item);
    return TC_OK;
}

tc_status tc_json_string(const cJSON *obj, const char *key, const char *path, tc_presence presence,
                         char *out, size_t out_len, tc_error *err)
{
    char p[256];
    const cJSON *item;
    tc_status st = lookup(obj, key, path, presence, &item, p, sizeof p, err);
    if (st != TC_OK || item == NULL)
        return st;
    if (!cJSON_IsString(item))
        return wrong_type(item, p, "a string", err);
    size_t n = strlen(item->valuestring);
    if (n >= out_len)
        return tc_error_set(err, TC_ERR_RANGE, p, "string is %zu bytes long, at most %zu allowed",
                            n, out_len - 1);
    memcpy(out, item->valuestring, n + 1);
    return TC_OK;
}

tc_status tc_json_enum(const cJSON *obj, const char *key, const char *path,
                       const char *const *choices, int n_choices, tc_presence presence, int *out,
                       tc_error *err)
{
    char p[256];
    const cJSON *item;
    tc_status st = lookup(obj, key, path, presence, &item, p, sizeof p, err);
    if (st != TC_OK || item == NULL)
        return st;
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; i < n_choices; i++) {
        if (cJSON_IsString(item) && strcmp(item->valuestring, choices[i]) == 0) {
            *out = i;
            return TC_OK;
        }
        int n = snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? ", " : "", choices[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    char got[80];
    tc_json_describe(item, got, sizeof got);
    return tc_error_set(err, cJSON_IsString(item) ? TC_ERR_RANGE : TC_ERR_SCHEMA, p,
                        "expected one of %s, got %s", list, got);
}

/* Shared body of the list readers: a single number gives one value, an array min_n..max_n. */
typedef tc_status (*read_one_fn)(const cJSON *item, const char *path, const void *range, void *out,
                                 int i, tc_error *err);

typedef struct int_range { int64_t lo, hi; } int_range;
typedef struct float_range { double lo, hi; } float_range;

static tc_status read_int_at(const cJSON *item, const char *path, const void *range, void *out,
                             int i, tc_error *err)
{
    const int_range *r = range;
    return read_int(item, path, r->lo, r->hi, (int32_t *)out + i, err);
}

static tc_status read_float_at(const cJSON *item, const char *path, const void *range, void *out,
                               int i, tc_error *err)
{
    const float_range *r = range;
    return read_float(item, path, r->lo, r->hi, (float *)out + i, err);
}

static tc_status read_list(const cJSON *obj, const char *key, const char *path, int min_n,
                           int max_n, const char *one, const char *what, read_one_fn read_one, const void *range,
                           tc_presence presence, void *out, int *n_out, tc_error *err)
{
    char p[256];
    const cJSON *item;
    tc_status st = lookup(obj, key, path, presence, &item, p, sizeof p, err);
    if (st != TC_OK || item == NULL)
        return st;
    if (cJSON_IsNumber(item) && min_n <= 1) {
        *n_out = 1;
        return read_one(item, p, range, out, 0, err);
    }
    int n = cJSON_IsArray(item) ? cJSON_GetArraySize(item) : -1;
    if (n < min_n || n > max_n) {
        char got[80];
        char expected[96];
        tc_json_describe(item, got, sizeof got);
        if (min_n == max_n)
            snprintf(expected, sizeof expected, "%d %s", min_n, what);
        else
            snprintf(expected, sizeof expected, "%d to %d %s", min_n, max_n, what);
        return tc_error_set(err, cJSON_IsArray(item) ? TC_ERR_RANGE : TC_ERR_SCHEMA, p,
                            "expected %s%s%s, got %s", min_n <= 1 ? one : "", min_n <= 1 ? " or " : "",
                            expected, got);
    }
    int i = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, item) {
        char cp[272];
        tc_path_index(cp, sizeof cp, p, i);
        if ((st = read_one(child, cp, range, out, i, err)) != TC_OK)
            return st;
        i++;
    }
    *n_out = n;
    return TC_OK;
}

tc_status tc_json_int_list(const cJSON *obj, const char *key, const char *path, int min_n,
                           int max_n, int64_t lo, int64_t hi, tc_presence presence, int32_t *out,
                           int *n_out, tc_error *err)
{
    int_range r = {lo, hi};
    return read_list(obj, key, path, min_n, max_n, "an integer", "integers", read_int_at, &r, presence, out,
                     n_out, err);
}

tc_status tc_json_float_list(const cJSON *obj, const char *key, const char *path, int min_n,
                             int max_n, double lo, double hi, tc_presence presence, float *out,
                             int *n_out, tc_error *err)
{
    float_range r = {lo, hi};
    return read_list(obj, key, path, min_n, max_n, "a number", "numbers", read_float_at, &r, presence, out,
                     n_out, err);
}

tc_status tc_json_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                             tc_error *err)
{
    uint64_t seen = 0; /* bit i: allowed[i] already met, to refuse duplicate fields */
    const cJSON *child;
    cJSON_ArrayForEach(child, obj) {
        int i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], child->string) != 0)
            i++;
        char p[256];
        tc_path_join(p, sizeof p, path, child->string);
        if (allowed[i] == NULL)
            return tc_error_set(err, TC_ERR_SCHEMA, p, "unknown field \"%.60s\"", child->string);
        if (i < 64) {
            if (seen & ((uint64_t)1 << i))
                return tc_error_set(err, TC_ERR_SCHEMA, p, "field appears twice");
            seen |= (uint64_t)1 << i;
        }
    }
    return TC_OK;
}
