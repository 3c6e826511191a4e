/* error.c - recording and formatting errors, status names, default limits. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc_internal.h"

tc_status tc_error_set(tc_error *err, tc_status code, const char *path, const char *fmt, ...)
{
    if (err == NULL || err->code != TC_OK)
        return code;
    err->code = code;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

void tc_error_set_file(tc_error *err, const char *file)
{
    if (err != NULL && err->code != TC_OK && err->file[0] == '\0' && file != NULL)
        snprintf(err->file, sizeof err->file, "%s", file);
}

void tc_error_clear(tc_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof *err);
}

void tc_path_join(char *out, size_t out_len, const char *base, const char *key)
{
    if (base == NULL || base[0] == '\0')
        snprintf(out, out_len, "%s", key);
    else
        snprintf(out, out_len, "%s.%s", base, key);
}

void tc_path_index(char *out, size_t out_len, const char *base, int i)
{
    snprintf(out, out_len, "%s[%d]", base ? base : "", i);
}

const char *tc_status_str(tc_status code)
{
    switch (code) {
    case TC_OK: return "TC_OK";
    case TC_ERR_IO: return "TC_ERR_IO";
    case TC_ERR_JSON: return "TC_ERR_JSON";
    case TC_ERR_SCHEMA: return "TC_ERR_SCHEMA";
    case TC_ERR_RANGE: return "TC_ERR_RANGE";
    case TC_ERR_UNKNOWN_LAYER: return "TC_ERR_UNKNOWN_LAYER";
    case TC_ERR_GRAPH: return "TC_ERR_GRAPH";
    case TC_ERR_SHAPE: return "TC_ERR_SHAPE";
    case TC_ERR_WEIGHTS: return "TC_ERR_WEIGHTS";
    case TC_ERR_LIMIT: return "TC_ERR_LIMIT";
    case TC_ERR_NOMEM: return "TC_ERR_NOMEM";
    case TC_ERR_ARGUMENT: return "TC_ERR_ARGUMENT";
    case TC_ERR_INTERNAL: return "TC_ERR_INTERNAL";
    }
    return "TC_ERR_UNKNOWN";
}

char *tc_error_format(const tc_error *err, char *buf, size_t buf_len)
{
    if (buf == NULL || buf_len == 0)
        return buf;
    buf[0] = '\0';
    if (err == NULL)
        return buf;
    size_t used = 0;
    const char *parts[3] = {err->file, err->path, err->message};
    for (int i = 0; i < 3; i++) {
        if (parts[i][0] == '\0')
            continue;
        int n = snprintf(buf + used, buf_len - used, "%s%s", used ? ": " : "", parts[i]);
        if (n < 0 || (size_t)n >= buf_len - used)
            break;
        used += (size_t)n;
    }
    /* One line, always: a message must never smuggle a newline from a file into the output. */
    for (char *p = buf; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    return buf;
}

void tc_limits_default(tc_limits *limits)
{
    limits->max_json_bytes = (size_t)64 << 20;
    limits->max_layers = 4096;
    limits->max_tensor_elements = (size_t)1 << 28;
    limits->max_arena_bytes = (size_t)2 << 30;
    limits->max_weight_bytes = (size_t)2 << 30;
    limits->max_batch = 4096;
}
