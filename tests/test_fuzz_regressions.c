/*
 * test_fuzz_regressions.c - replays every file of the fuzz corpora through the same entry points
 * the libFuzzer targets use (tests/fuzz/fuzz_*.c, included here without libFuzzer):
 * tests/fuzz/regressions/<target>/ holds each input that once crashed, hung or leaked (fixed
 * since), tests/fuzz/corpus/<target>/ the seeds. Each input must be handled without a crash, a
 * broken invariant (FUZZ_CHECK) or a leak (cmocka's allocator checks each test); the sanitizer
 * build (tools/dev sanitize) replays them under ASan and UBSan too.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, dirent */
#include <dirent.h>
#include <sys/stat.h>

#include "tc_test.h"

/* The input being replayed, named when an invariant fails. */
static char current_input[1024];

#define FUZZ_FAIL(what) fail_msg("%s: invariant failed: %s", current_input, what)

#include "fuzz/fuzz_idx.c"
#include "fuzz/fuzz_image.c"
#include "fuzz/fuzz_model.c"
#include "fuzz/fuzz_npy.c"

#define MAX_INPUTS 4096
#define MAX_INPUT_BYTES ((size_t)1 << 24)

typedef int (*fuzz_entry)(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads path into an exactly sized buffer (so that ASan sees any read past its end). */
static uint8_t *read_input(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (f == NULL || fstat(fileno(f), &sb) != 0 || (size_t)sb.st_size > MAX_INPUT_BYTES)
        fail_msg("cannot read %s", path);
    *len = (size_t)sb.st_size;
    uint8_t *data = test_malloc(*len > 0 ? *len : 1);
    if (*len > 0 && fread(data, 1, *len, f) != *len)
        fail_msg("short read of %s", path);
    fclose(f);
    return data;
}

/* Feeds every regular file of tests/fuzz/<kind>/<target> to entry, in name order; returns how
 * many there were. */
static int replay_dir(const char *kind, const char *target, fuzz_entry entry)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", TC_SOURCE_DIR, kind, target);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    char **names = test_calloc(MAX_INPUTS, sizeof *names);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and hidden files such as .gitkeep */
        if (n == MAX_INPUTS)
            fail_msg("more than %d inputs in %s", MAX_INPUTS, dir);
        size_t len = strlen(e->d_name) + 1;
        names[n] = test_malloc(len);
        memcpy(names[n++], e->d_name, len);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        snprintf(current_input, sizeof current_input, "%s/%s", dir, names[i]);
        size_t len;
        uint8_t *data = read_input(current_input, &len);
        entry(data, len);
        test_free(data);
        test_free(names[i]);
    }
    test_free(names);
    return n;
}

/* Replays the seeds (there must be some) and the regression inputs of one target. */
static void replay(const char *target, fuzz_entry entry)
{
    int seeds = replay_dir("corpus", target, entry);
    int regressions = replay_dir("regressions", target, entry);
    if (seeds == 0)
        fail_msg("no seeds in tests/fuzz/corpus/%s", target);
    print_message("%s: %d seeds, %d regression inputs replayed\n", target, seeds, regressions);
}

static void test_model_inputs(void **state)
{
    (void)state;
    replay("model", tc_fuzz_model);
}

static void test_image_inputs(void **state)
{
    (void)state;
    replay("image", tc_fuzz_image);
}

static void test_npy_inputs(void **state)
{
    (void)state;
    replay("npy", tc_fuzz_npy);
}

static void test_idx_inputs(void **state)
{
    (void)state;
    replay("idx", tc_fuzz_idx);
}

/* The separator really splits a model from its weights: after the entry point has written the
 * part after it to w.bin, the part before it loads and computes with those weights. */
static void test_harness_splits_weights(void **state)
{
    (void)state;
    static const char model[] =
        "{\"format\":\"tinycnn\",\"version\":1,\"input\":{\"shape\":[2]},"
        "\"weights_file\":\"w.bin\",\"layers\":[{\"type\":\"dense\",\"in_features\":2,"
        "\"out_features\":1,\"weight\":{\"offset\":0,\"shape\":[1,2]}}]}" FUZZ_WEIGHTS_SEP;
    const float w[2] = {1.5f, -2.0f};
    uint8_t buf[sizeof model - 1 + sizeof w];
    memcpy(buf, model, sizeof model - 1);
    memcpy(buf + sizeof model - 1, w, sizeof w);
    snprintf(current_input, sizeof current_input, "built-in dense model");
    tc_fuzz_model(buf, sizeof buf);
    tc_model *m = NULL;
    tc_error err;
    assert_int_equal(tc_model_load_buffer((const char *)buf, sizeof model - 1 -
                                          strlen(FUZZ_WEIGHTS_SEP), fuzz_scratch_dir(), NULL,
                                          NULL, &m, &err), TC_OK);
    const float x[2] = {2.0f, 1.0f};
    float *y = tct_run(m, x, 1);
    const float want[1] = {1.0f}; /* 1.5 * 2 - 2 * 1 */
    tct_assert_close(y, want, 1, 0, 0);
    test_free(y);
    tc_model_free(m);
}

/* A gzip trailer may claim any size up to the idx limit; a claim deflate cannot produce from the
 * compressed bytes is refused before the output buffer is allocated (it was a 1 GiB allocation
 * for a 30-byte file). */
static void test_gzip_size_claim_is_checked(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fuzz/regressions/idx/gzip_claims_1gib.idx.gz",
             TC_SOURCE_DIR);
    tc_idx idx;
    tc_error err;
    assert_int_equal(tc_idx_read(path, &idx, &err), TC_ERR_RANGE);
    assert_null(idx.data);
    if (strstr(err.message, "cannot inflate to the 1073741823 bytes") == NULL)
        fail_msg("unexpected message: %s", err.message);
}

/* A PNG chunk longer than the rest of the file is refused before stb sees it: stb grows its IDAT
 * buffer to the declared length first (a 68-byte file asked for 2 GiB). */
static void test_png_chunk_length_is_checked(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path,
             "%s/tests/fuzz/regressions/image/png_truncated_idat_claims_1gib.png", TC_SOURCE_DIR);
    tc_image img;
    tc_error err;
    assert_int_equal(tc_image_load(path, 0, &img, &err), TC_ERR_RANGE);
    assert_null(img.pixels);
    if (strstr(err.message, "truncated PNG: chunk IDAT declares 1130840649 bytes") == NULL)
        fail_msg("unexpected message: %s", err.message);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harness_splits_weights),
        cmocka_unit_test(test_gzip_size_claim_is_checked),
        cmocka_unit_test(test_png_chunk_length_is_checked),
        cmocka_unit_test(test_model_inputs),
        cmocka_unit_test(test_image_inputs),
        cmocka_unit_test(test_npy_inputs),
        cmocka_unit_test(test_idx_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
