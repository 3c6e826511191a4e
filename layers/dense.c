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
 * Method: the transposed weights are packed once at load (prepare) into the column panels of
 * the matrix kernel (engine/gemm.h); a run is one [batch, in] x [in, out] product with the bias
 * and a relu in the kernel's epilogue. At batch 1 this is a vectorized matrix-vector product
 * over 64 outputs at a time; larger batches reuse each weight panel for 6 samples at once.
 */
#include "gemm.h"
#include "tc_internal.h"

#define MAX_FEATURES (1 << 28)

typedef struct dense_params {
    int32_t in_f;    /* in_features */
    int32_t out_f;   /* out_features */
    int weight_slot; /* [out_f, in_f] */
    int bias_slot;   /* [out_f], or -1 */
    tc_act act;      /* fused activation */
    /* set by prepare */
    const tc_gemm_kernel *kern; /* the matrix kernel the weights are packed for */
    float *packed;              /* W^T in the packed B layout */
    void *packed_raw;           /* the allocation behind packed */
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

static tc_status dense_prepare(tc_layer *l, tc_error *err)
{
    dense_params *p = l->params;
    const size_t n_in_f = (size_t)p->in_f;
    const size_t n_out_f = (size_t)p->out_f;
    p->kern = tc_gemm_best();
    size_t n_floats;
    if (!tc_mul_size(n_in_f, tc_gemm_npad(p->kern, n_out_f), &n_floats) ||
        (p->packed = tc_gemm_buffer(n_floats, &p->packed_raw)) == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, l->where, "cannot allocate packed weights");
    /* B(k, n) = W[n, k] */
    tc_gemm_pack_b(p->kern, n_in_f, n_out_f, tc_layer_weight_data(l, p->weight_slot), 1,
                   (ptrdiff_t)n_in_f, p->packed);
    return TC_OK;
}

static void dense_destroy(tc_layer *l)
{
    dense_params *p = l->params;
    if (p == NULL)
        return; /* the layer failed before its params were allocated */
    TC_FREE(p->packed_raw);
    p->packed_raw = NULL;
    p->packed = NULL;
}

static tc_status dense_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                               int batch, void *scratch)
{
    const dense_params *p = l->params;
    const tc_gemm_a a = {in[0].data, 0, p->in_f, 1};
    const tc_gemm_epilogue epi = {NULL, tc_layer_weight_data(l, p->bias_slot), &p->act};
    (void)n_in;
    (void)scratch;
    if (p->packed == NULL)
        return TC_ERR_INTERNAL; /* prepare did not run */
    tc_gemm(p->kern, (size_t)batch, (size_t)p->out_f, (size_t)p->in_f, &a, p->packed, out->data,
            (size_t)p->out_f, &epi);
    return TC_OK;
}

static bool dense_fuse_target(tc_layer *l, tc_fuse_target *t)
{
    dense_params *p = l->params;
    *t = (tc_fuse_target){&p->weight_slot, &p->bias_slot, &p->act};
    return true;
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
    .destroy = dense_destroy,
    .flags = 0,
    .prepare = dense_prepare,
    .fuse_target = dense_fuse_target,
};
