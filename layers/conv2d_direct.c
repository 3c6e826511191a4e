/*
 * conv2d_direct.c - direct convolution of one input channel with AVX-512 (see conv2d_direct.h).
 */
#include "conv2d_direct.h"

#include <math.h>

#include "tc_internal.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define OB 8 /* output channels per pass: 2 rows x 8 accumulators plus the input vectors */

bool tc_conv_direct1_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

#define DIRECT __attribute__((always_inline, target("avx512f"))) inline

static __mmask16 lanes(size_t n)
{
    return (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
}

/* Output rows i and (when nr is 2) i + 1, the 16 columns from j (lanes past the mask m read
 * zeros), for the nb channels from o0: (relu)(bias + the taps in order u, v). Without pool,
 * channel o's rows go to y + o * plane + row * ow; with pool (nr 2), their 2x2 max pool gives
 * pooled columns j / 2 .. j / 2 + 7 of pooled row i / 2 at y + o * plane + (i / 2) * ow
 * (ow then being the pooled width; taps in maxpool2d's order, with tc_max_nan). nr, nb and
 * pool are constants after inlining, so the accumulators stay in registers; two rows give two
 * independent FMA chains per weight, which the 4-cycle FMA latency needs. */
static DIRECT void rows_block(const float *xpad, size_t wp, size_t i, size_t j, __mmask16 m,
                              const int nr, size_t kh, size_t kw, size_t dh, size_t dw,
                              const float *w, const float *bias, size_t o0, const size_t nb,
                              bool relu, const bool pool, float *y, size_t plane, size_t ow)
{
    __m512 acc0[OB], acc1[OB]; /* two arrays: GCC keeps each in registers */
    const size_t tap_n = kh * kw;
#pragma GCC unroll 8
    for (size_t o = 0; o < nb; o++)
        acc0[o] = acc1[o] = _mm512_set1_ps(bias != NULL ? bias[o0 + o] : 0.0f);
    for (size_t u = 0; u < kh; u++) {
        const float *row = xpad + (i + u * dh) * wp + j;
        for (size_t v = 0; v < kw; v++) {
            const __m512 x0 = _mm512_maskz_loadu_ps(m, row + v * dw);
            const __m512 x1 = nr == 2 ? _mm512_maskz_loadu_ps(m, row + wp + v * dw) : x0;
            const float *wk = w + o0 * tap_n + u * kw + v;
#pragma GCC unroll 8
            for (size_t o = 0; o < nb; o++) {
                const __m512 wv = _mm512_set1_ps(wk[o * tap_n]);
                acc0[o] = _mm512_fmadd_ps(wv, x0, acc0[o]);
                if (nr == 2)
                    acc1[o] = _mm512_fmadd_ps(wv, x1, acc1[o]);
            }
        }
    }
#pragma GCC unroll 8
    for (size_t o = 0; o < nb; o++) {
        if (relu) { /* max(0, x) gives x when x is NaN, as tc_act_apply's relu */
            acc0[o] = _mm512_max_ps(_mm512_setzero_ps(), acc0[o]);
            acc1[o] = _mm512_max_ps(_mm512_setzero_ps(), acc1[o]);
        }
        if (pool) {
            /* lanes 0-7: the taps from row i, lanes 8-15: from row i + 1 */
            const __m512i ev =
                _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
            const __m512 e = _mm512_permutex2var_ps(acc0[o], ev, acc1[o]);
            const __m512 d = _mm512_permutex2var_ps(acc0[o], od, acc1[o]);
            __m512 p;
            if (_mm512_cmp_ps_mask(e, d, _CMP_UNORD_Q) == 0) {
                /* no NaN: as TC_MAX4_NAN16, the left/right pairs of both rows at once, then
                 * the bottom pair (moved down to lanes 0-7) against the top one */
                const __m512 h = _mm512_max_ps(d, e);
                p = _mm512_max_ps(_mm512_shuffle_f32x4(h, h, 0xEE), h);
            } else {
                const __m512 e_lo = _mm512_shuffle_f32x4(e, e, 0xEE);
                const __m512 d_lo = _mm512_shuffle_f32x4(d, d, 0xEE);
                p = TC_MAX4_NAN16(e, d, e_lo, d_lo);
            }
            /* m covers pairs of columns: half as many pooled ones */
            _mm512_mask_storeu_ps(y + o * plane + (i / 2) * ow + j / 2,
                                  lanes((size_t)__builtin_popcount(m) / 2), p);
        } else {
            _mm512_mask_storeu_ps(y + o * plane + i * ow + j, m, acc0[o]);
            if (nr == 2)
                _mm512_mask_storeu_ps(y + o * plane + (i + 1) * ow + j, m, acc1[o]);
        }
    }
}

/* All output rows of nb channels from o0 into y (channel o at y + o * oh * ow), or with pool
 * their 2x2 max pool (floor) into y (channel o at y + o * (oh / 2) * (ow / 2)). */
static DIRECT void block_nb(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh,
                            size_t kw, size_t dh, size_t dw, const float *w, const float *bias,
                            size_t o0, const size_t nb, bool relu, const bool pool, float *y)
{
    /* rows and columns computed; where they go: plane and row width of y */
    const size_t rows = pool ? oh / 2 * 2 : oh, cols = pool ? ow / 2 * 2 : ow;
    const size_t yw = pool ? ow / 2 : ow, plane = pool ? (oh / 2) * yw : oh * ow;
    for (size_t i = 0; i < rows; i += 2) {
        for (size_t j = 0; j < cols; j += 16) {
            if (i + 1 < rows) /* always with pool: rows is even */
                rows_block(xpad, wp, i, j, lanes(cols - j), 2, kh, kw, dh, dw, w, bias, o0, nb,
                           relu, pool, y, plane, yw);
            else
                rows_block(xpad, wp, i, j, lanes(cols - j), 1, kh, kw, dh, dw, w, bias, o0, nb,
                           relu, false, y, plane, yw);
        }
    }
}

/* FOR_NB(f, args): f(args, nb) with nb (1..OB) a constant, so a partial block (LeNet's 6
 * channels) keeps its accumulators in registers too. */
#define FOR_NB(call, nb)                                                                           \
    switch (nb) {                                                                                  \
    case 1: call(1); break;                                                                        \
    case 2: call(2); break;                                                                        \
    case 3: call(3); break;                                                                        \
    case 4: call(4); break;                                                                        \
    case 5: call(5); break;                                                                        \
    case 6: call(6); break;                                                                        \
    case 7: call(7); break;                                                                        \
    default: call(OB);                                                                             \
    }

/* tc_conv_direct1 (pool false) and tc_conv_direct1_pool (true), pool a constant. */
static DIRECT void direct1(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh,
                           size_t kw, size_t dh, size_t dw, const float *w, const float *bias,
                           size_t cout, bool relu, const bool pool, float *y)
{
    const size_t plane = pool ? (oh / 2) * (ow / 2) : oh * ow;
    for (size_t o0 = 0; o0 < cout; o0 += OB) {
        const size_t nb = cout - o0 < OB ? cout - o0 : OB;
        float *yo = y + o0 * plane;
        if (nb == OB && kh == 3 && kw == 3 && dh == 1 && dw == 1) { /* taps unrolled */
            block_nb(xpad, wp, oh, ow, 3, 3, 1, 1, w, bias, o0, OB, relu, pool, yo);
            continue;
        }
#define BLOCK(k) block_nb(xpad, wp, oh, ow, kh, kw, dh, dw, w, bias, o0, k, relu, pool, yo)
        FOR_NB(BLOCK, nb)
#undef BLOCK
    }
}

__attribute__((target("avx512f"))) void
tc_conv_direct1(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh, size_t kw, size_t dh,
                size_t dw, const float *w, const float *bias, size_t cout, bool relu, float *y)
{
    direct1(xpad, wp, oh, ow, kh, kw, dh, dw, w, bias, cout, relu, false, y);
}

__attribute__((target("avx512f"))) void
tc_conv_direct1_pool(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh, size_t kw,
                     size_t dh, size_t dw, const float *w, const float *bias, size_t cout,
                     bool relu, float *y)
{
    direct1(xpad, wp, oh, ow, kh, kw, dh, dw, w, bias, cout, relu, true, y);
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
                          size_t cout, bool relu, float *y)
{
    (void)xpad, (void)wp, (void)oh, (void)ow, (void)kh, (void)kw, (void)dh, (void)dw, (void)w;
    (void)bias, (void)cout, (void)relu, (void)y; /* never called: not available */
}

#endif
