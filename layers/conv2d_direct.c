/*
 * conv2d_direct.c - direct convolution of one input channel with AVX-512 (see conv2d_direct.h).
 */
#include "conv2d_direct.h"

#include "tc_internal.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define OB 8 /* output channels per pass: 8 accumulators plus the input vector */

bool tc_conv_direct1_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* Output rows i0..i1-1 of nb output channels from o0 (nb a constant after inlining, so acc
 * stays in registers); channel o0 + o, row i goes to y + o * plane + (i - i0) * ow. */
static inline __attribute__((always_inline, target("avx512f"))) void
block(const float *xpad, size_t wp, size_t i0, size_t i1, size_t ow, size_t kh, size_t kw,
      size_t dh, size_t dw, const float *w, const float *bias, size_t o0, const size_t nb,
      bool relu, float *y, size_t plane)
{
    const size_t taps = kh * kw;
    for (size_t i = i0; i < i1; i++) {
        for (size_t j = 0; j < ow; j += 16) {
            const size_t n = ow - j < 16 ? ow - j : 16;
            const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
            __m512 acc[OB];
            for (size_t o = 0; o < nb; o++)
                acc[o] = _mm512_set1_ps(bias != NULL ? bias[o0 + o] : 0.0f);
            for (size_t u = 0; u < kh; u++) {
                const float *row = xpad + (i + u * dh) * wp + j;
                for (size_t v = 0; v < kw; v++) {
                    const __m512 x = _mm512_maskz_loadu_ps(m, row + v * dw);
                    const float *wk = w + o0 * taps + u * kw + v;
                    for (size_t o = 0; o < nb; o++)
                        acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[o * taps]), x, acc[o]);
                }
            }
            for (size_t o = 0; o < nb; o++) {
                /* max(0, x) gives x when x is NaN, as tc_act_apply's relu */
                const __m512 r = relu ? _mm512_max_ps(_mm512_setzero_ps(), acc[o]) : acc[o];
                _mm512_mask_storeu_ps(y + o * plane + (i - i0) * ow + j, m, r);
            }
        }
    }
}

/* block() with nb (1..OB) made a constant, so a partial block (LeNet's 6 channels) still
 * keeps its accumulators in registers and reads each input vector once for all nb. */
static __attribute__((target("avx512f"))) void
block_n(const float *xpad, size_t wp, size_t i0, size_t i1, size_t ow, size_t kh, size_t kw,
        size_t dh, size_t dw, const float *w, const float *bias, size_t o0, size_t nb, bool relu,
        float *y, size_t plane)
{
#define BLOCK_CASE(k)                                                                              \
    case k:                                                                                        \
        block(xpad, wp, i0, i1, ow, kh, kw, dh, dw, w, bias, o0, k, relu, y, plane);               \
        break;
    switch (nb) {
        BLOCK_CASE(1)
        BLOCK_CASE(2)
        BLOCK_CASE(3)
        BLOCK_CASE(4)
        BLOCK_CASE(5)
        BLOCK_CASE(6)
        BLOCK_CASE(7)
    default:
        block(xpad, wp, i0, i1, ow, kh, kw, dh, dw, w, bias, o0, OB, relu, y, plane);
    }
#undef BLOCK_CASE
}

__attribute__((target("avx512f"))) void
tc_conv_direct1(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh, size_t kw, size_t dh,
                size_t dw, const float *w, const float *bias, size_t cout, bool relu, float *y)
{
    const size_t plane = oh * ow;
    for (size_t o0 = 0; o0 < cout; o0 += OB) {
        const size_t nb = cout - o0 < OB ? cout - o0 : OB;
        block_n(xpad, wp, 0, oh, ow, kh, kw, dh, dw, w, bias, o0, nb, relu, y + o0 * plane, plane);
    }
}

__attribute__((target("avx512f"))) void
tc_conv_direct1_pool(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh, size_t kw,
                     size_t dh, size_t dw, const float *w, const float *bias, size_t cout,
                     bool relu, float *y, float *rows)
{
    const size_t ph = oh / 2, pw = ow / 2, pplane = ph * pw;
    for (size_t o0 = 0; o0 < cout; o0 += OB) {
        const size_t nb = cout - o0 < OB ? cout - o0 : OB;
        for (size_t pi = 0; pi < ph; pi++) {
            /* the two output rows of pooled row pi, for nb channels: rows [nb][2][ow] */
            block_n(xpad, wp, 2 * pi, 2 * pi + 2, ow, kh, kw, dh, dw, w, bias, o0, nb, relu,
                    rows, 2 * ow);
            for (size_t o = 0; o < nb; o++)
                tc_max2x2_rows(rows + o * 2 * ow, ow, 1, y + (o0 + o) * pplane + pi * pw, pw);
        }
    }
}

#else

bool tc_conv_direct1_available(void)
{
    return false;
}

void tc_conv_direct1(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh, size_t kw,
                     size_t dh, size_t dw, const float *w, const float *bias, size_t cout,
                     bool relu, float *y)
{
    (void)xpad, (void)wp, (void)oh, (void)ow, (void)kh, (void)kw, (void)dh, (void)dw, (void)w;
    (void)bias, (void)cout, (void)relu, (void)y; /* never called: not available */
}

void tc_conv_direct1_pool(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh,
                          size_t kw, size_t dh, size_t dw, const float *w, const float *bias,
                          size_t cout, bool relu, float *y, float *rows)
{
    (void)xpad, (void)wp, (void)oh, (void)ow, (void)kh, (void)kw, (void)dh, (void)dw, (void)w;
    (void)bias, (void)cout, (void)relu, (void)y, (void)rows; /* never called: not available */
}

#endif
