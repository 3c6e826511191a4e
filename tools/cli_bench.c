/*
 * cli_bench.c - `tinycnn bench`: latency and throughput of a model (optionally per layer), or of
 * the matrix kernel alone (--gemm N), with the share of this core's measured peak.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sysconf */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../engine/gemm.h"
#include "cli.h"

#define WARMUP_SECONDS 0.2
#define MAX_RUNS 1000000

static const char bench_usage[] =
    "usage: tinycnn bench -m MODEL [--batch N] [--threads T] [--seconds S] [--json] [--per-layer]\n"
    "       tinycnn bench --gemm N [--seconds S]\n"
    "\n"
    "Runs MODEL on random inputs (fixed seed): warms up, then runs for S seconds and prints the\n"
    "median and 90th-percentile latency of one run, microseconds per image, images per second,\n"
    "GFLOP/s (2 x multiply-accumulates per image, from the layers) and the share of this\n"
    "machine's measured peak (an FMA loop on each thread's core), and the median time of\n"
    "loading the model (parse, check, plan, fuse, pack). With --gemm N, times an\n"
    "N x N x N matrix product with each matrix kernel this CPU supports instead.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL  model JSON (format version 1)\n"
    "  --batch N          samples per run (default 1)\n"
    "  --threads T        threads (default: all cores)\n"
    "  --seconds S        measuring time (default 2)\n"
    "  --json             one JSON object: us_per_image, images_per_s, gflops, batch, threads,\n"
    "                     load_ms, ...\n"
    "  --per-layer        time each layer too (on one thread)\n"
    "  --gemm N           time the matrix kernels on N x N x N\n"
    "  -h, --help         this help\n";

typedef struct bench_opts {
    const char *model;
    long batch;
    long threads;
    double seconds;
    bool json;
    bool per_layer;
    long gemm;
} bench_opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a;
    const double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n sorted values. */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static float *random_floats(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; x != NULL && i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    return x;
}

static int bench_gemm(const bench_opts *o)
{
    const size_t n = (size_t)o->gemm;
    const tc_gemm_kernel *kernels[3] = {tc_gemm_kernel_avx512(), tc_gemm_kernel_avx2(),
                                        tc_gemm_kernel_c()};
    float *a = random_floats(n * n, 1);
    float *b = random_floats(n * n, 2);
    float *c = malloc(n * n * sizeof *c);
    void *raw_a = NULL;
    void *raw_b = NULL;
    float *pa = tc_gemm_buffer(n * n, &raw_a);
    float *pb = tc_gemm_buffer(n * (n + 64), &raw_b);
    double *times = malloc(MAX_RUNS * sizeof *times);
    double *peaks = malloc(MAX_RUNS * sizeof *peaks);  /* the FMA burst after each run */
    double *shares = malloc(MAX_RUNS * sizeof *shares); /* run / that burst */
    int status = EXIT_OK;
    if (!a || !b || !c || !pa || !pb || !times || !peaks || !shares) {
        cli_error("bench: out of memory");
        status = EXIT_RUNTIME;
    }
    const double flop = 2.0 * (double)n * (double)n * (double)n;
    for (int q = 0; q < 3 && status == EXIT_OK; q++) {
        const tc_gemm_kernel *k = kernels[q];
        if (k == NULL)
            continue;
        tc_gemm_pack_a(k, n, n, a, (ptrdiff_t)n, 1, pa);
        tc_gemm_pack_b(k, n, n, b, (ptrdiff_t)n, 1, pb);
        const tc_gemm_a av = {pa, 1, 0, 0};
        size_t runs = 0;
        const double end = now() + o->seconds / 3.0;
        /* Each run is followed by an FMA burst: the peak is measured in the same moments as
         * the product, so that a neighbour slowing this shared core down counts in both. */
        do {
            const double t0 = now();
            tc_gemm(k, n, n, n, &av, pb, c, n, NULL);
            times[runs] = now() - t0;
            peaks[runs] = tc_cpu_burst_gflops(k);
            shares[runs] = peaks[runs] > 0 ? flop / times[runs] * 1e-9 / peaks[runs] : 0.0;
            runs++;
        } while (now() < end && runs < MAX_RUNS);
        qsort(times, runs, sizeof *times, cmp_double);
        qsort(peaks, runs, sizeof *peaks, cmp_double);
        qsort(shares, runs, sizeof *shares, cmp_double);
        const double med = flop / quantile(times, runs, 0.5) * 1e-9;
        const double best = flop / times[0] * 1e-9;
        const double peak_best = peaks[runs - 1];
        printf("gemm %zux%zux%zu %-6s (%dx%d tile): median %.1f GFLOP/s, best %.1f", n, n, n,
               k->name, k->mr, k->nr, med, best);
        if (peak_best > 0)
            printf("; core peak %.1f GFLOP/s (median of the bursts between runs; best %.1f): "
                   "%.0f%% (median of each run / the burst after it), %.0f%% (best / best)",
                   quantile(peaks, runs, 0.5), peak_best, 100.0 * quantile(shares, runs, 0.5),
                   100.0 * best / peak_best);
        printf("\n");
    }
    free(a);
    free(b);
    free(c);
    free(raw_a);
    free(raw_b);
    free(times);
    free(peaks);
    free(shares);
    return status;
}

/* Per-layer profile: for each run and layer, the time since the previous layer finished. */
#define PROFILE_RUNS 4000
typedef struct profile {
    double last;
    int n_layers;
    size_t run;  /* runs recorded so far */
    double *t;   /* PROFILE_RUNS x n_layers */
    double *col; /* PROFILE_RUNS: one layer's times, for sorting */
} profile;

static void after_layer(void *user, int layer)
{
    profile *pr = user;
    const double t = now();
    pr->t[pr->run * (size_t)pr->n_layers + (size_t)layer] = t - pr->last;
    pr->last = t;
}

/* Median per layer: unlike a mean, a run interrupted by another process does not skew it. */
static void print_profile(const tc_model *model, const profile *pr, int batch)
{
    double med[1024];
    double best[1024];
    double total = 0;
    const int n = pr->n_layers < 1024 ? pr->n_layers : 1024;
    for (int i = 0; i < n; i++) {
        for (size_t r = 0; r < pr->run; r++)
            pr->col[r] = pr->t[r * (size_t)pr->n_layers + (size_t)i];
        qsort(pr->col, pr->run, sizeof *pr->col, cmp_double);
        med[i] = quantile(pr->col, pr->run, 0.5);
        best[i] = pr->col[0];
        total += med[i];
    }
    printf("\nper layer (one thread, batch %d, median of %zu runs):\n", batch, pr->run);
    printf("%-4s %-20s %-16s %10s %10s %7s %10s\n", "#", "name", "type", "us/run", "best us",
           "share", "GFLOP/s");
    for (int i = 0; i < n; i++) {
        tc_layer_info info;
        tc_model_layer_info(model, i, &info);
        if (info.fused_into != NULL) { /* computed by an earlier layer: no time of its own */
            printf("%-4d %-20s %-16s %10s (in %s)\n", i, info.name, info.type, "fused",
                   info.fused_into);
            continue;
        }
        printf("%-4d %-20s %-16s %10.2f %10.2f %6.1f%% %10.1f\n", i, info.name, info.type,
               med[i] * 1e6, best[i] * 1e6, 100.0 * med[i] / total,
               med[i] > 0 ? 2.0 * (double)info.macs * batch / med[i] * 1e-9 : 0);
    }
    printf("sum of medians: %.1f us\n", total * 1e6);
}

/* Runs for `seconds` after a warm-up; times[] gets each run's seconds. Returns the run count. */
static size_t time_runs(const tc_model *model, tc_workspace *ws, const float *x, int batch,
                        double seconds, double *times, profile *pr)
{
    tc_error err;
    for (double end = now() + WARMUP_SECONDS; now() < end;)
        tc_model_run(model, ws, x, batch, &err);
    size_t runs = 0;
    const double end = now() + seconds;
    do {
        const double t0 = now();
        if (pr != NULL) {
            pr->last = t0;
            tc_model_run_observed(model, ws, x, batch, after_layer, pr, &err);
            if (++pr->run == PROFILE_RUNS)
                break;
        } else {
            tc_model_run(model, ws, x, batch, &err);
        }
        times[runs++] = now() - t0;
    } while (now() < end && runs < MAX_RUNS);
    return runs;
}

/* The median time of loading the model (read, parse, check, plan, fold, pack: what a process
 * pays before its first run), over up to LOAD_RUNS loads or about 0.3 s. */
#define LOAD_RUNS 51
static double load_seconds(const char *path)
{
    double t[LOAD_RUNS];
    size_t n = 0;
    const double end = now() + 0.3;
    do {
        tc_model *m = NULL;
        tc_error err;
        const double t0 = now();
        const tc_status st = tc_model_load(path, NULL, &m, &err);
        t[n++] = now() - t0;
        tc_model_free(m);
        if (st != TC_OK)
            return 0; /* loaded once already: cannot happen unless the file changed */
    } while (n < LOAD_RUNS && now() < end);
    qsort(t, n, sizeof *t, cmp_double);
    return quantile(t, n, 0.5);
}

static int bench_model(const bench_opts *o)
{
    tc_error err;
    tc_model *model = NULL;
    tc_workspace *ws = NULL;
    if (tc_model_load(o->model, NULL, &model, &err) != TC_OK)
        return cli_report(&err);
    const double load = load_seconds(o->model);
    const int batch = (int)o->batch;
    const int threads = (int)o->threads;
    if (tc_workspace_create(model, batch, &ws, &err) != TC_OK ||
        tc_workspace_set_threads(ws, threads, &err) != TC_OK) {
        tc_workspace_free(ws);
        tc_model_free(model);
        return cli_report(&err);
    }
    uint64_t macs = 0;
    for (int i = 0; i < tc_model_num_layers(model); i++) {
        tc_layer_info info;
        tc_model_layer_info(model, i, &info);
        macs += info.macs;
    }
    float *x = random_floats(tc_model_input_numel(model) * (size_t)batch, 42);
    double *times = malloc(MAX_RUNS * sizeof *times);
    const int n_layers = tc_model_num_layers(model);
    profile pr = {0, n_layers, 0, calloc((size_t)n_layers * PROFILE_RUNS, sizeof(double)),
                  calloc(PROFILE_RUNS, sizeof(double))};
    int rc = EXIT_OK;
    if (x == NULL || times == NULL || pr.t == NULL || pr.col == NULL) {
        cli_error("bench: out of memory");
        rc = EXIT_RUNTIME;
        goto done;
    }
    if (tc_model_run(model, ws, x, batch, &err) != TC_OK) {
        rc = cli_report(&err);
        goto done;
    }
    const size_t runs = time_runs(model, ws, x, batch, o->seconds, times, NULL);
    qsort(times, runs, sizeof *times, cmp_double);
    const double med = quantile(times, runs, 0.5);
    const double p90 = quantile(times, runs, 0.9);
    const double gflops = 2.0 * (double)macs * batch / med * 1e-9;
    /* A batch of 1 runs on one thread (threads split batches), so only that core counts. */
    const int busy = batch < threads ? batch : threads;
    const double peak = tc_cpu_peak_gflops(tc_gemm_best()) * busy;
    if (o->json) {
        printf("{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"runs\": %zu, "
               "\"median_us\": %.3f, \"p90_us\": %.3f, \"us_per_image\": %.3f, "
               "\"images_per_s\": %.1f, \"gflops\": %.2f, \"peak_gflops\": %.1f, "
               "\"share_of_peak\": %.3f, \"kernel\": \"%s\", \"load_ms\": %.3f}\n",
               o->model, batch, threads, runs, med * 1e6, p90 * 1e6, med * 1e6 / batch,
               batch / med, gflops, peak, peak > 0 ? gflops / peak : 0.0, tc_gemm_best()->name,
               load * 1e3);
    } else {
        printf("model: %s, batch %d, %d thread%s, kernel %s, %zu runs in %.1f s\n", o->model,
               batch, threads, threads == 1 ? "" : "s", tc_gemm_best()->name, runs, o->seconds);
        printf("model load (parse, check, plan, pack): median %.3f ms\n", load * 1e3);
        printf("latency per run: median %.1f us, p90 %.1f us\n", med * 1e6, p90 * 1e6);
        printf("per image: %.2f us, %.0f images/s\n", med * 1e6 / batch, batch / med);
        printf("compute: %.3f MFLOP per image, %.1f GFLOP/s", 2.0 * (double)macs * 1e-6, gflops);
        if (peak > 0)
            printf(", %.0f%% of the measured peak (%.1f GFLOP/s on %d core%s)", 100 * gflops / peak,
                   peak, busy, busy == 1 ? "" : "s");
        printf("\n");
    }
    if (o->per_layer) {
        time_runs(model, ws, x, batch, o->seconds, times, &pr);
        print_profile(model, &pr, batch);
    }
done:
    free(x);
    free(times);
    free(pr.t);
    free(pr.col);
    tc_workspace_free(ws);
    tc_model_free(model);
    return rc;
}

/* Parses a number option value in [lo, hi]; reports and returns false otherwise. */
static bool parse_number(const char *opt, const char *value, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = value ? strtod(value, &end) : 0;
    const bool integer = strcmp(opt, "--seconds") != 0;
    if (value == NULL || end == value || *end != '\0' || !(v >= lo && v <= hi) ||
        (integer && v != (double)(long)v)) {
        cli_error("bench: %s expects a number in %g..%g, got \"%s\"", opt, lo, hi,
                  value ? value : "");
        return false;
    }
    *out = v;
    return true;
}

int cli_bench(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bench_opts o = {NULL, 1, cores > 0 ? cores : 1, 2.0, false, false, 0};
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        double v = 0;
        if (cli_is_help(argv[i])) {
            fputs(bench_usage, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (strcmp(argv[i], "--per-layer") == 0) {
            o.per_layer = true;
        } else if (cli_take_value(argc, argv, &i, "-m", "--model", &value, &missing)) {
            o.model = value;
        } else if (cli_take_value(argc, argv, &i, NULL, "--batch", &value, &missing)) {
            if (!parse_number("--batch", value, 1, 4096, &v))
                return EXIT_USAGE;
            o.batch = (long)v;
        } else if (cli_take_value(argc, argv, &i, NULL, "--threads", &value, &missing)) {
            if (!parse_number("--threads", value, 1, 256, &v))
                return EXIT_USAGE;
            o.threads = (long)v;
        } else if (cli_take_value(argc, argv, &i, NULL, "--seconds", &value, &missing)) {
            if (!parse_number("--seconds", value, 0.01, 3600, &v))
                return EXIT_USAGE;
            o.seconds = v;
        } else if (cli_take_value(argc, argv, &i, NULL, "--gemm", &value, &missing)) {
            if (!parse_number("--gemm", value, 1, 4096, &v))
                return EXIT_USAGE;
            o.gemm = (long)v;
        } else {
            cli_error("bench: unknown argument \"%s\" (try `tinycnn bench --help`)", argv[i]);
            return EXIT_USAGE;
        }
        if (missing) {
            cli_error("bench: %s needs a value", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (o.gemm > 0)
        return bench_gemm(&o);
    if (o.model == NULL) {
        cli_error("bench: missing -m MODEL (try `tinycnn bench --help`)");
        return EXIT_USAGE;
    }
    return bench_model(&o);
}
