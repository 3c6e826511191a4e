/*
 * fuzz_image.c - libFuzzer target for the image path: tc_image_decode (PNG, JPEG, BMP, PGM/PPM
 * through stb_image, behind our header and size checks), then tc_image_to_tensor into a few
 * input shapes with each resize mode, alpha background, invert and per-channel mean/std.
 *
 * Input: the bytes of an image file.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

/* Decoding cost grows with the pixel count: a lower limit than the default keeps each input
 * fast; the limit check itself is the same code. */
#define IMAGE_FUZZ_MAX_PIXELS ((size_t)1 << 18)
#define IMAGE_FUZZ_OUT_MAX (3 * 32 * 32)

typedef struct image_case {
    tc_shape shape;
    tc_resize_mode resize;
    int invert;
    float background;
    int n_mean;
} image_case;

static const image_case image_cases[] = {
    {{3, {1, 28, 28}}, TC_RESIZE_STRETCH, 0, 0.0f, 1},
    {{3, {3, 17, 9}}, TC_RESIZE_LETTERBOX, 1, 255.0f, 3},
    {{2, {5, 32}}, TC_RESIZE_CENTER_CROP, 0, 128.0f, 1},
    {{3, {3, 1, 1}}, TC_RESIZE_CENTER_CROP, 1, 7.0f, 3},
};

int tc_fuzz_image(const uint8_t *data, size_t size)
{
    tc_image img;
    tc_error err;
    tc_status st = tc_image_decode(data, size, IMAGE_FUZZ_MAX_PIXELS, &img, &err);
    if (st != TC_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(img.pixels == NULL);
        return 0;
    }
    FUZZ_CHECK(img.pixels != NULL && img.width >= 1 && img.height >= 1);
    FUZZ_CHECK(img.channels >= 1 && img.channels <= 4);
    FUZZ_CHECK((size_t)img.width * (size_t)img.height <= IMAGE_FUZZ_MAX_PIXELS);
    size_t n_bytes = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
    volatile uint8_t last = img.pixels[n_bytes - 1]; /* the whole buffer must be there */
    (void)last;
    float out[IMAGE_FUZZ_OUT_MAX];
    for (size_t c = 0; c < sizeof image_cases / sizeof image_cases[0]; c++) {
        const image_case *ic = &image_cases[c];
        tc_preprocess pp;
        memset(&pp, 0, sizeof pp);
        pp.scale = 1.0f / 255.0f;
        pp.n_mean = ic->n_mean;
        for (int k = 0; k < TC_MAX_CHANNELS; k++) {
            pp.mean[k] = 0.25f * (float)k;
            pp.std[k] = 0.5f + (float)k;
        }
        pp.invert = ic->invert;
        pp.background = ic->background;
        pp.resize = ic->resize;
        size_t n = 1;
        for (int d = 0; d < ic->shape.ndim; d++)
            n *= (size_t)ic->shape.dim[d];
        st = tc_image_to_tensor(&img, &pp, ic->shape, out, &err);
        FUZZ_CHECK(st == TC_OK);
        /* 0..255 through finite weights that sum to 1: every value finite, within range */
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(out[i]) && fabsf(out[i]) <= 4.0f);
    }
    tc_image_free(&img);
    FUZZ_CHECK(img.pixels == NULL);
    return 0;
}

#ifdef TC_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tc_fuzz_image(data, size);
}
#endif
