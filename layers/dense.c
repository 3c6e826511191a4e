/*
 * dense.c - fully connected layer (PyTorch's Linear) with a fused activation.
 *
 *   y[o] = act(b[o] + sum_i W[o, i] * x[i])
 *
 * JSON fields:
 *   in_features   integer 1..2^28, required; must equal the input's length
 *   out_features  integer 1..2^28, required
 *   weight        [out_features, in_features], required
 *   bias          [out_features], optional (default 0)
 *   activation    fused activation (see activation.c), default identity
 * Input: 1-D [in_features] per sample (put a "flatten" layer before it for images).
 * Output: [out_features].
 *
 * Method: one dot product per output; for a batch, each weight row is used for every sample
 * while it is in cache, so the weights are read from memory once per batch.
 */
#include "tc_internal.h"

#define MAX_FEATURES (1 << 28)
#define N_ACC        8 /* independent partial sums: lets the compiler use vector registers */

typedef struct dense_params {
    int32_t in_f;    /* in_features */
    int32_t out_f;   /* out_features */
    int weight_slot; /* [out_f, in_f] */
    int bias_slot;   /* [out_f], or -1 */
    tc_act act;      /* fused activation */
} dense_params;

static const char *const dense_keys[] = {"in_features", "out_features", "weight",
                                         "bias",        "activation",   NULL};

static tc_status dense_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    dense_params *p = l->params;
    p->weight_slot = p->bias_slot = -1;
    tc_status st;
    if ((st = tc_json_int(obj, "in_features", path, 1, MAX_FEATURES, TC_REQUIRED, &p->in_f, err)) !=
            TC_OK ||
        (st = tc_json_int(obj, "out_features", path, 1, MAX_FEATURES, TC_REQUIRED, &p->out_f,
                          err)) != TC_OK ||
        (st = tc_layer_add_weight(l, obj, "weight", path, TC_REQUIRED, &p->weight_slot, err)) !=
            TC_OK ||
        (st = tc_layer_add_weight(l, obj, "bias", path, TC_OPTIONAL, &p->bias_slot, err)) != TC_OK)
        return st;
    return tc_act_parse_fused(&p->act, obj, path, err);
}

static tc_status dense_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                   tc_error *err)
{
    dense_params *p = l->params;
    char buf[64];
    (void)n_in;
    if (in[0].ndim != 1)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "dense needs a 1-D input per sample, got %s; add a \"flatten\" layer "
                            "before it",
                            tc_shape_str(&in[0], buf, sizeof buf));
    if (in[0].dim[0] != p->in_f)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "in_features is %d but its input has %d features", (int)p->in_f,
                            (int)in[0].dim[0]);
    const int32_t wdim[2] = {p->out_f, p->in_f};
    const tc_shape wshape = tc_shape_make(2, wdim);
    const tc_shape bshape = tc_shape_make(1, &p->out_f);
    tc_status st;
    if ((st = tc_layer_expect_weight(l, p->weight_slot, &wshape, err)) != TC_OK ||
        (st = tc_layer_expect_weight(l, p->bias_slot, &bshape, err)) != TC_OK)
        return st;
    *out = bshape;
    l->macs = (uint64_t)p->in_f * (uint64_t)p->out_f;
    return TC_OK;
}

/* sum_i a[i] * b[i] with N_ACC independent partial sums (a single running sum would force the
 * compiler to keep the order of additions and so not vectorize). */
static float dot(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[N_ACC] = {0};
    size_t i = 0;
    for (; i + N_ACC <= n; i += N_ACC) {
        for (size_t j = 0; j < N_ACC; j++)
            acc[j] += a[i + j] * b[i + j];
    }
    float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static tc_status dense_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                               int batch, void *scratch)
{
    const dense_params *p = l->params;
    const float *weight = tc_layer_weight_data(l, p->weight_slot);
    const float *bias = tc_layer_weight_data(l, p->bias_slot);
    const size_t n_in_f = (size_t)p->in_f;
    const size_t n_out_f = (size_t)p->out_f;
    (void)n_in;
    (void)scratch;
    for (size_t o = 0; o < n_out_f; o++) {
        const float *w = weight + o * n_in_f;
        const float b0 = bias ? bias[o] : 0.0f;
        for (size_t b = 0; b < (size_t)batch; b++)
            out->data[b * n_out_f + o] = b0 + dot(w, in[0].data + b * n_in_f, n_in_f);
    }
    tc_act_apply(&p->act, out->data, (size_t)batch * n_out_f);
    return TC_OK;
}

const tc_layer_ops tc_layer_dense = {
    .type = "dense",
    .keys = dense_keys,
    .params_size = sizeof(dense_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = dense_parse,
    .infer_shape = dense_infer_shape,
    .scratch_bytes = NULL,
    .forward = dense_forward,
    .destroy = NULL,
    .flags = 0,
};
