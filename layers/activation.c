/*
 * activation.c - element-wise activation functions: the `activation` layer, and the tc_act_*
 * helpers that conv2d and dense use for their fused "activation" field.
 *
 * y = f(x) element by element; any input shape, output of the same shape, may run in place.
 *   identity      x
 *   relu          max(0, x)
 *   relu6         min(max(0, x), 6)
 *   leaky_relu    x < 0 ? alpha * x : x                  alpha: number, default 0.01
 *   elu           x > 0 ? x : alpha * (exp(x) - 1)       alpha: number, default 1.0
 *   selu          scale * elu(x) with PyTorch's fixed alpha and scale
 *   prelu         x < 0 ? slope[c] * x : x               slope: required, see below
 *   sigmoid       1 / (1 + exp(-x))
 *   hard_sigmoid  max(0, min(1, alpha * x + beta))       alpha 0.2, beta 0.5 (ONNX defaults;
 *                                                        PyTorch's Hardsigmoid is alpha = 1/6)
 *   tanh          tanh(x)
 *   softplus      log(1 + exp(x))
 *   softsign      x / (1 + |x|)
 *   gelu          x * Phi(x)                             approximate: "none" (erf, default) or
 *                                                        "tanh"
 *   silu          x * sigmoid(x)
 *   hard_swish    x * relu6(x + 3) / 6
 *   clip          min(max(x, min), max)                  min (default -inf) <= max (default +inf)
 *
 * JSON: "function" (required) and only the parameters of that function; a parameter the function
 * does not use is an error. prelu's "slope" is one number, or a weight (inline array or
 * {offset, shape}) of any shape holding 1 value or one per channel, where the channel is the
 * index along the first per-sample dimension (PyTorch's PReLU(num_parameters=C)).
 * Fused form (conv2d/dense "activation"): absent = identity, "name", or {"function": ..., params};
 * prelu is refused there because it needs per-channel weights.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tc_internal.h"

/* Which optional parameters a function takes (bits indexed like param_keys). */
enum {
    P_ALPHA = 1u << 0,
    P_BETA = 1u << 1,
    P_SLOPE = 1u << 2,
    P_APPROXIMATE = 1u << 3,
    P_MIN = 1u << 4,
    P_MAX = 1u << 5,
};

static const char *const param_keys[] = {"alpha", "beta", "slope", "approximate", "min", "max"};
#define N_PARAM_KEYS ((int)(sizeof param_keys / sizeof param_keys[0]))

/* Every key of the layer (and of a fused {"function": ...} object). */
static const char *const act_keys[] = {"function", "alpha", "beta", "slope", "approximate",
                                       "min", "max", NULL};

/* JSON "function" values, indexed by tc_act_kind. */
static const char *const function_names[TC_ACT_COUNT] = {
    [TC_ACT_IDENTITY] = "identity",
    [TC_ACT_RELU] = "relu",
    [TC_ACT_RELU6] = "relu6",
    [TC_ACT_LEAKY_RELU] = "leaky_relu",
    [TC_ACT_ELU] = "elu",
    [TC_ACT_SELU] = "selu",
    [TC_ACT_PRELU] = "prelu",
    [TC_ACT_SIGMOID] = "sigmoid",
    [TC_ACT_HARD_SIGMOID] = "hard_sigmoid",
    [TC_ACT_TANH] = "tanh",
    [TC_ACT_SOFTPLUS] = "softplus",
    [TC_ACT_SOFTSIGN] = "softsign",
    [TC_ACT_GELU] = "gelu",
    [TC_ACT_SILU] = "silu",
    [TC_ACT_HARD_SWISH] = "hard_swish",
    [TC_ACT_CLIP] = "clip",
};

/* The optional parameters (P_* bits) each function takes; the rest are refused. */
static const unsigned function_params[TC_ACT_COUNT] = {
    [TC_ACT_LEAKY_RELU] = P_ALPHA,
    [TC_ACT_ELU] = P_ALPHA,
    [TC_ACT_PRELU] = P_SLOPE,
    [TC_ACT_HARD_SIGMOID] = P_ALPHA | P_BETA,
    [TC_ACT_GELU] = P_APPROXIMATE,
    [TC_ACT_CLIP] = P_MIN | P_MAX,
};

/* PyTorch's SELU constants (torch.nn.SELU). */
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f

static void act_defaults(tc_act *act, tc_act_kind kind)
{
    memset(act, 0, sizeof *act);
    act->kind = kind;
    act->alpha = kind == TC_ACT_LEAKY_RELU ? 0.01f : kind == TC_ACT_HARD_SIGMOID ? 0.2f : 1.0f;
    act->beta = 0.5f;
    act->min = -INFINITY;
    act->max = INFINITY;
    act->gelu_tanh = false;
}

/* Reads obj[key] as a function name; with fused, prelu is refused (fpath names the field). */
static tc_status read_function(const cJSON *obj, const char *key, const char *path,
                               const char *fpath, bool fused, tc_act_kind *out, tc_error *err)
{
    int k = 0;
    tc_status st = tc_json_enum(obj, key, path, function_names, TC_ACT_COUNT, TC_REQUIRED, &k,
                                err);
    if (st != TC_OK)
        return st;
    if (fused && k == TC_ACT_PRELU)
        return tc_error_set(err, TC_ERR_SCHEMA, fpath,
                            "prelu cannot be fused (it needs per-channel slopes); use a separate "
                            "\"activation\" layer");
    *out = (tc_act_kind)k;
    return TC_OK;
}

tc_status tc_act_parse(tc_act *act, const cJSON *obj, const char *path, bool fused,
                       tc_error *err)
{
    char fpath[160];
    tc_act_kind kind = TC_ACT_IDENTITY;
    tc_path_join(fpath, sizeof fpath, path, "function");
    tc_status st = read_function(obj, "function", path, fpath, fused, &kind, err);
    if (st != TC_OK)
        return st;
    act_defaults(act, kind);

    for (int i = 0; i < N_PARAM_KEYS; i++) {
        if (tc_json_has(obj, param_keys[i]) && !(function_params[kind] & (1u << i))) {
            char kpath[160];
            tc_path_join(kpath, sizeof kpath, path, param_keys[i]);
            return tc_error_set(err, TC_ERR_SCHEMA, kpath, "not used by function \"%s\"",
                                function_names[kind]);
        }
    }
    /* Absent keys leave the defaults; keys the function does not take were refused above. */
    const struct {
        const char *key;
        float *out;
    } numbers[] = {{"alpha", &act->alpha}, {"beta", &act->beta}, {"min", &act->min},
                   {"max", &act->max}};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        st = tc_json_float(obj, numbers[i].key, path, -FLT_MAX, FLT_MAX, TC_OPTIONAL,
                           numbers[i].out, err);
        if (st != TC_OK)
            return st;
    }
    static const char *const approx[] = {"none", "tanh"};
    int approx_i = 0;
    st = tc_json_enum(obj, "approximate", path, approx, 2, TC_OPTIONAL, &approx_i, err);
    if (st != TC_OK)
        return st;
    act->gelu_tanh = approx_i == 1;
    if (act->min > act->max) {
        char mpath[160];
        tc_path_join(mpath, sizeof mpath, path, "min");
        return tc_error_set(err, TC_ERR_RANGE, mpath, "min (%g) must be <= max (%g)",
                            (double)act->min, (double)act->max);
    }
    return TC_OK;
}

tc_status tc_act_parse_fused(tc_act *act, const cJSON *layer_obj, const char *path,
                             tc_error *err)
{
    const cJSON *field = tc_json_get(layer_obj, "activation");
    char apath[160];
    tc_path_join(apath, sizeof apath, path, "activation");
    if (field == NULL) {
        act_defaults(act, TC_ACT_IDENTITY);
        return TC_OK;
    }
    if (cJSON_IsObject(field)) {
        tc_status st = tc_json_check_keys(field, apath, act_keys, err);
        return st != TC_OK ? st : tc_act_parse(act, field, apath, true, err);
    }
    if (!cJSON_IsString(field)) {
        char what[64];
        tc_json_describe(field, what, sizeof what);
        return tc_error_set(err, TC_ERR_SCHEMA, apath,
                            "expected a function name or an object {\"function\": ...}, got %s",
                            what);
    }
    tc_act_kind kind = TC_ACT_IDENTITY;
    tc_status st = read_function(layer_obj, "activation", path, apath, true, &kind, err);
    if (st == TC_OK)
        act_defaults(act, kind);
    return st;
}

/* Stable for any x: only exp(-|x|) is evaluated, which never overflows. */
static inline float sigmoidf(float x)
{
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

static inline float clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* One tight loop per function (the switch stays outside) so simple cases vectorize; `v` is the
 * input element. A conditional multiply would block vectorization, hence leaky_relu written as
 * max(v, 0) + alpha * min(v, 0). NaN propagates through the comparisons of relu and clampf. */
#define MAP(expr)                                                                                  \
    do {                                                                                           \
        for (size_t i = 0; i < n; i++) {                                                           \
            const float v = x[i];                                                                  \
            x[i] = (expr);                                                                         \
        }                                                                                          \
    } while (0)

void tc_act_apply(const tc_act *act, float *x, size_t n)
{
    const float alpha = act->alpha;
    const float beta = act->beta;
    const float lo = act->min;
    const float hi = act->max;
    /* sqrt(2 / pi) and 1 / sqrt(2) for gelu. */
    const float k_tanh = 0.7978845608028654f;
    const float k_erf = 0.7071067811865476f;

    switch (act->kind) {
    case TC_ACT_RELU: MAP(v < 0.0f ? 0.0f : v); break;
    case TC_ACT_RELU6: MAP(clampf(v, 0.0f, 6.0f)); break;
    case TC_ACT_LEAKY_RELU: MAP((v < 0.0f ? 0.0f : v) + alpha * (v < 0.0f ? v : 0.0f)); break;
    case TC_ACT_ELU: MAP(v > 0.0f ? v : alpha * expm1f(v)); break;
    case TC_ACT_SELU: MAP(SELU_SCALE * (v > 0.0f ? v : SELU_ALPHA * expm1f(v))); break;
    case TC_ACT_SIGMOID: MAP(sigmoidf(v)); break;
    case TC_ACT_HARD_SIGMOID: MAP(clampf(alpha * v + beta, 0.0f, 1.0f)); break;
    case TC_ACT_TANH: MAP(tanhf(v)); break;
    /* max(x, 0) + log1p(exp(-|x|)) equals log(1 + exp(x)) without overflow; for x > 20 the
     * second term is below float resolution, matching PyTorch's threshold of 20. */
    case TC_ACT_SOFTPLUS: MAP((v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v)))); break;
    case TC_ACT_SOFTSIGN: MAP(v / (1.0f + fabsf(v))); break;
    case TC_ACT_GELU:
        /* erfc(-x/sqrt2) = 1 + erf(x/sqrt2) without cancellation for negative x; likewise
         * 0.5 * (1 + tanh(u)) = sigmoid(2u). */
        if (act->gelu_tanh)
            MAP(v * sigmoidf(2.0f * k_tanh * (v + 0.044715f * v * v * v)));
        else
            MAP(0.5f * v * erfcf(-v * k_erf));
        break;
    case TC_ACT_SILU: MAP(v * sigmoidf(v)); break;
    case TC_ACT_HARD_SWISH: MAP(v * clampf(v + 3.0f, 0.0f, 6.0f) / 6.0f); break;
    case TC_ACT_CLIP: MAP(clampf(v, lo, hi)); break;
    case TC_ACT_IDENTITY:
    case TC_ACT_PRELU: /* needs slopes: handled by the layer */
    case TC_ACT_COUNT: break;
    }
}

#undef MAP

/* ---- the activation layer ---- */

typedef struct act_params {
    tc_act act;     /* function and scalar parameters */
    int slope_slot; /* prelu: weight holding 1 or C slopes, or -1 if `slope` is a number */
    float slope;    /* prelu with a numeric `slope` */
} act_params;

static tc_status act_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    act_params *p = l->params;
    p->slope_slot = -1;
    tc_status st = tc_act_parse(&p->act, obj, path, false, err);
    if (st != TC_OK || p->act.kind != TC_ACT_PRELU)
        return st;
    if (cJSON_IsNumber(tc_json_get(obj, "slope")))
        return tc_json_float(obj, "slope", path, -FLT_MAX, FLT_MAX, TC_REQUIRED, &p->slope, err);
    return tc_layer_add_weight(l, obj, "slope", path, TC_REQUIRED, &p->slope_slot, err);
}

/* Every function but prelu (which needs its slopes) can run in a conv2d or dense epilogue. */
static bool act_fusable(const tc_layer *l, tc_act *act)
{
    const act_params *p = l->params;
    *act = p->act;
    return p->act.kind != TC_ACT_PRELU;
}

static tc_status act_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                 tc_error *err)
{
    const act_params *p = l->params;
    (void)n_in;
    *out = in[0];
    l->macs = 0;
    if (p->act.kind == TC_ACT_PRELU && p->slope_slot >= 0) {
        size_t n_slopes = l->weights[p->slope_slot].numel;
        int32_t channels = in[0].dim[0];
        if (n_slopes != 1 && n_slopes != (size_t)channels) {
            char buf[64];
            return tc_error_set(err, TC_ERR_WEIGHTS, l->where,
                                "slope has %zu values but the input %s has %d channels "
                                "(expected 1 or %d)",
                                n_slopes, tc_shape_str(&in[0], buf, sizeof buf), (int)channels,
                                (int)channels);
        }
    }
    return TC_OK;
}

/* y = x < 0 ? slope * x : x over n values (written branch-free, see MAP); y may equal x. */
static void prelu_run(const float *x, float *y, size_t n, float slope)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (x[i] < 0.0f ? 0.0f : x[i]) + slope * (x[i] < 0.0f ? x[i] : 0.0f);
}

static tc_status act_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                             int batch, void *scratch)
{
    const act_params *p = l->params;
    size_t numel = 1;
    (void)n_in;
    (void)scratch;
    for (int d = 0; d < in[0].shape.ndim; d++)
        numel *= (size_t)in[0].shape.dim[d];

    if (p->act.kind != TC_ACT_PRELU) {
        if (out->data != in[0].data)
            memcpy(out->data, in[0].data, (size_t)batch * numel * sizeof(float));
        tc_act_apply(&p->act, out->data, (size_t)batch * numel);
        return TC_OK;
    }
    const float *slopes = tc_layer_weight_data(l, p->slope_slot);
    size_t n_slopes = p->slope_slot >= 0 ? l->weights[p->slope_slot].numel : 1;
    if (n_slopes == 1) {
        prelu_run(in[0].data, out->data, (size_t)batch * numel, slopes ? slopes[0] : p->slope);
        return TC_OK;
    }
    /* One slope per channel: the first per-sample dim; inner values share the slope. */
    size_t inner = numel / n_slopes;
    for (size_t b = 0; b < (size_t)batch; b++) {
        for (size_t c = 0; c < n_slopes; c++) {
            size_t off = (b * n_slopes + c) * inner;
            prelu_run(in[0].data + off, out->data + off, inner, slopes[c]);
        }
    }
    return TC_OK;
}

const tc_layer_ops tc_layer_activation = {
    .type = "activation",
    .keys = act_keys,
    .params_size = sizeof(act_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = act_parse,
    .infer_shape = act_infer_shape,
    .scratch_bytes = NULL,
    .forward = act_forward,
    .destroy = NULL,
    .flags = TC_LAYER_INPLACE_OK,
    .fusable_act = act_fusable,
};
