/*
 * test_eval.c - the idx reader (tc_idx_read, tc_idx_free, engine/idx.c), its gzip inflation
 * (tc_gunzip, engine/image.c) and `tinycnn eval` (tools/cli_eval.c).
 *
 * Plain idx files are written here byte by byte. Gzipped ones are either committed fixtures
 * (tests/fixtures/idx/, made by the Python script in its README.md, whose contents are listed
 * there) or built here with a single stored deflate block and a bitwise CRC-32, so no zlib is
 * needed. An idx file is: 00 00 08 ndim, ndim big-endian uint32 sizes, then the bytes.
 *
 * The model for eval is tests/fixtures/images/tiny_2x2.json: a 2 x 2 gray input x = pixels / 255
 * (x0 x1 / x2 x3), flatten, dense to logits [4 x0, 4 x3, x0 + x1 + x2 + x3 - 1], softmax, labels
 * top_left, bottom_right, flat. Softmax keeps the order, so the predicted class is the largest
 * logit; every image below is chosen so that it wins by at least 0.1 (no ties, no rounding
 * question). tiny_2x2_scores.json is the same model without softmax and labels, input [2, 2].
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_spawn, dirent (tct_cli.h) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tct_cli.h" /* system headers, then tc_test.h */

#include <cjson/cJSON.h>

#include "tc_internal.h" /* tc_gunzip */

#define MODEL "tests/fixtures/images/tiny_2x2.json"
#define MODEL_SCORES "tests/fixtures/images/tiny_2x2_scores.json"
#define FIXTURES "tests/fixtures/idx/"

/* ---- files ---- */

/* Builds an idx file of unsigned bytes in buf: 00 00 08 ndim, big-endian sizes, then n bytes
 * of data. Returns its length. */
static size_t make_idx(uint8_t *buf, size_t cap, const uint32_t *dims, int ndim,
                       const uint8_t *data, size_t n)
{
    size_t len = 4 + 4 * (size_t)ndim + n;
    if (len > cap)
        fail_msg("idx file of %zu bytes does not fit in %zu", len, cap);
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++) {
        uint8_t *p = buf + 4 + 4 * d;
        p[0] = (uint8_t)(dims[d] >> 24);
        p[1] = (uint8_t)(dims[d] >> 16);
        p[2] = (uint8_t)(dims[d] >> 8);
        p[3] = (uint8_t)dims[d];
    }
    if (n > 0)
        memcpy(buf + 4 + 4 * (size_t)ndim, data, n);
    return len;
}

/* Writes dir/name as an idx file (see make_idx); path gets its full name. */
static void write_idx(const char *dir, const char *name, const uint32_t *dims, int ndim,
                      const uint8_t *data, size_t n, char *path, size_t path_len)
{
    uint8_t buf[256];
    size_t len = make_idx(buf, sizeof buf, dims, ndim, data, n);
    tct_write_file(tct_join(path, path_len, dir, name), buf, len);
}

/* CRC-32 of RFC 1952 (reflected polynomial 0xEDB88320), bit by bit. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Builds a gzip file holding data (n < 65536) in one stored deflate block: the 10-byte header
 * 1f 8b 08 00 00000000 00 ff, the block 01 LEN ~LEN (little-endian) data, CRC-32 and ISIZE
 * (little-endian). Returns its length (18 + 5 + n). */
static size_t make_gzip_stored(uint8_t *buf, size_t cap, const uint8_t *data, size_t n)
{
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    size_t len = 10 + 5 + n + 8;
    if (n > 0xFFFF || len > cap)
        fail_msg("gzip file of %zu bytes does not fit", len);
    memcpy(buf, header, 10);
    uint8_t *b = buf + 10;
    b[0] = 0x01; /* BFINAL = 1, BTYPE = 00 (stored) */
    b[1] = (uint8_t)n;
    b[2] = (uint8_t)(n >> 8);
    b[3] = (uint8_t)~n;
    b[4] = (uint8_t)(~n >> 8);
    if (n > 0)
        memcpy(b + 5, data, n);
    uint32_t crc = crc32_bitwise(data, n);
    uint8_t *t = b + 5 + n;
    for (int k = 0; k < 4; k++) {
        t[k] = (uint8_t)(crc >> (8 * k));
        t[4 + k] = (uint8_t)(n >> (8 * k));
    }
    return len;
}

/* Reads a committed fixture into a test_malloc'd buffer of exactly its size. */
static uint8_t *read_fixture(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, FIXTURES "%s", name);
    const char *path = tct_source_path(rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    uint8_t tmp[4096];
    size_t n = fread(tmp, 1, sizeof tmp, f);
    fclose(f);
    if (n == 0 || n == sizeof tmp)
        fail_msg("%s: unexpected size %zu", path, n);
    uint8_t *buf = test_malloc(n);
    memcpy(buf, tmp, n);
    *len = n;
    return buf;
}

/* ---- the data (worked out by hand; see tests/fixtures/idx/README.md for the .gz files) ---- */

/* images3: [3, 2, 2], all twelve bytes different so that any reordering shows. */
static const uint8_t images3[12] = {250, 1, 2, 3, 4, 5, 6, 240, 7, 160, 150, 8};
static const uint32_t images3_dims[3] = {3, 2, 2};
/* labels3: [3] */
static const uint8_t labels3[3] = {0, 2, 2};
static const uint32_t labels3_dims[1] = {3};
/* labels20_lookahead.idx.gz holds [20] with label i = (7 i + i / 3) mod 10:
 * i = 0..19: 0, 7, 14, 21+1, 28+1, 35+1, 42+2, 49+2, 56+2, 63+3, 70+3, 77+3, 84+4, 91+4, 98+4,
 * 105+5, 112+5, 119+5, 126+6, 133+6, each mod 10. */
static const uint8_t labels20[20] = {0, 7, 4, 2, 9, 6, 4, 1, 8, 6, 3, 0, 8, 5, 2, 0, 7, 4, 2, 9};

/* ---- tc_idx_read: reading ---- */

static void expect_idx(const tc_idx *idx, const uint32_t *dims, int ndim, const uint8_t *data,
                       size_t n)
{
    assert_int_equal(idx->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        assert_int_equal(idx->dim[d], dims[d]);
    for (int d = ndim; d < 4; d++)
        assert_int_equal(idx->dim[d], 0);
    assert_int_equal(idx->numel, n);
    assert_non_null(idx->data);
    if (n > 0)
        assert_memory_equal(idx->data, data, n);
}

/* Reads path, which must succeed; fails the test with the library's message otherwise. */
static void read_ok(const char *path, tc_idx *idx)
{
    tc_error err;
    char line[1024];
    memset(idx, 0xA5, sizeof *idx);
    if (tc_idx_read(path, idx, &err) != TC_OK)
        fail_msg("tc_idx_read(%s): %s", path, tc_error_format(&err, line, sizeof line));
    assert_int_equal(err.code, TC_OK);
}

static void idx_plain_images_and_labels(void **state)
{
    char path[TCT_PATH_MAX];
    tc_idx idx;
    write_idx(*state, "images.idx", images3_dims, 3, images3, 12, path, sizeof path);
    read_ok(path, &idx);
    expect_idx(&idx, images3_dims, 3, images3, 12);
    /* the first image is 250 1 / 2 3, the last 7 160 / 150 8 */
    assert_int_equal(idx.data[0], 250);
    assert_int_equal(idx.data[11], 8);
    tc_idx_free(&idx);
    assert_null(idx.data);
    assert_int_equal(idx.numel, 0);
    assert_int_equal(idx.ndim, 0);

    write_idx(*state, "labels.idx", labels3_dims, 1, labels3, 3, path, sizeof path);
    read_ok(path, &idx);
    expect_idx(&idx, labels3_dims, 1, labels3, 3);
    tc_idx_free(&idx);
}

static void idx_gzipped_fixtures(void **state)
{
    (void)state;
    tc_idx idx;
    read_ok(tct_source_path(FIXTURES "images3.idx.gz"), &idx);
    expect_idx(&idx, images3_dims, 3, images3, 12);
    tc_idx_free(&idx);

    read_ok(tct_source_path(FIXTURES "labels3.idx.gz"), &idx);
    expect_idx(&idx, labels3_dims, 1, labels3, 3);
    tc_idx_free(&idx);

    /* as the gzip command writes it: the FNAME flag and "labels3.idx\0" after the header */
    read_ok(tct_source_path(FIXTURES "labels3_fname.idx.gz"), &idx);
    expect_idx(&idx, labels3_dims, 1, labels3, 3);
    tc_idx_free(&idx);
}

/* Regression (commit e809f8e): stb_image's inflater reads ahead past the last deflate symbol;
 * when tc_gunzip handed it the deflate body without the 8 trailer bytes, this 44-byte file (and
 * Fashion-MNIST's label file) failed with "premature end". */
static void idx_gzip_lookahead_regression(void **state)
{
    (void)state;
    static const uint32_t dims[1] = {20};
    tc_idx idx;
    read_ok(tct_source_path(FIXTURES "labels20_lookahead.idx.gz"), &idx);
    expect_idx(&idx, dims, 1, labels20, 20);
    for (size_t i = 0; i < 20; i++) /* the formula itself, against the table above */
        assert_int_equal(idx.data[i], (i * 7 + i / 3) % 10);
    tc_idx_free(&idx);

    /* the same through tc_gunzip on a buffer of exactly the file's 44 bytes */
    size_t len;
    uint8_t *gz = read_fixture("labels20_lookahead.idx.gz", &len);
    assert_int_equal(len, 44);
    uint8_t *out = NULL;
    size_t out_len = 0;
    tc_error err;
    tc_error_clear(&err); /* tc_gunzip is internal: its callers clear the error first */
    char line[1024];
    if (tc_gunzip(gz, len, 1000, &out, &out_len, &err) != TC_OK)
        fail_msg("tc_gunzip: %s", tc_error_format(&err, line, sizeof line));
    static const uint8_t header[8] = {0, 0, 8, 1, 0, 0, 0, 20};
    assert_int_equal(out_len, 28);
    assert_memory_equal(out, header, 8);
    assert_memory_equal(out + 8, labels20, 20);
    test_free(out);

    /* the trailer says 28 bytes: a limit of 27 refuses it before inflating */
    out = (uint8_t *)gz; /* must be reset to NULL */
    assert_int_equal(tc_gunzip(gz, len, 27, &out, &out_len, &err), TC_ERR_LIMIT);
    assert_non_null(strstr(err.message, "claims 28 bytes uncompressed, above the limit of 27"));
    assert_null(out);
    assert_int_equal(out_len, 0);
    test_free(gz);
}

/* Gzip files built here with a stored block: any content, a correct CRC. */
static void idx_gzip_stored_block(void **state)
{
    char path[TCT_PATH_MAX];
    uint8_t plain[64];
    uint8_t gz[128];
    size_t n = make_idx(plain, sizeof plain, images3_dims, 3, images3, 12);
    size_t len = make_gzip_stored(gz, sizeof gz, plain, n);
    assert_int_equal(len, 18 + 5 + 28);
    tct_write_file(tct_join(path, sizeof path, *state, "stored.idx.gz"), gz, len);
    tc_idx idx;
    read_ok(path, &idx);
    expect_idx(&idx, images3_dims, 3, images3, 12);
    tc_idx_free(&idx);
}

/* Edge cases that are valid: 4 dimensions (the most), an empty data set. */
static void idx_four_dims_and_zero_count(void **state)
{
    char path[TCT_PATH_MAX];
    tc_idx idx;
    static const uint32_t dims4[4] = {1, 1, 2, 3};
    static const uint8_t six[6] = {9, 8, 7, 6, 5, 4};
    write_idx(*state, "four.idx", dims4, 4, six, 6, path, sizeof path);
    read_ok(path, &idx);
    expect_idx(&idx, dims4, 4, six, 6);
    tc_idx_free(&idx);

    static const uint32_t zero[3] = {0, 28, 28};
    write_idx(*state, "none.idx", zero, 3, NULL, 0, path, sizeof path);
    read_ok(path, &idx);
    expect_idx(&idx, zero, 3, NULL, 0);
    tc_idx_free(&idx);

    /* every byte of a size counts, big-endian (no data: the first size is 0) */
    static const uint32_t wide[3] = {0, 0x01020304u, 0xA0B0C0D0u};
    write_idx(*state, "wide.idx", wide, 3, NULL, 0, path, sizeof path);
    read_ok(path, &idx);
    assert_int_equal(idx.dim[1], 16909060);   /* 1 * 2^24 + 2 * 2^16 + 3 * 2^8 + 4 */
    assert_int_equal(idx.dim[2], 2695938256); /* 160 * 2^24 + 176 * 2^16 + 192 * 2^8 + 208 */
    expect_idx(&idx, wide, 3, NULL, 0);
    tc_idx_free(&idx);
    tc_idx_free(&idx); /* twice: a no-op */
    tc_idx_free(NULL);
}

/* ---- tc_idx_read: refusals ---- */

/* Reading path must fail with code and a message containing needle, name path in err.file and
 * leave *out zeroed (it starts filled with 0xA5). */
static void expect_idx_error(const char *path, tc_status code, const char *needle)
{
    tc_idx out;
    tc_error err;
    char line[1024];
    memset(&out, 0xA5, sizeof out);
    tc_status st = tc_idx_read(path, &out, &err);
    tc_error_format(&err, line, sizeof line);
    if (st != code || err.code != code || strstr(err.message, needle) == NULL)
        fail_msg("%s: expected %s with \"%s\", got %s: %s", path, tc_status_str(code), needle,
                 tc_status_str(st), line);
    assert_string_equal(err.file, path);
    assert_null(out.data);
    assert_int_equal(out.ndim, 0);
    assert_int_equal(out.numel, 0);
    for (int d = 0; d < 4; d++)
        assert_int_equal(out.dim[d], 0);
}

static void expect_bytes_error(const char *dir, const char *name, const void *data, size_t len,
                               tc_status code, const char *needle)
{
    char path[TCT_PATH_MAX];
    tct_write_file(tct_join(path, sizeof path, dir, name), data, len);
    expect_idx_error(path, code, needle);
}

static void idx_bad_magic(void **state)
{
    static const uint8_t b1[9] = {0x00, 0x01, 0x08, 0x01, 0, 0, 0, 1, 5};
    static const uint8_t b2[9] = {0x01, 0x00, 0x08, 0x01, 0, 0, 0, 1, 5};
    static const uint8_t pgm[12] = {'P', '5', ' ', '2', ' ', '1', ' ', '2', '5', '5', '\n', 0};
    static const uint8_t three[3] = {0, 0, 8}; /* too short for a magic number */
    expect_bytes_error(*state, "b1.idx", b1, sizeof b1, TC_ERR_RANGE, "bad magic number");
    expect_bytes_error(*state, "b2.idx", b2, sizeof b2, TC_ERR_RANGE, "bad magic number");
    expect_bytes_error(*state, "p.idx", pgm, sizeof pgm, TC_ERR_RANGE, "bad magic number");
    expect_bytes_error(*state, "3.idx", three, sizeof three, TC_ERR_RANGE, "bad magic number");
}

static void idx_unsupported_element_type(void **state)
{
    /* 0x0D is float32 in the idx format: one element of 4 bytes */
    static const uint8_t f32[12] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f};
    static const uint8_t s8[9] = {0, 0, 0x09, 1, 0, 0, 0, 1, 0xff};
    expect_bytes_error(*state, "f.idx", f32, sizeof f32, TC_ERR_RANGE,
                       "idx element type 0x0d is not supported");
    expect_bytes_error(*state, "s.idx", s8, sizeof s8, TC_ERR_RANGE,
                       "idx element type 0x09 is not supported");
}

static void idx_zero_or_five_dimensions(void **state)
{
    static const uint8_t zero[5] = {0, 0, 8, 0, 7};
    uint8_t five[4 + 20 + 1] = {0, 0, 8, 5};
    for (int d = 0; d < 5; d++)
        five[4 + 4 * d + 3] = 1; /* [1, 1, 1, 1, 1] */
    five[24] = 42;
    expect_bytes_error(*state, "z.idx", zero, sizeof zero, TC_ERR_RANGE,
                       "idx files with 0 dimensions are not supported");
    expect_bytes_error(*state, "5.idx", five, sizeof five, TC_ERR_RANGE,
                       "idx files with 5 dimensions are not supported");
}

static void idx_truncated_header(void **state)
{
    /* 3 dimensions need 16 header bytes; 10 are there */
    static const uint8_t h[10] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0};
    static const uint8_t h4[4] = {0, 0, 8, 1}; /* the magic number and nothing else */
    expect_bytes_error(*state, "h.idx", h, sizeof h, TC_ERR_RANGE, "truncated idx header");
    expect_bytes_error(*state, "h4.idx", h4, sizeof h4, TC_ERR_RANGE, "truncated idx header");
}

static void idx_data_shorter_or_longer(void **state)
{
    uint8_t buf[64];
    uint8_t data[13];
    memcpy(data, images3, 12);
    data[12] = 99;
    /* [3, 2, 2] declares 12 bytes */
    size_t len = make_idx(buf, sizeof buf, images3_dims, 3, data, 11);
    expect_bytes_error(*state, "short.idx", buf, len, TC_ERR_RANGE,
                       "the header declares 12 bytes of data but the file holds 11");
    len = make_idx(buf, sizeof buf, images3_dims, 3, data, 13);
    expect_bytes_error(*state, "long.idx", buf, len, TC_ERR_RANGE,
                       "the header declares 12 bytes of data but the file holds 13");
    /* labels [3] with no data at all */
    len = make_idx(buf, sizeof buf, labels3_dims, 1, NULL, 0);
    expect_bytes_error(*state, "nodata.idx", buf, len, TC_ERR_RANGE,
                       "the header declares 3 bytes of data but the file holds 0");
    /* (2^32 - 1)^3 elements do not fit in a size_t */
    static const uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    len = make_idx(buf, sizeof buf, huge, 3, data, 1);
    expect_bytes_error(*state, "huge.idx", buf, len, TC_ERR_RANGE, "idx dimensions overflow");
}

/* A valid gzip stream holding a malformed idx: the idx checks run on the inflated bytes. */
static void idx_gzipped_but_malformed(void **state)
{
    uint8_t plain[64];
    uint8_t gz[128];
    size_t n = make_idx(plain, sizeof plain, images3_dims, 3, images3, 11);
    size_t len = make_gzip_stored(gz, sizeof gz, plain, n);
    expect_bytes_error(*state, "short.idx.gz", gz, len, TC_ERR_RANGE,
                       "the header declares 12 bytes of data but the file holds 11");
    plain[2] = 0x0B; /* int16 */
    len = make_gzip_stored(gz, sizeof gz, plain, n);
    expect_bytes_error(*state, "type.idx.gz", gz, len, TC_ERR_RANGE,
                       "idx element type 0x0b is not supported");
    len = make_gzip_stored(gz, sizeof gz, NULL, 0); /* inflates to nothing */
    expect_bytes_error(*state, "empty.idx.gz", gz, len, TC_ERR_RANGE, "bad magic number");
}

static void idx_gzip_corrupt(void **state)
{
    size_t len;
    uint8_t *gz = read_fixture("labels3.idx.gz", &len); /* inflates to 11 bytes */
    assert_int_equal(len, 31);
    uint8_t bad[64];

    /* the first deflate byte is 0x63: BFINAL 1, BTYPE 01 (fixed Huffman); setting bits 1-2
     * makes BTYPE 11, which is reserved */
    assert_int_equal(gz[10], 0x63);
    memcpy(bad, gz, len);
    bad[10] |= 0x06;
    expect_bytes_error(*state, "btype.idx.gz", bad, len, TC_ERR_RANGE,
                       "corrupt gzip data (inflated -1 bytes, header says 11)");

    /* ISIZE (the last 4 bytes, little-endian) changed from 11 to 12 and to 10 */
    assert_int_equal(gz[len - 4], 11);
    memcpy(bad, gz, len);
    bad[len - 4] = 12;
    expect_bytes_error(*state, "isize12.idx.gz", bad, len, TC_ERR_RANGE,
                       "corrupt gzip data (inflated 11 bytes, header says 12)");
    bad[len - 4] = 10;
    expect_bytes_error(*state, "isize10.idx.gz", bad, len, TC_ERR_RANGE,
                       "inflated 11 bytes, header says 10");

    /* a damaged CRC-32 (the 4 bytes before ISIZE): the data inflates but is not what was
     * written */
    memcpy(bad, gz, len);
    bad[len - 8] ^= 0x01;
    expect_bytes_error(*state, "crc.idx.gz", bad, len, TC_ERR_RANGE,
                       "CRC-32 of the 11 inflated bytes is not the trailer's");
    /* and a stored block whose data byte changed, with the original CRC */
    {
        uint8_t plain[16], stored[64];
        size_t n = make_idx(plain, sizeof plain, labels3_dims, 1, labels3, 3);
        size_t slen = make_gzip_stored(stored, sizeof stored, plain, n);
        stored[slen - 9] ^= 0x01; /* the last data byte (label 2), before the 8-byte trailer */
        expect_bytes_error(*state, "flip.idx.gz", stored, slen, TC_ERR_RANGE, "CRC-32");
    }

    /* a gzip header with a compression method other than 8 (deflate) */
    memcpy(bad, gz, len);
    bad[2] = 7;
    expect_bytes_error(*state, "cm.idx.gz", bad, len, TC_ERR_RANGE, "not a gzip file");
    test_free(gz);

    /* a stored block whose LEN and NLEN do not complement each other */
    uint8_t plain[16];
    size_t n = make_idx(plain, sizeof plain, labels3_dims, 1, labels3, 3);
    len = make_gzip_stored(bad, sizeof bad, plain, n);
    bad[13] ^= 0x01; /* NLEN's low byte */
    expect_bytes_error(*state, "nlen.idx.gz", bad, len, TC_ERR_RANGE, "corrupt gzip data");
}

static void idx_gzip_truncated(void **state)
{
    size_t len;
    uint8_t *gz = read_fixture("labels3_fname.idx.gz", &len);
    assert_int_equal(len, 43);
    /* the name "labels3.idx\0" ends at byte 22; 25 bytes cannot hold it and an 8-byte trailer */
    expect_bytes_error(*state, "cut25.idx.gz", gz, 25, TC_ERR_RANGE, "truncated gzip file");
    /* shorter than the 18 bytes of the smallest gzip file */
    expect_bytes_error(*state, "cut17.idx.gz", gz, 17, TC_ERR_RANGE, "not a gzip file");
    test_free(gz);

    /* no prefix of the regression file reads as an idx file (from 2 bytes on it has the gzip
     * signature: the trailer is then read from the wrong place, or the data is cut short) */
    gz = read_fixture("labels20_lookahead.idx.gz", &len);
    char path[TCT_PATH_MAX];
    tct_join(path, sizeof path, *state, "prefix.idx.gz");
    for (size_t cut = 1; cut < len; cut++) {
        tct_write_file(path, gz, cut);
        tc_idx out;
        tc_error err;
        memset(&out, 0xA5, sizeof out);
        tc_status st = tc_idx_read(path, &out, &err);
        if (st != TC_ERR_RANGE && st != TC_ERR_LIMIT)
            fail_msg("the first %zu of %zu bytes: got %s", cut, len, tc_status_str(st));
        assert_null(out.data);
        assert_int_equal(out.numel, 0);
        assert_int_equal(out.ndim, 0);
    }
    test_free(gz);
}

static void idx_empty_missing_directory_null(void **state)
{
    expect_bytes_error(*state, "empty.idx", "", 0, TC_ERR_RANGE, "the file is empty");
    char path[TCT_PATH_MAX];
    expect_idx_error(tct_join(path, sizeof path, *state, "no_such.idx"), TC_ERR_IO,
                     "cannot open the file");
    expect_idx_error(*state, TC_ERR_IO, "not a regular file"); /* the scratch directory */

    tc_idx out;
    tc_error err;
    assert_int_equal(tc_idx_read(NULL, &out, &err), TC_ERR_ARGUMENT);
    assert_int_equal(tc_idx_read(path, NULL, &err), TC_ERR_ARGUMENT);
}

/* ---- tinycnn eval ---- */

/*
 * The data set: 6 images, their logits [4 x0, 4 x3, x0 + x1 + x2 + x3 - 1] and the class:
 *   0: 255   0 /   0   0   [4, 0, 0]                  -> 0
 *   1:   0   0 /   0 255   [0, 4, 0]                  -> 1
 *   2:   0 255 / 255   0   [0, 0, 1]                  -> 2
 *   3: 200  10 /  10  50   [3.137, 0.784, 0.059]      -> 0
 *   4:  10   0 /   0 200   [0.157, 3.137, -0.176]     -> 1
 *   5:   0 200 / 100   0   [0, 0, 0.176]              -> 2
 * labels 0 1 2 2 0 2: images 3 (true 2, predicted 0) and 4 (true 0, predicted 1) are wrong.
 * Correct 4 of 6. Confusion (rows true, columns predicted): [1 1 0] [0 1 0] [1 0 2]; per class
 * 1 of 2, 1 of 1, 2 of 3. The matrix is not symmetric, so a transposed one shows.
 */
static const uint8_t eval_images[24] = {255, 0,   0,   0, 0,  0, 0, 255, 0, 255, 255, 0,
                                        200, 10,  10,  50, 10, 0, 0, 200, 0, 200, 100, 0};
static const uint32_t eval_images_dims[3] = {6, 2, 2};
static const uint8_t eval_labels[6] = {0, 1, 2, 2, 0, 2};
static const uint32_t eval_labels_dims[1] = {6};

static const char eval_text[] =
    "accuracy: 0.6667 (4 of 6)\n"
    "\n"
    "per class:\n"
    "    0 top_left               0.5000 (1 of 2)\n"
    "    1 bottom_right           1.0000 (1 of 1)\n"
    "    2 flat                   0.6667 (2 of 3)\n"
    "\n"
    "confusion matrix (rows: true class, columns: predicted):\n"
    "          0     1     2\n"
    "    0     1     1     0\n"
    "    1     0     1     0\n"
    "    2     1     0     2\n";

static const char eval_json[] =
    "{\"accuracy\": 0.666667, \"correct\": 4, \"total\": 6, "
    "\"per_class\": [0.500000, 1.000000, 0.666667], "
    "\"confusion\": [[1, 1, 0], [0, 1, 0], [1, 0, 2]]}\n";

/* Writes the data set above as dir/images.idx and dir/labels.idx. */
static void write_eval_set(const char *dir, char *images, char *labels)
{
    write_idx(dir, "images.idx", eval_images_dims, 3, eval_images, 24, images, TCT_PATH_MAX);
    write_idx(dir, "labels.idx", eval_labels_dims, 1, eval_labels, 6, labels, TCT_PATH_MAX);
}

/* Runs the command; it must exit 0 with nothing on stderr (no progress bar: stderr is a file)
 * and no carriage return anywhere. Returns stdout (caller test_frees). */
static char *expect_success(const char *dir, const char *const *args)
{
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    if (r.status != 0 || r.err[0] != '\0' || strchr(r.out, '\r') != NULL)
        fail_msg("exit %d, stderr \"%.400s\", stdout \"%.400s\"", r.status, r.err, r.out);
    test_free(r.err);
    return r.out;
}

static void expect_failure(const char *dir, const char *const *args, int status,
                           const char *needle)
{
    tct_cli_result r;
    tct_cli_run(dir, args, &r);
    tct_cli_expect_failure(&r, status, needle);
    tct_cli_free(&r);
}

static void expect_output(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("expected:\n%s\ngot:\n%s", want, got);
}

static void eval_text_report(void **state)
{
    char images[TCT_PATH_MAX];
    char labels[TCT_PATH_MAX];
    write_eval_set(*state, images, labels);
    const char *model = tct_source_path(MODEL);
    /* one batch of 6 (default 64), batches of 4 + 2, and one image at a time */
    const char *a64[] = {"eval", "-m", model, "--images", images, "--labels", labels, NULL};
    const char *a4[] = {"eval", "--model", model, "--images", images, "--labels", labels,
                        "--batch", "4", NULL};
    const char *a1[] = {"eval", "-m", model, "--images", images, "--labels", labels, "-b", "1",
                        NULL};
    const char *const *runs[3] = {a64, a4, a1};
    for (int k = 0; k < 3; k++) {
        char *out = expect_success(*state, runs[k]);
        expect_output(out, eval_text);
        test_free(out);
    }
}

static void eval_json_report(void **state)
{
    char images[TCT_PATH_MAX];
    char labels[TCT_PATH_MAX];
    write_eval_set(*state, images, labels);
    const char *args[] = {"eval", "-m", tct_source_path(MODEL), "--images", images,
                          "--labels", labels, "--json", "--batch", "4", NULL};
    char *out = expect_success(*state, args);
    expect_output(out, eval_json);

    /* and it is JSON with those values */
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_true(cJSON_IsObject(root));
    assert_int_equal(cJSON_GetObjectItem(root, "correct")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(root, "total")->valueint, 6);
    assert_true(fabs(cJSON_GetObjectItem(root, "accuracy")->valuedouble - 4.0 / 6.0) < 1e-6);
    static const double per_class[3] = {0.5, 1.0, 2.0 / 3.0};
    static const int confusion[3][3] = {{1, 1, 0}, {0, 1, 0}, {1, 0, 2}};
    cJSON *pc = cJSON_GetObjectItem(root, "per_class");
    cJSON *cm = cJSON_GetObjectItem(root, "confusion");
    assert_int_equal(cJSON_GetArraySize(pc), 3);
    assert_int_equal(cJSON_GetArraySize(cm), 3);
    for (int c = 0; c < 3; c++) {
        assert_true(fabs(cJSON_GetArrayItem(pc, c)->valuedouble - per_class[c]) < 1e-6);
        cJSON *row = cJSON_GetArrayItem(cm, c);
        assert_int_equal(cJSON_GetArraySize(row), 3);
        for (int p = 0; p < 3; p++)
            assert_int_equal(cJSON_GetArrayItem(row, p)->valueint, confusion[c][p]);
    }
    cJSON_Delete(root);
    test_free(out);
}

/* The model without labels, input [H, W] rather than [1, H, W]: the same predictions, and the
 * label column is blank (20 spaces). */
static void eval_model_without_labels(void **state)
{
    char images[TCT_PATH_MAX];
    char labels[TCT_PATH_MAX];
    write_eval_set(*state, images, labels);
    const char *args[] = {"eval", "-m", tct_source_path(MODEL_SCORES), "--images", images,
                          "--labels", labels, NULL};
    char *out = expect_success(*state, args);
    static const char want[] =
        "accuracy: 0.6667 (4 of 6)\n"
        "\n"
        "per class:\n"
        "    0                        0.5000 (1 of 2)\n"
        "    1                        1.0000 (1 of 1)\n"
        "    2                        0.6667 (2 of 3)\n"
        "\n"
        "confusion matrix (rows: true class, columns: predicted):\n"
        "          0     1     2\n"
        "    0     1     1     0\n"
        "    1     0     1     0\n"
        "    2     1     0     2\n";
    expect_output(out, want);
    test_free(out);
}

/*
 * The gzipped fixtures: images3 (250 1 / 2 3: logits [3.92, 0.05, 0.004] -> 0;
 * 4 5 / 6 240: [0.06, 3.76, 0] -> 1; 7 160 / 150 8: [0.11, 0.13, 0.27] -> 2) with labels 0 2 2:
 * 2 of 3 correct, class 1 has no sample (0 of 0, reported as 0), confusion [1 0 0] [0 0 0]
 * [0 1 1].
 */
static void eval_gzipped_set(void **state)
{
    /* tct_source_path returns a static buffer: keep the paths apart */
    char model[TCT_PATH_MAX];
    char images[TCT_PATH_MAX];
    char labels[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    snprintf(images, sizeof images, "%s", tct_source_path(FIXTURES "images3.idx.gz"));
    snprintf(labels, sizeof labels, "%s", tct_source_path(FIXTURES "labels3.idx.gz"));
    const char *args[] = {"eval", "-m", model, "--images", images, "--labels", labels, "--json",
                          NULL};
    char *out = expect_success(*state, args);
    expect_output(out, "{\"accuracy\": 0.666667, \"correct\": 2, \"total\": 3, "
                       "\"per_class\": [1.000000, 0.000000, 0.500000], "
                       "\"confusion\": [[1, 0, 0], [0, 0, 0], [0, 1, 1]]}\n");
    test_free(out);

    args[7] = NULL; /* text */
    out = expect_success(*state, args);
    if (strstr(out, "accuracy: 0.6667 (2 of 3)\n") != out ||
        strstr(out, "    1 bottom_right           0.0000 (0 of 0)\n") == NULL ||
        strstr(out, "    2 flat                   0.5000 (1 of 2)\n") == NULL)
        fail_msg("unexpected report:\n%s", out);
    test_free(out);
}

static void eval_refuses_mismatched_data(void **state)
{
    const char *dir = *state;
    char images[TCT_PATH_MAX];
    char labels[TCT_PATH_MAX];
    char path[TCT_PATH_MAX];
    char needle[2 * TCT_PATH_MAX + 128];
    const char *model = tct_source_path(MODEL);
    write_eval_set(dir, images, labels);

    /* 5 labels for 6 images */
    static const uint32_t five[1] = {5};
    char labels5[TCT_PATH_MAX];
    write_idx(dir, "labels5.idx", five, 1, eval_labels, 5, labels5, sizeof labels5);
    const char *count[] = {"eval", "-m", model, "--images", images, "--labels", labels5, NULL};
    snprintf(needle, sizeof needle, "%s: 5 labels for 6 images in %s", labels5, images);
    expect_failure(dir, count, 2, needle);

    /* 3 x 3 images, and 2 x 3 (height right, width wrong), for a 2 x 2 input */
    uint8_t pixels[6 * 9] = {0};
    static const uint32_t d33[3] = {6, 3, 3};
    static const uint32_t d23[3] = {6, 2, 3};
    write_idx(dir, "i33.idx", d33, 3, pixels, sizeof pixels, path, sizeof path);
    const char *size33[] = {"eval", "-m", model, "--images", path, "--labels", labels, NULL};
    snprintf(needle, sizeof needle, "%s: images are 3 x 3 but the model input is [1, 2, 2]",
             path);
    expect_failure(dir, size33, 2, needle);
    write_idx(dir, "i23.idx", d23, 3, pixels, 36, path, sizeof path);
    snprintf(needle, sizeof needle, "%s: images are 2 x 3 but the model input is [1, 2, 2]",
             path);
    expect_failure(dir, size33, 2, needle);

    /* a label 3 for a model with 3 classes (0..2), at index 4 */
    uint8_t bad_labels[6];
    memcpy(bad_labels, eval_labels, 6);
    bad_labels[4] = 3;
    write_idx(dir, "labels_bad.idx", eval_labels_dims, 1, bad_labels, 6, path, sizeof path);
    const char *range[] = {"eval", "-m", model, "--images", images, "--labels", path, NULL};
    snprintf(needle, sizeof needle, "%s: label 4 is 3 but the model has 3 classes", path);
    expect_failure(dir, range, 2, needle);
    bad_labels[4] = 255;
    write_idx(dir, "labels_bad.idx", eval_labels_dims, 1, bad_labels, 6, path, sizeof path);
    expect_failure(dir, range, 2, "label 4 is 255 but the model has 3 classes");

    /* the labels file given as images, and the images file as labels */
    const char *swapped_i[] = {"eval", "-m", model, "--images", labels, "--labels", labels, NULL};
    snprintf(needle, sizeof needle, "%s: expected images of shape [N, H, W], got 1 dimensions",
             labels);
    expect_failure(dir, swapped_i, 2, needle);
    const char *swapped_l[] = {"eval", "-m", model, "--images", images, "--labels", images, NULL};
    snprintf(needle, sizeof needle, "%s: expected labels of shape [N], got 3 dimensions", images);
    expect_failure(dir, swapped_l, 2, needle);

    /* an empty data set: 0 images, 0 labels */
    static const uint32_t none_i[3] = {0, 2, 2};
    static const uint32_t none_l[1] = {0};
    char empty_i[TCT_PATH_MAX];
    write_idx(dir, "none_i.idx", none_i, 3, NULL, 0, empty_i, sizeof empty_i);
    write_idx(dir, "none_l.idx", none_l, 1, NULL, 0, path, sizeof path);
    const char *empty[] = {"eval", "-m", model, "--images", empty_i, "--labels", path, NULL};
    snprintf(needle, sizeof needle, "%s: the data set is empty", empty_i);
    expect_failure(dir, empty, 2, needle);
}

static void eval_refuses_missing_or_bad_files(void **state)
{
    const char *dir = *state;
    char images[TCT_PATH_MAX];
    char labels[TCT_PATH_MAX];
    char missing[TCT_PATH_MAX];
    char model[TCT_PATH_MAX];
    snprintf(model, sizeof model, "%s", tct_source_path(MODEL));
    write_eval_set(dir, images, labels);
    tct_join(missing, sizeof missing, dir, "no_such.idx");

    const char *no_images[] = {"eval", "-m", model, "--images", missing, "--labels", labels,
                               NULL};
    expect_failure(dir, no_images, 2, "no_such.idx: cannot open the file");
    const char *no_labels[] = {"eval", "-m", model, "--images", images, "--labels", missing,
                               NULL};
    expect_failure(dir, no_labels, 2, "no_such.idx: cannot open the file");
    char no_model[TCT_PATH_MAX];
    tct_join(no_model, sizeof no_model, dir, "no_such_model.json");
    const char *no_mod[] = {"eval", "-m", no_model, "--images", images, "--labels", labels, NULL};
    expect_failure(dir, no_mod, 2, "no_such_model.json");

    /* a malformed idx file */
    static const uint8_t bad[9] = {0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 0};
    char bad_path[TCT_PATH_MAX];
    tct_write_file(tct_join(bad_path, sizeof bad_path, dir, "bad.idx"), bad, sizeof bad);
    const char *bad_images[] = {"eval", "-m", model, "--images", bad_path, "--labels", labels,
                                NULL};
    expect_failure(dir, bad_images, 2, "bad.idx: not an idx file (bad magic number)");

    /* a model whose input is not an image */
    static const char vec_model[] =
        "{\"format\": \"tinycnn\", \"version\": 1, \"input\": {\"shape\": [4]},\n"
        " \"layers\": [{\"name\": \"fc\", \"type\": \"dense\", \"in_features\": 4,\n"
        "   \"out_features\": 2, \"weight\": [[1, 0, 0, 0], [0, 1, 0, 0]], \"bias\": [0, 0]}]}\n";
    char vec[TCT_PATH_MAX];
    tct_write_file(tct_join(vec, sizeof vec, dir, "vec.json"), vec_model, sizeof vec_model - 1);
    const char *not_image[] = {"eval", "-m", vec, "--images", images, "--labels", labels, NULL};
    expect_failure(dir, not_image, 2, "the model input [4] is not an image");
}

static void eval_usage(void **state)
{
    const char *dir = *state;
    const char *help[] = {"eval", "--help", NULL};
    char *out = expect_success(dir, help);
    static const char usage[] = "usage: tinycnn eval -m MODEL --images IDX --labels IDX";
    if (strncmp(out, usage, sizeof usage - 1) != 0 ||
        strstr(out, "--json") == NULL || strstr(out, "--batch") == NULL)
        fail_msg("unexpected help:\n%s", out);
    test_free(out);
    const char *h[] = {"eval", "-h", NULL};
    out = expect_success(dir, h);
    assert_non_null(strstr(out, "usage: tinycnn eval"));
    test_free(out);

    const char *no_labels[] = {"eval", "-m", "m.json", "--images", "i.idx", NULL};
    expect_failure(dir, no_labels, 2, "--labels IDX is required");
    const char *no_images[] = {"eval", "-m", "m.json", "--labels", "l.idx", NULL};
    expect_failure(dir, no_images, 2, "--images IDX is required");
    const char *no_model[] = {"eval", "--images", "i.idx", "--labels", "l.idx", NULL};
    expect_failure(dir, no_model, 2, "-m MODEL is required");
    const char *batch0[] = {"eval", "-m", "m.json", "--images", "i.idx", "--labels", "l.idx",
                            "--batch", "0", NULL};
    expect_failure(dir, batch0, 2, "--batch needs an integer in 1..4096, got \"0\"");
    const char *unknown[] = {"eval", "--frobnicate", NULL};
    expect_failure(dir, unknown, 2, "unknown argument \"--frobnicate\"");
    const char *no_value[] = {"eval", "-m", "m.json", "--images", NULL};
    expect_failure(dir, no_value, 2, "--images needs a value");
}

#define WITH_DIR(f) cmocka_unit_test_setup_teardown(f, tct_tmpdir_setup, tct_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_DIR(idx_plain_images_and_labels),
        WITH_DIR(idx_gzipped_fixtures),
        WITH_DIR(idx_gzip_lookahead_regression),
        WITH_DIR(idx_gzip_stored_block),
        WITH_DIR(idx_four_dims_and_zero_count),
        WITH_DIR(idx_bad_magic),
        WITH_DIR(idx_unsupported_element_type),
        WITH_DIR(idx_zero_or_five_dimensions),
        WITH_DIR(idx_truncated_header),
        WITH_DIR(idx_data_shorter_or_longer),
        WITH_DIR(idx_gzipped_but_malformed),
        WITH_DIR(idx_gzip_corrupt),
        WITH_DIR(idx_gzip_truncated),
        WITH_DIR(idx_empty_missing_directory_null),
        WITH_DIR(eval_text_report),
        WITH_DIR(eval_json_report),
        WITH_DIR(eval_model_without_labels),
        WITH_DIR(eval_gzipped_set),
        WITH_DIR(eval_refuses_mismatched_data),
        WITH_DIR(eval_refuses_missing_or_bad_files),
        WITH_DIR(eval_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
