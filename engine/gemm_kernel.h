/*
 * gemm_kernel.h - the body of a SIMD micro-kernel, included by gemm_avx512.c and gemm_avx2.c
 * after they define the vector type and operations:
 *   MR, NV, VL          rows, vectors of columns, floats per vector
 *   TARGET              the function attribute enabling the instruction set
 *   VEC, MASK           vector and tail-mask types; MAKE_MASK(n) masks the first n lanes
 *   LOAD(p), LOAD_M(m, p), STORE(p, x), STORE_M(p, m, x), SET1(f), ZERO(), ADD, FMA(a, b, c),
 *   MAX(a, b) (returns b when either is NaN)
 * It defines the kernel table and `static const tc_gemm_kernel kernel`.
 */
#define INLINE __attribute__((always_inline)) inline

/* The tile body for constant mr and nv: after inlining, the loops unroll and acc lives in
 * registers. */
static INLINE TARGET void body(const tc_gemm_tile *t, const int mr, const int nv)
{
    VEC acc[MR][NV];
    const MASK last = MAKE_MASK(t->n - (nv - 1) * VL);
    if (t->accumulate) {
        for (int r = 0; r < mr; r++) {
            const float *c = t->c + (size_t)r * t->ldc;
            for (int v = 0; v < nv; v++)
                acc[r][v] = v + 1 < nv ? LOAD(c + v * VL) : LOAD_M(last, c + v * VL);
        }
    } else {
        VEC col[NV];
        for (int v = 0; v < nv; v++) {
            col[v] = ZERO();
            if (t->bias_col != NULL)
                col[v] = v + 1 < nv ? LOAD(t->bias_col + v * VL)
                                    : LOAD_M(last, t->bias_col + v * VL);
        }
        for (int r = 0; r < mr; r++) {
            const VEC row = SET1(t->bias_row ? t->bias_row[r] : 0.0f);
            for (int v = 0; v < nv; v++)
                acc[r][v] = ADD(row, col[v]);
        }
    }
    const float *a = t->a;
    const float *b = t->b;
    const ptrdiff_t rs = t->a_rs;
    const ptrdiff_t ks = t->a_ks;
    const float *const *rows = t->b_rows;
    for (size_t kk = 0; kk < t->kc; kk++) {
        VEC bv[NV];
        const float *bk = rows != NULL ? rows[kk] + t->b_col : b;
        for (int v = 0; v < nv; v++)
            bv[v] = LOAD(bk + v * VL);
        for (int r = 0; r < mr; r++) {
            const VEC av = SET1(a[r * rs]);
            for (int v = 0; v < nv; v++)
                acc[r][v] = FMA(av, bv[v], acc[r][v]);
        }
        a += ks;
        if (rows == NULL)
            b += nv * VL;
    }
    const VEC zero = ZERO();
    for (int r = 0; r < mr; r++) {
        float *c = t->c + (size_t)r * t->ldc;
        for (int v = 0; v < nv; v++) {
            /* MAX(0, x) gives x when x is NaN, as tc_act_apply's relu */
            const VEC x = t->relu ? MAX(zero, acc[r][v]) : acc[r][v];
            if (v + 1 < nv)
                STORE(c + v * VL, x);
            else
                STORE_M(c + v * VL, last, x);
        }
    }
}

typedef void (*tile_fn)(const tc_gemm_tile *t);

#define TILE(m, v)                                                                                 \
    static TARGET void tile_##m##_##v(const tc_gemm_tile *t)                                       \
    {                                                                                              \
        body(t, m, v);                                                                             \
    }
