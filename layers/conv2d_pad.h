/*
 * conv2d_pad.h - the zero-padded input copy that conv2d's stride-1 methods read (layers/ only).
 */
#ifndef TC_CONV2D_PAD_H
#define TC_CONV2D_PAD_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Copies channels c0..c1-1 of x [C, h, w] into xpad [C, hp, wp] at row `top`, column `left`.
 * With `zero` each of those planes is cleared first; without, its border must already be zero
 * (only the interior is ever written, so a plane padded once keeps it). Rows are copied by a
 * loop: images are small, and a libc call per row of 14 or 28 floats cost more than the copy. */
static inline void tc_conv_pad_copy(const float *x, size_t c0, size_t c1, size_t h, size_t w,
                                    float *xpad, size_t hp, size_t wp, size_t top, size_t left,
                                    bool zero)
{
    for (size_t c = c0; c < c1; c++) {
        float *plane = xpad + c * hp * wp;
        const float *s = x + c * h * w;
        if (zero)
            memset(plane, 0, hp * wp * sizeof *plane);
        float *d = plane + top * wp + left;
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++)
                d[i * wp + j] = s[i * w + j];
    }
}

#endif
