/*
 * fuzz_npy.c - libFuzzer target for the .npy reader: tc_npy_read_buffer on the input, and
 * tc_npy_read on the same bytes written to a file, which must agree. An array that reads is
 * written back with tc_npy_write and read again: the round trip keeps shape and bits.
 *
 * Input: the bytes of a .npy file.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define NPY_FUZZ_MAX_ROUNDTRIP ((size_t)1 << 16)

static bool npy_same(const tc_array *a, const tc_array *b)
{
    if (a->ndim != b->ndim || a->numel != b->numel)
        return false;
    for (int d = 0; d < a->ndim; d++) {
        if (a->dim[d] != b->dim[d])
            return false;
    }
    return a->numel == 0 || memcmp(a->data, b->data, a->numel * sizeof(float)) == 0;
}

static void npy_check_array(const tc_array *a)
{
    FUZZ_CHECK(a->ndim >= 0 && a->ndim <= TC_MAX_DIMS + 1);
    size_t numel = 1;
    for (int d = 0; d < a->ndim; d++) {
        FUZZ_CHECK(a->dim[d] >= 0);
        numel *= (size_t)a->dim[d];
    }
    FUZZ_CHECK(numel == a->numel);
    FUZZ_CHECK((a->data != NULL) == (a->numel > 0));
    if (a->numel > 0) {
        volatile float last = a->data[a->numel - 1];
        (void)last;
    }
}

int tc_fuzz_npy(const uint8_t *data, size_t size)
{
    tc_array a;
    tc_error err;
    tc_status st = tc_npy_read_buffer(data, size, &a, &err);
    if (st != TC_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(a.data == NULL);
    } else {
        npy_check_array(&a);
    }
    char path[FUZZ_PATH_MAX + 16];
    if (fuzz_write_file("in.npy", data, size, path, sizeof path)) {
        tc_array f;
        tc_error ferr;
        tc_status fst = tc_npy_read(path, &f, &ferr);
        FUZZ_CHECK(fst == st);
        FUZZ_CHECK(fst != TC_OK || npy_same(&a, &f));
        FUZZ_CHECK(fst == TC_OK || strcmp(ferr.message, err.message) == 0);
        tc_array_free(&f);
    }
    if (st == TC_OK && a.numel <= NPY_FUZZ_MAX_ROUNDTRIP) {
        char out[FUZZ_PATH_MAX + 16];
        if (fuzz_write_file("out.npy", "", 0, out, sizeof out)) {
            FUZZ_CHECK(tc_npy_write(out, a.data, a.dim, a.ndim, &err) == TC_OK);
            tc_array b;
            FUZZ_CHECK(tc_npy_read(out, &b, &err) == TC_OK);
            FUZZ_CHECK(npy_same(&a, &b));
            tc_array_free(&b);
        }
    }
    tc_array_free(&a);
    FUZZ_CHECK(a.data == NULL && a.numel == 0);
    return 0;
}

#ifdef TC_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tc_fuzz_npy(data, size);
}
#endif
