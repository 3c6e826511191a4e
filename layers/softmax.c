/*
 * softmax.c - softmax and log_softmax along one per-sample axis.
 *
 *   softmax:     y_k = exp(x_k - m) / sum_j exp(x_j - m)
 *   log_softmax: y_k = x_k - m - log(sum_j exp(x_j - m))
 * where m = max_j x_j along the axis; subtracting m keeps exp() in [0, 1], so large logits
 * (+-1000) give exact results and log_softmax stays finite.
 *
 * JSON: "axis": integer, default 0 (the channels of [C, H, W]); negative counts from the end
 * (-1 = last). It indexes the per-sample shape; the batch dimension is not counted.
 * Input: any shape with -ndim <= axis < ndim. Output: same shape. May run in place.
 * Layout: the shape is split as [outer, n, inner] around the axis; for inner > 1 the values of
 * one softmax are `inner` floats apart, so the loops run over a whole row of `inner` positions
 * at once (contiguous, vectorizable) with the running max and sum kept in scratch.
 */
#include <math.h>
#include <stdbool.h>

#include "tc_internal.h"

typedef struct softmax_params {
    int32_t axis; /* as written in the JSON, possibly negative */
    size_t inner; /* set by infer_shape: elements after the axis (the stride along it) */
} softmax_params;

static const char *const softmax_keys[] = {"axis", NULL};

static tc_status softmax_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    softmax_params *p = l->params;
    p->axis = 0;
    return tc_json_int(obj, "axis", path, -TC_MAX_DIMS, TC_MAX_DIMS - 1, TC_OPTIONAL, &p->axis,
                       err);
}

/* The axis as an index into shape (infer_shape has checked the range). */
static int resolve_axis(int32_t axis, const tc_shape *shape)
{
    return axis < 0 ? axis + shape->ndim : axis;
}

/* Splits shape around axis: outer * n * inner elements (the engine has checked the product). */
static void split(const tc_shape *shape, int axis, size_t *outer, size_t *n, size_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= (size_t)shape->dim[d];
    for (int d = axis + 1; d < shape->ndim; d++)
        *inner *= (size_t)shape->dim[d];
    *n = (size_t)shape->dim[axis];
}

static tc_status softmax_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                     tc_error *err)
{
    softmax_params *p = l->params;
    size_t outer, n;
    (void)n_in;
    if (p->axis < -in[0].ndim || p->axis >= in[0].ndim) {
        char buf[64];
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "axis is %d but the input %s has %d dimensions (expected %d..%d)",
                            (int)p->axis, tc_shape_str(&in[0], buf, sizeof buf), (int)in[0].ndim,
                            -(int)in[0].ndim, (int)in[0].ndim - 1);
    }
    split(&in[0], resolve_axis(p->axis, &in[0]), &outer, &n, &p->inner);
    *out = in[0];
    l->macs = 0;
    return TC_OK;
}

/* Room for the running max and sum of `inner` softmaxes. */
static size_t softmax_scratch_bytes(const tc_layer *l)
{
    const softmax_params *p = l->params;
    return p->inner > 1 ? 2 * p->inner * sizeof(float) : 0;
}

/* One contiguous softmax of n values (inner == 1). y may equal x. */
static void softmax_row(const float *x, float *y, size_t n, bool log_form)
{
    float m = x[0];
    for (size_t k = 1; k < n; k++)
        m = x[k] > m ? x[k] : m;
    float sum = 0.0f;
    if (log_form) {
        for (size_t k = 0; k < n; k++)
            sum += expf(x[k] - m);
        const float log_sum = logf(sum);
        for (size_t k = 0; k < n; k++)
            y[k] = (x[k] - m) - log_sum;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        y[k] = expf(x[k] - m);
        sum += y[k];
    }
    const float inv = 1.0f / sum;
    for (size_t k = 0; k < n; k++)
        y[k] *= inv;
}

/* n softmaxes side by side: value k of softmax j is x[k * inner + j]. m and s are scratch of
 * inner floats each. y may equal x: each element is read before it is written. */
static void softmax_strided(const float *x, float *y, size_t n, size_t inner, float *m, float *s,
                            bool log_form)
{
    for (size_t j = 0; j < inner; j++) {
        m[j] = x[j];
        s[j] = 0.0f;
    }
    for (size_t k = 1; k < n; k++) {
        const float *xk = x + k * inner;
        for (size_t j = 0; j < inner; j++)
            m[j] = xk[j] > m[j] ? xk[j] : m[j];
    }
    for (size_t k = 0; k < n; k++) {
        const float *xk = x + k * inner;
        float *yk = y + k * inner;
        if (log_form) {
            for (size_t j = 0; j < inner; j++)
                s[j] += expf(xk[j] - m[j]);
        } else {
            for (size_t j = 0; j < inner; j++) {
                yk[j] = expf(xk[j] - m[j]);
                s[j] += yk[j];
            }
        }
    }
    /* From here s holds what to apply: the log of the sum, or the reciprocal of the sum. */
    for (size_t j = 0; j < inner; j++)
        s[j] = log_form ? logf(s[j]) : 1.0f / s[j];
    for (size_t k = 0; k < n; k++) {
        const float *xk = x + k * inner;
        float *yk = y + k * inner;
        if (log_form) {
            for (size_t j = 0; j < inner; j++)
                yk[j] = (xk[j] - m[j]) - s[j];
        } else {
            for (size_t j = 0; j < inner; j++)
                yk[j] *= s[j];
        }
    }
}

static tc_status run(const tc_layer *l, const tc_tensor *in, tc_tensor *out, int batch,
                     void *scratch, bool log_form)
{
    const softmax_params *p = l->params;
    size_t outer, n, inner;
    split(&in[0].shape, resolve_axis(p->axis, &in[0].shape), &outer, &n, &inner);
    const size_t blocks = (size_t)batch * outer;
    const size_t block_len = n * inner;
    float *m = scratch;
    for (size_t b = 0; b < blocks; b++) {
        const float *x = in[0].data + b * block_len;
        float *y = out->data + b * block_len;
        if (inner == 1)
            softmax_row(x, y, n, log_form);
        else
            softmax_strided(x, y, n, inner, m, m + inner, log_form);
    }
    return TC_OK;
}

static tc_status softmax_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                                 int batch, void *scratch)
{
    (void)n_in;
    return run(l, in, out, batch, scratch, false);
}

static tc_status log_softmax_forward(const tc_layer *l, const tc_tensor *in, int n_in,
                                     tc_tensor *out, int batch, void *scratch)
{
    (void)n_in;
    return run(l, in, out, batch, scratch, true);
}

const tc_layer_ops tc_layer_softmax = {
    .type = "softmax",
    .keys = softmax_keys,
    .params_size = sizeof(softmax_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = softmax_parse,
    .infer_shape = softmax_infer_shape,
    .scratch_bytes = softmax_scratch_bytes,
    .forward = softmax_forward,
    .destroy = NULL,
    .flags = TC_LAYER_INPLACE_OK,
};

const tc_layer_ops tc_layer_log_softmax = {
    .type = "log_softmax",
    .keys = softmax_keys,
    .params_size = sizeof(softmax_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = softmax_parse,
    .infer_shape = softmax_infer_shape,
    .scratch_bytes = softmax_scratch_bytes,
    .forward = log_softmax_forward,
    .destroy = NULL,
    .flags = TC_LAYER_INPLACE_OK,
};
