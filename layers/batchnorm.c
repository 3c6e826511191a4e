/*
 * batchnorm.c - batch normalization with fixed statistics (inference form).
 *
 *   y[c, ...] = (x[c, ...] - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]
 *
 * JSON: scale, bias, mean, var: weights of C values each (inline arrays or {offset, shape}; a
 * declared shape must be [C]), required. epsilon: number > 0, default 1e-5.
 * Input: [C, ...] of any rank, channels first; a 1-D input [C] has one value per channel
 * (PyTorch's BatchNorm1d on [N, C]). Output: same shape. May run in place.
 * var >= 0 is checked once the weights are loaded (check_weights), so a negative variance is
 * refused at load with TC_ERR_WEIGHTS rather than producing NaN.
 * Numerics: the per-channel factor scale / sqrt(var + eps) is computed in double, and x - mean
 * is taken before scaling so that values near the mean keep their precision.
 */
#include <float.h>
#include <math.h>

#include "tc_internal.h"

typedef struct batchnorm_params {
    int scale; /* weight slots, [C] each */
    int bias;
    int mean;
    int var;
    float epsilon; /* added to var; > 0 */
} batchnorm_params;

static const char *const batchnorm_keys[] = {"scale", "bias", "mean", "var", "epsilon", NULL};

static tc_status batchnorm_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    batchnorm_params *p = l->params;
    p->epsilon = 1e-5f;
    tc_status st;
    if ((st = tc_layer_add_weight(l, obj, "scale", path, TC_REQUIRED, &p->scale, err)) ||
        (st = tc_layer_add_weight(l, obj, "bias", path, TC_REQUIRED, &p->bias, err)) ||
        (st = tc_layer_add_weight(l, obj, "mean", path, TC_REQUIRED, &p->mean, err)) ||
        (st = tc_layer_add_weight(l, obj, "var", path, TC_REQUIRED, &p->var, err)) ||
        (st = tc_json_float(obj, "epsilon", path, -FLT_MAX, FLT_MAX, TC_OPTIONAL, &p->epsilon,
                            err)))
        return st;
    if (!(p->epsilon > 0.0f)) {
        char ep[256];
        tc_path_join(ep, sizeof ep, path, "epsilon");
        return tc_error_set(err, TC_ERR_RANGE, ep, "epsilon must be > 0, got %g",
                            (double)p->epsilon);
    }
    return TC_OK;
}

static tc_status batchnorm_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                       tc_error *err)
{
    const batchnorm_params *p = l->params;
    const tc_shape channels = tc_shape_make(1, &in[0].dim[0]);
    size_t numel = 0;
    (void)n_in;
    tc_status st;
    if ((st = tc_layer_expect_weight(l, p->scale, &channels, err)) ||
        (st = tc_layer_expect_weight(l, p->bias, &channels, err)) ||
        (st = tc_layer_expect_weight(l, p->mean, &channels, err)) ||
        (st = tc_layer_expect_weight(l, p->var, &channels, err)))
        return st;
    tc_shape_numel(&in[0], SIZE_MAX, &numel); /* the engine has checked the input's size */
    *out = in[0];
    l->macs = numel;
    return TC_OK;
}

static tc_status batchnorm_check_weights(const tc_layer *l, tc_error *err)
{
    const batchnorm_params *p = l->params;
    const float *var = tc_layer_weight_data(l, p->var);
    for (size_t c = 0; c < l->weights[p->var].numel; c++) {
        if (!(var[c] >= 0.0f))
            return tc_error_set(err, TC_ERR_WEIGHTS, l->where,
                                "var[%zu] is %g; a variance must not be negative", c,
                                (double)var[c]);
    }
    return TC_OK;
}

static tc_status batchnorm_forward(const tc_layer *l, const tc_tensor *in, int n_in,
                                   tc_tensor *out, int batch, void *scratch)
{
    const batchnorm_params *p = l->params;
    const float *scale = tc_layer_weight_data(l, p->scale);
    const float *bias = tc_layer_weight_data(l, p->bias);
    const float *mean = tc_layer_weight_data(l, p->mean);
    const float *var = tc_layer_weight_data(l, p->var);
    const size_t n_channels = (size_t)in[0].shape.dim[0];
    size_t inner = 1;
    (void)n_in;
    (void)scratch;
    for (int d = 1; d < in[0].shape.ndim; d++)
        inner *= (size_t)in[0].shape.dim[d];
    for (size_t c = 0; c < n_channels; c++) {
        const float factor = (float)((double)scale[c] / sqrt((double)var[c] + p->epsilon));
        for (size_t b = 0; b < (size_t)batch; b++) {
            const size_t base = (b * n_channels + c) * inner;
            const float *x = in[0].data + base;
            float *y = out->data + base;
            for (size_t k = 0; k < inner; k++)
                y[k] = (x[k] - mean[c]) * factor + bias[c];
        }
    }
    return TC_OK;
}

/* As batchnorm_forward: y = (x - mean) * factor + bias = x * factor + (bias - mean * factor). */
static void batchnorm_channel_affine(const tc_layer *l, size_t c, double *mul, double *add)
{
    const batchnorm_params *p = l->params;
    const double factor = (double)tc_layer_weight_data(l, p->scale)[c] /
                          sqrt((double)tc_layer_weight_data(l, p->var)[c] + p->epsilon);
    *mul = factor;
    *add = (double)tc_layer_weight_data(l, p->bias)[c] -
           (double)tc_layer_weight_data(l, p->mean)[c] * factor;
}

const tc_layer_ops tc_layer_batchnorm = {
    .type = "batchnorm",
    .keys = batchnorm_keys,
    .params_size = sizeof(batchnorm_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = batchnorm_parse,
    .infer_shape = batchnorm_infer_shape,
    .forward = batchnorm_forward,
    .flags = TC_LAYER_INPLACE_OK,
    .check_weights = batchnorm_check_weights,
    .channel_affine = batchnorm_channel_affine,
};
