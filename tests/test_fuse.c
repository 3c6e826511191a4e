/*
 * test_fuse.c - load-time fusion (engine/fuse.c): a conv2d or dense whose own activation is
 * identity absorbs the batchnorm (folded into its weights and bias) and then the activation layer
 * that follow it, when its output has exactly one reader that reads nothing else and is not a
 * model output.
 *
 * Expected values are computed here in double precision by a naive reference that knows nothing
 * of fusion: the convolution (or dense product) as PyTorch defines it, then the batchnorm as
 * PyTorch's F.batch_norm(training=False) defines it, (x - mean) / sqrt(var + eps) * scale + bias,
 * then the activation. Tolerance: |got - want| <= 1e-5 + 1e-4 * |want|.
 *
 * Weights and inputs are multiples of 1/32 (exact in float32 and in the JSON text); scales have
 * both signs, variances differ per channel and epsilon is 1/64 (large enough to matter), so a fold
 * that drops or misplaces any term changes the results. Besides values, the tests check which
 * layers tc_layer_info.fused_into names, that n_params stays as in the file, and what
 * `tinycnn summary` prints.
 *
 * Cases: conv -> bn -> relu (batch 1 and 3, also on 2 threads); conv with bias -> bn; dense ->
 * bn -> sigmoid / tanh; not fused but still right: conv output listed in "outputs", read by two
 * layers, conv with its own relu before a bn, prelu, bn after a max pool; an activation layer
 * right after a conv or dense; conv -> bn -> bn; a small network end to end; every conv method
 * (padded GEMM, Winograd, direct one-channel, im2col, grouped) with bn, bn + relu, and with a
 * 2x2 max pool after them; every absorbable activation function; weights shared through a
 * weights file; `tinycnn summary`. Since the conv may also absorb a 2x2 max pool where its
 * method can pool as it writes (Winograd, the direct loop), the pool's fused_into is only
 * checked to be NULL or the conv; its values always are.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent (tct_cli.h) */
#include "tct_cli.h"           /* first: it includes system headers, then tc_test.h */

#define ATOL 1e-5
#define RTOL 1e-4
#define BN_EPS (1.0 / 64) /* exact in float32, as the engine stores it */
#define MAX_C 32          /* channels of any batchnorm here */

/* ---- deterministic values ---- */

/* A multiple of 1/32 in [-range/32, range/32], from a hash of (i, salt). */
static float qval(unsigned i, unsigned salt, unsigned range)
{
    unsigned h = (i + 1) * 2654435761u ^ (salt + 1) * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return (float)((int)(h % (2 * range + 1)) - (int)range) / 32.0f;
}

static void fill(float *v, size_t n, unsigned salt, unsigned range)
{
    for (size_t i = 0; i < n; i++)
        v[i] = qval((unsigned)i, salt, range);
}

/* ---- JSON text ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int n_layers;
} sbuf;

static void sb_init(sbuf *b)
{
    b->cap = 4096;
    b->len = 0;
    b->s = test_malloc(b->cap);
    b->s[0] = '\0';
    b->n_layers = 0;
}

static void sb_free(sbuf *b)
{
    test_free(b->s);
    b->s = NULL;
}

static void sb_add(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            fail_msg("vsnprintf failed");
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *bigger = test_malloc(b->cap * 2);
        memcpy(bigger, b->s, b->len + 1);
        test_free(b->s);
        b->s = bigger;
        b->cap *= 2;
    }
}

static void sb_floats(sbuf *b, const float *v, size_t n)
{
    sb_add(b, "[");
    for (size_t i = 0; i < n; i++)
        sb_add(b, "%s%.9g", i ? ", " : "", (double)v[i]);
    sb_add(b, "]");
}

/* Starts a model on input `shape` ("[2, 5, 5]"); outputs is a JSON array or NULL (default). */
static void model_begin(sbuf *b, const char *shape, const char *outputs)
{
    sb_add(b, "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": %s}, ", shape);
    if (outputs != NULL)
        sb_add(b, "\"outputs\": %s, ", outputs);
    sb_add(b, "\"layers\": [");
}

static void model_end(sbuf *b)
{
    sb_add(b, "]}");
}

/* Opens a layer object; inputs is the inside of a JSON array ("\"c\", \"bn\"") or NULL. */
static void layer_begin(sbuf *b, const char *name, const char *type, const char *inputs)
{
    sb_add(b, "%s{\"name\": \"%s\", \"type\": \"%s\"", b->n_layers++ ? ", " : "", name, type);
    if (inputs != NULL)
        sb_add(b, ", \"inputs\": [%s]", inputs);
}

typedef struct conv_spec {
    int cin, cout, k, stride, pad, groups;
    const float *w; /* [cout, cin / groups, k, k] */
    const float *b; /* [cout] or NULL */
    const char *act; /* the conv's own fused "activation" (JSON value) or NULL */
} conv_spec;

static size_t conv_wn(const conv_spec *cs)
{
    return (size_t)cs->cout * (size_t)(cs->cin / cs->groups) * (size_t)cs->k * (size_t)cs->k;
}

static void add_conv(sbuf *b, const char *name, const char *inputs, const conv_spec *cs)
{
    layer_begin(b, name, "conv2d", inputs);
    sb_add(b, ", \"in_channels\": %d, \"out_channels\": %d, \"kernel_size\": %d, \"stride\": %d, "
              "\"padding\": %d, \"groups\": %d, \"weight\": ",
           cs->cin, cs->cout, cs->k, cs->stride, cs->pad, cs->groups);
    sb_floats(b, cs->w, conv_wn(cs));
    if (cs->b != NULL) {
        sb_add(b, ", \"bias\": ");
        sb_floats(b, cs->b, (size_t)cs->cout);
    }
    if (cs->act != NULL)
        sb_add(b, ", \"activation\": %s", cs->act);
    sb_add(b, "}");
}

typedef struct dense_spec {
    int in_f, out_f;
    const float *w; /* [out_f, in_f] */
    const float *b; /* [out_f] or NULL */
} dense_spec;

static void add_dense(sbuf *b, const char *name, const char *inputs, const dense_spec *ds)
{
    layer_begin(b, name, "dense", inputs);
    sb_add(b, ", \"in_features\": %d, \"out_features\": %d, \"weight\": ", ds->in_f, ds->out_f);
    sb_floats(b, ds->w, (size_t)ds->in_f * (size_t)ds->out_f);
    if (ds->b != NULL) {
        sb_add(b, ", \"bias\": ");
        sb_floats(b, ds->b, (size_t)ds->out_f);
    }
    sb_add(b, "}");
}

typedef struct bn_spec {
    int c;
    float scale[MAX_C], bias[MAX_C], mean[MAX_C], var[MAX_C];
} bn_spec;

/* Scales of both signs in [-1.5, 1.5] (never 0), var in [0.25, 2], mean and bias in
 * [-0.75, 0.75]: each channel's factor and shift differ. */
static void make_bn(bn_spec *bn, int c, unsigned salt)
{
    assert_true(c <= MAX_C);
    bn->c = c;
    for (int i = 0; i < c; i++) {
        float s = qval((unsigned)i, salt, 48);
        bn->scale[i] = s == 0.0f ? 0.75f : s;
        bn->var[i] = 0.25f + (qval((unsigned)i, salt + 1, 56) + 1.75f) / 2.0f;
        bn->mean[i] = qval((unsigned)i, salt + 2, 24);
        bn->bias[i] = qval((unsigned)i, salt + 3, 24);
    }
}

static void add_bn(sbuf *b, const char *name, const char *inputs, const bn_spec *bn)
{
    layer_begin(b, name, "batchnorm", inputs);
    sb_add(b, ", \"scale\": ");
    sb_floats(b, bn->scale, (size_t)bn->c);
    sb_add(b, ", \"bias\": ");
    sb_floats(b, bn->bias, (size_t)bn->c);
    sb_add(b, ", \"mean\": ");
    sb_floats(b, bn->mean, (size_t)bn->c);
    sb_add(b, ", \"var\": ");
    sb_floats(b, bn->var, (size_t)bn->c);
    sb_add(b, ", \"epsilon\": %.9g}", BN_EPS);
}

/* An "activation" layer; fields is e.g. "\"function\": \"relu\"". */
static void add_act(sbuf *b, const char *name, const char *inputs, const char *fields)
{
    layer_begin(b, name, "activation", inputs);
    sb_add(b, ", %s}", fields);
}

/* ---- the reference (double) ---- */

static int out_size(int in, int k, int s, int p)
{
    return (in + 2 * p - k) / s + 1;
}

/* PyTorch's Conv2d (cross-correlation, zero padding, groups) on batch samples of [cin, h, w];
 * y gets [batch, cout, oh, ow]. Applies the conv's own activation if it is "relu" (the only
 * one used here). */
static void ref_conv(const float *x, int batch, int h, int w, const conv_spec *cs, double *y)
{
    const int oh = out_size(h, cs->k, cs->stride, cs->pad);
    const int ow = out_size(w, cs->k, cs->stride, cs->pad);
    const int cin_g = cs->cin / cs->groups, cout_g = cs->cout / cs->groups;
    size_t idx = 0;
    for (int n = 0; n < batch; n++) {
        for (int o = 0; o < cs->cout; o++) {
            const int g = o / cout_g;
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    double sum = cs->b != NULL ? (double)cs->b[o] : 0.0;
                    for (int c = 0; c < cin_g; c++) {
                        for (int u = 0; u < cs->k; u++) {
                            for (int v = 0; v < cs->k; v++) {
                                const int iy = i * cs->stride - cs->pad + u;
                                const int ix = j * cs->stride - cs->pad + v;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                const double wt =
                                    cs->w[((size_t)(o * cin_g + c) * cs->k + u) * cs->k + v];
                                const double xv =
                                    x[(((size_t)n * cs->cin + g * cin_g + c) * h + iy) * w + ix];
                                sum += wt * xv;
                            }
                        }
                    }
                    if (cs->act != NULL) {
                        if (strcmp(cs->act, "\"relu\"") != 0)
                            fail_msg("reference: conv activation %s not modelled", cs->act);
                        sum = sum > 0 ? sum : 0;
                    }
                    y[idx++] = sum;
                }
            }
        }
    }
}

static void ref_dense(const float *x, int batch, const dense_spec *ds, double *y)
{
    for (int n = 0; n < batch; n++) {
        for (int o = 0; o < ds->out_f; o++) {
            double sum = ds->b != NULL ? (double)ds->b[o] : 0.0;
            for (int i = 0; i < ds->in_f; i++)
                sum += (double)ds->w[(size_t)o * ds->in_f + i] * (double)x[(size_t)n * ds->in_f + i];
            y[(size_t)n * ds->out_f + o] = sum;
        }
    }
}

/* F.batch_norm(training=False) on [batch, c, inner] in place. */
static void ref_bn(double *y, int batch, size_t inner, const bn_spec *bn)
{
    for (int n = 0; n < batch; n++) {
        for (int c = 0; c < bn->c; c++) {
            double *p = y + ((size_t)n * bn->c + c) * inner;
            for (size_t k = 0; k < inner; k++)
                p[k] = (p[k] - bn->mean[c]) / sqrt((double)bn->var[c] + BN_EPS) * bn->scale[c] +
                       bn->bias[c];
        }
    }
}

/* 2x2 max pooling, stride 2, no padding, on [batch, c, h, w]: output floor(h/2) x floor(w/2). */
static void ref_maxpool2(const double *x, int batch, int c, int h, int w, double *y)
{
    size_t idx = 0;
    for (int n = 0; n < batch; n++)
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h / 2; i++)
                for (int j = 0; j < w / 2; j++) {
                    const double *p = x + (((size_t)n * c + ch) * h + 2 * i) * w + 2 * j;
                    double m = p[0];
                    m = p[1] > m ? p[1] : m;
                    m = p[w] > m ? p[w] : m;
                    m = p[w + 1] > m ? p[w + 1] : m;
                    y[idx++] = m;
                }
}

typedef enum {
    A_IDENTITY, A_RELU, A_RELU6, A_LEAKY, A_ELU, A_SELU, A_SIGMOID, A_HARD_SIGMOID, A_TANH,
    A_SOFTPLUS, A_SOFTSIGN, A_GELU, A_GELU_TANH, A_SILU, A_HARD_SWISH, A_CLIP
} act_kind;

typedef struct act_spec {
    act_kind kind;
    const char *fields; /* the activation layer's JSON fields */
    double a, b;        /* alpha/beta or min/max */
} act_spec;

/* Every function an activation layer may have that fusion can absorb (all but prelu), with
 * non-default parameters where there are any. */
static const act_spec all_acts[] = {
    {A_IDENTITY, "\"function\": \"identity\"", 0, 0},
    {A_RELU, "\"function\": \"relu\"", 0, 0},
    {A_RELU6, "\"function\": \"relu6\"", 0, 0},
    {A_LEAKY, "\"function\": \"leaky_relu\", \"alpha\": 0.25", 0.25, 0},
    {A_ELU, "\"function\": \"elu\", \"alpha\": 0.5", 0.5, 0},
    {A_SELU, "\"function\": \"selu\"", 0, 0},
    {A_SIGMOID, "\"function\": \"sigmoid\"", 0, 0},
    {A_HARD_SIGMOID, "\"function\": \"hard_sigmoid\", \"alpha\": 0.375, \"beta\": 0.625", 0.375,
     0.625},
    {A_TANH, "\"function\": \"tanh\"", 0, 0},
    {A_SOFTPLUS, "\"function\": \"softplus\"", 0, 0},
    {A_SOFTSIGN, "\"function\": \"softsign\"", 0, 0},
    {A_GELU, "\"function\": \"gelu\"", 0, 0},
    {A_GELU_TANH, "\"function\": \"gelu\", \"approximate\": \"tanh\"", 0, 0},
    {A_SILU, "\"function\": \"silu\"", 0, 0},
    {A_HARD_SWISH, "\"function\": \"hard_swish\"", 0, 0},
    {A_CLIP, "\"function\": \"clip\", \"min\": -0.5, \"max\": 0.75", -0.5, 0.75},
};
#define N_ACTS (sizeof all_acts / sizeof all_acts[0])

static const act_spec *const RELU = &all_acts[1];

static double ref_act1(const act_spec *a, double x)
{
    const double selu_alpha = 1.6732632423543772848170429916717;
    const double selu_scale = 1.0507009873554804934193349852946;
    switch (a->kind) {
    case A_IDENTITY: return x;
    case A_RELU: return x > 0 ? x : 0;
    case A_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case A_LEAKY: return x < 0 ? a->a * x : x;
    case A_ELU: return x > 0 ? x : a->a * expm1(x);
    case A_SELU: return selu_scale * (x > 0 ? x : selu_alpha * expm1(x));
    case A_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case A_HARD_SIGMOID: {
        const double v = a->a * x + a->b;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case A_TANH: return tanh(x);
    case A_SOFTPLUS: return log1p(exp(x));
    case A_SOFTSIGN: return x / (1.0 + fabs(x));
    case A_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case A_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case A_SILU: return x / (1.0 + exp(-x));
    case A_HARD_SWISH: {
        const double r = x + 3 < 0 ? 0 : x + 3 > 6 ? 6 : x + 3;
        return x * r / 6;
    }
    case A_CLIP: return x < a->a ? a->a : x > a->b ? a->b : x;
    }
    fail_msg("unknown activation");
    return 0;
}

static void ref_act(double *y, size_t n, const act_spec *a)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ref_act1(a, y[i]);
}

/* ---- running and checking ---- */

static tc_model *load_json(const sbuf *b)
{
    return tct_load(b->s);
}

/* Output k of a run of batch samples with `threads` threads, copied (caller test_frees). */
static float *run_output(const tc_model *m, const float *x, int batch, int threads, int k)
{
    tc_workspace *ws = NULL;
    tc_error err;
    char line[1024];
    if (tc_workspace_create(m, batch, &ws, &err) != TC_OK)
        fail_msg("workspace: %s", tc_error_format(&err, line, sizeof line));
    if (threads > 1 && tc_workspace_set_threads(ws, threads, &err) != TC_OK)
        fail_msg("threads: %s", tc_error_format(&err, line, sizeof line));
    if (tc_model_run(m, ws, x, batch, &err) != TC_OK)
        fail_msg("run: %s", tc_error_format(&err, line, sizeof line));
    const size_t n = (size_t)batch * tc_model_output_numel(m, k);
    float *out = test_malloc(n * sizeof *out);
    memcpy(out, tc_workspace_output(ws, k), n * sizeof *out);
    tc_workspace_free(ws);
    return out;
}

/* got[i] against want[i], |got - want| <= ATOL + RTOL * |want|; `what` names the check. */
static void check_close(const float *got, const double *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        const double diff = fabs((double)got[i] - want[i]);
        if (!(diff <= ATOL + RTOL * fabs(want[i])))
            fail_msg("%s: index %zu: got %.9g, expected %.9g (diff %.3g)", what, i,
                     (double)got[i], want[i], diff);
    }
}

/* Runs output k of m on batch samples of x (1 thread; and 2 threads when batch > 1) and checks
 * it against want. */
static void check_output(const tc_model *m, int k, const float *x, int batch, const double *want,
                         const char *what)
{
    const size_t n = (size_t)batch * tc_model_output_numel(m, k);
    float *got = run_output(m, x, batch, 1, k);
    check_close(got, want, n, what);
    test_free(got);
    if (batch > 1) {
        got = run_output(m, x, batch, 2, k);
        check_close(got, want, n, what);
        test_free(got);
    }
}

/* The first sample alone must give the first sample's part of want. */
static void check_output_batch1(const tc_model *m, int k, const float *x, const double *want,
                                const char *what)
{
    check_output(m, k, x, 1, want, what);
}

static void layer_info(const tc_model *m, const char *name, tc_layer_info *info)
{
    for (int i = 0; i < tc_model_num_layers(m); i++) {
        assert_int_equal(tc_model_layer_info(m, i, info), TC_OK);
        if (strcmp(info->name, name) == 0)
            return;
    }
    fail_msg("no layer named %s", name);
}

/* Layer `name` must be fused into `into` (NULL: not fused into anything). */
static void expect_fused(const tc_model *m, const char *name, const char *into)
{
    tc_layer_info info;
    layer_info(m, name, &info);
    if (into == NULL && info.fused_into != NULL)
        fail_msg("layer %s: fused_into is \"%s\", expected NULL (not fused)", name,
                 info.fused_into);
    if (into != NULL && (info.fused_into == NULL || strcmp(info.fused_into, into) != 0))
        fail_msg("layer %s: fused_into is %s%s%s, expected \"%s\"", name,
                 info.fused_into ? "\"" : "", info.fused_into ? info.fused_into : "NULL",
                 info.fused_into ? "\"" : "", into);
}

/* Layer `name` is either not fused or fused into `into` (where fusing it is allowed but
 * depends on the conv's method, e.g. a 2x2 max pool). */
static void expect_fused_or_not(const tc_model *m, const char *name, const char *into)
{
    tc_layer_info info;
    layer_info(m, name, &info);
    if (info.fused_into != NULL && strcmp(info.fused_into, into) != 0)
        fail_msg("layer %s: fused_into is \"%s\", expected NULL or \"%s\"", name,
                 info.fused_into, into);
}

static void expect_params(const tc_model *m, const char *name, size_t n)
{
    tc_layer_info info;
    layer_info(m, name, &info);
    if (info.n_params != n)
        fail_msg("layer %s: n_params %zu, expected %zu", name, info.n_params, n);
}

/* How many of y[0..n) are below zero (so that an activation visibly clamps something). */
static size_t count_negative(const double *y, size_t n)
{
    size_t neg = 0;
    for (size_t i = 0; i < n; i++)
        neg += y[i] < 0;
    return neg;
}

/* ---- the shared small model: input [2, 5, 5], conv 2 -> 3, 3x3, padding 1 ---- */

#define X_C 2
#define X_H 5
#define X_W 5
#define X_N (X_C * X_H * X_W)
#define C_OUT 3
#define C_N (C_OUT * X_H * X_W) /* conv output per sample */
#define SHAPE "[2, 5, 5]"

typedef struct small {
    float w[C_OUT * X_C * 9], b[C_OUT];
    float x[3 * X_N]; /* batch 3 */
    conv_spec conv;
    bn_spec bn;
} small;

static void small_init(small *s, bool bias)
{
    fill(s->w, sizeof s->w / sizeof s->w[0], 11, 24);
    fill(s->b, C_OUT, 12, 16);
    fill(s->x, sizeof s->x / sizeof s->x[0], 13, 32);
    s->conv = (conv_spec){X_C, C_OUT, 3, 1, 1, 1, s->w, bias ? s->b : NULL, NULL};
    make_bn(&s->bn, C_OUT, 14);
}

/* ---- 1. conv (no bias) -> batchnorm -> relu ---- */

static void conv_bn_relu_fused(void **state)
{
    (void)state;
    small s;
    small_init(&s, false);
    sbuf b;
    sb_init(&b);
    model_begin(&b, SHAPE, NULL);
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn", NULL, &s.bn);
    add_act(&b, "r", NULL, RELU->fields);
    model_end(&b);
    tc_model *m = load_json(&b);

    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", "c");
    expect_fused(m, "r", "c");
    expect_params(m, "c", C_OUT * X_C * 9); /* the file's weights; no bias added */
    expect_params(m, "bn", 4 * C_OUT);
    expect_params(m, "r", 0);

    double want[3 * C_N];
    ref_conv(s.x, 3, X_H, X_W, &s.conv, want);
    ref_bn(want, 3, X_H * X_W, &s.bn);
    /* the values must exercise relu: a good share is negative before it */
    assert_true(count_negative(want, 3 * C_N) > 3 * C_N / 5);
    assert_true(count_negative(want, 3 * C_N) < 4 * 3 * C_N / 5);
    ref_act(want, 3 * C_N, RELU);
    check_output_batch1(m, 0, s.x, want, "conv-bn-relu batch 1");
    check_output(m, 0, s.x, 3, want, "conv-bn-relu batch 3");
    tc_model_free(m);
    sb_free(&b);
}

/* ---- 2. conv with bias -> batchnorm; dense -> batchnorm -> sigmoid / tanh ---- */

static void conv_bias_bn_fused(void **state)
{
    (void)state;
    small s;
    small_init(&s, true);
    sbuf b;
    sb_init(&b);
    model_begin(&b, SHAPE, NULL);
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn", NULL, &s.bn);
    model_end(&b);
    tc_model *m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", "c");
    expect_params(m, "c", C_OUT * X_C * 9 + C_OUT);
    expect_params(m, "bn", 4 * C_OUT);

    double want[3 * C_N];
    ref_conv(s.x, 3, X_H, X_W, &s.conv, want);
    ref_bn(want, 3, X_H * X_W, &s.bn);
    check_output_batch1(m, 0, s.x, want, "conv+bias-bn batch 1");
    check_output(m, 0, s.x, 3, want, "conv+bias-bn batch 3");
    tc_model_free(m);
    sb_free(&b);
}

#define D_IN 7
#define D_OUT 5

static void dense_bn_act_fused(void **state)
{
    (void)state;
    enum { DB = 13 }; /* past the dense kernel's panels of 6 samples, not a multiple */
    float w[D_OUT * D_IN], bias[D_OUT], x[DB * D_IN];
    fill(w, D_OUT * D_IN, 21, 24);
    fill(bias, D_OUT, 22, 24);
    fill(x, DB * D_IN, 23, 32);
    bn_spec bn;
    make_bn(&bn, D_OUT, 24);
    const act_spec *acts[2] = {&all_acts[6], &all_acts[8]}; /* sigmoid, tanh */
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (int a = 0; a < 2; a++) {
            const dense_spec ds = {D_IN, D_OUT, w, with_bias ? bias : NULL};
            sbuf b;
            sb_init(&b);
            model_begin(&b, "[7]", NULL);
            add_dense(&b, "d", NULL, &ds);
            add_bn(&b, "bn", NULL, &bn);
            add_act(&b, "act", NULL, acts[a]->fields);
            model_end(&b);
            tc_model *m = load_json(&b);
            expect_fused(m, "d", NULL);
            expect_fused(m, "bn", "d");
            expect_fused(m, "act", "d");
            expect_params(m, "d", D_OUT * D_IN + (with_bias ? D_OUT : 0));
            expect_params(m, "bn", 4 * D_OUT);

            double want[DB * D_OUT];
            ref_dense(x, DB, &ds, want);
            ref_bn(want, DB, 1, &bn);
            ref_act(want, DB * D_OUT, acts[a]);
            char what[64];
            snprintf(what, sizeof what, "dense%s-bn-%s", with_bias ? "+bias" : "",
                     a ? "tanh" : "sigmoid");
            check_output_batch1(m, 0, x, want, what);
            check_output(m, 0, x, DB, want, what);
            tc_model_free(m);
            sb_free(&b);
        }
    }
}

/* ---- 3. not fused, still correct ---- */

/* (a) The conv's output is also a model output: nothing is fused; both outputs are right. And
 * with the batchnorm listed as an output instead, the batchnorm is folded (its output is the
 * conv's buffer) but the relu after it is not: the batchnorm output keeps its negatives. */
static void conv_output_listed_not_fused(void **state)
{
    (void)state;
    small s;
    small_init(&s, false);
    double conv_y[3 * C_N], bn_y[3 * C_N], relu_y[3 * C_N];
    ref_conv(s.x, 3, X_H, X_W, &s.conv, conv_y);
    memcpy(bn_y, conv_y, sizeof bn_y);
    ref_bn(bn_y, 3, X_H * X_W, &s.bn);
    memcpy(relu_y, bn_y, sizeof relu_y);
    ref_act(relu_y, 3 * C_N, RELU);

    sbuf b;
    sb_init(&b);
    model_begin(&b, SHAPE, "[\"r\", \"c\"]");
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn", NULL, &s.bn);
    add_act(&b, "r", NULL, RELU->fields);
    model_end(&b);
    tc_model *m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", NULL);
    expect_fused(m, "r", NULL);
    check_output(m, 0, s.x, 3, relu_y, "outputs [r, c]: r");
    check_output(m, 1, s.x, 3, conv_y, "outputs [r, c]: c");
    check_output_batch1(m, 1, s.x, conv_y, "outputs [r, c]: c, batch 1");
    tc_model_free(m);
    sb_free(&b);

    sb_init(&b);
    model_begin(&b, SHAPE, "[\"bn\", \"r\"]");
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn", NULL, &s.bn);
    add_act(&b, "r", NULL, RELU->fields);
    model_end(&b);
    m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", "c");
    expect_fused(m, "r", NULL);
    check_output(m, 0, s.x, 3, bn_y, "outputs [bn, r]: bn");
    check_output(m, 1, s.x, 3, relu_y, "outputs [bn, r]: r");
    tc_model_free(m);
    sb_free(&b);
}

/* (b) The conv's output has two readers: a batchnorm and an add that also reads the batchnorm;
 * or a batchnorm and a relu, concatenated. */
static void conv_two_readers_not_fused(void **state)
{
    (void)state;
    small s;
    small_init(&s, false);
    double conv_y[3 * C_N], bn_y[3 * C_N], want[2 * 3 * C_N];
    ref_conv(s.x, 3, X_H, X_W, &s.conv, conv_y);
    memcpy(bn_y, conv_y, sizeof bn_y);
    ref_bn(bn_y, 3, X_H * X_W, &s.bn);

    sbuf b;
    sb_init(&b);
    model_begin(&b, SHAPE, NULL);
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn", NULL, &s.bn);
    layer_begin(&b, "sum", "add", "\"c\", \"bn\"");
    sb_add(&b, "}");
    model_end(&b);
    tc_model *m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", NULL);
    expect_fused(m, "sum", NULL);
    for (size_t i = 0; i < 3 * C_N; i++)
        want[i] = conv_y[i] + bn_y[i];
    check_output_batch1(m, 0, s.x, want, "conv + bn(conv) batch 1");
    check_output(m, 0, s.x, 3, want, "conv + bn(conv)");
    tc_model_free(m);
    sb_free(&b);

    sb_init(&b);
    model_begin(&b, SHAPE, NULL);
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn", "\"c\"", &s.bn);
    add_act(&b, "r", "\"c\"", RELU->fields);
    layer_begin(&b, "cat", "concat", "\"bn\", \"r\"");
    sb_add(&b, "}");
    model_end(&b);
    m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", NULL);
    expect_fused(m, "r", NULL);
    expect_fused(m, "cat", NULL);
    for (int n = 0; n < 3; n++) {
        for (size_t i = 0; i < C_N; i++) {
            want[(size_t)n * 2 * C_N + i] = bn_y[(size_t)n * C_N + i];
            const double v = conv_y[(size_t)n * C_N + i];
            want[(size_t)n * 2 * C_N + C_N + i] = v > 0 ? v : 0;
        }
    }
    check_output(m, 0, s.x, 3, want, "concat(bn(conv), relu(conv))");
    tc_model_free(m);
    sb_free(&b);
}

/* (c) A conv with its own "activation": "relu" then a batchnorm: folding would compute
 * relu(bn(conv)) instead of bn(relu(conv)). A relu layer after the batchnorm stays too. */
static void conv_own_relu_then_bn_not_fused(void **state)
{
    (void)state;
    small s;
    small_init(&s, true);
    s.conv.act = "\"relu\"";
    for (int with_relu = 0; with_relu < 2; with_relu++) {
        sbuf b;
        sb_init(&b);
        model_begin(&b, SHAPE, NULL);
        add_conv(&b, "c", NULL, &s.conv);
        add_bn(&b, "bn", NULL, &s.bn);
        if (with_relu)
            add_act(&b, "r", NULL, RELU->fields);
        model_end(&b);
        tc_model *m = load_json(&b);
        expect_fused(m, "c", NULL);
        expect_fused(m, "bn", NULL);
        if (with_relu)
            expect_fused(m, "r", NULL);
        double want[3 * C_N];
        ref_conv(s.x, 3, X_H, X_W, &s.conv, want); /* with the conv's relu */
        ref_bn(want, 3, X_H * X_W, &s.bn);
        assert_true(count_negative(want, 3 * C_N) > 0); /* bn after relu makes negatives */
        if (with_relu)
            ref_act(want, 3 * C_N, RELU);
        check_output_batch1(m, 0, s.x, want, "conv(relu)-bn batch 1");
        check_output(m, 0, s.x, 3, want, "conv(relu)-bn");
        tc_model_free(m);
        sb_free(&b);
    }
}

/* (d) prelu (per-channel slopes) is not absorbed: neither right after the conv nor after a
 * folded batchnorm. */
static void conv_prelu_not_absorbed(void **state)
{
    (void)state;
    small s;
    small_init(&s, false);
    const float slope[C_OUT] = {0.25f, -0.5f, 1.5f};
    const char *prelu = "\"function\": \"prelu\", \"slope\": [0.25, -0.5, 1.5]";
    for (int with_bn = 0; with_bn < 2; with_bn++) {
        sbuf b;
        sb_init(&b);
        model_begin(&b, SHAPE, NULL);
        add_conv(&b, "c", NULL, &s.conv);
        if (with_bn)
            add_bn(&b, "bn", NULL, &s.bn);
        add_act(&b, "p", NULL, prelu);
        model_end(&b);
        tc_model *m = load_json(&b);
        expect_fused(m, "c", NULL);
        if (with_bn)
            expect_fused(m, "bn", "c");
        expect_fused(m, "p", NULL);
        expect_params(m, "p", C_OUT);
        double want[3 * C_N];
        ref_conv(s.x, 3, X_H, X_W, &s.conv, want);
        if (with_bn)
            ref_bn(want, 3, X_H * X_W, &s.bn);
        for (size_t i = 0; i < 3 * C_N; i++) {
            const int c = (int)(i / (X_H * X_W) % C_OUT);
            want[i] = want[i] < 0 ? slope[c] * want[i] : want[i];
        }
        check_output(m, 0, s.x, 3, want, with_bn ? "conv-bn-prelu" : "conv-prelu");
        tc_model_free(m);
        sb_free(&b);
    }
}

/* (e) A batchnorm after a maxpool (the conv before the pool is not its producer): nothing fused,
 * on the model input and after a conv. */
static void bn_after_maxpool_not_fused(void **state)
{
    (void)state;
    float x[3 * 2 * 4 * 4];
    fill(x, sizeof x / sizeof x[0], 31, 32);
    float w[3 * 2 * 9];
    fill(w, sizeof w / sizeof w[0], 32, 24);
    bn_spec bn;
    make_bn(&bn, 3, 33);
    const conv_spec cs = {2, 3, 3, 1, 1, 1, w, NULL, NULL};
    for (int with_conv = 0; with_conv < 2; with_conv++) {
        const int c = with_conv ? 3 : 2;
        bn_spec bnc = bn;
        bnc.c = c;
        sbuf b;
        sb_init(&b);
        model_begin(&b, "[2, 4, 4]", NULL);
        if (with_conv)
            add_conv(&b, "c", NULL, &cs);
        layer_begin(&b, "pool", "maxpool2d", NULL);
        sb_add(&b, ", \"kernel_size\": 2}");
        add_bn(&b, "bn", NULL, &bnc);
        add_act(&b, "r", NULL, RELU->fields);
        model_end(&b);
        tc_model *m = load_json(&b);
        if (with_conv) {
            expect_fused(m, "c", NULL);
            expect_fused_or_not(m, "pool", "c"); /* the bn after it never is */
        } else {
            expect_fused(m, "pool", NULL);
        }
        expect_fused(m, "bn", NULL);
        expect_fused(m, "r", NULL);
        double pre[3 * 3 * 16], want[3 * 3 * 4];
        if (with_conv) {
            ref_conv(x, 3, 4, 4, &cs, pre);
        } else {
            for (size_t i = 0; i < 3 * 2 * 16; i++)
                pre[i] = x[i];
        }
        ref_maxpool2(pre, 3, c, 4, 4, want);
        ref_bn(want, 3, 4, &bnc);
        ref_act(want, (size_t)3 * c * 4, RELU);
        check_output(m, 0, x, 3, want, with_conv ? "conv-pool-bn-relu" : "pool-bn-relu");
        tc_model_free(m);
        sb_free(&b);
    }
}

/* ---- 4. activation right after the conv; two batchnorms in a row ---- */

/* conv -> relu layer -> maxpool: the relu is absorbed (no batchnorm between); and dense ->
 * leaky_relu layer. */
static void conv_act_absorbed_without_bn(void **state)
{
    (void)state;
    float x[3 * 2 * 4 * 4], w[3 * 2 * 9], cb[3];
    fill(x, sizeof x / sizeof x[0], 41, 32);
    fill(w, sizeof w / sizeof w[0], 42, 24);
    fill(cb, 3, 43, 24);
    const conv_spec cs = {2, 3, 3, 1, 1, 1, w, cb, NULL};
    sbuf b;
    sb_init(&b);
    model_begin(&b, "[2, 4, 4]", NULL);
    add_conv(&b, "c", NULL, &cs);
    add_act(&b, "r", NULL, RELU->fields);
    layer_begin(&b, "pool", "maxpool2d", NULL);
    sb_add(&b, ", \"kernel_size\": 2}");
    model_end(&b);
    tc_model *m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "r", "c");
    expect_fused_or_not(m, "pool", "c");
    expect_params(m, "c", 3 * 2 * 9 + 3);
    double y[3 * 3 * 16], want[3 * 3 * 4];
    ref_conv(x, 3, 4, 4, &cs, y);
    assert_true(count_negative(y, 3 * 3 * 16) > 3 * 3 * 16 / 5);
    ref_act(y, 3 * 3 * 16, RELU);
    ref_maxpool2(y, 3, 3, 4, 4, want);
    check_output(m, 0, x, 3, want, "conv-relu-pool");
    tc_model_free(m);
    sb_free(&b);

    float dw[D_OUT * D_IN], dx[3 * D_IN];
    fill(dw, D_OUT * D_IN, 44, 24);
    fill(dx, 3 * D_IN, 45, 32);
    const dense_spec ds = {D_IN, D_OUT, dw, NULL};
    const act_spec *leaky = &all_acts[3];
    sb_init(&b);
    model_begin(&b, "[7]", NULL);
    add_dense(&b, "d", NULL, &ds);
    add_act(&b, "a", NULL, leaky->fields);
    model_end(&b);
    m = load_json(&b);
    expect_fused(m, "d", NULL);
    expect_fused(m, "a", "d");
    expect_params(m, "d", D_OUT * D_IN);
    double dwant[3 * D_OUT];
    ref_dense(dx, 3, &ds, dwant);
    ref_act(dwant, 3 * D_OUT, leaky);
    check_output(m, 0, dx, 3, dwant, "dense-leaky_relu");
    tc_model_free(m);
    sb_free(&b);
}

/* conv -> bn1 -> bn2 -> relu: bn1 is folded; bn2 runs, and so does the relu after it (it does
 * not follow the conv or its folded batchnorm). */
static void conv_bn_bn_only_first_folded(void **state)
{
    (void)state;
    small s;
    small_init(&s, false);
    bn_spec bn2;
    make_bn(&bn2, C_OUT, 51);
    sbuf b;
    sb_init(&b);
    model_begin(&b, SHAPE, NULL);
    add_conv(&b, "c", NULL, &s.conv);
    add_bn(&b, "bn1", NULL, &s.bn);
    add_bn(&b, "bn2", NULL, &bn2);
    add_act(&b, "r", NULL, RELU->fields);
    model_end(&b);
    tc_model *m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn1", "c");
    expect_fused(m, "bn2", NULL);
    expect_fused(m, "r", NULL);
    double want[3 * C_N];
    ref_conv(s.x, 3, X_H, X_W, &s.conv, want);
    ref_bn(want, 3, X_H * X_W, &s.bn);
    ref_bn(want, 3, X_H * X_W, &bn2);
    assert_true(count_negative(want, 3 * C_N) > 0);
    ref_act(want, 3 * C_N, RELU);
    check_output_batch1(m, 0, s.x, want, "conv-bn-bn-relu batch 1");
    check_output(m, 0, s.x, 3, want, "conv-bn-bn-relu");
    tc_model_free(m);
    sb_free(&b);
}

/* A small network with three fused groups, a residual add that reads a fused relu (the fused
 * group's output has two readers: that is allowed), pooling, flatten, a 1-D batchnorm after a
 * dense and softmax, with the logits and the pooled map as extra outputs: the planner's aliasing
 * across groups, and a checked run (every layer's output tested for finiteness, absorbed ones
 * included). */
static void small_network_end_to_end(void **state)
{
    (void)state;
    float x[3 * 2 * 36], w1[4 * 2 * 9], w2[4 * 4 * 9], b2[4], wd[8 * 36], wd2[5 * 8], bd2[5];
    fill(x, sizeof x / sizeof x[0], 91, 32);
    fill(w1, sizeof w1 / sizeof w1[0], 92, 16);
    fill(w2, sizeof w2 / sizeof w2[0], 93, 12);
    fill(b2, 4, 94, 16);
    fill(wd, sizeof wd / sizeof wd[0], 95, 8);
    fill(wd2, sizeof wd2 / sizeof wd2[0], 96, 24);
    fill(bd2, 5, 97, 16);
    bn_spec bn1, bn2, bn3;
    make_bn(&bn1, 4, 98);
    make_bn(&bn2, 4, 99);
    make_bn(&bn3, 8, 100);
    const conv_spec c1 = {2, 4, 3, 1, 1, 1, w1, NULL, NULL};
    const conv_spec c2 = {4, 4, 3, 1, 1, 1, w2, b2, NULL};
    const dense_spec d1 = {36, 8, wd, NULL};
    const dense_spec d2 = {8, 5, wd2, bd2};
    const act_spec *silu = &all_acts[13];
    sbuf b;
    sb_init(&b);
    model_begin(&b, "[2, 6, 6]", "[\"prob\", \"d2\", \"pool\"]"); /* none is fusable */
    add_conv(&b, "c1", NULL, &c1);
    add_bn(&b, "bn1", NULL, &bn1);
    add_act(&b, "r1", NULL, RELU->fields);
    add_conv(&b, "c2", NULL, &c2);
    add_bn(&b, "bn2", NULL, &bn2);
    layer_begin(&b, "sum", "add", "\"r1\", \"bn2\"");
    sb_add(&b, "}");
    add_act(&b, "r2", NULL, RELU->fields);
    layer_begin(&b, "pool", "maxpool2d", NULL);
    sb_add(&b, ", \"kernel_size\": 2}");
    layer_begin(&b, "flat", "flatten", NULL);
    sb_add(&b, "}");
    add_dense(&b, "d1", NULL, &d1);
    add_bn(&b, "bn3", NULL, &bn3);
    add_act(&b, "s3", NULL, silu->fields);
    add_dense(&b, "d2", NULL, &d2);
    layer_begin(&b, "prob", "softmax", NULL);
    sb_add(&b, "}");
    model_end(&b);
    tc_model *m = load_json(&b);
    static const char *const fused[][2] = {
        {"c1", NULL},  {"bn1", "c1"}, {"r1", "c1"},   {"c2", NULL},   {"bn2", "c2"},
        {"sum", NULL}, {"r2", NULL},  {"pool", NULL}, {"flat", NULL}, {"d1", NULL},
        {"bn3", "d1"}, {"s3", "d1"},  {"d2", NULL},   {"prob", NULL},
    };
    for (size_t i = 0; i < sizeof fused / sizeof fused[0]; i++)
        expect_fused(m, fused[i][0], fused[i][1]);

    double y1[3 * 4 * 36], y2[3 * 4 * 36], pooled[3 * 36], h[3 * 8], want[3 * 5];
    float pooled_f[3 * 36], h_f[3 * 8];
    ref_conv(x, 3, 6, 6, &c1, y1);
    ref_bn(y1, 3, 36, &bn1);
    ref_act(y1, 3 * 4 * 36, RELU);
    float y1_f[3 * 4 * 36];
    for (size_t i = 0; i < 3 * 4 * 36; i++)
        y1_f[i] = (float)y1[i]; /* the reference conv reads float inputs */
    ref_conv(y1_f, 3, 6, 6, &c2, y2);
    ref_bn(y2, 3, 36, &bn2);
    for (size_t i = 0; i < 3 * 4 * 36; i++)
        y2[i] = y1[i] + y2[i] > 0 ? y1[i] + y2[i] : 0;
    ref_maxpool2(y2, 3, 4, 6, 6, pooled);
    for (size_t i = 0; i < 3 * 36; i++)
        pooled_f[i] = (float)pooled[i];
    ref_dense(pooled_f, 3, &d1, h);
    ref_bn(h, 3, 1, &bn3);
    ref_act(h, 3 * 8, silu);
    for (size_t i = 0; i < 3 * 8; i++)
        h_f[i] = (float)h[i];
    ref_dense(h_f, 3, &d2, want);
    double logits[3 * 5];
    memcpy(logits, want, sizeof logits);
    for (int n = 0; n < 3; n++) {
        double *z = want + 5 * n, mx = z[0], sum = 0;
        for (int i = 1; i < 5; i++)
            mx = z[i] > mx ? z[i] : mx;
        for (int i = 0; i < 5; i++)
            sum += exp(z[i] - mx);
        for (int i = 0; i < 5; i++)
            z[i] = exp(z[i] - mx) / sum;
    }
    check_output_batch1(m, 0, x, want, "network batch 1");
    check_output(m, 0, x, 3, want, "network");
    check_output(m, 1, x, 3, logits, "network logits");
    check_output(m, 2, x, 3, pooled, "network pooled");

    tc_workspace *ws = NULL;
    assert_int_equal(tc_workspace_create(m, 3, &ws, NULL), TC_OK);
    assert_int_equal(tc_model_run_checked(m, ws, x, 3, true, NULL), TC_OK);
    check_close(tc_workspace_output(ws, 0), want, 3 * 5, "network, checked run");
    check_close(tc_workspace_output(ws, 1), logits, 3 * 5, "network logits, checked run");
    tc_workspace_free(ws);
    tc_model_free(m);
    sb_free(&b);
}

/* ---- 5. every conv method, and every absorbable activation ---- */

typedef struct method_case {
    const char *what;
    int c, h, w; /* input */
    int cout, k, stride, pad, groups;
    bool bias;
    unsigned range; /* weights in [-range/32, range/32] */
} method_case;

static const method_case methods[] = {
    /* stride 1, 2 input channels: the padded-input GEMM path */
    {"padded GEMM", 2, 5, 5, 3, 3, 1, 1, 1, false, 24},
    /* 3x3 stride 1 with >= 16 in and out channels: Winograd F(2x2, 3x3) */
    {"Winograd 16->16", 16, 6, 6, 16, 3, 1, 1, 1, false, 8},
    {"Winograd 16->24 bias", 16, 5, 7, 24, 3, 1, 1, 1, true, 8},
    /* one input channel (per group), stride 1: the direct loop (AVX-512) */
    {"direct 1->4", 1, 6, 7, 4, 3, 1, 1, 1, true, 24},
    {"direct depthwise 3->6", 3, 6, 5, 6, 3, 1, 1, 3, false, 24},
    {"direct 1->9 5x5 odd size", 1, 7, 9, 9, 5, 1, 2, 1, false, 12},
    /* stride 2: im2col */
    {"im2col stride 2", 2, 7, 7, 3, 3, 2, 1, 1, false, 24},
    {"im2col stride 2 groups 2", 4, 7, 6, 6, 3, 2, 1, 2, true, 24},
    /* groups 2, stride 1: padded GEMM per group */
    {"groups 2", 4, 5, 5, 6, 3, 1, 1, 2, false, 24},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

/* conv -> bn -> act (act NULL: no activation layer) [-> 2x2 max pool] with method case mc,
 * batch 1 and `batch`. */
static void check_method_batch(const method_case *mc, const act_spec *act, bool pool, int batch)
{
    const size_t x_n = (size_t)mc->c * mc->h * mc->w;
    const size_t w_n = (size_t)mc->cout * (mc->c / mc->groups) * mc->k * mc->k;
    const int oh = out_size(mc->h, mc->k, mc->stride, mc->pad);
    const int ow = out_size(mc->w, mc->k, mc->stride, mc->pad);
    const size_t y_n = (size_t)mc->cout * oh * ow;
    float *x = test_malloc(batch * x_n * sizeof *x);
    float *w = test_malloc(w_n * sizeof *w);
    float bias[MAX_C];
    double *want = test_malloc(batch * y_n * sizeof *want);
    double *pooled = test_malloc(batch * y_n * sizeof *pooled);
    fill(x, batch * x_n, 61, 32);
    fill(w, w_n, 62, mc->range);
    fill(bias, (size_t)mc->cout, 63, 16);
    bn_spec bn;
    make_bn(&bn, mc->cout, 64);
    const conv_spec cs = {mc->c, mc->cout, mc->k, mc->stride, mc->pad, mc->groups, w,
                          mc->bias ? bias : NULL, NULL};
    char shape[64];
    snprintf(shape, sizeof shape, "[%d, %d, %d]", mc->c, mc->h, mc->w);
    sbuf b;
    sb_init(&b);
    model_begin(&b, shape, NULL);
    add_conv(&b, "c", NULL, &cs);
    add_bn(&b, "bn", NULL, &bn);
    if (act != NULL)
        add_act(&b, "a", NULL, act->fields);
    if (pool) {
        layer_begin(&b, "pool", "maxpool2d", NULL);
        sb_add(&b, ", \"kernel_size\": 2}");
    }
    model_end(&b);
    tc_model *m = load_json(&b);
    expect_fused(m, "c", NULL);
    expect_fused(m, "bn", "c");
    if (act != NULL)
        expect_fused(m, "a", "c");
    if (pool)
        expect_fused_or_not(m, "pool", "c"); /* depends on the method */
    expect_params(m, "c", w_n + (mc->bias ? (size_t)mc->cout : 0));
    ref_conv(x, batch, mc->h, mc->w, &cs, want);
    ref_bn(want, batch, (size_t)oh * ow, &bn);
    if (act != NULL)
        ref_act(want, batch * y_n, act);
    if (pool) {
        ref_maxpool2(want, batch, mc->cout, oh, ow, pooled);
        memcpy(want, pooled, (size_t)batch * mc->cout * (oh / 2) * (ow / 2) * sizeof *want);
    }
    char what[160];
    snprintf(what, sizeof what, "%s, bn, %s%s", mc->what, act ? act->fields : "no activation",
             pool ? ", maxpool" : "");
    check_output_batch1(m, 0, x, want, what);
    check_output(m, 0, x, batch, want, what);
    tc_model_free(m);
    sb_free(&b);
    test_free(x);
    test_free(w);
    test_free(want);
    test_free(pooled);
}

static void check_method_pool(const method_case *mc, const act_spec *act, bool pool)
{
    check_method_batch(mc, act, pool, 3);
}

static void check_method(const method_case *mc, const act_spec *act)
{
    check_method_pool(mc, act, false);
}

static void every_conv_method_bn_relu(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_METHODS; i++) {
        check_method(&methods[i], RELU);
        check_method(&methods[i], NULL);
    }
}

/* The same with a 2x2 max pool after the relu (or the batchnorm, or a gelu, which does not
 * commute with max): whether or not the conv pools as it writes (Winograd, the direct loop),
 * the values are those of the layers run one after another. */
static void every_conv_method_bn_relu_maxpool(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_METHODS; i++) {
        check_method_pool(&methods[i], RELU, true);
        check_method_pool(&methods[i], NULL, true);
        check_method_pool(&methods[i], &all_acts[11], true); /* gelu: not monotonic */
    }
}

/* Large batches: Winograd's blocks of tiles span samples (9 tiles a sample here), the direct
 * loop and the GEMM paths run sample after sample; 2 threads split the batch unevenly. */
static void every_conv_method_large_batch(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_METHODS; i++) {
        check_method_batch(&methods[i], RELU, false, 37);
        check_method_batch(&methods[i], RELU, true, 37);
    }
}

/* Each absorbable function in each method's epilogue (the GEMM's, Winograd's, the direct
 * loop's, dense's), after a folded batchnorm and directly after the conv or dense. */
static void every_activation_absorbed(void **state)
{
    (void)state;
    for (size_t a = 0; a < N_ACTS; a++) {
        for (size_t i = 0; i < N_METHODS; i++)
            check_method(&methods[i], &all_acts[a]);

        /* conv -> act without batchnorm (Winograd case) */
        const method_case *mc = &methods[1];
        const size_t x_n = (size_t)mc->c * mc->h * mc->w, y_n = (size_t)mc->cout * 36;
        const size_t w_n = (size_t)mc->cout * mc->c * 9;
        float *x = test_malloc(2 * x_n * sizeof *x);
        float *w = test_malloc(w_n * sizeof *w);
        double *want = test_malloc(2 * y_n * sizeof *want);
        fill(x, 2 * x_n, 71, 32);
        fill(w, w_n, 72, mc->range);
        const conv_spec cs = {mc->c, mc->cout, 3, 1, 1, 1, w, NULL, NULL};
        sbuf b;
        sb_init(&b);
        model_begin(&b, "[16, 6, 6]", NULL);
        add_conv(&b, "c", NULL, &cs);
        add_act(&b, "a", NULL, all_acts[a].fields);
        model_end(&b);
        tc_model *m = load_json(&b);
        expect_fused(m, "a", "c");
        ref_conv(x, 2, 6, 6, &cs, want);
        ref_act(want, 2 * y_n, &all_acts[a]);
        check_output(m, 0, x, 2, want, all_acts[a].fields);
        tc_model_free(m);
        sb_free(&b);
        test_free(x);
        test_free(w);
        test_free(want);

        /* dense -> bn -> act */
        float dw[D_OUT * D_IN], db[D_OUT], dx[3 * D_IN];
        fill(dw, D_OUT * D_IN, 73, 24);
        fill(db, D_OUT, 74, 24);
        fill(dx, 3 * D_IN, 75, 32);
        bn_spec bn;
        make_bn(&bn, D_OUT, 76);
        const dense_spec ds = {D_IN, D_OUT, dw, db};
        sb_init(&b);
        model_begin(&b, "[7]", NULL);
        add_dense(&b, "d", NULL, &ds);
        add_bn(&b, "bn", NULL, &bn);
        add_act(&b, "a", NULL, all_acts[a].fields);
        model_end(&b);
        m = load_json(&b);
        expect_fused(m, "bn", "d");
        expect_fused(m, "a", "d");
        double dwant[3 * D_OUT];
        ref_dense(dx, 3, &ds, dwant);
        ref_bn(dwant, 3, 1, &bn);
        ref_act(dwant, 3 * D_OUT, &all_acts[a]);
        check_output(m, 0, dx, 3, dwant, all_acts[a].fields);
        tc_model_free(m);
        sb_free(&b);
    }
}

/* Two convs read the same bytes of a weights file; folding the batchnorm after one of them must
 * not change what the other computes (nor the second model loaded from the same file). */
static void folding_leaves_shared_weights_alone(void **state)
{
    const char *dir = *state;
    small s;
    small_init(&s, false);
    char path[TCT_PATH_MAX];
    tct_join(path, sizeof path, dir, "w.bin");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s.w, sizeof s.w, 1, f), 1);
    fclose(f);
    const char *weight = "{\"offset\": 0, \"shape\": [3, 2, 3, 3]}";
    char json[4096];
    char bnj[2048];
    sbuf bb;
    sb_init(&bb);
    add_bn(&bb, "bn", "\"c1\"", &s.bn);
    snprintf(bnj, sizeof bnj, "%s", bb.s);
    sb_free(&bb);
    snprintf(json, sizeof json,
             "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [2, 5, 5]}, "
             "\"weights_file\": \"w.bin\", \"outputs\": [\"bn\", \"c2\"], \"layers\": ["
             "{\"name\": \"c1\", \"type\": \"conv2d\", \"in_channels\": 2, \"out_channels\": 3, "
             "\"kernel_size\": 3, \"padding\": 1, \"weight\": %s}, %s, "
             "{\"name\": \"c2\", \"type\": \"conv2d\", \"inputs\": [\"input\"], "
             "\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding\": 1, "
             "\"weight\": %s}]}",
             weight, bnj, weight);
    double conv_y[3 * C_N], bn_y[3 * C_N];
    ref_conv(s.x, 3, X_H, X_W, &s.conv, conv_y);
    memcpy(bn_y, conv_y, sizeof bn_y);
    ref_bn(bn_y, 3, X_H * X_W, &s.bn);
    for (int round = 0; round < 2; round++) {
        tc_model *m = NULL;
        tc_error err;
        char line[1024];
        if (tc_model_load_buffer(json, strlen(json), dir, "fuse.json", NULL, &m, &err) != TC_OK)
            fail_msg("load: %s", tc_error_format(&err, line, sizeof line));
        expect_fused(m, "bn", "c1");
        expect_fused(m, "c2", NULL);
        check_output(m, 0, s.x, 3, bn_y, "shared weights: bn(c1)");
        check_output(m, 1, s.x, 3, conv_y, "shared weights: c2");
        tc_model_free(m);
    }
}

/* ---- 6. tinycnn summary ---- */

/* The row of layer `name` in summary output (copied into buf), or fails. */
static const char *summary_row(const char *out, const char *name, char *buf, size_t len)
{
    for (const char *p = out; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int idx;
        char col[64];
        if (n < len && sscanf(p, "%d %63s", &idx, col) == 2 && strcmp(col, name) == 0) {
            memcpy(buf, p, n);
            buf[n] = '\0';
            return buf;
        }
        p += n + (nl != NULL);
    }
    fail_msg("summary has no row for %s:\n%s", name, out);
    return NULL;
}

static void summary_marks_fused_rows(void **state)
{
    const char *dir = *state;
    small s;
    small_init(&s, false);
    conv_spec c2 = s.conv;
    c2.cin = C_OUT;
    float w2[C_OUT * C_OUT * 9];
    fill(w2, sizeof w2 / sizeof w2[0], 81, 24);
    c2.w = w2;
    c2.act = "\"relu\"";
    bn_spec bn2;
    make_bn(&bn2, C_OUT, 82);
    sbuf b;
    sb_init(&b);
    model_begin(&b, SHAPE, NULL);
    add_conv(&b, "conv_a", NULL, &s.conv);   /* absorbs bn_a and relu_a */
    add_bn(&b, "bn_a", NULL, &s.bn);
    add_act(&b, "relu_a", NULL, RELU->fields);
    add_conv(&b, "conv_b", NULL, &c2);        /* own relu: bn_b stays */
    add_bn(&b, "bn_b", NULL, &bn2);
    add_act(&b, "sig_b", NULL, all_acts[6].fields); /* after an unfused bn: stays */
    model_end(&b);
    char path[TCT_PATH_MAX];
    tct_join(path, sizeof path, dir, "fused.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(b.s, f) >= 0, 1);
    fclose(f);
    sb_free(&b);

    const char *args[] = {"summary", "-m", path, NULL};
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    if (r.status != 0 || r.err[0] != '\0')
        fail_msg("summary: exit %d, stderr \"%.400s\"", r.status, r.err);
    static const struct {
        const char *name, *into;
        size_t params;
    } rows[] = {
        {"conv_a", NULL, C_OUT * X_C * 9}, {"bn_a", "conv_a", 4 * C_OUT},
        {"relu_a", "conv_a", 0},           {"conv_b", NULL, C_OUT * C_OUT * 9},
        {"bn_b", NULL, 4 * C_OUT},         {"sig_b", NULL, 0},
    };
    char buf[512];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *row = summary_row(r.out, rows[i].name, buf, sizeof buf);
        const char *mark = strstr(row, "fused into");
        char params[32];
        snprintf(params, sizeof params, " %zu ", rows[i].params);
        if (strstr(row, params) == NULL)
            fail_msg("row of %s does not show %zu params: \"%s\"", rows[i].name, rows[i].params,
                     row);
        if (rows[i].into == NULL) {
            if (mark != NULL)
                fail_msg("row of %s says it is fused: \"%s\"", rows[i].name, row);
            continue;
        }
        char want[64];
        snprintf(want, sizeof want, "fused into %s", rows[i].into);
        const size_t rl = strlen(row), wl = strlen(want);
        if (mark == NULL || rl < wl || strcmp(row + rl - wl, want) != 0)
            fail_msg("row of %s does not end in \"%s\": \"%s\"", rows[i].name, want, row);
    }
    /* exactly the two absorbed rows, nowhere else */
    size_t marks = 0;
    for (const char *p = r.out; (p = strstr(p, "fused into")) != NULL; p++)
        marks++;
    if (marks != 2)
        fail_msg("\"fused into\" appears %zu times, expected 2:\n%s", marks, r.out);
    /* totals count the file's parameters (no bias added by fusion) */
    char total[64];
    snprintf(total, sizeof total, "total: %d parameters",
             C_OUT * X_C * 9 + 4 * C_OUT + C_OUT * C_OUT * 9 + 4 * C_OUT);
    if (strstr(r.out, total) == NULL)
        fail_msg("no \"%s\" in:\n%s", total, r.out);
    tct_cli_free(&r);
}

/* Per-test scratch directory, removed by the teardown. */
#define WITH_DIR(f) cmocka_unit_test_setup_teardown(f, tct_tmpdir_setup, tct_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_bn_relu_fused),
        cmocka_unit_test(conv_bias_bn_fused),
        cmocka_unit_test(dense_bn_act_fused),
        cmocka_unit_test(conv_output_listed_not_fused),
        cmocka_unit_test(conv_two_readers_not_fused),
        cmocka_unit_test(conv_own_relu_then_bn_not_fused),
        cmocka_unit_test(conv_prelu_not_absorbed),
        cmocka_unit_test(bn_after_maxpool_not_fused),
        cmocka_unit_test(conv_act_absorbed_without_bn),
        cmocka_unit_test(conv_bn_bn_only_first_folded),
        cmocka_unit_test(small_network_end_to_end),
        cmocka_unit_test(every_conv_method_bn_relu),
        cmocka_unit_test(every_conv_method_bn_relu_maxpool),
        cmocka_unit_test(every_conv_method_large_batch),
        cmocka_unit_test(every_activation_absorbed),
        WITH_DIR(folding_leaves_shared_weights_alone),
        WITH_DIR(summary_marks_fused_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
