/*
 * conv2d_direct.h - direct convolution of one input channel (layers/ only), for conv2d layers
 * whose groups each have a single input channel (the first layer on grey images, depthwise
 * layers), stride 1: a matrix product with K = kh * kw (9 for 3x3) would spend its time on
 * loading and storing the accumulators. Outputs are vectorized over 16 columns, two rows and 8
 * channels at a time, reading each input vector once per tap for all 8.
 */
#ifndef TC_CONV2D_DIRECT_H
#define TC_CONV2D_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether this CPU runs tc_conv_direct1 (AVX-512). */
bool tc_conv_direct1_available(void);

/* y[o, i, j] = (relu)(bias[o] + sum_{u, v} w[o, u, v] * xpad[(i + u*dh) * wp + j + v*dw]) for
 * o < cout, i < oh, j < ow; bias may be NULL. Each tap is added in the order u, v with a fused
 * multiply-add, as the AVX-512 matrix kernel does. */
void tc_conv_direct1(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh, size_t kw,
                     size_t dh, size_t dw, const float *w, const float *bias, size_t cout,
                     bool relu, float *y);

/* As tc_conv_direct1, then the 2x2 stride-2 max pool (floor) of each output channel into
 * y [cout, oh / 2, ow / 2], pooled in registers two output rows at a time, so the full output
 * is never written; the same bits as pooling it with maxpool2d. */
void tc_conv_direct1_pool(const float *xpad, size_t wp, size_t oh, size_t ow, size_t kh,
                          size_t kw, size_t dh, size_t dw, const float *w, const float *bias,
                          size_t cout, bool relu, float *y);

#endif
