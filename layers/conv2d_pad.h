/*
 * conv2d_pad.h - the zero-padded input copy that conv2d's stride-1 methods read (layers/ only).
 */
#ifndef TC_CONV2D_PAD_H
#define TC_CONV2D_PAD_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* The rows of tc_conv_pad_copy with AVX-512 (a masked vector for the last floats of a row). */
static inline __attribute__((target("avx512f"))) void
tc_conv_copy_rows_avx512(const float *s, size_t h, size_t w, float *d, size_t wp)
{
    const __mmask16 tail = (__mmask16)((1u << (w % 16)) - 1);
    for (size_t i = 0; i < h; i++, s += w, d += wp) {
        size_t j = 0;
        for (; j + 16 <= w; j += 16)
            _mm512_storeu_ps(d + j, _mm512_loadu_ps(s + j));
        if (tail != 0)
            _mm512_mask_storeu_ps(d + j, tail, _mm512_maskz_loadu_ps(tail, s + j));
    }
}
#endif

/* Copies channels c0..c1-1 of x [C, h, w] into xpad [C, hp, wp] at row `top`, column `left`.
 * With `zero` each of those planes is cleared first; without, its border must already be zero
 * (only the interior is ever written, so a plane padded once keeps it). Rows are copied by a
 * loop: images are small, and a libc call per row of 14 or 28 floats cost more than the copy;
 * with avx512 (the caller checked the CPU) one or two vectors per row. */
static inline void tc_conv_pad_copy(const float *x, size_t c0, size_t c1, size_t h, size_t w,
                                    float *xpad, size_t hp, size_t wp, size_t top, size_t left,
                                    bool zero, bool avx512)
{
    for (size_t c = c0; c < c1; c++) {
        float *plane = xpad + c * hp * wp;
        const float *s = x + c * h * w;
        if (zero)
            memset(plane, 0, hp * wp * sizeof *plane);
        float *d = plane + top * wp + left;
#if defined(__GNUC__) && defined(__x86_64__)
        if (avx512) {
            tc_conv_copy_rows_avx512(s, h, w, d, wp);
            continue;
        }
#else
        (void)avx512;
#endif
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++)
                d[i * wp + j] = s[i * w + j];
    }
}

#endif
