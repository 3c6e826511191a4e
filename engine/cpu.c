/*
 * cpu.c - measures this core's floating-point peak: a loop of independent FMAs on the widest
 * vectors the matrix kernel uses, timed over short bursts (the best burst counts, so that other
 * processes sharing the core do not lower the figure). Used by `tinycnn bench` for the share of
 * peak; never during a model run.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include "gemm.h"

#define N_BURSTS 60
#define BURST_ITERS 20000L

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* 24 independent accumulators, written out so that they stay in registers: enough to cover
 * the FMA latency on two FMA units. */
#define STEP4(F, i) F(i) F(i + 1) F(i + 2) F(i + 3)
#define STEP24(F) STEP4(F, 0) STEP4(F, 4) STEP4(F, 8) STEP4(F, 12) STEP4(F, 16) STEP4(F, 20)
#define FMA_BURST(T, SET1, FMA, ADD, TARGET_ATTR, NAME)                                            \
    TARGET_ATTR static float NAME(long iters, float x)                                             \
    {                                                                                              \
        T acc[24];                                                                                 \
        const T m = SET1(x);                                                                       \
        const T c = SET1(1e-3f);                                                                   \
        for (int i = 0; i < 24; i++)                                                               \
            acc[i] = SET1((float)i);                                                               \
        for (long it = 0; it < iters; it++) {                                                      \
            STEP24(BURST_FMA)                                                                      \
        }                                                                                          \
        T s = acc[0];                                                                              \
        for (int i = 1; i < 24; i++)                                                               \
            s = ADD(s, acc[i]);                                                                    \
        float out[sizeof(T) / sizeof(float)];                                                      \
        memcpy(out, &s, sizeof out);                                                               \
        return out[0];                                                                             \
    }
#define BURST_FMA(i) acc[i] = BFMA(acc[i], m, c);
#define BFMA _mm512_fmadd_ps
FMA_BURST(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
          __attribute__((target("avx512f"))), burst512)
#undef BFMA
#define BFMA _mm256_fmadd_ps
FMA_BURST(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
          __attribute__((target("avx2,fma"))), burst256)
#undef BFMA

double tc_cpu_burst_gflops(const tc_gemm_kernel *kern)
{
    if (kern->vl != 16 && kern->vl != 8)
        return 0.0;
    volatile float sink = 0.0f;
    const double t0 = seconds();
    sink += kern->vl == 16 ? burst512(BURST_ITERS, 0.999f) : burst256(BURST_ITERS, 0.999f);
    const double dt = seconds() - t0;
    (void)sink;
    return dt > 0 ? (double)BURST_ITERS * 24.0 * 2.0 * kern->vl / dt * 1e-9 : 0.0;
}

double tc_cpu_peak_gflops(const tc_gemm_kernel *kern)
{
    double best = 0.0;
    for (int r = 0; r < N_BURSTS; r++) {
        const double gflops = tc_cpu_burst_gflops(kern);
        if (gflops > best)
            best = gflops;
    }
    return best;
}

#else

double tc_cpu_burst_gflops(const tc_gemm_kernel *kern)
{
    (void)kern;
    (void)seconds;
    return 0.0;
}

double tc_cpu_peak_gflops(const tc_gemm_kernel *kern)
{
    (void)kern;
    return 0.0;
}

#endif
