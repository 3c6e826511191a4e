/*
 * fuzz_idx.c - libFuzzer target for the idx reader (MNIST's format), plain or gzipped: the
 * input is written to a file and read with tc_idx_read, which takes a path. A gzipped input goes
 * through our gzip header parsing and stb's inflate, with the declared size checked first.
 *
 * Input: the bytes of an idx or idx.gz file.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int tc_fuzz_idx(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX + 16];
    if (!fuzz_write_file("in.idx", data, size, path, sizeof path))
        return 0;
    tc_idx idx;
    tc_error err;
    tc_status st = tc_idx_read(path, &idx, &err);
    if (st != TC_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(idx.data == NULL && idx.numel == 0);
        FUZZ_CHECK(strcmp(err.file, path) == 0);
        return 0;
    }
    FUZZ_CHECK(idx.ndim >= 1 && idx.ndim <= 4);
    size_t numel = 1;
    for (int d = 0; d < idx.ndim; d++) {
        FUZZ_CHECK(idx.dim[d] >= 0 && idx.dim[d] <= UINT32_MAX);
        numel *= (size_t)idx.dim[d];
    }
    FUZZ_CHECK(numel == idx.numel && idx.data != NULL);
    /* A plain file holds exactly its header and data. */
    bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    FUZZ_CHECK(gz || size == 4 + 4 * (size_t)idx.ndim + idx.numel);
    if (!gz && idx.numel > 0)
        FUZZ_CHECK(memcmp(idx.data, data + 4 + 4 * idx.ndim, idx.numel) == 0);
    if (idx.numel > 0) {
        volatile uint8_t last = idx.data[idx.numel - 1];
        (void)last;
    }
    tc_idx_free(&idx);
    return 0;
}

#ifdef TC_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tc_fuzz_idx(data, size);
}
#endif
