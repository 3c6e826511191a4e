/*
 * pool.c - max and average pooling over H and W of a [C, H, W] input, and the global forms.
 *
 *   maxpool2d  y[c,i,j] = max over taps (a, b) of x[c, i*sh - top + a*dh, j*sw - left + b*dw];
 *              taps in the padding are skipped (padding acts as -inf) and NaN propagates, as
 *              in PyTorch.
 *   avgpool2d  y[c,i,j] = (sum of the window's input elements) / divisor, where the divisor is
 *              the number of input elements (count_include_pad false) or the window clipped to
 *              the padded input (true: as PyTorch, a ceil_mode window that reaches past the end
 *              padding counts only up to the padding's end).
 *   global_maxpool2d, global_avgpool2d: max / mean over all of H x W; output [C, 1, 1].
 *
 * JSON (maxpool2d, avgpool2d; the global pools take no fields):
 *   kernel_size        int or [kh, kw], 1..2^20, required
 *   stride             int or [sh, sw], 1..2^20, default kernel_size
 *   padding            int, [h, w] or [top, left, bottom, right], each 0..2^20; or "valid", "same"
 *                      (output ceil(in / stride), an odd padding pixel at the end, ONNX
 *                      SAME_UPPER) or "same_lower" (odd pixel at the start); default 0
 *   dilation           int or [dh, dw], 1..2^20, default 1 (maxpool2d only)
 *   ceil_mode          bool, default false
 *   count_include_pad  bool, default false (avgpool2d only; ONNX's default, PyTorch's is true)
 * Output size per axis, as PyTorch:
 *   out = floor_or_ceil((in + pad_begin + pad_end - dilation*(k-1) - 1) / stride) + 1,
 * and with ceil_mode a last window that would start in the end padding is dropped.
 * Every window must hold at least one input element, else loading fails with TC_ERR_SHAPE.
 * PyTorch's rule pad <= k/2 implies this without dilation; asymmetric ONNX pads are checked
 * window by window, and a dilated window whose taps all fall in the padding (PyTorch returns
 * -inf for it) is refused. The 2^20 bound keeps that check short; no real network comes near it.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "tc_internal.h"

#define POOL_MAX_PARAM (1 << 20)

enum { PAD_EXPLICIT = -1, PAD_VALID = 0, PAD_SAME, PAD_SAME_LOWER };
static const char *const pad_modes[] = {"valid", "same", "same_lower"};

/* One spatial axis of the pooling window. */
typedef struct pool_axis {
    int32_t kernel;    /* taps */
    int32_t stride;    /* step between windows, in input elements */
    int32_t dilation;  /* step between taps */
    int64_t pad_begin; /* top or left padding; set by infer_shape for the string modes */
    int64_t pad_end;   /* bottom or right padding */
} pool_axis;

typedef struct pool_params {
    pool_axis axis[2];      /* [0] = H, [1] = W */
    int pad_mode;           /* PAD_EXPLICIT or an index into pad_modes */
    bool ceil_mode;         /* round the output size up */
    bool count_include_pad; /* avgpool2d: padding counts in the divisor */
} pool_params;

static const char *const maxpool_keys[] = {"kernel_size", "stride", "padding", "dilation",
                                           "ceil_mode", NULL};
static const char *const avgpool_keys[] = {"kernel_size", "stride", "padding", "ceil_mode",
                                           "count_include_pad", NULL};
static const char *const no_keys[] = {NULL};

/* Reads key as one int (both axes) or [h, w] into pair; leaves pair alone if key is absent. */
static tc_status read_pair(const cJSON *obj, const char *key, const char *path, int32_t lo,
                           tc_presence presence, int32_t pair[2], tc_error *err)
{
    int32_t v[2];
    int n = 0;
    tc_status st =
        tc_json_int_list(obj, key, path, 1, 2, lo, POOL_MAX_PARAM, presence, v, &n, err);
    if (st == TC_OK && n > 0) {
        pair[0] = v[0];
        pair[1] = v[n - 1];
    }
    return st;
}

static tc_status parse_padding(const cJSON *obj, const char *path, pool_params *p, tc_error *err)
{
    const cJSON *item = tc_json_get(obj, "padding");
    char where[256];
    tc_path_join(where, sizeof where, path, "padding");
    p->pad_mode = PAD_EXPLICIT;
    if (cJSON_IsString(item))
        return tc_json_enum(obj, "padding", path, pad_modes, 3, TC_REQUIRED, &p->pad_mode, err);
    if (item != NULL && !cJSON_IsNumber(item) && !cJSON_IsArray(item)) {
        char got[80];
        tc_json_describe(item, got, sizeof got);
        return tc_error_set(err, TC_ERR_SCHEMA, where,
                            "expected an integer, [h, w], [top, left, bottom, right] or one of "
                            "\"valid\", \"same\", \"same_lower\"; got %s",
                            got);
    }
    int32_t v[4] = {0, 0, 0, 0};
    int n = 0;
    tc_status st =
        tc_json_int_list(obj, "padding", path, 1, 4, 0, POOL_MAX_PARAM, TC_OPTIONAL, v, &n, err);
    if (st != TC_OK)
        return st;
    if (n == 3)
        return tc_error_set(err, TC_ERR_RANGE, where,
                            "expected 1, 2 or 4 integers (p, [h, w] or [top, left, bottom, "
                            "right]), got 3");
    /* [p] -> p everywhere; [h, w] -> h top and bottom, w left and right. */
    const int left = n >= 2 ? 1 : 0;
    p->axis[0].pad_begin = v[0];
    p->axis[1].pad_begin = v[left];
    p->axis[0].pad_end = v[n == 4 ? 2 : 0];
    p->axis[1].pad_end = v[n == 4 ? 3 : left];
    return TC_OK;
}

static tc_status parse_common(tc_layer *l, const cJSON *obj, const char *path, bool is_max,
                              tc_error *err)
{
    pool_params *p = l->params;
    int32_t kernel[2] = {1, 1};
    int32_t dilation[2] = {1, 1};
    tc_status st = read_pair(obj, "kernel_size", path, 1, TC_REQUIRED, kernel, err);
    int32_t stride[2] = {kernel[0], kernel[1]};
    if (st == TC_OK)
        st = read_pair(obj, "stride", path, 1, TC_OPTIONAL, stride, err);
    if (st == TC_OK && is_max)
        st = read_pair(obj, "dilation", path, 1, TC_OPTIONAL, dilation, err);
    if (st == TC_OK)
        st = parse_padding(obj, path, p, err);
    if (st == TC_OK)
        st = tc_json_bool(obj, "ceil_mode", path, TC_OPTIONAL, &p->ceil_mode, err);
    if (st == TC_OK && !is_max)
        st = tc_json_bool(obj, "count_include_pad", path, TC_OPTIONAL, &p->count_include_pad,
                          err);
    for (int a = 0; a < 2; a++) {
        p->axis[a].kernel = kernel[a];
        p->axis[a].stride = stride[a];
        p->axis[a].dilation = dilation[a];
    }
    return st;
}

static tc_status maxpool_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    return parse_common(l, obj, path, true, err);
}

static tc_status avgpool_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    return parse_common(l, obj, path, false, err);
}

static tc_status check_chw(const tc_layer *l, const tc_shape *in, tc_error *err)
{
    char s[64];
    if (in->ndim != 3)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "%s needs a [C, H, W] input, got %s (%d dimensions)", l->ops->type,
                            tc_shape_str(in, s, sizeof s), (int)in->ndim);
    return TC_OK;
}

/* Output size along one axis (name "H" or "W", input size `in`); resolves string padding and
 * checks that every window holds an input element. */
static tc_status axis_output(const tc_layer *l, pool_params *p, int a, int64_t in, int32_t *out,
                             tc_error *err)
{
    pool_axis *ax = &p->axis[a];
    const char *name = a == 0 ? "H" : "W";
    const int64_t s = ax->stride, d = ax->dilation;
    const int64_t eff = d * (ax->kernel - 1) + 1; /* span of one window */
    if (p->pad_mode == PAD_VALID) {
        ax->pad_begin = ax->pad_end = 0;
    } else if (p->pad_mode != PAD_EXPLICIT) {
        int64_t n_same = (in + s - 1) / s;
        int64_t total = (n_same - 1) * s + eff - in;
        total = total > 0 ? total : 0;
        ax->pad_begin = p->pad_mode == PAD_SAME ? total / 2 : total - total / 2;
        ax->pad_end = total - ax->pad_begin;
    }
    const int64_t pb = ax->pad_begin, pe = ax->pad_end;
    const int64_t span = in + pb + pe - eff;
    if (span < 0)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "the window spans %lld along %s but the padded input has only %lld "
                            "(%lld + padding %lld + %lld)",
                            (long long)eff, name, (long long)(in + pb + pe), (long long)in,
                            (long long)pb, (long long)pe);
    int64_t n = (span + (p->ceil_mode ? s - 1 : 0)) / s + 1;
    if (p->ceil_mode && (n - 1) * s >= in + pb)
        n--; /* PyTorch: the last window must start inside the input or the begin padding */
    if (n > INT32_MAX)
        return tc_error_set(err, TC_ERR_SHAPE, l->where, "output %s of %lld is too large", name,
                            (long long)n);
    if (eff - 1 < pb)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "the first window along %s covers only padding (padding %lld, window "
                            "span %lld): every window must include an input element",
                            name, (long long)pb, (long long)eff);
    if ((n - 1) * s - pb >= in)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "the last window along %s covers only padding (end padding %lld, "
                            "window span %lld): every window must include an input element",
                            name, (long long)pe, (long long)eff);
    /* A window that starts in the begin padding has its first in-bounds tap at
     * start mod dilation; with dilation > in that tap can jump past the whole input. */
    for (int64_t o = 0; d > in && o * s < pb; o++) {
        const int64_t first = ((o * s - pb) % d + d) % d;
        if (first >= in)
            return tc_error_set(err, TC_ERR_SHAPE, l->where,
                                "window %lld along %s has its taps (dilation %lld) only in the "
                                "padding: every window must include an input element",
                                (long long)o, name, (long long)d);
    }
    *out = (int32_t)n;
    return TC_OK;
}

static tc_status pool_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                  tc_error *err)
{
    (void)n_in;
    tc_status st = check_chw(l, &in[0], err);
    int32_t dims[3] = {in[0].dim[0], 1, 1};
    for (int a = 0; a < 2 && st == TC_OK; a++)
        st = axis_output(l, l->params, a, in[0].dim[1 + a], &dims[1 + a], err);
    *out = tc_shape_make(3, dims);
    l->macs = 0;
    return st;
}

/* The taps of window o along one axis that land on input elements. */
typedef struct window {
    int64_t pos;  /* input index of the first such tap */
    int64_t n;    /* how many (>= 1 after the load-time checks) */
    int64_t size; /* avgpool2d with count_include_pad: window clipped to the padded input */
} window;

static window window_at(const pool_axis *ax, int64_t o, int64_t in)
{
    const int64_t d = ax->dilation;
    const int64_t start = o * ax->stride - ax->pad_begin;
    const int64_t first = start < 0 ? (-start + d - 1) / d : 0;
    int64_t last = (in - 1 - start) / d;
    last = last < ax->kernel - 1 ? last : ax->kernel - 1;
    int64_t end = start + ax->kernel; /* avgpool2d has dilation 1 */
    end = end < in + ax->pad_end ? end : in + ax->pad_end;
    return (window){start + first * d, last - first + 1, end - start};
}

static tc_status pool_run(const tc_layer *l, const tc_tensor *in, tc_tensor *out, int batch,
                          bool is_max)
{
    const pool_params *p = l->params;
    const int64_t h = in[0].shape.dim[1], w = in[0].shape.dim[2];
    const int64_t oh = out->shape.dim[1], ow = out->shape.dim[2];
    const int64_t dh = p->axis[0].dilation, dw = p->axis[1].dilation;
    const size_t planes = (size_t)batch * (size_t)in[0].shape.dim[0];
    for (size_t c = 0; c < planes; c++) {
        const float *x = in[0].data + c * (size_t)(h * w);
        float *y = out->data + c * (size_t)(oh * ow);
        for (int64_t i = 0; i < oh; i++) {
            const window wi = window_at(&p->axis[0], i, h);
            for (int64_t j = 0; j < ow; j++) {
                const window wj = window_at(&p->axis[1], j, w);
                float acc = is_max ? -INFINITY : 0.0f;
                for (int64_t a = 0; a < wi.n; a++) {
                    const float *row = x + (wi.pos + a * dh) * w + wj.pos;
                    for (int64_t b = 0; b < wj.n; b++) {
                        const float v = row[b * dw];
                        if (!is_max)
                            acc += v;
                        else if (v > acc || isnan(v))
                            acc = v;
                    }
                }
                if (!is_max)
                    acc /= (float)(p->count_include_pad ? wi.size * wj.size : wi.n * wj.n);
                y[i * ow + j] = acc;
            }
        }
    }
    return TC_OK;
}

/* True for the common 2x2, stride 2 max pool whose windows all lie inside the input. */
static bool is_max2x2(const pool_params *p, const tc_tensor *in, const tc_tensor *out)
{
    for (int a = 0; a < 2; a++) {
        const pool_axis *ax = &p->axis[a];
        if (ax->kernel != 2 || ax->stride != 2 || ax->dilation != 1 || ax->pad_begin != 0 ||
            2 * (int64_t)out->shape.dim[1 + a] > in[0].shape.dim[1 + a])
            return false;
    }
    return true;
}

static bool maxpool_is_max2x2(const tc_layer *l, const tc_shape *in)
{
    const tc_tensor t_in = {*in, NULL}, t_out = {l->out_shape, NULL};
    return in->ndim == 3 && is_max2x2(l->params, &t_in, &t_out);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* One output row of max2x2 with AVX-512: the same comparisons in the same order. */
__attribute__((target("avx512f"))) static void max2x2_row_avx512(const float *r0, const float *r1,
                                                                 float *yr, size_t ow)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (size_t j = 0; j < ow; j += 16) {
        const size_t nn = ow - j < 16 ? ow - j : 16, need = 2 * nn;
        const __mmask16 m0 = (__mmask16)(need >= 16 ? 0xFFFF : (1u << need) - 1);
        const __mmask16 m1 =
            (__mmask16)(need >= 32 ? 0xFFFF : need <= 16 ? 0 : (1u << (need - 16)) - 1);
        const __m512 a0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * j);
        const __m512 a1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * j + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * j);
        const __m512 b1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * j + 16);
        const __m512 tl = _mm512_permutex2var_ps(a0, ev, a1);
        const __m512 tr = _mm512_permutex2var_ps(a0, od, a1);
        const __m512 bl = _mm512_permutex2var_ps(b0, ev, b1);
        const __m512 br = _mm512_permutex2var_ps(b0, od, b1);
        const __m512 m = TC_MAX4_NAN16(tl, tr, bl, br);
        _mm512_mask_storeu_ps(yr + j, (__mmask16)(nn >= 16 ? 0xFFFF : (1u << nn) - 1), m);
    }
}

static bool have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#endif

void tc_max2x2_rows(const float *x, size_t w, size_t rows, float *y, size_t ow)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (have_avx512()) { /* checked once per call, not per row */
        for (size_t i = 0; i < rows; i++)
            max2x2_row_avx512(x + 2 * i * w, x + (2 * i + 1) * w, y + i * ow, ow);
        return;
    }
#endif
    for (size_t i = 0; i < rows; i++) {
        const float *r0 = x + 2 * i * w, *r1 = r0 + w;
        for (size_t j = 0; j < ow; j++) {
            float m = tc_max_nan(-INFINITY, r0[2 * j]);
            m = tc_max_nan(m, r0[2 * j + 1]);
            m = tc_max_nan(m, r1[2 * j]);
            y[i * ow + j] = tc_max_nan(m, r1[2 * j + 1]);
        }
    }
}

/* 2x2 stride 2 max pool: two input rows give one output row; no window bookkeeping, and the
 * inner loop vectorizes. Taps are visited in the generic loop's order. */
static void max2x2(const tc_tensor *in, tc_tensor *out, int batch)
{
    const size_t h = (size_t)in[0].shape.dim[1], w = (size_t)in[0].shape.dim[2];
    const size_t oh = (size_t)out->shape.dim[1], ow = (size_t)out->shape.dim[2];
    const size_t planes = (size_t)batch * (size_t)in[0].shape.dim[0];
    for (size_t c = 0; c < planes; c++)
        tc_max2x2_rows(in[0].data + c * h * w, w, oh, out->data + c * oh * ow, ow);
}

static tc_status maxpool_forward(const tc_layer *l, const tc_tensor *in, int n_in,
                                 tc_tensor *out, int batch, void *scratch)
{
    (void)n_in;
    (void)scratch;
    if (is_max2x2(l->params, in, out)) {
        max2x2(in, out, batch);
        return TC_OK;
    }
    return pool_run(l, in, out, batch, true);
}

static tc_status avgpool_forward(const tc_layer *l, const tc_tensor *in, int n_in,
                                 tc_tensor *out, int batch, void *scratch)
{
    (void)n_in;
    (void)scratch;
    return pool_run(l, in, out, batch, false);
}

/* ---- global pools ---- */

static tc_status global_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    (void)l;
    (void)obj;
    (void)path;
    (void)err;
    return TC_OK;
}

static tc_status global_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                    tc_error *err)
{
    (void)n_in;
    const int32_t dims[3] = {in[0].dim[0], 1, 1};
    *out = tc_shape_make(3, dims);
    l->macs = 0;
    return check_chw(l, &in[0], err);
}

static tc_status global_run(const tc_tensor *in, tc_tensor *out, int batch, bool is_max)
{
    const size_t hw = (size_t)in[0].shape.dim[1] * (size_t)in[0].shape.dim[2];
    const size_t planes = (size_t)batch * (size_t)in[0].shape.dim[0];
    for (size_t c = 0; c < planes; c++) {
        const float *x = in[0].data + c * hw;
        if (is_max) {
            float m = -INFINITY;
            for (size_t k = 0; k < hw; k++) {
                if (x[k] > m || isnan(x[k]))
                    m = x[k];
            }
            out->data[c] = m;
        } else {
            double sum = 0.0; /* double: large planes summed in float would drift */
            for (size_t k = 0; k < hw; k++)
                sum += x[k];
            out->data[c] = (float)(sum / (double)hw);
        }
    }
    return TC_OK;
}

static tc_status global_max_forward(const tc_layer *l, const tc_tensor *in, int n_in,
                                    tc_tensor *out, int batch, void *scratch)
{
    (void)l;
    (void)n_in;
    (void)scratch;
    return global_run(in, out, batch, true);
}

static tc_status global_avg_forward(const tc_layer *l, const tc_tensor *in, int n_in,
                                    tc_tensor *out, int batch, void *scratch)
{
    (void)l;
    (void)n_in;
    (void)scratch;
    return global_run(in, out, batch, false);
}

const tc_layer_ops tc_layer_maxpool2d = {
    .type = "maxpool2d",
    .keys = maxpool_keys,
    .params_size = sizeof(pool_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = maxpool_parse,
    .infer_shape = pool_infer_shape,
    .forward = maxpool_forward,
    .is_max2x2 = maxpool_is_max2x2,
};

const tc_layer_ops tc_layer_avgpool2d = {
    .type = "avgpool2d",
    .keys = avgpool_keys,
    .params_size = sizeof(pool_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = avgpool_parse,
    .infer_shape = pool_infer_shape,
    .forward = avgpool_forward,
};

const tc_layer_ops tc_layer_global_maxpool2d = {
    .type = "global_maxpool2d",
    .keys = no_keys,
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = global_parse,
    .infer_shape = global_infer_shape,
    .forward = global_max_forward,
};

const tc_layer_ops tc_layer_global_avgpool2d = {
    .type = "global_avgpool2d",
    .keys = no_keys,
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = global_parse,
    .infer_shape = global_infer_shape,
    .forward = global_avg_forward,
};
