/*
 * conv2d_winograd.c - Winograd F(2x2, 3x3) convolution (see conv2d_winograd.h).
 *
 * Transforms (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks"):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * Per block of tiles: the input transform writes V[xi][c][t] (xi = 4 * row + column of the 4x4
 * transform), one matrix product per xi gives M[xi][o][t] = sum_c U[xi][o][c] * V[xi][c][t],
 * and the output transform writes the 2x2 outputs of each tile, plus the bias.
 */
#include <math.h>
#include <string.h>

#include "conv2d_pad.h"
#include "conv2d_winograd.h"

#define WINO_BUDGET (1 << 17) /* floats of V and M per block (512 KiB: a quarter of an L2) */
#define WINO_TB_MAX 512
#define WINO_OB 24 /* output channels per block of products (a multiple of every kernel's mr):
                    * M holds one block, so it stays small next to the weights of later layers */
#define WINO_XPAD_MAX (1 << 22) /* floats of padded input copy */

static bool have_avx512(void);

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

bool tc_wino_plan(tc_wino *wp, size_t cin, size_t cout, size_t h, size_t w, size_t oh, size_t ow,
                  size_t pt, size_t pl)
{
    /* keep the packed weights: planning may run again after prepare */
    float *u = wp->u, *ut = wp->ut;
    void *u_raw = wp->u_raw, *ut_raw = wp->ut_raw;
    const tc_gemm_kernel *kern = wp->kern;
    const bool simd = wp->simd, pool = wp->pool;
    memset(wp, 0, sizeof *wp);
    wp->simd = simd;
    wp->pool = pool;
    wp->u = u;
    wp->u_raw = u_raw;
    wp->ut = ut;
    wp->ut_raw = ut_raw;
    wp->kern = kern;
    wp->cin = cin;
    wp->cout = cout;
    wp->h = h;
    wp->w = w;
    wp->oh = oh;
    wp->ow = ow;
    wp->pt = pt;
    wp->pl = pl;
    wp->ty = (oh + 1) / 2;
    wp->tx = (ow + 1) / 2;
    wp->hp = 2 * wp->ty + 2;
    wp->wp = 2 * wp->tx + 2;
    if (cin > WINO_XPAD_MAX || cout > WINO_XPAD_MAX || wp->hp > WINO_XPAD_MAX ||
        wp->wp > WINO_XPAD_MAX)
        return false;
    /* the padded copy must hold the input: pt + h <= hp and pl + w <= wp */
    if (pt + h > wp->hp || pl + w > wp->wp)
        return false;
    if (!tc_mul_size(cin, wp->hp, &wp->xs) || !tc_mul_size(wp->xs, wp->wp, &wp->xs))
        return false;
    wp->tiles = wp->ty * wp->tx;
    wp->ob = min_sz(cout, WINO_OB);
    /* Blocks of tb tiles, a multiple of the AVX-512 kernel's 64 columns when that fits. */
    size_t tb = WINO_BUDGET / (16 * (cin + wp->ob));
    tb = tb >= 64 ? tb / 64 * 64 : tb / 16 * 16;
    wp->tb = tb < 16 ? 16 : tb > WINO_TB_MAX ? WINO_TB_MAX : tb;
    /* a block of tb consecutive tiles touches at most this many samples; when their padded
     * copies are too large (big images), blocks stop at the end of each sample instead */
    wp->nimg = (wp->tb - 1 + wp->tiles - 1) / wp->tiles + 1;
    size_t xpad;
    if (!tc_mul_size(wp->nimg, wp->xs, &xpad) || xpad > WINO_XPAD_MAX) {
        wp->nimg = 1;
        xpad = wp->xs;
        if (xpad > WINO_XPAD_MAX)
            return false;
    }
    /* [16 x cin row pointers][V][M][nimg padded inputs + 16 floats of slack], 64-byte aligned */
    /* 16 arrays of cin row pointers: the 16 products may run on different threads */
    const size_t ptr_floats =
        (16 * cin * sizeof(const float *) + sizeof(float) - 1) / sizeof(float);
    size_t v, m, total;
    /* M holds ob channels of tb tiles, or, with the tiles as rows (possible when the channels
     * are whole vectors), all cout channels of a block: a short one, but up to tb tiles */
    const size_t m_cols = cout % 16 == 0 && cout > wp->ob ? cout : wp->ob;
    /* The 16 matrices are 16 streams: offset them by a cache line each so that they do not
     * all map to the same L1 set (tb * channels is often a multiple of 4 KiB). */
    if (!tc_mul_size(cin, wp->tb, &wp->vs) || !tc_add_size(wp->vs, 16, &wp->vs) ||
        !tc_mul_size(m_cols, wp->tb, &wp->ms) || !tc_add_size(wp->ms, 16, &wp->ms) ||
        !tc_mul_size(16, wp->vs, &v) || !tc_mul_size(16, wp->ms, &m))
        return false;
    wp->v_off = (ptr_floats + 15) / 16 * 16;
    wp->m_off = wp->v_off + v;
    wp->x_off = wp->m_off + m;
    total = wp->x_off + xpad + 16;
    return tc_mul_size(total, sizeof(float), &wp->scratch_bytes);
}

bool tc_wino_prepare(tc_wino *wp, const tc_gemm_kernel *kern, const float *weight)
{
    const size_t cin = wp->cin, cout = wp->cout;
    size_t n;
    void *raw_tmp = NULL;
    wp->kern = kern;
    wp->simd = kern->vl == 16 && have_avx512();
    if (!tc_mul_size(16 * cin, cout, &n) || (wp->u = tc_gemm_buffer(n, &wp->u_raw)) == NULL)
        return false;
    float *tmp = tc_gemm_buffer(n, &raw_tmp); /* U unpacked: [16][cout][cin] */
    if (tmp == NULL) {
        tc_wino_free(wp);
        return false;
    }
    for (size_t o = 0; o < cout; o++) {
        for (size_t c = 0; c < cin; c++) {
            const float *g = weight + (o * cin + c) * 9;
            double gg[4][3]; /* G g */
            for (int j = 0; j < 3; j++) {
                const double a = g[j], b = g[3 + j], d = g[6 + j];
                gg[0][j] = a;
                gg[1][j] = 0.5 * (a + b + d);
                gg[2][j] = 0.5 * (a - b + d);
                gg[3][j] = d;
            }
            for (int i = 0; i < 4; i++) { /* (G g) G^T */
                const double a = gg[i][0], b = gg[i][1], d = gg[i][2];
                const double row[4] = {a, 0.5 * (a + b + d), 0.5 * (a - b + d), d};
                for (int j = 0; j < 4; j++)
                    tmp[((size_t)(4 * i + j) * cout + o) * cin + c] = (float)row[j];
            }
        }
    }
    for (size_t o0 = 0; o0 < cout; o0 += wp->ob) { /* per block of channels, per product */
        const size_t obb = min_sz(wp->ob, cout - o0);
        for (size_t xi = 0; xi < 16; xi++)
            tc_gemm_pack_a(kern, obb, cin, tmp + (xi * cout + o0) * cin, (ptrdiff_t)cin, 1,
                           wp->u + (16 * o0 + xi * obb) * cin);
    }
    /* B (k = c, n = o) of tc_wino_tiles_as_rows, unless blocks are always whole vectors */
    if (wp->pool && wp->simd && cout % 16 == 0 && wp->tiles % 16 != 0) {
        if ((wp->ut = tc_gemm_buffer(n, &wp->ut_raw)) == NULL) {
            TC_FREE(raw_tmp);
            tc_wino_free(wp);
            return false;
        }
        for (size_t xi = 0; xi < 16; xi++)
            tc_gemm_pack_b(kern, cin, cout, tmp + xi * cout * cin, 1, (ptrdiff_t)cin,
                           wp->ut + xi * cin * cout);
    }
    TC_FREE(raw_tmp);
    return true;
}

void tc_wino_pool(tc_wino *wp)
{
    wp->pool = true;
}

void tc_wino_free(tc_wino *wp)
{
    TC_FREE(wp->u_raw);
    TC_FREE(wp->ut_raw);
    wp->u_raw = wp->ut_raw = NULL;
    wp->u = wp->ut = NULL;
}

/* One run of n tiles along a tile row: r points at the top-left input of the first tile (rows
 * rw floats apart); V value xi of tile j goes to o[xi * xs + j]. */
static void in_run_c(const float *r0, size_t rw, size_t n, float *restrict o, size_t xs)
{
    const float *r1 = r0 + rw, *r2 = r1 + rw, *r3 = r2 + rw;
    for (size_t j = 0; j < n; j++) {
        const size_t k = 2 * j;
        float b[4][4]; /* B^T d */
        for (int q = 0; q < 4; q++) {
            b[0][q] = r0[k + q] - r2[k + q];
            b[1][q] = r1[k + q] + r2[k + q];
            b[2][q] = r2[k + q] - r1[k + q];
            b[3][q] = r1[k + q] - r3[k + q];
        }
        for (int p = 0; p < 4; p++) { /* (B^T d) B */
            o[(size_t)(4 * p + 0) * xs + j] = b[p][0] - b[p][2];
            o[(size_t)(4 * p + 1) * xs + j] = b[p][1] + b[p][2];
            o[(size_t)(4 * p + 2) * xs + j] = b[p][2] - b[p][1];
            o[(size_t)(4 * p + 3) * xs + j] = b[p][1] - b[p][3];
        }
    }
}

/* The 2x2 outputs a = A^T M A + bo of tile j, M value xi at m[xi * ms + j]. */
static inline void tile_out_c(const float *m, size_t ms, size_t j, float bo, float a[2][2])
{
    float s[2][4]; /* A^T M */
    for (int q = 0; q < 4; q++) {
        const float m0 = m[(size_t)q * ms + j], m1 = m[(size_t)(4 + q) * ms + j];
        const float m2 = m[(size_t)(8 + q) * ms + j], m3 = m[(size_t)(12 + q) * ms + j];
        s[0][q] = m0 + m1 + m2;
        s[1][q] = m1 - m2 - m3;
    }
    for (int r = 0; r < 2; r++) {
        a[r][0] = s[r][0] + s[r][1] + s[r][2] + bo;
        a[r][1] = s[r][1] - s[r][2] - s[r][3] + bo;
    }
}

/* One run of n tiles of one output channel: M value xi of tile j at m[xi * ms + j]; writes
 * the first `cols` columns of output rows y0 and (when row1) y1, adding bo. */
static void out_run_c(const float *m, size_t ms, size_t n, size_t cols, bool row1, float bo,
                      bool relu, float *y0, float *y1)
{
    for (size_t j = 0; j < n; j++) {
        float a[2][2];
        tile_out_c(m, ms, j, bo, a);
        for (size_t q = 0; q < 2 && 2 * j + q < cols; q++) {
            /* relu as tc_act_apply: NaN passes */
            y0[2 * j + q] = relu && a[0][q] < 0.0f ? 0.0f : a[0][q];
            if (row1)
                y1[2 * j + q] = relu && a[1][q] < 0.0f ? 0.0f : a[1][q];
        }
    }
}

/* As out_run_c, but each tile's 2x2 outputs are max-pooled into y[j] (taps in maxpool2d's
 * order: top-left, top-right, bottom-left, bottom-right). */
static void out_pool_run_c(const float *m, size_t ms, size_t n, float bo, bool relu, float *y)
{
    for (size_t j = 0; j < n; j++) {
        float a[2][2];
        tile_out_c(m, ms, j, bo, a);
        float v = -INFINITY;
        for (int r = 0; r < 2; r++) {
            for (int q = 0; q < 2; q++)
                v = tc_max_nan(v, relu && a[r][q] < 0.0f ? 0.0f : a[r][q]);
        }
        y[j] = v;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f")))

/* (B^T d B) of 16 tiles at once: d[r][q] holds input (r, q) of each tile's 4x4 patch, v[xi]
 * gets V value xi (= 4 * row + column), with in_run_c's operations in its order. */
static AVX512 inline void in_tile16(__m512 d[4][4], __m512 v[16])
{
    __m512 b[4][4];
    for (int q = 0; q < 4; q++) {
        b[0][q] = _mm512_sub_ps(d[0][q], d[2][q]);
        b[1][q] = _mm512_add_ps(d[1][q], d[2][q]);
        b[2][q] = _mm512_sub_ps(d[2][q], d[1][q]);
        b[3][q] = _mm512_sub_ps(d[1][q], d[3][q]);
    }
    for (int p = 0; p < 4; p++) {
        v[4 * p + 0] = _mm512_sub_ps(b[p][0], b[p][2]);
        v[4 * p + 1] = _mm512_add_ps(b[p][1], b[p][2]);
        v[4 * p + 2] = _mm512_sub_ps(b[p][2], b[p][1]);
        v[4 * p + 3] = _mm512_sub_ps(b[p][1], b[p][3]);
    }
}

/* As in_run_c, 16 tiles per step (same operations in the same order: same results). */
static AVX512 void in_run_avx512(const float *r0, size_t rw, size_t n, float *restrict o, size_t xs)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (size_t j = 0; j < n; j += 16) {
        const size_t nn = n - j < 16 ? n - j : 16;
        const size_t need = 2 * nn + 2; /* floats of each row these tiles read */
        const __mmask16 m0 = (__mmask16)(need >= 16 ? 0xFFFF : (1u << need) - 1);
        const __mmask16 m1 = (__mmask16)(need >= 32   ? 0xFFFF
                                         : need <= 16 ? 0
                                                      : (1u << (need - 16)) - 1);
        const __mmask16 m2 = (__mmask16)(need >= 18 ? 0xFFFF : (1u << (need - 2)) - 1);
        const __mmask16 m3 = (__mmask16)(need >= 34   ? 0xFFFF
                                         : need <= 18 ? 0
                                                      : (1u << (need - 18)) - 1);
        __m512 d[4][4];
        for (int r = 0; r < 4; r++) {
            const float *p = r0 + (size_t)r * rw + 2 * j;
            const __m512 a = _mm512_maskz_loadu_ps(m0, p), b = _mm512_maskz_loadu_ps(m1, p + 16);
            const __m512 c = _mm512_maskz_loadu_ps(m2, p + 2);
            const __m512 e = _mm512_maskz_loadu_ps(m3, p + 18);
            d[r][0] = _mm512_permutex2var_ps(a, ev, b);
            d[r][1] = _mm512_permutex2var_ps(a, od, b);
            d[r][2] = _mm512_permutex2var_ps(c, ev, e);
            d[r][3] = _mm512_permutex2var_ps(c, od, e);
        }
        __m512 v[16];
        in_tile16(d, v);
        const __mmask16 ms = (__mmask16)(nn >= 16 ? 0xFFFF : (1u << nn) - 1);
        for (int xi = 0; xi < 16; xi++)
            _mm512_mask_storeu_ps(o + j + (size_t)xi * xs, ms, v[xi]);
    }
}

/* As in_run_avx512 for two whole tile rows of n <= 8 tiles each, from r0 and s0 (the next
 * tile row of the same sample or the first of the next): lanes 0..7 take the first row's tiles
 * and lanes 8..15 the second's, so short rows (7 tiles on a 14-wide image) still fill the
 * vectors. The 2n results go to o[xi * xs + 0 .. 2n - 1]; same operations per tile as
 * in_run_c. */
static AVX512 void in_run2_avx512(const float *r0, const float *s0, size_t rw, size_t n,
                                  float *restrict o, size_t xs)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const size_t need = 2 * n + 2; /* floats of each row these tiles read, at most 18 */
    const __mmask16 m0 = (__mmask16)(need >= 16 ? 0xFFFF : (1u << need) - 1);
    const __mmask16 m2 = (__mmask16)((1u << (need - 2)) - 1);
    __m512 d[4][4];
    for (int r = 0; r < 4; r++) {
        const float *pa = r0 + (size_t)r * rw, *pb = s0 + (size_t)r * rw;
        const __m512 a = _mm512_maskz_loadu_ps(m0, pa), b = _mm512_maskz_loadu_ps(m0, pb);
        const __m512 c = _mm512_maskz_loadu_ps(m2, pa + 2);
        const __m512 e = _mm512_maskz_loadu_ps(m2, pb + 2);
        d[r][0] = _mm512_permutex2var_ps(a, ev, b);
        d[r][1] = _mm512_permutex2var_ps(a, od, b);
        d[r][2] = _mm512_permutex2var_ps(c, ev, e);
        d[r][3] = _mm512_permutex2var_ps(c, od, e);
    }
    __m512 v[16];
    in_tile16(d, v);
    const __mmask16 half = (__mmask16)((1u << n) - 1);
    const __mmask16 valid = (__mmask16)(half | half << 8), out = (__mmask16)((1u << 2 * n) - 1);
    for (int xi = 0; xi < 16; xi++) {
        if (n < 8) /* close the gap between the two rows' lanes */
            v[xi] = _mm512_maskz_compress_ps(valid, v[xi]);
        _mm512_mask_storeu_ps(o + (size_t)xi * xs, out, v[xi]);
    }
}

/* tile_out_c for tiles j..j+15 (lanes past the mask ml are zero): a[r][c] holds output (r, c)
 * of each tile, in the same operations and order. */
static AVX512 inline void tile_out_avx512(const float *m, size_t ms, size_t j, __mmask16 ml,
                                          __m512 bv, __m512 a[2][2])
{
    __m512 s[2][4];
    for (int q = 0; q < 4; q++) {
        const float *mq = m + j + (size_t)q * ms;
        const __m512 m0 = _mm512_maskz_loadu_ps(ml, mq);
        const __m512 m1 = _mm512_maskz_loadu_ps(ml, mq + 4 * ms);
        const __m512 m2 = _mm512_maskz_loadu_ps(ml, mq + 8 * ms);
        const __m512 m3 = _mm512_maskz_loadu_ps(ml, mq + 12 * ms);
        s[0][q] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        s[1][q] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    for (int r = 0; r < 2; r++) {
        a[r][0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]), s[r][2]), bv);
        a[r][1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[r][1], s[r][2]), s[r][3]), bv);
    }
}

/* As out_run_c, 16 tiles per step. */
static AVX512 void out_run_avx512(const float *m, size_t ms, size_t n, size_t cols, bool row1,
                                  float bo, bool relu, float *y0, float *y1)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512 bv = _mm512_set1_ps(bo);
    for (size_t j = 0; j < n; j += 16) {
        const size_t nn = n - j < 16 ? n - j : 16;
        const __mmask16 ml = (__mmask16)(nn >= 16 ? 0xFFFF : (1u << nn) - 1);
        __m512 a[2][2];
        tile_out_avx512(m, ms, j, ml, bv, a);
        const size_t c = cols - 2 * j < 32 ? cols - 2 * j : 32; /* columns of these tiles */
        const __mmask16 k0 = (__mmask16)(c >= 16 ? 0xFFFF : (1u << c) - 1);
        const __mmask16 k1 = (__mmask16)(c >= 32 ? 0xFFFF : c <= 16 ? 0 : (1u << (c - 16)) - 1);
        for (int r = 0; r < 2 && (r == 0 || row1); r++) {
            float *y = (r == 0 ? y0 : y1) + 2 * j;
            __m512 v0 = _mm512_permutex2var_ps(a[r][0], lo, a[r][1]);
            __m512 v1 = _mm512_permutex2var_ps(a[r][0], hi, a[r][1]);
            if (relu) { /* max(0, x) gives x when x is NaN, as tc_act_apply's relu */
                v0 = _mm512_max_ps(_mm512_setzero_ps(), v0);
                v1 = _mm512_max_ps(_mm512_setzero_ps(), v1);
            }
            _mm512_mask_storeu_ps(y, k0, v0);
            _mm512_mask_storeu_ps(y + 16, k1, v1);
        }
    }
}

/* As out_pool_run_c, 16 tiles per step. */
static AVX512 void out_pool_run_avx512(const float *m, size_t ms, size_t n, float bo, bool relu,
                                       float *y)
{
    const __m512 bv = _mm512_set1_ps(bo);
    for (size_t j = 0; j < n; j += 16) {
        const size_t nn = n - j < 16 ? n - j : 16;
        const __mmask16 ml = (__mmask16)(nn >= 16 ? 0xFFFF : (1u << nn) - 1);
        __m512 a[2][2];
        tile_out_avx512(m, ms, j, ml, bv, a);
        for (int r = 0; r < 2; r++) {
            for (int q = 0; q < 2; q++) {
                if (relu) /* max(0, x) gives x when x is NaN, as the portable relu */
                    a[r][q] = _mm512_max_ps(_mm512_setzero_ps(), a[r][q]);
            }
        }
        const __m512 tl = a[0][0], tr = a[0][1], bl = a[1][0], br = a[1][1];
        _mm512_mask_storeu_ps(y + j, ml, TC_MAX4_NAN16(tl, tr, bl, br));
    }
}

/* The pooled output of tiles g0..g0+nb-1 (numbered across the samples) for output channels
 * 16 q .. 16 q + 15, from products computed with the tiles as rows: M value xi of block tile i
 * and channel o at m[xi * ms + i * cout + o]. Each lane is a channel, with tile_out_c's
 * operations and the pool rule: the same bits as out_pool_run. */
static AVX512 void out_pool_rows_avx512(const tc_wino *wp, const float *m, size_t ms, size_t g0,
                                        size_t nb, const float *bias, bool relu, float *y,
                                        size_t q)
{
    const size_t ph = wp->oh / 2, pw = wp->ow / 2, pplane = ph * pw;
    const __m512 bv = bias != NULL ? _mm512_loadu_ps(bias + 16 * q) : _mm512_setzero_ps();
    for (size_t g = g0; g < g0 + nb; g++) {
        const size_t b = g / wp->tiles, t = g % wp->tiles, ty = t / wp->tx, tx = t % wp->tx;
        if (ty >= ph || tx >= pw) /* floor: no window */
            continue;
        __m512 a[2][2];
        tile_out_avx512(m + (g - g0) * wp->cout + 16 * q, ms, 0, 0xFFFF, bv, a);
        for (int r = 0; r < 2; r++) {
            for (int c = 0; c < 2; c++) {
                if (relu) /* max(0, x) gives x when x is NaN, as the portable relu */
                    a[r][c] = _mm512_max_ps(_mm512_setzero_ps(), a[r][c]);
            }
        }
        const __m512 tl = a[0][0], tr = a[0][1], bl = a[1][0], br = a[1][1];
        float v[16];
        _mm512_storeu_ps(v, TC_MAX4_NAN16(tl, tr, bl, br));
        float *yo = y + ((b * wp->cout + 16 * q) * ph + ty) * pw + tx;
        for (size_t l = 0; l < 16; l++)
            yo[l * pplane] = v[l];
    }
}

static bool have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
static bool have_avx512(void)
{
    return false;
}
#endif

/* The layout of V and M in one run: blocks of tb tiles (wp->tb, or fewer when the whole batch
 * has fewer tiles), the 16 matrices vs and ms floats apart. */
typedef struct wino_layout {
    size_t tb, vs, ms;
} wino_layout;

/* The padded copy of sample b (kept in slot b % nimg). */
static const float *xpad_of(const tc_wino *wp, const float *xpads, size_t b)
{
    return xpads + (b % wp->nimg) * wp->xs;
}

/* V[xi][c][g - g0] = (B^T d B)[xi] for the tiles g0..g0+nb-1 (numbered across the samples,
 * tile t of sample b being b * tiles + t) of channels c0..c1-1. */
static void input_transform(const tc_wino *wp, const wino_layout *lay, const float *xpads,
                            size_t g0, size_t nb, float *v, size_t c0, size_t c1)
{
    const size_t rw = wp->wp;
    for (size_t c = c0; c < c1; c++) {
        float *vc = v + c * lay->tb;
        for (size_t g = g0; g < g0 + nb;) {
            const size_t b = g / wp->tiles, t = g % wp->tiles;
            const size_t ty = t / wp->tx, tx0 = t % wp->tx;
            const size_t n = min_sz(wp->tx - tx0, g0 + nb - g);
            const float *r0 = xpad_of(wp, xpads, b) + (c * wp->hp + 2 * ty) * rw + 2 * tx0;
#if defined(__GNUC__) && defined(__x86_64__)
            if (wp->simd && wp->tx <= 8 && tx0 == 0 && n + wp->tx <= g0 + nb - g) {
                /* this whole tile row and the next one, of this sample or the next */
                const float *s0 = ty + 1 < wp->ty ? r0 + 2 * rw
                                                  : xpad_of(wp, xpads, b + 1) + c * wp->hp * rw;
                in_run2_avx512(r0, s0, rw, n, vc + (g - g0), lay->vs);
                g += 2 * n;
                continue;
            }
            if (wp->simd)
                in_run_avx512(r0, rw, n, vc + (g - g0), lay->vs);
            else
#endif
                in_run_c(r0, rw, n, vc + (g - g0), lay->vs);
            g += n;
        }
    }
}

/* Y = A^T M A + bias for the tiles g0..g0+nb-1 and output channels o0..o1-1, written into
 * y [batch, cout, oh, ow]. */
static void output_transform(const tc_wino *wp, const wino_layout *lay, const float *mbuf,
                             size_t mo0, size_t g0, size_t nb, const float *bias, bool relu,
                             float *y, size_t o0, size_t o1)
{
    const size_t oh = wp->oh, ow = wp->ow;
    for (size_t o = o0; o < o1; o++) {
        const float bo = bias != NULL ? bias[o] : 0.0f;
        const float *mo = mbuf + (o - mo0) * lay->tb; /* mbuf holds channels from mo0 */
        for (size_t g = g0; g < g0 + nb;) {
            const size_t b = g / wp->tiles, t = g % wp->tiles;
            const size_t ty = t / wp->tx, tx0 = t % wp->tx;
            if (wp->pool) { /* tile (ty, tx) is pooling window (ty, tx); floor drops the rest */
                const size_t ph = oh / 2, pw = ow / 2;
                /* with as many windows as tiles per row (even width), tile t is window t: one
                 * run may go on across tile rows, up to the last window */
                const size_t n = pw == wp->tx ? min_sz(wp->tiles - t, g0 + nb - g)
                                              : min_sz(wp->tx - tx0, g0 + nb - g);
                const size_t np = pw == wp->tx ? (t < ph * pw ? min_sz(n, ph * pw - t) : 0)
                                  : ty < ph && tx0 < pw ? min_sz(n, pw - tx0)
                                                        : 0;
                float *yp = y + ((b * wp->cout + o) * ph + ty) * pw + tx0;
#if defined(__GNUC__) && defined(__x86_64__)
                if (wp->simd && np > 0)
                    out_pool_run_avx512(mo + (g - g0), lay->ms, np, bo, relu, yp);
                else
#endif
                    out_pool_run_c(mo + (g - g0), lay->ms, np, bo, relu, yp);
                g += n;
                continue;
            }
            const size_t n = min_sz(wp->tx - tx0, g0 + nb - g);
            const size_t cols = min_sz(2 * n, ow - 2 * tx0);
            float *y0 = y + ((b * wp->cout + o) * oh + 2 * ty) * ow + 2 * tx0;
            const bool row1 = 2 * ty + 1 < oh;
            float *y1 = row1 ? y0 + ow : y0;
#if defined(__GNUC__) && defined(__x86_64__)
            if (wp->simd)
                out_run_avx512(mo + (g - g0), lay->ms, n, cols, row1, bo, relu, y0, y1);
            else
#endif
                out_run_c(mo + (g - g0), lay->ms, n, cols, row1, bo, relu, y0, y1);
            g += n;
        }
    }
}

/* Whether the products of a block of nb tiles take the tiles as their rows (M^T = V^T U^T:
 * rows of 6 tiles, columns of 16 channels) instead of their columns (M = U V: rows of 6
 * channels, columns of 16 tiles): so when that leaves fewer lanes empty, as with the 49 tiles
 * of one 14 x 14 image (64 columns for 49 tiles, or 54 rows). Only with ut (pooled output,
 * AVX-512, channels in whole vectors) and when M^T fits where M goes. Both give the same
 * bits: each product is the same chain of FMAs over the channels. */
bool tc_wino_tiles_as_rows(const tc_wino *wp, size_t nb)
{
    const size_t cols = (nb + 15) / 16 * 16, rows = (nb + 5) / 6 * 6;
    size_t need;
    return wp->ut != NULL && (cols - nb) * rows > (rows - nb) * cols &&
           tc_mul_size(nb, wp->cout, &need) && need + 16 <= wp->ms;
}

/* One run of tc_wino_forward, shared by the threads of a pool (or done by one). */
typedef struct wino_job {
    const tc_wino *wp;
    const float *x, *bias;
    const tc_act *act;
    float *y;
    const float **rows;
    float *v, *mbuf, *xpads;
    wino_layout lay;
    size_t g0, nb;    /* the block of tiles */
    size_t o0, obb;   /* phases 1 and 2: the block of output channels */
    size_t pad_lo;    /* samples pad_lo..pad_hi-1 are padded in phase 0 of this block */
    size_t pad_hi;
    int phase;        /* 0: pad and transform the input, 1: products, 2: output transform */
    bool tiles_as_rows; /* this block's products are M^T = V^T U^T (tiles_as_rows) */
    int n_threads;
} wino_job;

/* [lo, hi) of share t of n among `parts` threads. */
static void share(size_t n, int t, int parts, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)t / (size_t)parts;
    *hi = n * (size_t)(t + 1) / (size_t)parts;
}

/* Share t of the current phase: channels, products or output channels, so every value is
 * computed by the same code whatever the number of threads. */
static void wino_phase(void *arg, int t)
{
    const wino_job *j = arg;
    const tc_wino *wp = j->wp;
    size_t lo, hi;
    if (j->phase == 0) {
        share(wp->cin, t, j->n_threads, &lo, &hi);
        for (size_t b = j->pad_lo; b < j->pad_hi; b++) /* slot b % nimg: new while b < nimg */
            tc_conv_pad_copy(j->x + b * wp->cin * wp->h * wp->w, lo, hi, wp->h, wp->w,
                             (float *)xpad_of(wp, j->xpads, b), wp->hp, wp->wp, wp->pt, wp->pl,
                             b < wp->nimg, wp->simd);
        input_transform(wp, &j->lay, j->xpads, j->g0, j->nb, j->v, lo, hi);
    } else if (j->phase == 1) {
        share(16, t, j->n_threads, &lo, &hi);
        for (size_t xi = lo; xi < hi; xi++) {
            if (j->tiles_as_rows) { /* A(tile, c) = V[xi][c][tile], B = U^T packed */
                const tc_gemm_a a = {j->v + xi * j->lay.vs, 0, 1, (ptrdiff_t)j->lay.tb};
                tc_gemm(wp->kern, j->nb, wp->cout, wp->cin, &a, wp->ut + xi * wp->cin * wp->cout,
                        j->mbuf + xi * j->lay.ms, wp->cout, NULL);
                continue;
            }
            const tc_gemm_a a = {wp->u + (16 * j->o0 + xi * j->obb) * wp->cin, 1, 0, 0};
            const float **rows = j->rows + xi * wp->cin;
            const float *vx = j->v + xi * j->lay.vs;
            for (size_t c = 0; c < wp->cin; c++)
                rows[c] = vx + c * j->lay.tb; /* rows of tb >= npad(nb) floats */
            tc_gemm_rows(wp->kern, j->obb, j->nb, wp->cin, &a, rows,
                         j->mbuf + xi * j->lay.ms, j->lay.tb, NULL);
        }
    } else {
        const bool relu = j->act != NULL && j->act->kind == TC_ACT_RELU;
#if defined(__GNUC__) && defined(__x86_64__)
        if (j->tiles_as_rows) { /* groups of 16 channels */
            share(wp->cout / 16, t, j->n_threads, &lo, &hi);
            for (size_t q = lo; q < hi; q++)
                out_pool_rows_avx512(wp, j->mbuf, j->lay.ms, j->g0, j->nb, j->bias, relu, j->y,
                                     q);
            return;
        }
#endif
        share(j->obb, t, j->n_threads, &lo, &hi);
        output_transform(wp, &j->lay, j->mbuf, j->o0, j->g0, j->nb, j->bias, relu, j->y,
                         j->o0 + lo, j->o0 + hi);
    }
}

void tc_wino_forward(const tc_wino *wp, const float *x, size_t batch, const float *bias,
                     const tc_act *act, float *y, void *scratch, tc_pool *pool)
{
    wino_job j = {.wp = wp,
                  .x = x,
                  .bias = bias,
                  .act = act,
                  .y = y,
                  .rows = scratch,
                  .v = (float *)scratch + wp->v_off,
                  .mbuf = (float *)scratch + wp->m_off,
                  .xpads = (float *)scratch + wp->x_off,
                  .n_threads = pool != NULL ? tc_pool_size(pool) : 1};
    const size_t total = batch * wp->tiles;
    /* V and M as dense as this batch allows (they fit: tb <= wp->tb) */
    j.lay.tb = min_sz(wp->tb, (total + 15) / 16 * 16);
    j.lay.vs = wp->cin * j.lay.tb + 16;
    for (j.g0 = 0; j.g0 < total; j.g0 += j.nb) {
        j.nb = min_sz(j.lay.tb, total - j.g0);
        if (wp->nimg == 1) /* one padded copy: a block must not reach the next sample */
            j.nb = min_sz(j.nb, wp->tiles - j.g0 % wp->tiles);
        /* pad the samples this block reaches that earlier blocks did not (nimg slots suffice:
         * a block touches at most nimg samples, so no slot still needed is overwritten) */
        j.pad_lo = j.pad_hi;
        j.pad_hi = (j.g0 + j.nb - 1) / wp->tiles + 1;
        j.tiles_as_rows = tc_wino_tiles_as_rows(wp, j.nb);
        j.lay.ms = j.tiles_as_rows ? j.nb * wp->cout + 16 : wp->ob * j.lay.tb + 16;
        const size_t step = j.tiles_as_rows ? wp->cout : wp->ob; /* channels per block */
        /* the input transform once, then products and output transform per channel block */
        for (j.o0 = 0, j.phase = 0; j.o0 < wp->cout; j.phase = j.phase == 2 ? 1 : j.phase + 1) {
            j.obb = min_sz(step, wp->cout - j.o0);
            if (pool != NULL)
                tc_pool_run(pool, wino_phase, &j);
            else
                wino_phase(&j, 0);
            if (j.phase == 2)
                j.o0 += step;
        }
    }
    /* activations other than relu (fused above) run over the whole output */
    if (act != NULL && act->kind != TC_ACT_RELU && act->kind != TC_ACT_IDENTITY && !wp->pool)
        tc_act_apply(act, y, batch * wp->cout * wp->oh * wp->ow);
}
