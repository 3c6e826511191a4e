/*
 * gemm.h - single-precision matrix multiplication for the layers (engine/ and layers/ only).
 *
 *   C[M x N] = epilogue(A[M x K] * B[K x N])
 *
 * B is packed into column panels (tc_gemm_pack_b, or directly by a layer such as conv2d's
 * im2col); A is read through strides (a row-major matrix, or one packed by tc_gemm_pack_a).
 * A register-tiled micro-kernel computes mr x nr tiles of C over blocks of TC_GEMM_KC values of
 * K. Kernels: AVX-512, AVX2/FMA and portable C, chosen at run time by tc_gemm_best(); a packed
 * buffer is only valid for the kernel it was packed for (its nr and vl).
 *
 * Every element of C is accumulated in the same order (bias, then k = 0, 1, ... K-1) whatever
 * the tiling, so splitting C among threads gives bit-identical results.
 *
 * Packed B layout (kernel with panel width nr and vector length vl; Np = tc_gemm_npad(k, N)):
 * for each K block starting at k0 (kc = min(TC_GEMM_KC, K - k0)) at offset k0 * Np, for each
 * panel starting at column j0 (width w = min(nr, Np - j0)) at offset j0 * kc within the block:
 * kc rows of w floats, B[k0 + kk][j0 + jj] at kk * w + jj, zero for columns >= N.
 * Packed A layout: for each K block at offset k0 * M, for each panel of rows starting at i0
 * (height h = min(mr, M - i0)) at offset i0 * kc: kc columns of h floats.
 */
#ifndef TC_GEMM_H
#define TC_GEMM_H

#include <stddef.h>

#include "tc_internal.h"

#define TC_GEMM_KC 128 /* K values per block: a B panel (KC x nr) stays in L1 */

/* One register tile: C[0..mr) x [0..n) (+)= A panel * B panel over kc values of K. */
typedef struct tc_gemm_tile {
    size_t kc;
    const float *a;      /* A(r, kk) at a[r * a_rs + kk * a_ks] */
    ptrdiff_t a_rs;
    ptrdiff_t a_ks;
    const float *b;      /* packed B panel: kc rows of nv * vl floats (when b_rows is NULL) */
    const float *const *b_rows; /* or row kk of B at b_rows[kk] + b_col (unpacked; the loads
                                 * may read up to vl - 1 floats past column n) */
    size_t b_col;
    float *c;            /* C(r, j) at c[r * ldc + j] */
    size_t ldc;
    int n;               /* columns to store, 1..nv * vl */
    int accumulate;      /* 1: add to C; 0: start from the biases (or 0) */
    const float *bias_row; /* mr values added to rows, or NULL (only when !accumulate) */
    const float *bias_col; /* n values added to columns, or NULL (only when !accumulate) */
    int relu;            /* 1: max(x, 0) before storing */
} tc_gemm_tile;

typedef struct tc_gemm_kernel {
    const char *name; /* "avx512", "avx2" or "c" */
    int mr;           /* rows of a register tile */
    int nr;           /* columns of a register tile (a multiple of vl) */
    int vl;           /* floats per vector: packed panel widths are multiples of it */
    /* Computes one tile of mr_eff <= mr rows and nv <= nr / vl vectors of columns. */
    void (*tile)(const tc_gemm_tile *t, int mr_eff, int nv);
} tc_gemm_kernel;

/* The kernels this build has; NULL when the CPU (or the compiler) does not support one. */
const tc_gemm_kernel *tc_gemm_kernel_avx512(void);
const tc_gemm_kernel *tc_gemm_kernel_avx2(void);
const tc_gemm_kernel *tc_gemm_kernel_c(void);
/* The fastest kernel this CPU supports. */
const tc_gemm_kernel *tc_gemm_best(void);

/* N rounded up to a multiple of the kernel's vl: the width of packed B. */
size_t tc_gemm_npad(const tc_gemm_kernel *k, size_t n);

/* Packs B (B(k, n) at b[k * rs + n * cs]) into dst, which holds K * tc_gemm_npad(N) floats. */
void tc_gemm_pack_b(const tc_gemm_kernel *kern, size_t K, size_t N, const float *b, ptrdiff_t rs,
                    ptrdiff_t cs, float *dst);
/* Packs A (A(m, k) at a[m * rs + k * cs]) into dst, which holds M * K floats. */
void tc_gemm_pack_a(const tc_gemm_kernel *kern, size_t M, size_t K, const float *a, ptrdiff_t rs,
                    ptrdiff_t cs, float *dst);

/* The A operand: packed (by tc_gemm_pack_a) or read through strides. */
typedef struct tc_gemm_a {
    const float *data;
    int packed;   /* 1: tc_gemm_pack_a layout (rs, ks ignored) */
    ptrdiff_t rs; /* unpacked: A(m, k) at data[m * rs + k * ks] */
    ptrdiff_t ks;
} tc_gemm_a;

/* What is done to C: C = act(A * B + bias_row[m] + bias_col[n]) (either bias may be NULL,
 * act may be NULL for none). */
typedef struct tc_gemm_epilogue {
    const float *bias_row;
    const float *bias_col;
    const tc_act *act;
} tc_gemm_epilogue;

/* C = epilogue(A * B) for rows [0, M) and columns [0, N) (B packed for N columns). */
void tc_gemm(const tc_gemm_kernel *kern, size_t M, size_t N, size_t K, const tc_gemm_a *a,
             const float *packed_b, float *c, size_t ldc, const tc_gemm_epilogue *epi);
/* As tc_gemm with B unpacked: row k of B is b_rows[k][0..N), and each row must stay readable
 * up to tc_gemm_npad(N) floats (the values past N do not matter). Saves packing when the rows
 * are already contiguous, e.g. convolution taps over a padded image. */
void tc_gemm_rows(const tc_gemm_kernel *kern, size_t M, size_t N, size_t K, const tc_gemm_a *a,
                  const float *const *b_rows, float *c, size_t ldc, const tc_gemm_epilogue *epi);

/* This core's measured peak in GFLOP/s for the vectors of kern (engine/cpu.c; 60 FMA bursts,
 * the best counts). 0 for the portable kernel. */
double tc_cpu_peak_gflops(const tc_gemm_kernel *kern);
/* One such burst (about 0.1 ms): the FMA rate of this moment, for comparing with work timed
 * right beside it. 0 for the portable kernel. */
double tc_cpu_burst_gflops(const tc_gemm_kernel *kern);

/* Allocates n_floats floats aligned to 64 bytes; *raw gets the pointer to TC_FREE. NULL when
 * out of memory (or n_floats overflows). */
float *tc_gemm_buffer(size_t n_floats, void **raw);

#endif
