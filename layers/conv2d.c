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
 * Method: weights are packed once at load (prepare) into the panels of the matrix kernel
 * (engine/gemm.h). Per group and tile of output positions, the receptive fields are copied into
 * scratch directly in the kernel's packed B layout (im2col, K = Cg * kh * kw rows), then the
 * [out/groups, K] weights multiply them with bias and a relu applied in the kernel's epilogue
 * (other activations run over each tile while it is in cache). The tile keeps scratch cache-sized
 * whatever the image size. Two special cases: 3x3 stride-1 convolutions with at least
 * WINO_MIN_CH input and output channels use Winograd F(2x2, 3x3) (conv2d_winograd.c: 2.25x
 * fewer multiplications; at batch 1 its phases are split over the workspace's threads), and
 * stride-1 groups with one input channel (grey first layers, depthwise) a direct AVX-512 loop
 * (conv2d_direct.c) when the CPU has it.
 */
#include <string.h>

#include "conv2d_direct.h"
#include "conv2d_pad.h"
#include "conv2d_winograd.h"
#include "gemm.h"
#include "tc_internal.h"

#define MAX_CHANNELS (1 << 20)
#define MAX_KERNEL   4096      /* also the limit of stride, dilation and each padding */
#define COL_BUDGET   (1 << 14) /* floats of im2col scratch to aim for (64 KiB: L2 keeps room
                                  * for the weights of the layers around) */
#define TILE_MAX     1024      /* output positions per tile */
#define XPAD_MAX     (1 << 22) /* floats of padded input copy beyond which im2col is used */
#define PADDED_TILE  256       /* virtual positions per tile on the stride-1 path */
#define WINO_MIN_CH  16        /* in and out channels from which Winograd beats the GEMM */

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
    size_t tile;    /* output positions per im2col tile (a multiple of the kernel's nr) */
    size_t scratch; /* bytes of scratch: the packed im2col tile (and for `padded`, the rest) */
    /* Stride 1 ("padded" path): the group's input is copied once into a zero-padded [Cg, hp, wp]
     * block; over "virtual" positions q = oy * wp + ox (ox < wp), tap (c, u, v) reads
     * xpad[c, u*dh, v*dw] + q, so every im2col row is one contiguous copy. Columns ox >= OW are
     * computed into a C tile and dropped when it is copied out. */
    bool padded;
    size_t hp, wp;     /* padded input height and width */
    size_t n_virt;     /* virtual positions: (OH - 1) * wp + OW */
    size_t xpad_off;   /* floats from scratch to xpad */
    size_t ctile_off;  /* floats from scratch to the C tile [out/groups, tile] */
    bool winograd; /* 3x3 stride 1: Winograd F(2x2, 3x3) (conv2d_winograd.c) */
    bool direct;   /* stride 1, one input channel per group: conv2d_direct.c */
    bool pool;     /* a 2x2 max pool is fused (engine/fuse.c): out holds only pooled values */
    tc_wino wino;
    /* set by prepare */
    const tc_gemm_kernel *kern; /* the matrix kernel the weights are packed for */
    float *packed;              /* per group, the [out/groups, K] weights in packed A layout */
    void *packed_raw;           /* the allocation behind packed */
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
    /* Tile: a multiple of nr (of the widest kernel, so any kernel's panels fit) near
     * COL_BUDGET / K, at least one panel, at most the padded number of positions. */
    const size_t nr = 64;
    const size_t hp = (size_t)p->in_h + (size_t)p->pad[0] + (size_t)p->pad[2];
    const size_t wp = (size_t)p->in_w + (size_t)p->pad[1] + (size_t)p->pad[3];
    size_t xpad_floats = 0;
    p->padded = p->sh == 1 && p->sw == 1 && tc_mul_size((size_t)cin_g, hp, &xpad_floats) &&
                tc_mul_size(xpad_floats, wp, &xpad_floats) && xpad_floats <= XPAD_MAX;
    p->hp = hp;
    p->wp = wp;
    p->n_virt = p->padded ? ((size_t)p->out_h - 1) * wp + (size_t)p->out_w : n_pos;
    size_t tile = COL_BUDGET / (size_t)k_n / nr * nr;
    tile = tile < nr ? nr : tile > TILE_MAX ? TILE_MAX : tile;
    const size_t all = (p->n_virt + nr - 1) / nr * nr;
    p->tile = tile < all ? tile : all;
    size_t total = 0;
    if (p->padded) {
        /* [K row pointers][xpad + one vector of slack][C tile], each 64-byte aligned; no
         * im2col: the matrix kernel reads the taps' rows straight from xpad. */
        p->tile = PADDED_TILE < all ? PADDED_TILE : all;
        const size_t ptr_floats = (sizeof(const float *) + sizeof(float) - 1) / sizeof(float);
        p->xpad_off = ((size_t)k_n * ptr_floats + 16) / 16 * 16;
        p->ctile_off = (p->xpad_off + xpad_floats + 32) / 16 * 16;
        if (!tc_mul_size((size_t)(p->out_c / p->groups), p->tile, &total) ||
            !tc_add_size(total, p->ctile_off, &total))
            return tc_error_set(err, TC_ERR_LIMIT, l->where, "conv2d scratch overflows");
    } else if (!tc_mul_size((size_t)k_n, p->tile, &col_floats) ||
               !tc_add_size(col_floats, 16, &total)) {
        return tc_error_set(err, TC_ERR_LIMIT, l->where,
                            "im2col scratch of %llu x %zu floats overflows",
                            (unsigned long long)k_n, p->tile);
    }
    if (!tc_mul_size(total, sizeof(float), &p->scratch))
        return tc_error_set(err, TC_ERR_LIMIT, l->where, "conv2d scratch overflows");
    p->winograd = p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 &&
                  p->dw == 1 && p->groups == 1 && p->in_c >= WINO_MIN_CH &&
                  p->out_c >= WINO_MIN_CH &&
                  tc_wino_plan(&p->wino, (size_t)p->in_c, (size_t)p->out_c, (size_t)p->in_h,
                               (size_t)p->in_w, (size_t)oh, (size_t)ow, (size_t)p->pad[0],
                               (size_t)p->pad[1]);
    if (p->winograd)
        p->scratch = p->wino.scratch_bytes;
    p->direct = !p->winograd && p->padded && cin_g == 1 && tc_conv_direct1_available();
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

/*
 * One im2col row segment: dst[0..n) = x[c, oy*sh + dy, ox*sw + dx] for the n output positions
 * from pos (row-major over [OH, OW]), 0 outside the input. [lo, hi) are the output columns whose
 * tap lands inside the input row. Segments are short (a panel is 64 positions), so plain loops
 * beat memcpy/memset calls.
 */
static void im2col_run(const conv_params *p, const float *xc, int64_t dy, int64_t dx, size_t lo,
                       size_t hi, size_t pos, size_t n, float *restrict dst)
{
    const size_t ow = (size_t)p->out_w;
    const size_t sw = (size_t)p->sw;
    size_t oy = pos / ow;
    size_t ox = pos % ow;
    while (n > 0) {
        const size_t run = ow - ox < n ? ow - ox : n;
        const int64_t iy = (int64_t)oy * p->sh + dy;
        /* This run covers columns [ox, ox + run); [a, b) of it are inside. */
        size_t a = lo > ox ? lo - ox : 0;
        size_t b = hi > ox ? hi - ox : 0;
        a = a < run ? a : run;
        b = b < a ? a : b > run ? run : b;
        if (iy < 0 || iy >= p->in_h)
            a = b = run;
        size_t j = 0;
        for (; j < a; j++)
            dst[j] = 0.0f;
        const float *restrict src = xc + iy * p->in_w + (int64_t)ox * p->sw + dx;
        if (sw == 1) {
            for (; j < b; j++)
                dst[j] = src[j];
        } else {
            for (; j < b; j++)
                dst[j] = src[j * sw];
        }
        for (; j < run; j++)
            dst[j] = 0.0f;
        dst += run;
        n -= run;
        ox = 0;
        oy++;
    }
}

/*
 * im2col of output positions p0..p0+n-1 of one group (x is its first input channel), written in
 * the packed B layout of kern (gemm.h): row (c, u, v) of the [K, n] matrix holds
 * x[c, oy*sh - pt + u*dh, ox*sw - pl + v*dw]; panel columns past n are 0.
 */
static void im2col_packed(const conv_params *p, const tc_gemm_kernel *kern, const float *x,
                          size_t cin_g, size_t p0, size_t n, float *col)
{
    const int64_t in_w = p->in_w;
    const size_t np = tc_gemm_npad(kern, n);
    const size_t nr = (size_t)kern->nr;
    const size_t k_n = cin_g * (size_t)p->kh * (size_t)p->kw;
    size_t k = 0;
    for (size_t c = 0; c < cin_g; c++) {
        const float *xc = x + c * (size_t)p->in_h * (size_t)in_w;
        for (int32_t u = 0; u < p->kh; u++) {
            const int64_t dy = (int64_t)u * p->dh - p->pad[0];
            for (int32_t v = 0; v < p->kw; v++, k++) {
                const int64_t dx = (int64_t)v * p->dw - p->pad[1];
                const size_t lo = (size_t)ceil_div_pos(-dx, p->sw);
                const size_t hi = (size_t)ceil_div_pos(in_w - dx, p->sw);
                const size_t k0 = k / TC_GEMM_KC * TC_GEMM_KC;
                const size_t kc = k_n - k0 < TC_GEMM_KC ? k_n - k0 : TC_GEMM_KC;
                for (size_t j0 = 0; j0 < np; j0 += nr) {
                    const size_t w = np - j0 < nr ? np - j0 : nr;
                    float *d = col + k0 * np + j0 * kc + (k - k0) * w;
                    const size_t m = j0 < n ? (n - j0 < w ? n - j0 : w) : 0;
                    im2col_run(p, xc, dy, dx, lo, hi, p0 + j0, m, d);
                    for (size_t jj = m; jj < w; jj++)
                        d[jj] = 0.0f;
                }
            }
        }
    }
}

/* Copies the group's input x [Cg, H, W] into xpad [Cg, hp, wp] with zero borders. */
static void pad_input(const conv_params *p, const float *x, size_t cin_g, float *xpad)
{
    tc_conv_pad_copy(x, 0, cin_g, (size_t)p->in_h, (size_t)p->in_w, xpad, p->hp, p->wp,
                     (size_t)p->pad[0], (size_t)p->pad[1], true,
                     p->direct); /* the direct path runs only where AVX-512 does */
    /* the kernel's last vector may read up to 15 floats past the end */
    memset(xpad + cin_g * p->hp * p->wp, 0, 16 * sizeof *xpad);
}

/* rows[k] = where tap k = (c, u, v) reads virtual position q0 in xpad. */
static void tap_rows(const conv_params *p, const float *xpad, size_t cin_g, size_t q0,
                     const float **rows)
{
    size_t k = 0;
    for (size_t c = 0; c < cin_g; c++) {
        for (size_t u = 0; u < (size_t)p->kh; u++) {
            for (size_t v = 0; v < (size_t)p->kw; v++)
                rows[k++] = xpad + (c * p->hp + u * (size_t)p->dh) * p->wp + v * (size_t)p->dw +
                            q0;
        }
    }
}

/* Copies the valid columns (ox < OW) of the C tile for virtual positions q0..q0+n-1 into y. */
static void copy_out(const conv_params *p, size_t cout_g, const float *ctile, size_t q0, size_t n,
                     float *y)
{
    const size_t ow = (size_t)p->out_w;
    const size_t n_pos = (size_t)p->out_h * ow;
    for (size_t q = q0; q < q0 + n;) {
        const size_t oy = q / p->wp, ox = q % p->wp;
        if (ox < ow) {
            const size_t len = ow - ox < q0 + n - q ? ow - ox : q0 + n - q;
            for (size_t o = 0; o < cout_g; o++)
                memcpy(y + o * n_pos + oy * ow + ox, ctile + o * p->tile + (q - q0),
                       len * sizeof *y);
        }
        q = (oy + 1) * p->wp;
    }
}

static tc_status conv_prepare(tc_layer *l, tc_error *err)
{
    conv_params *p = l->params;
    const size_t cout_g = (size_t)(p->out_c / p->groups);
    const size_t k_n = (size_t)(p->in_c / p->groups) * (size_t)p->kh * (size_t)p->kw;
    const float *weight = tc_layer_weight_data(l, p->weight_slot);
    p->kern = tc_gemm_best();
    if (p->winograd) {
        if (!tc_wino_prepare(&p->wino, p->kern, weight))
            return tc_error_set(err, TC_ERR_NOMEM, l->where, "cannot allocate packed weights");
        return TC_OK;
    }
    p->packed = tc_gemm_buffer(l->weights[p->weight_slot].numel, &p->packed_raw);
    if (p->packed == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, l->where, "cannot allocate packed weights");
    for (size_t g = 0; g < (size_t)p->groups; g++)
        tc_gemm_pack_a(p->kern, cout_g, k_n, weight + g * cout_g * k_n, (ptrdiff_t)k_n, 1,
                       p->packed + g * cout_g * k_n);
    return TC_OK;
}

static void conv_destroy(tc_layer *l)
{
    conv_params *p = l->params;
    if (p == NULL)
        return; /* the layer failed before its params were allocated */
    TC_FREE(p->packed_raw);
    p->packed_raw = NULL;
    p->packed = NULL;
    tc_wino_free(&p->wino);
}

static tc_status conv_forward(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                              int batch, void *scratch)
{
    const conv_params *p = l->params;
    const float *bias = tc_layer_weight_data(l, p->bias_slot);
    const float *weight = tc_layer_weight_data(l, p->weight_slot);
    const size_t cin_g = (size_t)(p->in_c / p->groups);
    const size_t cout_g = (size_t)(p->out_c / p->groups);
    const size_t k_n = cin_g * (size_t)p->kh * (size_t)p->kw;
    const size_t in_plane = (size_t)p->in_h * (size_t)p->in_w;
    const size_t n_pos = (size_t)p->out_h * (size_t)p->out_w;
    const size_t out_numel = (size_t)p->out_c * n_pos;
    (void)n_in;
    if (p->winograd) {
        if (p->wino.u == NULL)
            return TC_ERR_INTERNAL; /* prepare did not run */
        tc_wino_forward(&p->wino, in[0].data, (size_t)batch, bias, &p->act, out->data, scratch,
                        tc_pool_current());
        return TC_OK;
    }
    if (p->packed == NULL)
        return TC_ERR_INTERNAL; /* prepare did not run */

    for (size_t b = 0; b < (size_t)batch; b++) {
        const float *x = in[0].data + b * (size_t)p->in_c * in_plane;
        float *y = out->data + b * out_numel;
        for (size_t g = 0; g < (size_t)p->groups; g++) {
            const tc_gemm_a a = {p->packed + g * cout_g * k_n, 1, 0, 0};
            const tc_gemm_epilogue epi = {bias ? bias + g * cout_g : NULL, NULL, &p->act};
            float *yg = y + g * cout_g * n_pos;
            if (p->padded) {
                const float **rows = scratch;
                float *xpad = (float *)scratch + p->xpad_off;
                float *ctile = (float *)scratch + p->ctile_off;
                pad_input(p, x + g * cin_g * in_plane, cin_g, xpad);
                if (p->direct && p->pool) { /* relu or identity (conv_absorb_max2x2) */
                    const size_t pplane = (size_t)(p->out_h / 2) * (size_t)(p->out_w / 2);
                    tc_conv_direct1_pool(xpad, p->wp, (size_t)p->out_h, (size_t)p->out_w,
                                         (size_t)p->kh, (size_t)p->kw, (size_t)p->dh,
                                         (size_t)p->dw, weight + g * cout_g * k_n, epi.bias_row,
                                         cout_g, p->act.kind == TC_ACT_RELU,
                                         out->data + (b * (size_t)p->out_c + g * cout_g) * pplane);
                    continue;
                }
                if (p->direct) {
                    const bool relu = p->act.kind == TC_ACT_RELU;
                    tc_conv_direct1(xpad, p->wp, (size_t)p->out_h, (size_t)p->out_w,
                                    (size_t)p->kh, (size_t)p->kw, (size_t)p->dh, (size_t)p->dw,
                                    weight + g * cout_g * k_n, epi.bias_row, cout_g, relu, yg);
                    if (!relu && p->act.kind != TC_ACT_IDENTITY)
                        tc_act_apply(&p->act, yg, cout_g * n_pos);
                    continue;
                }
                for (size_t q0 = 0; q0 < p->n_virt; q0 += p->tile) {
                    const size_t n = p->n_virt - q0 < p->tile ? p->n_virt - q0 : p->tile;
                    tap_rows(p, xpad, cin_g, q0, rows);
                    tc_gemm_rows(p->kern, cout_g, n, k_n, &a, rows, ctile, p->tile, &epi);
                    copy_out(p, cout_g, ctile, q0, n, yg);
                }
                continue;
            }
            for (size_t p0 = 0; p0 < n_pos; p0 += p->tile) {
                const size_t n = n_pos - p0 < p->tile ? n_pos - p0 : p->tile;
                im2col_packed(p, p->kern, x + g * cin_g * in_plane, cin_g, p0, n, scratch);
                tc_gemm(p->kern, cout_g, n, k_n, &a, scratch, yg + p0, n_pos, &epi);
            }
        }
    }
    return TC_OK;
}

/* Winograd tiles are the pooling windows of a following 2x2 max pool (after a relu at most:
 * other activations must run before the pool, over every output). */
static bool conv_absorb_max2x2(tc_layer *l)
{
    conv_params *p = l->params;
    if (!(p->winograd || p->direct) ||
        (p->act.kind != TC_ACT_IDENTITY && p->act.kind != TC_ACT_RELU))
        return false;
    if (p->winograd)
        tc_wino_pool(&p->wino);
    p->pool = true;
    return true;
}

static bool conv_fuse_target(tc_layer *l, tc_fuse_target *t)
{
    conv_params *p = l->params;
    *t = (tc_fuse_target){&p->weight_slot, &p->bias_slot, &p->act};
    return true;
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
    .destroy = conv_destroy,
    .flags = 0,
    .prepare = conv_prepare,
    .fuse_target = conv_fuse_target,
    .absorb_max2x2 = conv_absorb_max2x2,
};
