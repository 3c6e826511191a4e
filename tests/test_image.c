/*
 * test_image.c - image decoding (tc_image_load / tc_image_decode): PNG (gray, gray+alpha, RGB,
 * RGBA; 1/2/8/16 bit, palette with and without tRNS, interlaced, all row filters), baseline and
 * progressive JPEG, BMP (bottom-up and top-down), PGM/PPM (8 and 16 bit), the pixel limit.
 * Broken and hostile images are in test_image_hostile.c.
 *
 * Images with known pixels are written here with stb_image_write (PNG, BMP) and by hand (PGM,
 * PPM); the rest are fixtures made by tools/gen_image_fixtures.py (JPEGs by Pillow, as
 * stb_image_write's JPEG encoder trips UBSan), whose pixel values were checked independently
 * with Pillow and are written out below.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent (tct_cli.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before tct_cli.h: stb's system headers must come before cmocka.h redefines malloc. */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wvla"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "tct_cli.h" /* system headers, then tc_test.h */

#define FIXTURE(name) tct_source_path("tests/fixtures/images/" name)

/* Loads path; fails the test with the library's message if it is refused. */
static void load_ok(const char *path, tc_image *img)
{
    tc_error err;
    char line[1024];
    if (tc_image_load(path, 0, img, &err) != TC_OK)
        fail_msg("%s refused: %s", path, tc_error_format(&err, line, sizeof line));
}

/* Checks size, channel count and every sample (|got - want| <= tol). */
static void expect_image(const tc_image *img, int w, int h, int c, const uint8_t *want, int tol,
                         const char *what)
{
    if (img->width != w || img->height != h || img->channels != c)
        fail_msg("%s: expected %d x %d x %d, got %d x %d x %d", what, w, h, c, img->width,
                 img->height, img->channels);
    for (int i = 0; i < w * h * c; i++) {
        int d = (int)img->pixels[i] - (int)want[i];
        if (d < -tol || d > tol)
            fail_msg("%s: sample %d (x %d, y %d, channel %d) is %d, expected %d (+-%d)", what, i,
                     i / c % w, i / c / w, i % c, img->pixels[i], want[i], tol);
    }
}

/* Pattern with distinct samples: (x * 53 + y * 19 + ch * 71 + 7) mod 256. */
static void pattern(uint8_t *px, int w, int h, int c)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                px[(y * w + x) * c + ch] = (uint8_t)((x * 53 + y * 19 + ch * 71 + 7) % 256);
}

static void png_any_channel_count(void **state)
{
    uint8_t px[5 * 3 * 4];
    char path[TCT_PATH_MAX];
    for (int c = 1; c <= 4; c++) {
        char name[32];
        snprintf(name, sizeof name, "c%d.png", c);
        pattern(px, 5, 3, c);
        if (!stbi_write_png(tct_join(path, sizeof path, *state, name), 5, 3, c, px, 5 * c))
            fail_msg("stbi_write_png failed");
        tc_image img;
        load_ok(path, &img);
        expect_image(&img, 5, 3, c, px, 0, name);
        tc_image_free(&img);
        assert_null(img.pixels);
    }
}

static void bmp_rgb_rgba_and_gray(void **state)
{
    uint8_t px[7 * 2 * 4];
    uint8_t want[7 * 2 * 3];
    char path[TCT_PATH_MAX];
    tc_image img;
    for (int c = 3; c <= 4; c++) {
        pattern(px, 7, 2, c); /* 7 wide: rows need padding */
        stbi_write_bmp(tct_join(path, sizeof path, *state, "x.bmp"), 7, 2, c, px);
        load_ok(path, &img);
        expect_image(&img, 7, 2, c, px, 0, c == 3 ? "24-bit BMP" : "32-bit BMP");
        tc_image_free(&img);
    }
    /* stb writes gray as 24-bit BMP: it comes back as RGB with equal channels */
    pattern(px, 7, 2, 1);
    for (int i = 0; i < 14; i++)
        want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = px[i];
    stbi_write_bmp(path, 7, 2, 1, px);
    load_ok(path, &img);
    expect_image(&img, 7, 2, 3, want, 0, "gray written as BMP");
    tc_image_free(&img);
}

static void bmp_top_down(void **state)
{
    (void)state;
    /* 3 x 2 with a negative height (rows stored top first): red green blue / 3 x (10, 20, 30) */
    static const uint8_t want[] = {255, 0, 0, 0, 255, 0, 0, 0, 255,
                                   10, 20, 30, 10, 20, 30, 10, 20, 30};
    tc_image img;
    load_ok(FIXTURE("bmp_topdown.bmp"), &img);
    expect_image(&img, 3, 2, 3, want, 0, "top-down BMP");
    tc_image_free(&img);
}

/* The 16 x 16 ramps of tools/gen_image_fixtures.py: gray 8x + 4y + 40; RGB (that, 255 - that,
 * 128) as written there by Pillow at quality 100 without subsampling; or (200, 40, 90) flat. */
static void ramp(uint8_t *want, int c, bool flat)
{
    for (int i = 0; i < 256; i++) {
        uint8_t g = (uint8_t)(8 * (i % 16) + 4 * (i / 16) + 40);
        const uint8_t px[3] = {flat ? 200 : g, flat ? 40 : (uint8_t)(255 - g), flat ? 90 : 128};
        memcpy(want + i * c, px, (size_t)c);
    }
}

static void jpeg_baseline_and_progressive(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int channels;
        bool flat;
    } cases[] = {
        {"jpeg_baseline_gray.jpg", 1, false},
        {"jpeg_baseline_rgb.jpg", 3, false},
        {"jpeg_progressive_gray.jpg", 1, false},
        {"jpeg_progressive_rgb.jpg", 3, true},
    };
    uint8_t want[16 * 16 * 3];
    char rel[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_image img;
        ramp(want, cases[i].channels, cases[i].flat);
        snprintf(rel, sizeof rel, "tests/fixtures/images/%s", cases[i].name);
        load_ok(tct_source_path(rel), &img);
        /* quality 100 keeps a smooth ramp within a few levels */
        expect_image(&img, 16, 16, cases[i].channels, want, 3, cases[i].name);
        tc_image_free(&img);
    }
}

static void pgm_ppm_written_by_hand(void **state)
{
    char path[TCT_PATH_MAX];
    tc_image img;
    static const char pgm[] = "P5\n# a comment\n3 2\n255\n\x01\x02\x03\xfd\xfe\xff";
    static const uint8_t pgm_px[] = {1, 2, 3, 253, 254, 255};
    tct_write_file(tct_join(path, sizeof path, *state, "a.pgm"), pgm, sizeof pgm - 1);
    load_ok(path, &img);
    expect_image(&img, 3, 2, 1, pgm_px, 0, "PGM");
    tc_image_free(&img);
    static const char ppm[] = "P6 2 1 255\n\x0a\x14\x1e\xc8\x28\x5a";
    static const uint8_t ppm_px[] = {10, 20, 30, 200, 40, 90};
    tct_write_file(path, ppm, sizeof ppm - 1);
    load_ok(path, &img);
    expect_image(&img, 2, 1, 3, ppm_px, 0, "PPM");
    tc_image_free(&img);
    /* 16-bit (maxval 65535, big-endian): k * 257 is exactly 8-bit k */
    static const char pgm16[] = "P5 3 1 65535\n\x00\x00\x80\x80\xff\xff";
    static const uint8_t pgm16_px[] = {0, 128, 255};
    tct_write_file(path, pgm16, sizeof pgm16 - 1);
    load_ok(path, &img);
    expect_image(&img, 3, 1, 1, pgm16_px, 0, "16-bit PGM");
    tc_image_free(&img);
}

static void pgm_maxval_is_honoured(void **state)
{
    (void)state;
    /* samples 0 7 15 of maxval 15 are 0, 7/15 and all of 255: either scale them (0 119 255) or
     * refuse the file; decoding them as 0 7 15 would silently feed a wrong tensor */
    static const uint8_t want[] = {0, 119, 255};
    tc_image img;
    tc_error err;
    char line[1024];
    if (tc_image_load(FIXTURE("pgm_maxval_15.pgm"), 0, &img, &err) != TC_OK) {
        assert_non_null(strstr(tc_error_format(&err, line, sizeof line), "maxval"));
        return;
    }
    expect_image(&img, 3, 1, 1, want, 0, "PGM with maxval 15");
    tc_image_free(&img);
}

static void png_16_bit(void **state)
{
    (void)state;
    /* 16-bit samples keep their high byte (0x1234 -> 0x12; also the nearest 8-bit value) */
    static const uint8_t gray[] = {0x00, 0x12, 0xab, 0xff};
    static const uint8_t rgba[] = {255, 128, 0, 255, 0x12, 0xab, 127, 0};
    tc_image img;
    load_ok(FIXTURE("png16_gray.png"), &img);
    expect_image(&img, 4, 1, 1, gray, 0, "16-bit gray PNG");
    tc_image_free(&img);
    load_ok(FIXTURE("png16_rgba.png"), &img);
    expect_image(&img, 2, 1, 4, rgba, 0, "16-bit RGBA PNG");
    tc_image_free(&img);
}

static void png_palette(void **state)
{
    (void)state;
    /* palette: 0 red, 1 green, 2 blue, 3 (10, 20, 30); tRNS gives entries 0..2 alpha 255 128 0 */
    static const uint8_t p8[] = {10, 20, 30, 0, 0, 255, 0, 255, 0, 255, 0, 0};
    static const uint8_t trns[] = {10, 20, 30, 255, 0, 0, 255, 0, 0, 255, 0, 128, 255, 0, 0, 255};
    static const uint8_t p2[] = {255, 0,  0,  0,  255, 0,  0,  0,  255, 10,  20, 30, 0, 255, 0,
                                 10,  20, 30, 10, 20,  30, 255, 0, 0,   255, 0,  0,  0, 0,   255};
    tc_image img;
    load_ok(FIXTURE("png_palette.png"), &img);
    expect_image(&img, 4, 1, 3, p8, 0, "8-bit palette PNG");
    tc_image_free(&img);
    load_ok(FIXTURE("png_palette_trns.png"), &img);
    expect_image(&img, 4, 1, 4, trns, 0, "palette PNG with tRNS");
    tc_image_free(&img);
    load_ok(FIXTURE("png_palette_2bit.png"), &img);
    expect_image(&img, 5, 2, 3, p2, 0, "2-bit palette PNG");
    tc_image_free(&img);
}

static void png_low_bit_depth_interlace_filters(void **state)
{
    (void)state;
    static const uint8_t bits[] = {255, 0, 255, 0, 0, 255, 255, 255, 0, 0};
    static const uint8_t trns[] = {0, 255, 100, 0, 200, 255}; /* gray 100 is transparent */
    uint8_t adam7[81];
    uint8_t filters[4 * 5 * 3];
    tc_image img;
    load_ok(FIXTURE("png_gray_1bit.png"), &img);
    expect_image(&img, 10, 1, 1, bits, 0, "1-bit gray PNG");
    tc_image_free(&img);
    load_ok(FIXTURE("png_gray_trns.png"), &img);
    expect_image(&img, 3, 1, 2, trns, 0, "gray PNG with tRNS");
    tc_image_free(&img);
    for (int i = 0; i < 81; i++)
        adam7[i] = (uint8_t)(20 * (i / 9) + i % 9);
    load_ok(FIXTURE("png_interlaced.png"), &img);
    expect_image(&img, 9, 9, 1, adam7, 0, "Adam7-interlaced PNG");
    tc_image_free(&img);
    for (int y = 0; y < 5; y++) {
        for (int x = 0; x < 4; x++) {
            uint8_t *p = filters + (y * 4 + x) * 3;
            p[0] = (uint8_t)((37 * x + 11 * y) % 256);
            p[1] = (uint8_t)(((200 - 13 * x * y) % 256 + 256) % 256);
            p[2] = (uint8_t)((x * x + 50 * y) % 256);
        }
    }
    load_ok(FIXTURE("png_filters.png"), &img);
    expect_image(&img, 4, 5, 3, filters, 0, "PNG using filters None, Sub, Up, Average, Paeth");
    tc_image_free(&img);
}

static void decode_from_memory_and_arguments(void **state)
{
    (void)state;
    /* "P5 2 1 255" + two samples */
    static const char pgm[] = "P5 2 1 255\n\x05\x06";
    static const uint8_t want[] = {5, 6};
    tc_image img;
    tc_error err;
    assert_int_equal(tc_image_decode(pgm, sizeof pgm - 1, 0, &img, &err), TC_OK);
    expect_image(&img, 2, 1, 1, want, 0, "PGM in memory");
    tc_image_free(&img);
    tc_image_free(&img); /* zeroed: a second free is harmless */
    tc_image_free(NULL);
    assert_int_equal(tc_image_decode(pgm, sizeof pgm - 1, 0, NULL, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_image_decode(NULL, 4, 0, &img, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_image_load(NULL, 0, &img, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_image_decode(pgm, 0, 0, &img, NULL), TC_ERR_RANGE); /* err may be NULL */
}

static void pixel_limit(void **state)
{
    uint8_t px[10 * 10];
    char path[TCT_PATH_MAX];
    char line[1024];
    tc_image img;
    tc_error err;
    pattern(px, 10, 10, 1);
    stbi_write_png(tct_join(path, sizeof path, *state, "ten.png"), 10, 10, 1, px, 10);
    assert_int_equal(tc_image_load(path, 99, &img, &err), TC_ERR_LIMIT);
    assert_null(img.pixels);
    tc_error_format(&err, line, sizeof line);
    if (!strstr(line, "10 x 10") || !strstr(line, "99") || !strstr(line, "ten.png"))
        fail_msg("limit message lacks the size, the limit or the file: \"%s\"", line);
    assert_int_equal(tc_image_load(path, 100, &img, &err), TC_OK); /* exactly at the limit */
    tc_image_free(&img);
}

#define WITH_DIR(f) cmocka_unit_test_setup_teardown(f, tct_tmpdir_setup, tct_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_DIR(png_any_channel_count),
        WITH_DIR(bmp_rgb_rgba_and_gray),
        cmocka_unit_test(bmp_top_down),
        cmocka_unit_test(jpeg_baseline_and_progressive),
        WITH_DIR(pgm_ppm_written_by_hand),
        cmocka_unit_test(pgm_maxval_is_honoured),
        cmocka_unit_test(png_16_bit),
        cmocka_unit_test(png_palette),
        cmocka_unit_test(png_low_bit_depth_interlace_filters),
        cmocka_unit_test(decode_from_memory_and_arguments),
        WITH_DIR(pixel_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
