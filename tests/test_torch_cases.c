/*
 * test_torch_cases.c - the PyTorch cross-check: every case in tests/torch_cases/index.txt (written
 * by tools/gen_torch_cases.py) is run through the library and through `tinycnn run`, and must
 * match PyTorch's float32 output within |got - torch| <= 1e-5 + 1e-4 * |torch| everywhere.
 *
 * Each test goes through all cases before failing, printing the case name, the index and both
 * values of the first few mismatches of each failing case, then one summary line per kind.
 */
#define _POSIX_C_SOURCE 200809L
// System headers first: with UNIT_TESTING, cmocka.h redefines malloc and free.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tc_test.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define MAX_CASES 1000
#define MAX_KINDS 32
#define SHOWN_PER_CASE 3 /* mismatches printed per failing case */

typedef struct tcase {
    char name[96]; /* file stem: NAME.json, NAME.in.npy, NAME.out.npy */
    char kind[24]; /* conv, pool, activation, ... */
} tcase;

typedef struct kind_count {
    char kind[24];
    int n_cases;
    int n_failed;
} kind_count;

typedef struct tally {
    kind_count kinds[MAX_KINDS];
    int n_kinds;
    int n_failed;
} tally;

/* Path of a case file: tests/torch_cases/NAME<suffix>. */
static void case_path(char *out, size_t len, const tcase *c, const char *suffix)
{
    snprintf(out, len, "%s/tests/torch_cases/%s%s", TC_SOURCE_DIR, c->name, suffix);
}

/* Reads index.txt ("NAME KIND" lines, '#' comments) into a test_malloc'd array. */
static tcase *load_index(int *n_cases)
{
    const char *path = tct_source_path("tests/torch_cases/index.txt");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s (run tools/gen_torch_cases.py)", path);
    tcase *cases = test_calloc(MAX_CASES, sizeof *cases);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (n == MAX_CASES || sscanf(line, "%95s %23s", cases[n].name, cases[n].kind) != 2)
            fail_msg("index.txt: bad line or more than %d cases: %s", MAX_CASES, line);
        n++;
    }
    fclose(f);
    if (n < 300)
        fail_msg("index.txt lists %d cases; the suite needs at least 300", n);
    *n_cases = n;
    return cases;
}

static void count(tally *t, const tcase *c, bool failed)
{
    int k = 0;
    while (k < t->n_kinds && strcmp(t->kinds[k].kind, c->kind) != 0)
        k++;
    if (k == t->n_kinds) {
        assert_true(t->n_kinds < MAX_KINDS);
        snprintf(t->kinds[k].kind, sizeof t->kinds[k].kind, "%s", c->kind);
        t->n_kinds++;
    }
    t->kinds[k].n_cases++;
    t->kinds[k].n_failed += failed ? 1 : 0;
    t->n_failed += failed ? 1 : 0;
}

/* Prints one line per kind; fails the test if any case failed. */
static void report(const tally *t, const char *how)
{
    int total = 0;
    for (int k = 0; k < t->n_kinds; k++) {
        printf("torch cases via %s: %-11s %3d cases, %d failed\n", how, t->kinds[k].kind,
               t->kinds[k].n_cases, t->kinds[k].n_failed);
        total += t->kinds[k].n_cases;
    }
    printf("torch cases via %s: %d cases, %d failed\n", how, total, t->n_failed);
    fflush(stdout); // before cmocka's own messages, which may go to stderr
    if (t->n_failed > 0)
        fail_msg("%d of %d PyTorch cases failed via %s (see above)", t->n_failed, total, how);
}

/* Compares got (shape ndim/dim) with the torch output; prints mismatches. Returns true if equal
 * within tolerance. */
static bool matches(const tcase *c, const float *got, int ndim, const int64_t *dim,
                    const tc_array *want)
{
    bool same_shape = ndim == want->ndim;
    for (int i = 0; same_shape && i < ndim; i++)
        same_shape = dim[i] == want->dim[i];
    if (!same_shape) {
        printf("%s: output has shape [", c->name);
        for (int i = 0; i < ndim; i++)
            printf("%s%lld", i ? ", " : "", (long long)dim[i]);
        printf("], torch's has [");
        for (int i = 0; i < want->ndim; i++)
            printf("%s%lld", i ? ", " : "", (long long)want->dim[i]);
        printf("]\n");
        return false;
    }
    size_t n_bad = 0;
    for (size_t i = 0; i < want->numel; i++) {
        double w = want->data[i];
        double diff = fabs((double)got[i] - w);
        if (diff <= ATOL + RTOL * fabs(w))
            continue;
        if (n_bad++ < SHOWN_PER_CASE)
            printf("%s: index %zu: got %.9g, torch %.9g (diff %.3g)\n", c->name, i,
                   (double)got[i], w, diff);
    }
    if (n_bad > 0)
        printf("%s: %zu of %zu values differ\n", c->name, n_bad, want->numel);
    return n_bad == 0;
}

static bool read_npy(const tcase *c, const char *suffix, tc_array *arr)
{
    char path[1024];
    case_path(path, sizeof path, c, suffix);
    tc_error err;
    if (tc_npy_read(path, arr, &err) == TC_OK)
        return true;
    char line[1024];
    printf("%s: %s\n", c->name, tc_error_format(&err, line, sizeof line));
    return false;
}

/* Loads the model, runs the input through it with the library, compares. */
static bool run_library(const tcase *c)
{
    char path[1024];
    char line[1024];
    case_path(path, sizeof path, c, ".json");
    tc_model *model = NULL;
    tc_workspace *ws = NULL;
    tc_array in = {0}, want = {0};
    tc_error err;
    bool ok = false;
    if (tc_model_load(path, NULL, &model, &err) != TC_OK) {
        printf("%s: load: %s\n", c->name, tc_error_format(&err, line, sizeof line));
        goto done;
    }
    if (!read_npy(c, ".in.npy", &in) || !read_npy(c, ".out.npy", &want))
        goto done;
    int batch = in.ndim > 0 ? (int)in.dim[0] : 0;
    if (batch < 1 || in.numel != (size_t)batch * tc_model_input_numel(model)) {
        printf("%s: the input .npy does not hold a batch of model inputs\n", c->name);
        goto done;
    }
    if (tc_workspace_create(model, batch, &ws, &err) != TC_OK ||
        tc_model_run(model, ws, in.data, batch, &err) != TC_OK) {
        printf("%s: run: %s\n", c->name, tc_error_format(&err, line, sizeof line));
        goto done;
    }
    tc_shape out = tc_model_output_shape(model, 0);
    int64_t dim[TC_MAX_DIMS + 1] = {batch};
    for (int i = 0; i < out.ndim; i++)
        dim[i + 1] = out.dim[i];
    ok = matches(c, tc_workspace_output(ws, 0), out.ndim + 1, dim, &want);
done:
    tc_workspace_free(ws);
    tc_model_free(model);
    tc_array_free(&in);
    tc_array_free(&want);
    return ok;
}

/* Runs `tinycnn run` on the case with the output in dir, compares. */
static bool run_cli(const tcase *c, const char *dir)
{
    char model[1024], input[1024], output[1024], cmd[4096];
    case_path(model, sizeof model, c, ".json");
    case_path(input, sizeof input, c, ".in.npy");
    snprintf(output, sizeof output, "%s/%s.npy", dir, c->name);
    snprintf(cmd, sizeof cmd, "'%s' run -m '%s' --input '%s' --output '%s'", TC_CLI_PATH, model,
             input, output);
    fflush(stdout);
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("%s: `%s` exited with status %d\n", c->name, cmd,
               status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        remove(output);
        return false;
    }
    tc_array got = {0}, want = {0};
    tc_error err;
    char line[1024];
    bool ok = false;
    if (tc_npy_read(output, &got, &err) != TC_OK)
        printf("%s: CLI output: %s\n", c->name, tc_error_format(&err, line, sizeof line));
    else if (read_npy(c, ".out.npy", &want))
        ok = matches(c, got.data, got.ndim, got.dim, &want);
    tc_array_free(&got);
    tc_array_free(&want);
    remove(output);
    return ok;
}

static void test_torch_cases_library(void **state)
{
    (void)state;
    int n = 0;
    tcase *cases = load_index(&n);
    tally t = {0};
    for (int i = 0; i < n; i++)
        count(&t, &cases[i], !run_library(&cases[i]));
    test_free(cases);
    report(&t, "library");
}

static void test_torch_cases_cli(void **state)
{
    (void)state;
    int n = 0;
    tcase *cases = load_index(&n);
    char dir[] = "/tmp/tc_torch_cases_XXXXXX";
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp failed");
    tally t = {0};
    for (int i = 0; i < n; i++)
        count(&t, &cases[i], !run_cli(&cases[i], dir));
    rmdir(dir);
    test_free(cases);
    report(&t, "tinycnn run");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_cases_library),
        cmocka_unit_test(test_torch_cases_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
