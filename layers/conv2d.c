/*
 * conv2d.c - 2-D convolution (cross-correlation, as PyTorch's Conv2d) with stride, dilation,
 * padding, groups and a fused activation.
 *
 *   y[o, i, j] = act(b[o] + sum_{c, u, v} W[o, c, u, v] * x[g*Cg + c, i*sh - pt + u*dh,
 *                                                              j*sw - pl + v*dw])
 * where Cg = in_channels / groups, g = o / (out_channels / groups), and x is 0 outside the input.
 *
 * JSON fields:
 *   in_channels   integer 1..2^20, required; must equal the input's C
 *   out_channels  integer 1..2^20, required
 *   kernel_size   integer or [kh, kw], each 1..4096, required
 *   stride        integer or [sh, sw], each 1..4096, default 1
 *   dilation      integer or [dh, dw], each 1..4096, default 1
 *   padding       "valid" (default: none), "same" (ONNX SAME_UPPER), "same_lower" (SAME_LOWER), or
 *                 explicit: p, [ph, pw] or [top, left, bottom, right], each 0..4096
 *   groups        integer 1..2^20 dividing in_channels and out_channels, default 1
 *   weight        [out_channels, in_channels / groups, kh, kw], required
 *   bias          [out_channels], optional (default 0)
 *   activation    fused activation (see activation.c), default identity
 * "same" padding: out = ceil(in / stride) and the total padding max(0, (out - 1) * stride +
 * (k - 1) * dilation + 1 - in) is split evenly, the odd pixel at the end ("same") or at the
 * start ("same_lower").
 * Input [C, H, W]; output [out_channels, OH, OW] with OH = floor((H + pt + pb - dh * (kh - 1) - 1)
 * / sh) + 1 (likewise OW), which must be >= 1.
 *
 * Method: per group, the receptive fields of a tile of output positions are copied into scratch
 * as a [K, T] matrix (im2col, K = Cg * kh * kw), then multiplied by the group's [out/groups, K]
 * weights with the position loop innermost, so it is contiguous and vectorizes. A 1x1, stride 1,
 * unpadded convolution multiplies the input in place. The tile keeps scratch (and the part of
 * the output being accumulated) cache-sized whatever the image size.
 */
#include <string.h>

#include "tc_internal.h"

#define MAX_CHANNELS (1 << 20)
#define MAX_KERNEL   4096      /* also the limit of stride, dilation and each padding */
#define COL_BUDGET   (1 << 16) /* floats of im2col scratch to aim for (256 KiB) */
#define TILE_MIN     64        /* output positions per tile: enough for a long inner loop, */
#define TILE_MAX     1024      /* and few enough that 4 output rows stay in L1 */

enum { PAD_VALID, PAD_SAME, PAD_SAME_LOWER, PAD_EXPLICIT };

typedef struct conv_params {
    int32_t in_c, out_c, groups; /* channels and groups, as in the JSON */
    int32_t kh, kw;              /* kernel height, width */
    int32_t sh, sw;              /* stride */
    int32_t dh, dw;              /* dilation */
    int pad_mode;                /* PAD_* */
    int32_t pad[4];              /* top, left, bottom, right; "same*" resolved by infer_shape */
    int weight_slot;             /* [out_c, in_c / groups, kh, kw] */
    int bias_slot;               /* [out_c], or -1 */
    tc_act act;                  /* fused activation */
    /* set by infer_shape */
    int32_t in_h, in_w, out_h, out_w;
    size_t tile;    /* output positions per im2col tile */
    size_t scratch; /* bytes of the im2col tile, 0 when direct */
    bool direct;    /* 1x1, stride 1, no padding: the input already is the [K, positions] matrix */
} conv_params;

static const char *const conv_keys[] = {"in_channels", "out_channels", "kernel_size", "stride",
                                        "padding",     "dilation",     "groups",      "weight",
                                        "bias",        "activation",   NULL};

/* Reads an integer or [h, w] pair in lo..hi; a single integer applies to both. */
static tc_status read_pair(const cJSON *obj, const char *key, const char *path, int64_t lo,
                           int64_t hi, tc_presence presence, int32_t *h, int32_t *w, tc_error *err)
{
    int32_t v[2] = {*h, *w};
    int n = 0;
    tc_status st = tc_json_int_list(obj, key, path, 1, 2, lo, hi, presence, v, &n, err);
    if (st == TC_OK && n > 0) {
        *h = v[0];
        *w = n == 2 ? v[1] : v[0];
    }
    return st;
}

static tc_status parse_padding(conv_params *p, const cJSON *obj, const char *path, tc_error *err)
{
    static const char *const modes[] = {"valid", "same", "same_lower"};
    const cJSON *item = tc_json_get(obj, "padding");
    char ppath[160];
    tc_path_join(ppath, sizeof ppath, path, "padding");
    p->pad_mode = PAD_VALID;
    if (item == NULL)
        return TC_OK;
    if (cJSON_IsString(item))
        return tc_json_enum(obj, "padding", path, modes, 3, TC_REQUIRED, &p->pad_mode, err);
    if (!cJSON_IsNumber(item) && !cJSON_IsArray(item)) {
        char got[80];
        tc_json_describe(item, got, sizeof got);
        return tc_error_set(err, TC_ERR_SCHEMA, ppath,
                            "expected \"valid\", \"same\", \"same_lower\", an integer, [h, w] or "
                            "[top, left, bottom, right], got %s",
                            got);
    }
    int32_t v[4] = {0, 0, 0, 0};
    int n = 0;
    tc_status st =
        tc_json_int_list(obj, "padding", path, 1, 4, 0, MAX_KERNEL, TC_REQUIRED, v, &n, err);
    if (st != TC_OK)
        return st;
    if (n == 3)
        return tc_error_set(err, TC_ERR_RANGE, ppath,
                            "expected 1, 2 or 4 integers ([top, left, bottom, right]), got 3");
    p->pad_mode = PAD_EXPLICIT;
    /* Short forms: p for all sides, [ph, pw] for top = bottom and left = right. */
    p->pad[0] = v[0];
    p->pad[1] = n == 1 ? v[0] : v[1];
    p->pad[2] = n == 4 ? v[2] : v[0];
    p->pad[3] = n == 4 ? v[3] : p->pad[1];
    return TC_OK;
}

static tc_status conv_parse(tc_layer *l, const cJSON *obj, const char *path, tc_error *err)
{
    conv_params *p = l->params;
    p->sh = p->sw = p->dh = p->dw = p->groups = 1;
    p->weight_slot = p->bias_slot = -1;
    tc_status st;
    if ((st = tc_json_int(obj, "in_channels", path, 1, MAX_CHANNELS, TC_REQUIRED, &p->in_c, err)) !=
            TC_OK ||
        (st = tc_json_int(obj, "out_channels", path, 1, MAX_CHANNELS, TC_REQUIRED, &p->out_c,
                          err)) != TC_OK ||
        (st = read_pair(obj, "kernel_size", path, 1, MAX_KERNEL, TC_REQUIRED, &p->kh, &p->kw,
                        err)) != TC_OK ||
        (st = read_pair(obj, "stride", path, 1, MAX_KERNEL, TC_OPTIONAL, &p->sh, &p->sw, err)) !=
            TC_OK ||
        (st = read_pair(obj, "dilation", path, 1, MAX_KERNEL, TC_OPTIONAL, &p->dh, &p->dw, err)) !=
            TC_OK ||
        (st = parse_padding(p, obj, path, err)) != TC_OK ||
        (st = tc_json_int(obj, "groups", path, 1, MAX_CHANNELS, TC_OPTIONAL, &p->groups, err)) !=
            TC_OK)
        return st;
    if (p->in_c % p->groups != 0 || p->out_c % p->groups != 0) {
        char gpath[160];
        tc_path_join(gpath, sizeof gpath, path, "groups");
        return tc_error_set(err, TC_ERR_RANGE, gpath,
                            "groups (%d) must divide in_channels (%d) and out_channels (%d)",
                            (int)p->groups, (int)p->in_c, (int)p->out_c);
    }
    if ((st = tc_layer_add_weight(l, obj, "weight", path, TC_REQUIRED, &p->weight_slot, err)) !=
            TC_OK ||
        (st = tc_layer_add_weight(l, obj, "bias", path, TC_OPTIONAL, &p->bias_slot, err)) != TC_OK)
        return st;
    return tc_act_parse_fused(&p->act, obj, path, err);
}

/*
 * Output size along one axis of length `in`, resolving "same" padding into *pad_begin and
 * *pad_end (explicit padding is read from them). Returns 0 when the dilated kernel does not fit.
 */
static int64_t axis_out(int64_t in, int64_t k, int64_t s, int64_t d, int mode, int32_t *pad_begin,
                        int32_t *pad_end)
{
    int64_t span = d * (k - 1) + 1; /* extent of the dilated kernel */
    if (mode == PAD_VALID) {
        *pad_begin = *pad_end = 0;
    } else if (mode != PAD_EXPLICIT) {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + span - in;
        total = total < 0 ? 0 : total; /* at most span - 1 < 2^24: fits int32 */
        int64_t small = total / 2;
        *pad_begin = (int32_t)(mode == PAD_SAME ? small : total - small);
        *pad_end = (int32_t)(total - *pad_begin);
    }
    int64_t padded = in + *pad_begin + *pad_end;
    return padded < span ? 0 : (padded - span) / s + 1;
}

/* Checks one axis's output size; `what` is "height" or "width". */
static tc_status check_axis(const tc_layer *l, const char *what, int64_t in, int64_t k, int64_t d,
                            int32_t pad_begin, int32_t pad_end, int64_t out, tc_error *err)
{
    if (out < 1)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "output %s would be below 1: the kernel spans %lld (size %lld, "
                            "dilation %lld) but the input %s is %lld with padding %d + %d",
                            what, (long long)(d * (k - 1) + 1), (long long)k, (long long)d, what,
                            (long long)in, (int)pad_begin, (int)pad_end);
    if (out > INT32_MAX)
        return tc_error_set(err, TC_ERR_LIMIT, l->where, "output %s %lld exceeds %d", what,
                            (long long)out, INT32_MAX);
    return TC_OK;
}

/* a * b, or UINT64_MAX if that overflows (macs are only reported). */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static tc_status conv_infer_shape(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                                  tc_error *err)
{
    conv_params *p = l->params;
    char buf[64];
    (void)n_in;
    if (in[0].ndim != 3)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "conv2d needs a 3-D input [C, H, W] per sample, got %s",
                            tc_shape_str(&in[0], buf, sizeof buf));
    if (in[0].dim[0] != p->in_c)
        return tc_error_set(err, TC_ERR_SHAPE, l->where,
                            "in_channels is %d but its input has %d channels", (int)p->in_c,
                            (int)in[0].dim[0]);
    p->in_h = in[0].dim[1];
    p->in_w = in[0].dim[2];
    int64_t oh = axis_out(p->in_h, p->kh, p->sh, p->dh, p->pad_mode, &p->pad[0], &p->pad[2]);
    int64_t ow = axis_out(p->in_w, p->kw, p->sw, p->dw, p->pad_mode, &p->pad[1], &p->pad[3]);
    tc_status st;
    if ((st = check_axis(l, "height", p->in_h, p->kh, p->dh, p->pad[0], p->pad[2], oh, err)) !=
            TC_OK ||
        (st = check_axis(l, "width", p->in_w, p->kw, p->dw, p->pad[1], p->pad[3], ow, err)) !=
            TC_OK)
        return st;
    p->out_h = (int32_t)oh;
    p->out_w = (int32_t)ow;

    const int32_t cin_g = p->in_c / p->groups;
    const int32_t wdim[4] = {p->out_c, cin_g, p->kh, p->kw};
    const tc_shape wshape = tc_shape_make(4, wdim);
    const tc_shape bshape = tc_shape_make(1, &p->out_c);
    if ((st = tc_layer_expect_weight(l, p->weight_slot, &wshape, err)) != TC_OK ||
        (st = tc_layer_expect_weight(l, p->bias_slot, &bshape, err)) != TC_OK)
        return st;

    const int32_t odim[3] = {p->out_c, p->out_h, p->out_w};
    *out = tc_shape_make(3, odim);
    uint64_t k_n = (uint64_t)cin_g * (uint64_t)p->kh * (uint64_t)p->kw; /* < 2^44 */
    l->macs = mul_sat(mul_sat((uint64_t)p->out_c * k_n, (uint64_t)oh), (uint64_t)ow);

    size_t n_pos;
    size_t col_floats;
    if (!tc_mul_size((size_t)oh, (size_t)ow, &n_pos) || k_n > SIZE_MAX)
        return tc_error_set(err, TC_ERR_LIMIT, l->where, "output %s is too large",
                            tc_shape_str(out, buf, sizeof buf));
    p->direct = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pad[0] == 0 &&
                p->pad[1] == 0 && p->pad[2] == 0 && p->pad[3] == 0;
    size_t tile = COL_BUDGET / (size_t)k_n;
    tile = tile < TILE_MIN ? TILE_MIN : tile > TILE_MAX ? TILE_MAX : tile;
    p->tile = tile < n_pos ? tile : n_pos;
    p->scratch = 0;
    if (!p->direct && (!tc_mul_size((size_t)k_n, p->tile, &col_floats) ||
                       !tc_mul_size(col_floats, sizeof(float), &p->scratch)))
        return tc_error_set(err, TC_ERR_LIMIT, l->where,
                            "im2col scratch of %llu x %zu floats overflows",
                            (unsigned long long)k_n, p->tile);
    return TC_OK;
}

static size_t conv_scratch_bytes(const tc_layer *l)
{
    const conv_params *p = l->params;
    return p->scratch;
}

/* Smallest q >= 0 with q * s >= v (v may be negative). */
static int64_t ceil_div_pos(int64_t v, int64_t s)
{
    return v <= 0 ? 0 : (v + s - 1) / s;
}

/* dst[j] = src[j * stride] for j < n (the common stride 1 is a plain copy). */
static void copy_strided(float *dst, const float *src, size_t n, int32_t stride)
{
    if (stride == 1) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    for (size_t j = 0; j < n; j++)
        dst[j] = src[j * (size_t)stride];
}

/*
 * im2col of output positions p0..p0+n-1 (row-major over [OH, OW]) of one group: x is the group's
 * first input channel; col gets K rows of n floats, row (c, u, v) holding
 * x[c, oy*sh - pt + u*dh, ox*sw - pl + v*dw], 0 outside the input.
 */
static void im2col(const conv_params *p, const float *x, int32_t cin_g, size_t p0, size_t n,
                   float *col)
{
    const int64_t in_h = p->in_h;
    const int64_t in_w = p->in_w;
    const size_t ow = (size_t)p->out_w;
    for (int32_t c = 0; c < cin_g; c++) {
        const float *xc = x + (size_t)c * (size_t)(in_h * in_w);
        for (int32_t u = 0; u < p->kh; u++) {
            const int64_t dy = (int64_t)u * p->dh - p->pad[0];
            for (int32_t v = 0; v < p->kw; v++) {
                const int64_t dx = (int64_t)v * p->dw - p->pad[1];
                /* Output columns [lo, hi) read inside the input row; the rest read padding. */
                const size_t lo = (size_t)ceil_div_pos(-dx, p->sw);
                const size_t hi = (size_t)ceil_div_pos(in_w - dx, p->sw);
                for (size_t pos = p0, end = p0 + n; pos < end;) {
                    const size_t ox = pos % ow;
                    const size_t run = ow - ox < end - pos ? ow - ox : end - pos;
                    const int64_t iy = (int64_t)(pos / ow) * p->sh + dy;
                    /* This run covers columns [ox, ox + run); [a, b) of it are inside. */
                    size_t a = lo > ox ? lo - ox : 0;
                    size_t b = hi > ox ? hi - ox : 0;
                    a = a < run ? a : run;
                    b = b < a ? a : b > run ? run : b;
                    if (iy < 0 || iy >= in_h)
                        a = b = run;
                    memset(col, 0, a * sizeof *col);
                    if (b > a)
                        copy_strided(col + a, xc + iy * in_w + (int64_t)(ox + a) * p->sw + dx,
                                     b - a, p->sw);
                    memset(col + b, 0, (run - b) * sizeof *col);
                    col += run;
                    pos += run;
                }
            }
        }
    }
}

/*
 * y[o][j] = bias[o] (or 0) + sum_k w[o][k] * col[k][j] for o < n_out, j < n. Rows of w are k_n
 * floats, rows of col col_ld apart, rows of y y_ld apart. The loops run o, k, j so the inner
 * loop is contiguous; four output rows share each load of col[k].
 */
static void gemm(const float *w, const float *bias, size_t n_out, size_t k_n, const float *col,
                 size_t col_ld, float *y, size_t y_ld, size_t n)
{
    size_t o = 0;
    for (; o + 4 <= n_out; o += 4) {
        float *restrict y0 = y + o * y_ld;
        float *restrict y1 = y0 + y_ld;
        float *restrict y2 = y1 + y_ld;
        float *restrict y3 = y2 + y_ld;
        const float *w0 = w + o * k_n;
        const float b0 = bias ? bias[o] : 0.0f;
        const float b1 = bias ? bias[o + 1] : 0.0f;
        const float b2 = bias ? bias[o + 2] : 0.0f;
        const float b3 = bias ? bias[o + 3] : 0.0f;
        for (size_t j = 0; j < n; j++) {
            y0[j] = b0;
            y1[j] = b1;
            y2[j] = b2;
            y3[j] = b3;
        }
        for (size_t k = 0; k < k_n; k++) {
            const float *restrict c = col + k * col_ld;
            const float a0 = w0[k];
            const float a1 = w0[k_n + k];
            const float a2 = w0[2 * k_n + k];
            const float a3 = w0[3 * k_n + k];
            for (size_t j = 0; j < n; j++) {
                y0[j] += a0 * c[j];
                y1[j] += a1 * c[j];
                y2[j] += a2 * c[j];
                y3[j] += a3 * c[j];
            }
        }
    }
    for (; o < n_out; o++) {
        float *restrict y0 = y + o * y_ld;
        const float b0 = bias ? bias[o] : 0.0f;
        for (size_t j = 0; j < n; j++)
            y0[j] = b0;
        for (size_t k = 0; k < k_n; k++) {
            const float *restrict c = col + k * col_ld;
            const float a0 = w[o * k_n + k];
            for (size_t j = 0; j < n; j++)
                y0[j] += a0 * c[j];
        }
    }
}

static tc_status conv_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                              int batch, void *scratch)
{
    const conv_params *p = l->params;
    const float *weight = tc_layer_weight_data(l, p->weight_slot);
    const float *bias = tc_layer_weight_data(l, p->bias_slot);
    const size_t cin_g = (size_t)(p->in_c / p->groups);
    const size_t cout_g = (size_t)(p->out_c / p->groups);
    const size_t k_n = cin_g * (size_t)p->kh * (size_t)p->kw;
    const size_t in_plane = (size_t)p->in_h * (size_t)p->in_w;
    const size_t n_pos = (size_t)p->out_h * (size_t)p->out_w;
    const size_t out_numel = (size_t)p->out_c * n_pos;
    (void)n_in;

    for (size_t b = 0; b < (size_t)batch; b++) {
        const float *x = in[0].data + b * (size_t)p->in_c * in_plane;
        float *y = out->data + b * out_numel;
        for (size_t g = 0; g < (size_t)p->groups; g++) {
            const float *xg = x + g * cin_g * in_plane;
            const float *wg = weight + g * cout_g * k_n;
            const float *bg = bias ? bias + g * cout_g : NULL;
            float *yg = y + g * cout_g * n_pos;
            for (size_t p0 = 0; p0 < n_pos; p0 += p->tile) {
                const size_t n = n_pos - p0 < p->tile ? n_pos - p0 : p->tile;
                if (p->direct) {
                    gemm(wg, bg, cout_g, k_n, xg + p0, n_pos, yg + p0, n_pos, n);
                } else {
                    im2col(p, xg, (int32_t)cin_g, p0, n, scratch);
                    gemm(wg, bg, cout_g, k_n, scratch, n, yg + p0, n_pos, n);
                }
            }
        }
    }
    tc_act_apply(&p->act, out->data, (size_t)batch * out_numel);
    return TC_OK;
}

const tc_layer_ops tc_layer_conv2d = {
    .type = "conv2d",
    .keys = conv_keys,
    .params_size = sizeof(conv_params),
    .min_inputs = 1,
    .max_inputs = 1,
    .parse = conv_parse,
    .infer_shape = conv_infer_shape,
    .scratch_bytes = conv_scratch_bytes,
    .forward = conv_forward,
    .destroy = NULL,
    .flags = 0,
};
