/* idx.c - reading idx data sets (MNIST's format), plain or gzipped. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tc_internal.h"

static tc_status read_file(const char *path, uint8_t **data, size_t *len, tc_error *err)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    struct stat sb;
    tc_status st = TC_OK;
    if (f == NULL || fstat(fileno(f), &sb) != 0)
        st = tc_error_set(err, TC_ERR_IO, "", "cannot open the file");
    else if (!S_ISREG(sb.st_mode))
        st = tc_error_set(err, TC_ERR_IO, "", "not a regular file");
    else if ((uint64_t)sb.st_size > TC_MAX_IDX_BYTES)
        st = tc_error_set(err, TC_ERR_LIMIT, "",
                          "the file is %lld bytes, above the limit TC_MAX_IDX_BYTES = %zu",
                          (long long)sb.st_size, TC_MAX_IDX_BYTES);
    else if (sb.st_size == 0)
        st = tc_error_set(err, TC_ERR_RANGE, "", "the file is empty");
    if (st == TC_OK) {
        *len = (size_t)sb.st_size;
        *data = TC_MALLOC(*len);
        if (*data == NULL)
            st = tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", *len);
        else if (fread(*data, 1, *len, f) != *len)
            st = tc_error_set(err, TC_ERR_IO, "", "could not read the file");
    }
    if (f != NULL)
        fclose(f);
    return st;
}

/* Parses the idx header of buf and checks the element count against its length. */
static tc_status parse_idx(const uint8_t *buf, size_t len, tc_idx *out, tc_error *err)
{
    if (len < 4 || buf[0] != 0 || buf[1] != 0)
        return tc_error_set(err, TC_ERR_RANGE, "", "not an idx file (bad magic number)");
    if (buf[2] != 0x08)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "idx element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                            buf[2]);
    int ndim = buf[3];
    if (ndim < 1 || ndim > 4)
        return tc_error_set(err, TC_ERR_RANGE, "", "idx files with %d dimensions are not supported",
                            ndim);
    size_t header = 4 + 4 * (size_t)ndim;
    if (len < header)
        return tc_error_set(err, TC_ERR_RANGE, "", "truncated idx header");
    size_t numel = 1;
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        const uint8_t *p = buf + 4 + 4 * d;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        out->dim[d] = n;
        if (!tc_mul_size(numel, n, &numel))
            return tc_error_set(err, TC_ERR_RANGE, "", "idx dimensions overflow");
    }
    if (numel != len - header)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "the header declares %zu bytes of data but the file holds %zu "
                            "(truncated or inconsistent)", numel, len - header);
    out->numel = numel;
    return TC_OK;
}

tc_status tc_idx_read(const char *path, tc_idx *out, tc_error *err)
{
    tc_error_clear(err);
    if (path == NULL || out == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "path and out must not be NULL");
    memset(out, 0, sizeof *out);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    tc_status st = read_file(path, &raw, &raw_len, err);
    if (st == TC_OK && raw_len >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        st = tc_gunzip(raw, raw_len, TC_MAX_IDX_BYTES, &plain, &plain_len, err);
        TC_FREE(raw);
        raw = NULL;
    } else {
        plain = raw;
        plain_len = raw_len;
        raw = NULL;
    }
    if (st == TC_OK)
        st = parse_idx(plain, plain_len, out, err);
    if (st == TC_OK) {
        size_t header = 4 + 4 * (size_t)out->ndim;
        memmove(plain, plain + header, out->numel); /* keep one allocation: data first */
        out->data = plain;
    } else {
        TC_FREE(plain);
        memset(out, 0, sizeof *out);
    }
    TC_FREE(raw);
    tc_error_set_file(err, path);
    return st;
}

void tc_idx_free(tc_idx *idx)
{
    if (idx == NULL)
        return;
    TC_FREE(idx->data);
    memset(idx, 0, sizeof *idx);
}
