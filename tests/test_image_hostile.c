/*
 * test_image_hostile.c - broken and hostile images (tests/fixtures/images/hostile_*, made by
 * tools/gen_image_fixtures.py; the fixtures README says what each one is), plus a directory and
 * a missing file. Each must be refused by tc_image_load with the right code and a one-line
 * message naming the file, and by `tinycnn predict` with exit status 2, nothing on stdout and
 * one stderr line naming the file. Run under ASan/UBSan this also proves no crash and no leak.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent (tct_cli.h) */
#include "tct_cli.h"            /* first: system headers, then tc_test.h */

#define IMAGES "tests/fixtures/images/"

typedef struct hostile {
    const char *name; /* file in tests/fixtures/images */
    tc_status code;   /* what tc_image_load must return */
    const char *needle; /* the message must contain this */
} hostile;

static const hostile cases[] = {
    {"hostile_empty.png", TC_ERR_RANGE, "empty"},
    {"hostile_text.png", TC_ERR_RANGE, "not a PNG, JPEG, BMP or PGM/PPM"},
    {"hostile.gif", TC_ERR_RANGE, "not a PNG, JPEG, BMP or PGM/PPM"},
    {"hostile_signature_only.png", TC_ERR_RANGE, "PNG"},
    {"hostile_truncated_header.png", TC_ERR_RANGE, "PNG"},
    {"hostile_truncated.png", TC_ERR_RANGE, "PNG"},
    {"hostile_no_idat.png", TC_ERR_RANGE, "PNG"},
    {"hostile_100000x100000.png", TC_ERR_LIMIT, "100000 x 100000"},
    {"hostile_bomb_20000x20000.png", TC_ERR_LIMIT, "20000 x 20000"},
    {"hostile_bomb_garbage_idat.png", TC_ERR_RANGE, "PNG"},
    {"hostile_garbage_deflate.png", TC_ERR_RANGE, "PNG"},
    {"hostile_short_idat.png", TC_ERR_RANGE, "PNG"},
    {"hostile_zero_width.png", TC_ERR_RANGE, "PNG"},
    {"hostile_zero_height.png", TC_ERR_RANGE, "PNG"},
    {"hostile_bad_color_type.png", TC_ERR_RANGE, "PNG"},
    {"hostile_bad_bit_depth.png", TC_ERR_RANGE, "PNG"},
    {"hostile_palette_missing.png", TC_ERR_RANGE, "PNG"},
    {"hostile_huge_chunk.png", TC_ERR_RANGE, "PNG"},
    {"hostile_bad_crc.png", TC_ERR_RANGE, "CRC"},
    {"hostile_soi_only.jpg", TC_ERR_RANGE, "JPEG"},
    {"hostile_truncated.jpg", TC_ERR_RANGE, "JPEG"},
    {"hostile_65535x65535.jpg", TC_ERR_LIMIT, "65535 x 65535"},
    {"hostile_dht_overflow.jpg", TC_ERR_RANGE, "JPEG"},
    {"hostile_huge_header.bmp", TC_ERR_LIMIT, "40000 x 40000"},
    {"hostile_bad_header_size.bmp", TC_ERR_RANGE, "BMP"},
    {"hostile_truncated.bmp", TC_ERR_RANGE, "BMP"},
    {"hostile_zero_width.bmp", TC_ERR_RANGE, "BMP"},
    {"hostile_height_intmin.bmp", TC_ERR_RANGE, "BMP"},
    {"hostile_width_overflow.pgm", TC_ERR_RANGE, "PGM/PPM"},
    {"hostile_truncated.pgm", TC_ERR_RANGE, "PGM/PPM"},
    {"hostile_maxval_70000.ppm", TC_ERR_RANGE, "PGM/PPM"},
    {"hostile_maxval_0.pgm", TC_ERR_RANGE, "PGM/PPM"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* tc_image_load(path) must fail with `code`, leave *out empty and give one line that names the
 * file and contains needle. Prints what is wrong and returns false otherwise. */
static bool refused(const char *path, tc_status code, const char *needle)
{
    tc_image img;
    tc_error err;
    char line[1024];
    memset(&img, 0xAB, sizeof img); /* must be zeroed on failure */
    tc_status st = tc_image_load(path, 0, &img, &err);
    tc_error_format(&err, line, sizeof line);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (st == TC_OK) {
        print_error("%s was accepted (%d x %d x %d)\n", base, img.width, img.height,
                    img.channels);
        tc_image_free(&img);
    } else if (st != code || err.code != code) {
        print_error("%s: expected %s, got %s: %s\n", base, tc_status_str(code),
                    tc_status_str(st), line);
    } else if (img.pixels != NULL || img.width != 0 || img.height != 0) {
        print_error("%s: the output image is not empty after a failure\n", base);
    } else if (!strstr(line, base) || !strstr(line, needle) || strchr(line, '\n')) {
        print_error("%s: the message should be one line naming the file and saying \"%s\": "
                    "\"%s\"\n", base, needle, line);
    } else {
        return true;
    }
    return false;
}

static void hostile_images_refused_by_library(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, IMAGES "%s", cases[i].name);
        bad += !refused(tct_source_path(rel), cases[i].code, cases[i].needle);
    }
    if (bad)
        fail_msg("%d of %zu hostile images were not refused as expected (listed above)", bad,
                 N_CASES);
}

static void directory_and_missing_file(void **state)
{
    char path[TCT_PATH_MAX];
    tct_join(path, sizeof path, *state, "folder.png");
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir %s failed", path);
    bool ok = refused(path, TC_ERR_IO, "not a regular file");
    rmdir(path);
    ok = refused(tct_join(path, sizeof path, *state, "missing.png"), TC_ERR_IO, "cannot open") &&
         ok;
    assert_true(ok);
}

/* `tinycnn predict -m tiny_2x2.json --json PATH` must exit 2 with nothing on stdout (--json: no
 * header line) and one stderr line "tinycnn: ..." naming the file. */
static bool predict_refuses(const char *dir, const char *path)
{
    char model[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(IMAGES "tiny_2x2.json"));
    const char *const args[] = {"predict", "-m", model, "--json", path, NULL};
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    bool ok = r.status == 2 && r.out[0] == '\0' && tct_is_one_line(r.err) &&
              strncmp(r.err, "tinycnn: ", 9) == 0 && strstr(r.err, path) != NULL;
    if (!ok)
        print_error("predict %s: exit %d, stdout \"%.200s\", stderr \"%.400s\"\n", path,
                    r.status, r.out, r.err);
    tct_cli_free(&r);
    return ok;
}

static void hostile_images_refused_by_predict(void **state)
{
    char path[TCT_PATH_MAX];
    int bad = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, IMAGES "%s", cases[i].name);
        snprintf(path, sizeof path, "%s", tct_source_path(rel));
        bad += !predict_refuses(*state, path);
    }
    tct_join(path, sizeof path, *state, "folder.png");
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir %s failed", path);
    bad += !predict_refuses(*state, path);
    rmdir(path);
    bad += !predict_refuses(*state, tct_join(path, sizeof path, *state, "missing.png"));
    if (bad)
        fail_msg("predict did not refuse %d images as expected (listed above)", bad);
}

static void enough_hostile_fixtures(void **state)
{
    (void)state;
    /* the issue asks for at least 20 broken or hostile images, plus a directory and a missing
     * file; and every fixture named hostile_* must be in the table (no silent leftovers) */
    assert_true(N_CASES >= 20);
    DIR *d = opendir(tct_source_path(IMAGES));
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "hostile", 7) != 0)
            continue;
        bool listed = false;
        for (size_t i = 0; i < N_CASES; i++)
            listed = listed || strcmp(cases[i].name, e->d_name) == 0;
        if (!listed) {
            closedir(d);
            fail_msg("fixture %s is not in the table of test_image_hostile.c", e->d_name);
        }
        n++;
    }
    closedir(d);
    assert_int_equal(n, (int)N_CASES);
}

#define WITH_DIR(f) cmocka_unit_test_setup_teardown(f, tct_tmpdir_setup, tct_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(enough_hostile_fixtures),
        cmocka_unit_test(hostile_images_refused_by_library),
        WITH_DIR(directory_and_missing_file),
        WITH_DIR(hostile_images_refused_by_predict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
