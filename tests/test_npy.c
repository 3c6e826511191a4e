/*
 * test_npy.c - tests of the .npy reader and writer (engine/npy.c): files written by numpy, round
 * trips, byte-exact headers, and every kind of malformed file.
 *
 * The fixtures in tests/fixtures/npy/ were written with /usr/bin/python3 (numpy 1.24):
 *   a = (np.arange(6, dtype=np.float32) * 0.5 - 1.25).reshape(2, 3)
 *   np.save("f32_2x3.npy", a)
 *   with open("f32_v2.npy", "wb") as f: np.lib.format.write_array(f, a, version=(2, 0))
 *   with open("f32_v3.npy", "wb") as f: np.lib.format.write_array(f, a, version=(3, 0))
 *   np.save("f32_scalar.npy", np.float32(3.5))
 *   np.save("f32_vec.npy", np.array([1e-30, -0.0, np.inf, 65504.0], np.float32))
 *   np.save("f32_5d.npy", np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2, 1))
 *   np.save("f32_empty.npy", np.zeros((0, 3), np.float32))
 *   np.save("f64_2x3.npy", a.astype(np.float64))
 *   np.save("f32_be.npy", a.astype(">f4"))
 *   np.save("f32_fortran.npy", np.asfortranarray(a))
 *   np.save("i32_2x3.npy", a.astype(np.int32))
 */
#define _POSIX_C_SOURCE 200809L
// System headers first: with UNIT_TESTING, cmocka.h redefines malloc and free.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tc_test.h"

static const float A_2X3[6] = {-1.25f, -0.75f, -0.25f, 0.25f, 0.75f, 1.25f};

/* Reads a whole fixture file into a test_malloc'd buffer. */
static unsigned char *slurp(const char *rel, size_t *len)
{
    FILE *f = fopen(tct_source_path(rel), "rb");
    if (f == NULL)
        fail_msg("cannot open %s", tct_source_path(rel));
    unsigned char *buf = test_malloc(4096);
    *len = fread(buf, 1, 4096, f);
    fclose(f);
    return buf;
}

/* Builds a version 1.0 .npy in buf from header text and n floats (host order = little-endian
 * here); returns its length. */
static size_t make_npy(unsigned char *buf, size_t cap, const char *dict, const float *data,
                       size_t n)
{
    size_t hlen = strlen(dict);
    assert_true(10 + hlen + 4 * n <= cap);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, hlen);
    if (n > 0)
        memcpy(buf + 10 + hlen, data, 4 * n);
    return 10 + hlen + 4 * n;
}

/* Reading buf must fail with code, and the formatted message must contain needle. */
static void expect_buffer_error(const void *buf, size_t len, tc_status code, const char *needle)
{
    tc_array arr;
    tc_error err;
    char line[1024];
    tc_status st = tc_npy_read_buffer(buf, len, &arr, &err);
    tc_error_format(&err, line, sizeof line);
    if (st != code)
        fail_msg("got %s (%s), expected %s", tc_status_str(st), line, tc_status_str(code));
    assert_null(arr.data);
    if (strstr(line, needle) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", line, needle);
}

static void expect_dict_error(const char *dict, tc_status code, const char *needle)
{
    unsigned char buf[512];
    size_t len = make_npy(buf, sizeof buf, dict, A_2X3, 6);
    expect_buffer_error(buf, len, code, needle);
}

static void read_fixture(const char *rel, tc_array *arr)
{
    tc_error err;
    char line[1024];
    if (tc_npy_read(tct_source_path(rel), arr, &err) != TC_OK)
        fail_msg("%s", tc_error_format(&err, line, sizeof line));
}

static void test_npy_reads_numpy_versions_1_2_3(void **state)
{
    (void)state;
    const char *files[] = {"tests/fixtures/npy/f32_2x3.npy", "tests/fixtures/npy/f32_v2.npy",
                           "tests/fixtures/npy/f32_v3.npy"};
    for (int k = 0; k < 3; k++) {
        tc_array arr;
        read_fixture(files[k], &arr);
        assert_int_equal(arr.ndim, 2);
        assert_int_equal(arr.dim[0], 2);
        assert_int_equal(arr.dim[1], 3);
        assert_int_equal(arr.numel, 6);
        assert_memory_equal(arr.data, A_2X3, sizeof A_2X3);
        tc_array_free(&arr);
        assert_null(arr.data);
    }
}

static void test_npy_reads_scalar_vector_5d_and_empty(void **state)
{
    (void)state;
    tc_array arr;
    read_fixture("tests/fixtures/npy/f32_scalar.npy", &arr);
    assert_int_equal(arr.ndim, 0);
    assert_int_equal(arr.numel, 1);
    assert_true(arr.data[0] == 3.5f);
    tc_array_free(&arr);

    read_fixture("tests/fixtures/npy/f32_vec.npy", &arr);
    assert_int_equal(arr.ndim, 1);
    assert_int_equal(arr.dim[0], 4);
    assert_true(arr.data[0] == 1e-30f);
    assert_true(arr.data[1] == 0.0f && signbit(arr.data[1]));
    assert_true(isinf(arr.data[2]) && arr.data[2] > 0);
    assert_true(arr.data[3] == 65504.0f);
    tc_array_free(&arr);

    read_fixture("tests/fixtures/npy/f32_5d.npy", &arr);
    assert_int_equal(arr.ndim, 5);
    const int64_t want[5] = {1, 2, 3, 2, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(arr.dim[i], want[i]);
    for (int i = 0; i < 12; i++)
        assert_true(arr.data[i] == (float)i);
    tc_array_free(&arr);

    // Empty arrays are allowed: numel 0 and no data.
    read_fixture("tests/fixtures/npy/f32_empty.npy", &arr);
    assert_int_equal(arr.ndim, 2);
    assert_int_equal(arr.dim[0], 0);
    assert_int_equal(arr.dim[1], 3);
    assert_int_equal(arr.numel, 0);
    assert_null(arr.data);
    tc_array_free(&arr);
}

static void test_npy_accepts_other_header_spellings(void **state)
{
    (void)state;
    const char *dicts[] = {
        "{\"shape\": (2,3), \"fortran_order\": False, \"descr\": \"<f4\"}\n",
        "{'descr':'<f4','fortran_order':False,'shape':(2L, 3L,)}",
        "  { 'fortran_order' : False , 'shape' : ( 2 , 3 ) , 'descr' : '<f4' , }  \n",
    };
    for (int k = 0; k < 3; k++) {
        unsigned char buf[512];
        size_t len = make_npy(buf, sizeof buf, dicts[k], A_2X3, 6);
        tc_array arr;
        tc_error err;
        assert_int_equal(tc_npy_read_buffer(buf, len, &arr, &err), TC_OK);
        assert_int_equal(arr.ndim, 2);
        assert_memory_equal(arr.data, A_2X3, sizeof A_2X3);
        tc_array_free(&arr);
    }
}

/* A fresh temporary directory (test_malloc'd path). */
static char *temp_dir(void)
{
    char *dir = test_malloc(64);
    snprintf(dir, 64, "/tmp/tc_npy_XXXXXX");
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp failed");
    return dir;
}

/* Writes data with tc_npy_write and checks the file equals the numpy-written fixture byte for
 * byte (header text, padding to 64 bytes, data). */
static void check_written_like_numpy(const char *fixture, const float *data, const int64_t *dim,
                                     int ndim)
{
    char *dir = temp_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/out.npy", dir);
    tc_error err;
    assert_int_equal(tc_npy_write(path, data, dim, ndim, &err), TC_OK);
    size_t want_len, got_len;
    unsigned char *want = slurp(fixture, &want_len);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char got[4096];
    got_len = fread(got, 1, sizeof got, f);
    fclose(f);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    test_free(want);
    remove(path);
    rmdir(dir);
    test_free(dir);
}

static void test_npy_write_matches_numpy_bytes(void **state)
{
    (void)state;
    const int64_t d2[2] = {2, 3};
    check_written_like_numpy("tests/fixtures/npy/f32_2x3.npy", A_2X3, d2, 2);
    const float scalar = 3.5f;
    check_written_like_numpy("tests/fixtures/npy/f32_scalar.npy", &scalar, NULL, 0);
    const float vec[4] = {1e-30f, -0.0f, INFINITY, 65504.0f};
    const int64_t d1[1] = {4};
    check_written_like_numpy("tests/fixtures/npy/f32_vec.npy", vec, d1, 1);
    float seq[12];
    for (int i = 0; i < 12; i++)
        seq[i] = (float)i;
    const int64_t d5[5] = {1, 2, 3, 2, 1};
    check_written_like_numpy("tests/fixtures/npy/f32_5d.npy", seq, d5, 5);
    const int64_t d0[2] = {0, 3};
    check_written_like_numpy("tests/fixtures/npy/f32_empty.npy", NULL, d0, 2);
}

static void test_npy_round_trip_large(void **state)
{
    (void)state;
    // More than one 4096-byte write block, with awkward values.
    enum { C = 3, H = 17, W = 29 };
    float *data = test_malloc(C * H * W * sizeof *data);
    unsigned seed = 12345u;
    for (int i = 0; i < C * H * W; i++) {
        seed = seed * 1103515245u + 12345u;
        data[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 1e6f;
    }
    data[7] = -0.0f;
    data[8] = 1e-45f; // the smallest subnormal
    char *dir = temp_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    const int64_t dim[3] = {C, H, W};
    tc_error err;
    assert_int_equal(tc_npy_write(path, data, dim, 3, &err), TC_OK);
    tc_array arr;
    assert_int_equal(tc_npy_read(path, &arr, &err), TC_OK);
    assert_int_equal(arr.ndim, 3);
    assert_int_equal(arr.dim[2], W);
    assert_int_equal(arr.numel, C * H * W);
    assert_memory_equal(arr.data, data, C * H * W * sizeof *data);
    tc_array_free(&arr);
    remove(path);
    rmdir(dir);
    test_free(dir);
    test_free(data);
}

static void test_npy_refuses_other_dtypes_and_fortran_order(void **state)
{
    (void)state;
    struct {
        const char *file, *needle;
    } cases[] = {
        {"tests/fixtures/npy/f64_2x3.npy", "found '<f8'"},
        {"tests/fixtures/npy/f32_be.npy", "found '>f4'"},
        {"tests/fixtures/npy/i32_2x3.npy", "found '<i4'"},
        {"tests/fixtures/npy/f32_fortran.npy", "fortran_order must be False"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tc_array arr;
        tc_error err;
        char line[1024];
        const char *path = tct_source_path(cases[k].file);
        char path_copy[1024];
        snprintf(path_copy, sizeof path_copy, "%s", path);
        assert_int_equal(tc_npy_read(path_copy, &arr, &err), TC_ERR_SCHEMA);
        assert_null(arr.data);
        assert_string_equal(err.file, path_copy);
        tc_error_format(&err, line, sizeof line);
        if (strstr(line, cases[k].needle) == NULL)
            fail_msg("\"%s\" does not contain \"%s\"", line, cases[k].needle);
    }
    expect_dict_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}",
                      TC_ERR_SCHEMA, "structured dtype");
}

static void test_npy_refuses_wrong_data_length(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = slurp("tests/fixtures/npy/f32_2x3.npy", &len);
    expect_buffer_error(buf, len - 1, TC_ERR_SCHEMA, "needs 24 data bytes, found 23");
    expect_buffer_error(buf, len - 24, TC_ERR_SCHEMA, "needs 24 data bytes, found 0");
    unsigned char longer[256];
    memcpy(longer, buf, len);
    longer[len] = 0;
    expect_buffer_error(longer, len + 1, TC_ERR_SCHEMA, "needs 24 data bytes, found 25");

    // The same through a file: the file is named in the error.
    char *dir = temp_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/short.npy", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len - 5, f), len - 5);
    fclose(f);
    tc_array arr;
    tc_error err;
    assert_int_equal(tc_npy_read(path, &arr, &err), TC_ERR_SCHEMA);
    assert_string_equal(err.file, path);
    assert_non_null(strstr(err.message, "found 19"));
    remove(path);
    rmdir(dir);
    test_free(dir);
    test_free(buf);
}

static void test_npy_refuses_bad_prefix(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = slurp("tests/fixtures/npy/f32_2x3.npy", &len);
    unsigned char copy[256];
    memcpy(copy, buf, len);
    copy[1] = 'n';
    expect_buffer_error(copy, len, TC_ERR_SCHEMA, "expected the magic");
    expect_buffer_error("PK\x03\x04", 4, TC_ERR_SCHEMA, "expected the magic");
    expect_buffer_error("", 0, TC_ERR_SCHEMA, "expected the magic");
    expect_buffer_error(buf, 8, TC_ERR_SCHEMA, "ends inside the .npy prefix");
    memcpy(copy, buf, len);
    copy[6] = 4;
    expect_buffer_error(copy, len, TC_ERR_SCHEMA, "version 4.0 is not supported");
    copy[6] = 1;
    copy[7] = 1;
    expect_buffer_error(copy, len, TC_ERR_SCHEMA, "version 1.1 is not supported");
    // Header length beyond the file: 0x7fff bytes claimed, 118 present.
    memcpy(copy, buf, len);
    copy[8] = 0xff;
    copy[9] = 0x7f;
    expect_buffer_error(copy, len, TC_ERR_SCHEMA, "header length 32767 goes beyond the end");
    // Version 2.0 with a 4 GiB header length.
    memcpy(copy, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
    expect_buffer_error(copy, 12, TC_ERR_RANGE, "larger than the limit");
    test_free(buf);
}

static void test_npy_refuses_bad_shapes(void **state)
{
    (void)state;
    // Each dim is allowed, the product's byte size is not.
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (4611686018427387904, 4611686018427387904), }",
                      TC_ERR_RANGE, "the byte size overflows");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (1152921504606846976, 4), }",
                      TC_ERR_RANGE, "the byte size overflows");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                      TC_ERR_RANGE, "larger than 2^62");
    // Huge but representable: refused from the length, before any allocation.
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }",
                      TC_ERR_SCHEMA, "needs 4398046511104 data bytes, found 24");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 2, 3, 1), }",
                      TC_ERR_RANGE, "at most 5 dimensions");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, -3), }",
                      TC_ERR_RANGE, "must be >= 0");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                      TC_ERR_SCHEMA, "shape (2, 4) of float32 needs 32 data bytes, found 24");
}

static void test_npy_refuses_malformed_headers(void **state)
{
    (void)state;
    expect_dict_error("{'descr': '<f4', 'shape': (2, 3), }", TC_ERR_SCHEMA,
                      "missing fortran_order");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
                      TC_ERR_SCHEMA, "unexpected or repeated key 'x'");
    expect_dict_error("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
                      TC_ERR_SCHEMA, "unexpected or repeated key 'descr'");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ",
                      TC_ERR_SCHEMA, "found its end");
    expect_dict_error("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", TC_ERR_SCHEMA,
                      "found '<f4, '");
    expect_dict_error("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", TC_ERR_SCHEMA,
                      "expected ',' or '}'");
    expect_dict_error("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", TC_ERR_SCHEMA,
                      "expected False");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", TC_ERR_SCHEMA,
                      "'(' starting the shape tuple");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", TC_ERR_SCHEMA,
                      "',' or ')'");
    expect_dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x",
                      TC_ERR_SCHEMA, "only padding after the header dict");
    expect_dict_error("", TC_ERR_SCHEMA, "'{' starting the header dict");
}

static void test_npy_file_errors(void **state)
{
    (void)state;
    tc_array arr;
    tc_error err;
    const char *missing = "/nonexistent/tinycnn/x.npy";
    assert_int_equal(tc_npy_read(missing, &arr, &err), TC_ERR_IO);
    assert_string_equal(err.file, missing);
    // A directory opens but cannot be read: an I/O error, not a "bad magic".
    assert_int_equal(tc_npy_read("/tmp", &arr, &err), TC_ERR_IO);
    assert_null(arr.data);
    assert_int_equal(tc_npy_write(missing, A_2X3, (const int64_t[]){2, 3}, 2, &err), TC_ERR_IO);
    assert_string_equal(err.file, missing);
    assert_int_equal(tc_npy_write("/tmp/x.npy", A_2X3, (const int64_t[]){-2, 3}, 2, &err),
                     TC_ERR_ARGUMENT);
    assert_int_equal(tc_npy_write("/tmp/x.npy", A_2X3, (const int64_t[]){1, 1, 1, 1, 1, 6}, 6,
                                  &err),
                     TC_ERR_ARGUMENT);
    assert_int_equal(tc_npy_write("/tmp/x.npy", NULL, (const int64_t[]){2, 3}, 2, &err),
                     TC_ERR_ARGUMENT);
    tc_array_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_reads_numpy_versions_1_2_3),
        cmocka_unit_test(test_npy_reads_scalar_vector_5d_and_empty),
        cmocka_unit_test(test_npy_accepts_other_header_spellings),
        cmocka_unit_test(test_npy_write_matches_numpy_bytes),
        cmocka_unit_test(test_npy_round_trip_large),
        cmocka_unit_test(test_npy_refuses_other_dtypes_and_fortran_order),
        cmocka_unit_test(test_npy_refuses_wrong_data_length),
        cmocka_unit_test(test_npy_refuses_bad_prefix),
        cmocka_unit_test(test_npy_refuses_bad_shapes),
        cmocka_unit_test(test_npy_refuses_malformed_headers),
        cmocka_unit_test(test_npy_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
