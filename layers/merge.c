/*
 * merge.c - layers that combine several inputs: add and concat.
 *
 *   add     y = x0 + x1 + ... + x(n-1), element-wise, summed left to right in float (as PyTorch's
 *           a + b + c). 2..64 inputs of equal shape; output the same shape. No fields. May run
 *           in place on its first input.
 *   concat  y = the inputs joined along `axis`, in input order (torch.cat(xs, dim=axis + 1)).
 *           1..64 inputs of equal rank whose dimensions agree except along axis; output dim on
 *           axis = the sum of theirs.
 *           JSON "axis": integer, default 0 (the channels of [C, H, W]); -ndim..ndim-1, a
 *           negative axis counts from the end. It indexes the per-sample shape (no batch).
 */
#include <stdio.h>
#include <string.h>

#include "tc_internal.h"

/* Values add sums per pass: all inputs are read for a chunk before it is written, so an input
 * that shares the output's buffer (the first, or the same producer named again) stays correct. */
#define ADD_CHUNK 256

static const char *const add_keys[] = {NULL};
static const char *const concat_keys[] = {"axis", NULL};

typedef struct concat_params {
    int32_t axis; /* as written in the JSON, possibly negative */
} concat_params;

static tc_status add_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    (void)l;
    (void)obj;
    (void)path;
    (void)err;
    return TC_OK;
}

/* Error for input k whose shape disagrees with input 0; `rule` says what must match. */
static tc_status mismatch(const tc_layer *l, const tc_shape *in, int k, const char *rule,
                          tc_error *err)
{
    char sk[64];
    char s0[64];
    return tc_error_set(err, TC_ERR_SHAPE, l->where, "input %d has shape %s but input 0 has %s: %s",
                        k, tc_shape_str(&in[k], sk, sizeof sk), tc_shape_str(&in[0], s0, sizeof s0),
                        rule);
}

static tc_status add_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                 tc_error *err)
{
    for (int k = 1; k < n_in; k++) {
        if (!tc_shape_equal(&in[k], &in[0]))
            return mismatch(l, in, k, "add needs equal shapes", err);
    }
    *out = in[0];
    l->macs = 0;
    return TC_OK;
}

static tc_status add_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                             int batch, void *scratch)
{
    float acc[ADD_CHUNK];
    size_t total = (size_t)batch;
    (void)l;
    (void)scratch;
    for (int d = 0; d < out->shape.ndim; d++)
        total *= (size_t)out->shape.dim[d];
    for (size_t start = 0; start < total; start += ADD_CHUNK) {
        const size_t len = total - start < ADD_CHUNK ? total - start : ADD_CHUNK;
        const float *x0 = in[0].data + start;
        const float *x1 = in[1].data + start;
        for (size_t i = 0; i < len; i++)
            acc[i] = x0[i] + x1[i];
        for (int k = 2; k < n_in; k++) {
            const float *xk = in[k].data + start;
            for (size_t i = 0; i < len; i++)
                acc[i] += xk[i];
        }
        memcpy(out->data + start, acc, len * sizeof(float));
    }
    return TC_OK;
}

static tc_status concat_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    concat_params *p = l->params;
    p->axis = 0;
    return tc_json_int(obj, "axis", path, -TC_MAX_DIMS, TC_MAX_DIMS - 1, TC_OPTIONAL, &p->axis,
                       err);
}

static tc_status concat_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                    tc_error *err)
{
    const concat_params *p = l->params;
    const int ndim = in[0].ndim;
    if (p->axis < -ndim || p->axis >= ndim) {
        char s[64];
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "axis is %d but input 0 %s has %d dimensions (expected %d..%d)",
                            (int)p->axis, tc_shape_str(&in[0], s, sizeof s), ndim, -ndim,
                            ndim - 1);
    }
    const int axis = p->axis < 0 ? p->axis + ndim : p->axis;
    int64_t sum = 0;
    for (int k = 0; k < n_in; k++) {
        bool same = in[k].ndim == ndim;
        for (int d = 0; d < ndim && same; d++)
            same = d == axis || in[k].dim[d] == in[0].dim[d];
        if (!same) {
            char rule[96];
            snprintf(rule, sizeof rule,
                     "concat needs the same rank and equal dimensions except axis %d", axis);
            return mismatch(l, in, k, rule, err);
        }
        sum += in[k].dim[axis];
    }
    if (sum > INT32_MAX)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "the joined axis %d would have %lld elements, more than %d", axis,
                            (long long)sum, INT32_MAX);
    *out = in[0];
    out->dim[axis] = (int32_t)sum;
    l->macs = 0;
    return TC_OK;
}

static tc_status concat_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                                int batch, void *scratch)
{
    const concat_params *p = l->params;
    const int ndim = out->shape.ndim;
    const int axis = p->axis < 0 ? p->axis + ndim : p->axis;
    size_t outer = (size_t)batch; /* blocks before the axis, the batch included */
    size_t inner = 1;             /* elements after the axis */
    (void)scratch;
    for (int d = 0; d < axis; d++)
        outer *= (size_t)out->shape.dim[d];
    for (int d = axis + 1; d < ndim; d++)
        inner *= (size_t)out->shape.dim[d];
    const size_t out_block = (size_t)out->shape.dim[axis] * inner;
    for (size_t o = 0; o < outer; o++) {
        float *y = out->data + o * out_block;
        for (int k = 0; k < n_in; k++) {
            const size_t block = (size_t)in[k].shape.dim[axis] * inner;
            memcpy(y, in[k].data + o * block, block * sizeof(float));
            y += block;
        }
    }
    return TC_OK;
}

const tc_layer_ops tc_layer_add = {
    .type = "add",
    .keys = add_keys,
    .min_inputs = 2,
    .max_inputs = TC_MAX_INPUTS,
    .parse = add_parse,
    .infer_shape = add_infer_shape,
    .forward = add_forward,
    .flags = TC_LAYER_INPLACE_OK,
};

const tc_layer_ops tc_layer_concat = {
    .type = "concat",
    .keys = concat_keys,
    .params_size = sizeof(concat_params),
    .min_inputs = 1,
    .max_inputs = TC_MAX_INPUTS,
    .parse = concat_parse,
    .infer_shape = concat_infer_shape,
    .forward = concat_forward,
};
