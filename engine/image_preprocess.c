/*
 * image_preprocess.c - a decoded image to a model input tensor, as the model's "preprocess"
 * says: channels, alpha over the background, resize (stretch, letterbox, center crop), invert,
 * scale, mean/std. Resampling is separable: area averaging along an axis that shrinks, bilinear
 * (half-pixel centres) along one that grows. Arithmetic is in double with a fixed order, so the
 * same image gives the same floats on every machine.
 */
#include <math.h>
#include <string.h>

#include "tc_internal.h"

/* Contributions of source pixels to each destination pixel along one axis. */
typedef struct axis_weights {
    int n_dst;
    int max_taps;
    int *first;     /* n_dst: first source index */
    int *taps;      /* n_dst: number of source pixels */
    double *weight; /* n_dst * max_taps */
} axis_weights;

static void axis_free(axis_weights *a)
{
    TC_FREE(a->first);
    TC_FREE(a->taps);
    TC_FREE(a->weight);
}

/* Maps the source window [start, start + span) of an axis of n_src pixels onto n_dst pixels. */
static tc_status axis_build(axis_weights *a, int n_src, double start, double span, int n_dst)
{
    double step = span / n_dst;
    a->n_dst = n_dst;
    a->max_taps = step > 1.0 ? (int)ceil(step) + 1 : 2;
    a->first = TC_MALLOC((size_t)n_dst * sizeof *a->first);
    a->taps = TC_MALLOC((size_t)n_dst * sizeof *a->taps);
    a->weight = TC_CALLOC((size_t)n_dst * (size_t)a->max_taps, sizeof *a->weight);
    if (!a->first || !a->taps || !a->weight)
        return TC_ERR_NOMEM;
    for (int i = 0; i < n_dst; i++) {
        double lo = start + i * step;
        double hi = lo + step;
        double *w = a->weight + (size_t)i * (size_t)a->max_taps;
        if (step > 1.0) { /* shrinking: average the covered source pixels by overlap */
            int j0 = (int)floor(lo);
            int n = 0;
            for (int j = j0; j < hi && n < a->max_taps; j++, n++) {
                double overlap = fmin(hi, j + 1.0) - fmax(lo, (double)j);
                w[n] = overlap > 0 ? overlap / step : 0.0;
            }
            /* clamp taps to the image (windows never leave it, but rounding may touch the edge) */
            if (j0 < 0) {
                j0 = 0;
            }
            while (j0 + n > n_src)
                n--;
            a->first[i] = j0;
            a->taps[i] = n;
        } else { /* growing (or same size): bilinear between the two nearest centres */
            double c = (lo + hi) / 2.0 - 0.5;
            if (c < 0)
                c = 0;
            if (c > n_src - 1)
                c = n_src - 1;
            int j0 = (int)floor(c);
            double t = c - j0;
            a->first[i] = j0;
            a->taps[i] = j0 + 1 < n_src ? 2 : 1;
            w[0] = a->taps[i] == 2 ? 1.0 - t : 1.0;
            w[1] = a->taps[i] == 2 ? t : 0.0;
        }
    }
    return TC_OK;
}

/* Converts img to planar float channels (0..255), alpha composited over the background. */
static void to_planar(const tc_image *img, int c_out, float background, float *dst)
{
    size_t n = (size_t)img->width * (size_t)img->height;
    int ch = img->channels;
    bool has_alpha = ch == 2 || ch == 4;
    for (size_t p = 0; p < n; p++) {
        const uint8_t *px = img->pixels + p * (size_t)ch;
        double rgb[3];
        if (ch >= 3) {
            rgb[0] = px[0];
            rgb[1] = px[1];
            rgb[2] = px[2];
        } else {
            rgb[0] = rgb[1] = rgb[2] = px[0];
        }
        double v[3];
        if (c_out == 1)
            v[0] = ch >= 3 ? 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] : rgb[0];
        else
            memcpy(v, rgb, sizeof v);
        double alpha = has_alpha ? px[ch - 1] / 255.0 : 1.0;
        for (int c = 0; c < c_out; c++)
            dst[(size_t)c * n + p] = (float)(v[c] * alpha + background * (1.0 - alpha));
    }
}

/* Resamples n_lines lines along one axis: dst line l, element i = sum over taps of
 * weight * src[l * src_line + (first + k) * src_step]. */
static void resample_axis(const float *src, size_t n_lines, size_t src_line, size_t src_step,
                          const axis_weights *a, float *dst, size_t dst_line, size_t dst_step)
{
    for (size_t l = 0; l < n_lines; l++) {
        for (int i = 0; i < a->n_dst; i++) {
            const double *w = a->weight + (size_t)i * (size_t)a->max_taps;
            const float *s = src + l * src_line + (size_t)a->first[i] * src_step;
            double acc = 0;
            for (int k = 0; k < a->taps[i]; k++)
                acc += w[k] * s[(size_t)k * src_step];
            dst[l * dst_line + (size_t)i * dst_step] = (float)acc;
        }
    }
}

/* Resizes each of `channels` planes of src (sw x sh) to ax->n_dst x ay->n_dst, written into dst
 * (dst_w wide) at (x0, y0). The axis pass that leaves the smaller intermediate goes first, so
 * a long thin image never needs a huge buffer; tmp holds that intermediate. */
static void resample(const float *src, int channels, int sw, int sh, const axis_weights *ax,
                     const axis_weights *ay, float *dst, int dst_w, int dst_h, int x0, int y0,
                     float *tmp)
{
    size_t ow = (size_t)ax->n_dst;
    size_t oh = (size_t)ay->n_dst;
    bool rows_first = (size_t)sh * ow <= oh * (size_t)sw;
    for (int c = 0; c < channels; c++) {
        const float *s = src + (size_t)c * (size_t)sw * (size_t)sh;
        float *d = dst + (size_t)c * (size_t)dst_w * (size_t)dst_h + (size_t)y0 * (size_t)dst_w +
                   (size_t)x0;
        if (rows_first) { /* tmp is sh x ow */
            resample_axis(s, (size_t)sh, (size_t)sw, 1, ax, tmp, ow, 1);
            resample_axis(tmp, ow, 1, ow, ay, d, 1, (size_t)dst_w);
        } else { /* tmp is oh x sw */
            resample_axis(s, (size_t)sw, 1, (size_t)sw, ay, tmp, 1, (size_t)sw);
            resample_axis(tmp, oh, (size_t)sw, 1, ax, d, (size_t)dst_w, 1);
        }
    }
}

tc_status tc_image_to_tensor(const tc_image *img, const tc_preprocess *pp, tc_shape input,
                             float *out, tc_error *err)
{
    tc_error_clear(err);
    if (img == NULL || pp == NULL || out == NULL || img->pixels == NULL || img->width < 1 ||
        img->height < 1 || img->channels < 1 || img->channels > 4)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "invalid image or NULL argument");
    int C = input.ndim == 3 ? input.dim[0] : 1;
    int H = input.ndim == 3 ? input.dim[1] : input.dim[0];
    int W = input.ndim == 3 ? input.dim[2] : input.dim[1];
    if ((input.ndim != 2 && input.ndim != 3) || (C != 1 && C != 3)) {
        char s[64];
        return tc_error_set(err, TC_ERR_ARGUMENT, "input.shape",
                            "the model input %s is not an image ([1 or 3, H, W] or [H, W])",
                            tc_shape_str(&input, s, sizeof s));
    }
    int w = img->width;
    int h = img->height;
    /* Where the source goes: the whole destination (stretch), a centred box keeping the aspect
     * ratio (letterbox), or a centred source window filling it (center crop). */
    double sx0 = 0, sy0 = 0, span_x = w, span_y = h;
    int ow = W, oh = H;
    if (pp->resize == TC_RESIZE_LETTERBOX) {
        double s = fmin((double)W / w, (double)H / h);
        ow = (int)fmax(1.0, fmin((double)W, round(w * s)));
        oh = (int)fmax(1.0, fmin((double)H, round(h * s)));
    } else if (pp->resize == TC_RESIZE_CENTER_CROP) {
        double s = fmax((double)W / w, (double)H / h);
        span_x = fmin((double)w, W / s);
        span_y = fmin((double)h, H / s);
        sx0 = (w - span_x) / 2.0;
        sy0 = (h - span_y) / 2.0;
    }
    size_t plane = (size_t)w * (size_t)h;
    size_t out_plane = (size_t)W * (size_t)H;
    float *src = TC_MALLOC(plane * (size_t)C * sizeof *src);
    size_t tmp_len = (size_t)h * (size_t)ow < (size_t)oh * (size_t)w ? (size_t)h * (size_t)ow
                                                                      : (size_t)oh * (size_t)w;
    float *tmp = TC_MALLOC(tmp_len * sizeof *tmp);
    axis_weights ax = {0};
    axis_weights ay = {0};
    tc_status st = TC_OK;
    if (src == NULL || tmp == NULL || axis_build(&ax, w, sx0, span_x, ow) != TC_OK ||
        axis_build(&ay, h, sy0, span_y, oh) != TC_OK) {
        st = tc_error_set(err, TC_ERR_NOMEM, "", "out of memory while resizing a %d x %d image",
                          w, h);
    } else {
        to_planar(img, C, pp->background, src);
        for (size_t i = 0; i < out_plane * (size_t)C; i++)
            out[i] = pp->background; /* letterbox bars */
        resample(src, C, w, h, &ax, &ay, out, W, H, (W - ow) / 2, (H - oh) / 2, tmp);
        for (int c = 0; c < C; c++) {
            float *o = out + (size_t)c * out_plane;
            /* n_mean 0: none, 1: the first value for every channel, else one per channel */
            float mean = pp->n_mean == 0 ? 0.0f : pp->mean[pp->n_mean == 1 ? 0 : c];
            float std = pp->n_mean == 0 ? 1.0f : pp->std[pp->n_mean == 1 ? 0 : c];
            for (size_t i = 0; i < out_plane; i++) {
                float v = pp->invert ? 255.0f - o[i] : o[i];
                o[i] = (v * pp->scale - mean) / std;
            }
        }
    }
    axis_free(&ax);
    axis_free(&ay);
    TC_FREE(tmp);
    TC_FREE(src);
    return st;
}
