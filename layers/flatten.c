/*
 * flatten.c - reshapes a per-sample tensor of any rank to one dimension.
 *
 * y = x read in row-major order, so [C, H, W] becomes [C*H*W] in C, H, W order (PyTorch's
 * torch.flatten(x, 1) and nn.Flatten()). The batch dimension is kept.
 * JSON: no fields. Input: any shape. Output: [numel(input)].
 * The data does not change, so the layer may run in place: then forward does nothing.
 */
#include <string.h>

#include "tc_internal.h"

static const char *const flatten_keys[] = {NULL};

static tc_status flatten_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    (void)l;
    (void)obj;
    (void)path;
    (void)err;
    return TC_OK;
}

static tc_status flatten_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                     tc_error *err)
{
    (void)n_in;
    size_t numel = 0;
    char s[64];
    if (!tc_shape_numel(&in[0], INT32_MAX, &numel))
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "the input %s has more than %d elements, too many for one dimension",
                            tc_shape_str(&in[0], s, sizeof s), INT32_MAX);
    const int32_t dim = (int32_t)numel;
    *out = tc_shape_make(1, &dim);
    l->macs = 0;
    return TC_OK;
}

static tc_status flatten_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                                 int batch, void *scratch)
{
    (void)l;
    (void)n_in;
    (void)scratch;
    if (out->data != in[0].data)
        memcpy(out->data, in[0].data, (size_t)batch * (size_t)out->shape.dim[0] * sizeof(float));
    return TC_OK;
}

const tc_layer_ops tc_layer_flatten = {
    .type = "flatten",
    .keys = flatten_keys,
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = flatten_parse,
    .infer_shape = flatten_infer_shape,
    .forward = flatten_forward,
    .flags = TC_LAYER_INPLACE_OK,
};
