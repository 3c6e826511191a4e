/*
 * conv2d_winograd.h - Winograd F(2x2, 3x3) convolution for conv2d (layers/ only): 3x3 kernel,
 * stride 1, dilation 1, one group.
 *
 * Each 2x2 block of outputs ("tile") is computed from a 4x4 patch of the zero-padded input d:
 *   Y = A^T [ sum_c (G g_oc G^T) .* (B^T d_c B) ] A
 * The 16 products over channels are 16 matrix multiplications [cout x cin] x [cin x tiles]
 * (engine/gemm.h), with the transformed weights G g G^T made and packed once at load. Tiles are
 * processed in blocks of `tb` (across samples) so that scratch stays cache-sized whatever the
 * image size. Every output is computed by the same code whatever the batch or thread split.
 */
#ifndef TC_CONV2D_WINOGRAD_H
#define TC_CONV2D_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "gemm.h"
#include "tc_internal.h"
#include "threads.h"

typedef struct tc_wino {
    size_t cin, cout;           /* channels */
    size_t h, w;                /* input height, width */
    size_t oh, ow;              /* output height, width */
    size_t pt, pl;              /* top and left padding (bottom and right follow from oh, ow) */
    size_t ty, tx;              /* tiles down and across: ceil(oh / 2), ceil(ow / 2) */
    size_t hp, wp;              /* padded input copy: 2 * ty + 2 rows of 2 * tx + 2 floats */
    size_t tiles;               /* tiles of one sample: ty * tx */
    size_t ob;                  /* output channels per block of products (the last: fewer) */
    size_t tb;                  /* tiles per block (of one or more samples), a multiple of 16 */
    size_t xs;                  /* floats of one padded sample: cin * hp * wp */
    size_t nimg;                /* padded samples kept: as many as one block can touch, or 1
                                 * when that many are too large (blocks then end with each
                                 * sample) */
    size_t vs, ms;              /* floats between the 16 matrices of V and of M */
    size_t v_off, m_off;        /* floats from scratch to V [16][cin][tb] and M [16][ob][tb] */
    size_t x_off;               /* floats from scratch to the padded inputs [nimg][cin][hp][wp] */
    size_t scratch_bytes;       /* scratch needed by tc_wino_forward (rows pointers first) */
    const tc_gemm_kernel *kern; /* the kernel u is packed for */
    bool simd;                  /* transforms with AVX-512 (same results as the portable ones) */
    bool pool;                  /* write the 2x2 stride-2 max pool of the output instead: one
                                 * value per tile, [cout, oh / 2, ow / 2] (tc_wino_pool) */
    float *u;                   /* per block of ob channels, 16 transformed weight matrices
                                 * [ob x cin] in packed A layout */
    void *u_raw;                /* the allocation behind u */
    float *ut;                  /* with pool, AVX-512 and cout a multiple of 16 (else NULL):
                                 * the 16 matrices transposed, [cin x cout] in packed B layout,
                                 * for blocks of few tiles (tc_wino_tiles_as_rows) */
    void *ut_raw;               /* the allocation behind ut */
} tc_wino;

/* Plans a convolution of [cin, h, w] into [cout, oh, ow] with top/left padding pt, pl (the
 * caller checked that oh = h + pt + pb - 2 and ow likewise). Returns false when the sizes are too
 * large for the padded copy or overflow (the caller then uses another method). */
bool tc_wino_plan(tc_wino *wp, size_t cin, size_t cout, size_t h, size_t w, size_t oh, size_t ow,
                  size_t pt, size_t pl);
/* From now on, forward writes the 2x2 stride-2 max pool (floor) of its output, after the
 * relu if any; the same bits as pooling the written output. */
void tc_wino_pool(tc_wino *wp);
/* Transforms and packs weight [cout, cin, 3, 3] for kern. Returns false when out of memory. */
bool tc_wino_prepare(tc_wino *wp, const tc_gemm_kernel *kern, const float *weight);
void tc_wino_free(tc_wino *wp);
/* batch samples: y [batch, cout, oh, ow] = act(conv(x [batch, cin, h, w]) + bias) (bias may be
 * NULL). The tiles of consecutive samples share blocks, so that small images still give the
 * matrix products long rows. scratch holds wp->scratch_bytes, 64-byte aligned. With a pool, its
 * threads share the work. Each output is the same bits whatever the batch, the position of its
 * sample in the batch and the number of threads. */
void tc_wino_forward(const tc_wino *wp, const float *x, size_t batch, const float *bias,
                     const tc_act *act, float *y, void *scratch, tc_pool *pool);
/* Whether forward computes a block of nb tiles with the tiles as the rows of its products
 * (short blocks of pooled layers, after prepare; the same bits either way). */
bool tc_wino_tiles_as_rows(const tc_wino *wp, size_t nb);

#endif
