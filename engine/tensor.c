/* tensor.c - shapes and overflow-checked size arithmetic. */
#include <stdio.h>

#include "tc_internal.h"

bool tc_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

bool tc_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return false;
    *out = a + b;
    return true;
}

bool tc_shape_numel(const tc_shape *shape, size_t limit, size_t *out)
{
    if (shape->ndim < 1 || shape->ndim > TC_MAX_DIMS)
        return false;
    size_t n = 1;
    for (int i = 0; i < shape->ndim; i++) {
        if (shape->dim[i] < 1 || !tc_mul_size(n, (size_t)shape->dim[i], &n) || n > limit)
            return false;
    }
    *out = n;
    return true;
}

bool tc_shape_equal(const tc_shape *a, const tc_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++) {
        if (a->dim[i] != b->dim[i])
            return false;
    }
    return true;
}

char *tc_shape_str(const tc_shape *shape, char *buf, size_t buf_len)
{
    size_t used = 0;
    int n = snprintf(buf, buf_len, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < shape->ndim && i < TC_MAX_DIMS && used < buf_len; i++) {
        n = snprintf(buf + used, buf_len - used, "%s%d", i ? ", " : "", (int)shape->dim[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < buf_len)
        snprintf(buf + used, buf_len - used, "]");
    return buf;
}

tc_shape tc_shape_make(int ndim, const int32_t *dim)
{
    tc_shape s = {0, {0}};
    s.ndim = ndim < 0 ? 0 : (ndim > TC_MAX_DIMS ? TC_MAX_DIMS : ndim);
    for (int i = 0; i < s.ndim; i++)
        s.dim[i] = dim[i];
    return s;
}
