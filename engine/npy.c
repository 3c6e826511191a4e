/*
 * npy.c - reading and writing float32 .npy files (NumPy's array format).
 *
 * Layout: the magic "\x93NUMPY", a major and a minor version byte, the header length (2 bytes
 * little-endian in version 1.0, 4 bytes in 2.0 and 3.0), the header (a Python dict literal such as
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" padded with spaces and '\n'), then
 * the raw data.
 *
 * What is accepted: versions 1.0, 2.0 and 3.0; exactly the keys descr, fortran_order and shape;
 * descr '<f4' only (float32 little-endian; every other dtype is refused by name); fortran_order
 * False only; 0..TC_MAX_DIMS + 1 dimensions, each >= 0. Empty arrays (a dimension of 0) are
 * allowed: numel is 0 and data is NULL. The data must be exactly numel * 4 bytes long: short and
 * long files are both refused.
 *
 * Errors: TC_ERR_IO when a file cannot be opened, read or written; TC_ERR_SCHEMA for a malformed
 * file (magic, version, header syntax, dtype, order, data length); TC_ERR_RANGE for shapes out of
 * range (too many dimensions, negative or overflowing sizes); TC_ERR_NOMEM. Values are decoded
 * byte by byte, so neither the host's alignment nor its byte order matter.
 */
#include <stdio.h>
#include <string.h>

#include "tc_internal.h"

#define NPY_MAX_HEADER (1u << 20)  /* far above any real header (numpy itself stops at 10000) */
#define NPY_MAX_NDIM (TC_MAX_DIMS + 1)

/* A byte source: a FILE or a memory buffer. `left` is the bytes still to come, when known. */
typedef struct reader {
    FILE *f;                  /* file source, or NULL */
    const unsigned char *mem; /* memory source */
    size_t pos;
    size_t left;              /* bytes not yet read; SIZE_MAX if unknown */
} reader;

/* Reads up to n bytes into dst; returns how many were read. */
static size_t rd(reader *r, void *dst, size_t n)
{
    size_t got;
    if (r->f != NULL) {
        got = fread(dst, 1, n, r->f);
    } else {
        got = n < r->left ? n : r->left;
        memcpy(dst, r->mem + r->pos, got);
        r->pos += got;
    }
    if (r->left != SIZE_MAX)
        r->left -= got < r->left ? got : r->left;
    return got;
}

/* ---- header dict parser: a tiny subset of Python literals ---- */

typedef struct hdr {
    const char *s; /* header text (not NUL-terminated) */
    size_t n;
    size_t i;      /* cursor */
} hdr;

static void skip_ws(hdr *h)
{
    while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' ||
                           h->s[h->i] == '\r'))
        h->i++;
}

/* True if c is next (after whitespace); does not consume it. */
static bool peek(hdr *h, char c)
{
    skip_ws(h);
    return h->i < h->n && h->s[h->i] == c;
}

/* Consumes character c (after whitespace) if it is next. */
static bool eat(hdr *h, char c)
{
    skip_ws(h);
    if (h->i < h->n && h->s[h->i] == c) {
        h->i++;
        return true;
    }
    return false;
}

static tc_status syntax(hdr *h, const char *expected, tc_error *err)
{
    skip_ws(h);
    if (h->i >= h->n)
        return tc_error_set(err, TC_ERR_SCHEMA, "header",
                            "expected %s at byte %zu of the header, found its end", expected,
                            h->i);
    return tc_error_set(err, TC_ERR_SCHEMA, "header",
                        "expected %s at byte %zu of the header, found '%c'", expected, h->i,
                        h->s[h->i]);
}

/* A quoted string ('...' or "..."); *out points into the header, *len its length. */
static tc_status parse_str(hdr *h, const char **out, size_t *len, tc_error *err)
{
    skip_ws(h);
    char q = h->i < h->n ? h->s[h->i] : '\0';
    if (q != '\'' && q != '"')
        return syntax(h, "a quoted string", err);
    size_t start = ++h->i;
    while (h->i < h->n && h->s[h->i] != q && h->s[h->i] != '\\')
        h->i++;
    if (h->i >= h->n || h->s[h->i] != q)
        return syntax(h, "the end of a quoted string (escapes are not supported)", err);
    *out = h->s + start;
    *len = h->i - start;
    h->i++;
    return TC_OK;
}

/* A non-negative decimal integer (Python 2's "L" suffix allowed); refuses values above 2^62. */
static tc_status parse_dim(hdr *h, int64_t *out, tc_error *err)
{
    skip_ws(h);
    if (h->i < h->n && h->s[h->i] == '-')
        return tc_error_set(err, TC_ERR_RANGE, "header.shape",
                            "dimensions must be >= 0, found a negative one");
    if (h->i >= h->n || h->s[h->i] < '0' || h->s[h->i] > '9')
        return syntax(h, "a dimension (a non-negative integer)", err);
    int64_t v = 0;
    while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
        int digit = h->s[h->i] - '0';
        if (v > (((int64_t)1 << 62) - digit) / 10)
            return tc_error_set(err, TC_ERR_RANGE, "header.shape",
                                "a dimension is larger than 2^62");
        v = v * 10 + digit;
        h->i++;
    }
    if (h->i < h->n && h->s[h->i] == 'L')
        h->i++;
    *out = v;
    return TC_OK;
}

/* A tuple of dimensions: "()", "(3,)", "(3, 4)", "(3, 4,)". */
static tc_status parse_shape(hdr *h, tc_array *out, tc_error *err)
{
    if (!eat(h, '('))
        return syntax(h, "'(' starting the shape tuple", err);
    out->ndim = 0;
    while (!eat(h, ')')) {
        int64_t d = 0;
        tc_status st = parse_dim(h, &d, err);
        if (st != TC_OK)
            return st;
        if (out->ndim == NPY_MAX_NDIM)
            return tc_error_set(err, TC_ERR_RANGE, "header.shape",
                                "at most %d dimensions are supported, found more",
                                NPY_MAX_NDIM);
        out->dim[out->ndim++] = d;
        if (!eat(h, ',') && !peek(h, ')'))
            return syntax(h, "',' or ')' in the shape tuple", err);
    }
    return TC_OK;
}

static bool str_is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Parses the header dict into out->ndim/dim; checks dtype and order. */
static tc_status parse_header(hdr *h, tc_array *out, tc_error *err)
{
    bool seen_descr = false, seen_order = false, seen_shape = false;
    if (!eat(h, '{'))
        return syntax(h, "'{' starting the header dict", err);
    while (!eat(h, '}')) {
        const char *key;
        size_t key_len;
        tc_status st = parse_str(h, &key, &key_len, err);
        if (st != TC_OK)
            return st;
        if (!eat(h, ':'))
            return syntax(h, "':' after a key", err);
        if (str_is(key, key_len, "descr") && !seen_descr) {
            const char *v;
            size_t v_len;
            if (peek(h, '['))
                return tc_error_set(err, TC_ERR_SCHEMA, "header.descr",
                                    "dtype must be '<f4' (float32), found a structured dtype");
            if ((st = parse_str(h, &v, &v_len, err)) != TC_OK)
                return st;
            if (!str_is(v, v_len, "<f4"))
                return tc_error_set(err, TC_ERR_SCHEMA, "header.descr",
                                    "dtype must be '<f4' (float32 little-endian), found '%.*s'",
                                    (int)(v_len < 32 ? v_len : 32), v);
            seen_descr = true;
        } else if (str_is(key, key_len, "fortran_order") && !seen_order) {
            skip_ws(h);
            if (h->n - h->i >= 4 && memcmp(h->s + h->i, "True", 4) == 0)
                return tc_error_set(err, TC_ERR_SCHEMA, "header.fortran_order",
                                    "fortran_order must be False (C order), found True");
            if (h->n - h->i < 5 || memcmp(h->s + h->i, "False", 5) != 0)
                return syntax(h, "False", err);
            h->i += 5;
            seen_order = true;
        } else if (str_is(key, key_len, "shape") && !seen_shape) {
            if ((st = parse_shape(h, out, err)) != TC_OK)
                return st;
            seen_shape = true;
        } else {
            return tc_error_set(err, TC_ERR_SCHEMA, "header",
                                "unexpected or repeated key '%.*s' (expected descr, "
                                "fortran_order, shape once each)",
                                (int)(key_len < 32 ? key_len : 32), key);
        }
        if (!eat(h, ',') && !peek(h, '}'))
            return syntax(h, "',' or '}' in the header dict", err);
    }
    skip_ws(h);
    if (h->i != h->n)
        return syntax(h, "only padding after the header dict", err);
    if (!seen_descr || !seen_order || !seen_shape)
        return tc_error_set(err, TC_ERR_SCHEMA, "header",
                            "the header must have descr, fortran_order and shape; missing %s",
                            !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
    return TC_OK;
}

/* ---- reading ---- */

/* Describes the shape for messages, e.g. "(3, 4)". */
static void shape_str(const tc_array *a, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < a->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)a->dim[i]);
    if (used < len)
        snprintf(buf + used, len - used, ")");
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads the prefix and header; sets out's shape and numel. */
static tc_status read_header(reader *r, tc_array *out, tc_error *err)
{
    unsigned char pre[12] = {0};
    size_t got = rd(r, pre, 10);
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return tc_error_set(err, TC_ERR_SCHEMA, "",
                            "not a .npy file: expected the magic \\x93NUMPY in the first 6 bytes");
    if (got < 10)
        return tc_error_set(err, TC_ERR_SCHEMA, "",
                            "the file ends inside the .npy prefix (magic, version, header length)");
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return tc_error_set(err, TC_ERR_SCHEMA, "",
                            ".npy version %d.%d is not supported (expected 1.0, 2.0 or 3.0)",
                            major, minor);
    size_t len_bytes = major == 1 ? 2 : 4;
    if (len_bytes == 4 && rd(r, pre + 10, 2) != 2)
        return tc_error_set(err, TC_ERR_SCHEMA, "",
                            "the file ends inside the .npy prefix (magic, version, header length)");
    size_t header_len = len_bytes == 2 ? (size_t)pre[8] | (size_t)pre[9] << 8 : le32(pre + 8);
    if (header_len > NPY_MAX_HEADER)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "header length %zu is larger than the limit of %u bytes", header_len,
                            NPY_MAX_HEADER);
    if (r->left != SIZE_MAX && header_len > r->left)
        return tc_error_set(err, TC_ERR_SCHEMA, "",
                            "header length %zu goes beyond the end of the file (%zu bytes left)",
                            header_len, r->left);
    char *text = TC_MALLOC(header_len + 1);
    if (text == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", header_len + 1);
    tc_status st = TC_OK;
    got = rd(r, text, header_len);
    if (got != header_len)
        st = tc_error_set(err, TC_ERR_SCHEMA, "",
                          "header length %zu goes beyond the end of the file (%zu bytes left)",
                          header_len, got);
    if (st == TC_OK) {
        hdr h = {text, header_len, 0};
        st = parse_header(&h, out, err);
    }
    TC_FREE(text);
    if (st != TC_OK)
        return st;
    size_t numel = 1;
    for (int i = 0; i < out->ndim; i++) {
        if ((uint64_t)out->dim[i] > SIZE_MAX || !tc_mul_size(numel, (size_t)out->dim[i], &numel) ||
            numel > SIZE_MAX / sizeof(float)) {
            char buf[160];
            shape_str(out, buf, sizeof buf);
            return tc_error_set(err, TC_ERR_RANGE, "header.shape",
                                "the shape %s has too many elements (the byte size overflows)",
                                buf);
        }
    }
    out->numel = numel;
    return TC_OK;
}

/* Complains that the data is not numel * 4 bytes. have is what there is (or a lower bound). */
static tc_status bad_length(const tc_array *a, size_t have, bool more, tc_error *err)
{
    char buf[160];
    shape_str(a, buf, sizeof buf);
    return tc_error_set(err, TC_ERR_SCHEMA, "data",
                        "shape %s of float32 needs %zu data bytes, found %s%zu", buf,
                        a->numel * sizeof(float), more ? "more than " : "", have);
}

static tc_status read_npy(reader *r, tc_array *out, tc_error *err)
{
    tc_status st = read_header(r, out, err);
    if (st != TC_OK)
        return st;
    size_t need = out->numel * sizeof(float);
    // Check the length before allocating, so that a huge shape in a small file costs nothing.
    if (r->left != SIZE_MAX && r->left != need)
        return bad_length(out, r->left, false, err);
    if (need > 0) {
        out->data = TC_MALLOC(need);
        if (out->data == NULL)
            return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", need);
        size_t got = rd(r, out->data, need);
        if (got != need)
            return bad_length(out, got, false, err);
    }
    unsigned char extra;
    if (rd(r, &extra, 1) != 0)
        return bad_length(out, need, true, err);
    // Decode in place: element i's 4 bytes sit exactly where float i goes.
    unsigned char *bytes = (unsigned char *)out->data;
    for (size_t i = 0; i < out->numel; i++) {
        uint32_t u = le32(bytes + 4 * i);
        memcpy(&out->data[i], &u, sizeof u);
    }
    return TC_OK;
}

static tc_status read_into(reader *r, tc_array *out, tc_error *err)
{
    tc_status st = read_npy(r, out, err);
    if (st != TC_OK)
        tc_array_free(out);
    return st;
}

tc_status tc_npy_read_buffer(const void *buf, size_t len, tc_array *out, tc_error *err)
{
    tc_error_clear(err);
    if (out == NULL || (buf == NULL && len > 0))
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "out and buf must not be NULL");
    memset(out, 0, sizeof *out);
    reader r = {NULL, buf, 0, len};
    return read_into(&r, out, err);
}

tc_status tc_npy_read(const char *path, tc_array *out, tc_error *err)
{
    tc_error_clear(err);
    if (out == NULL || path == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "path and out must not be NULL");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tc_error_set(err, TC_ERR_IO, "", "cannot open the file for reading");
        tc_error_set_file(err, path);
        return TC_ERR_IO;
    }
    reader r = {f, NULL, 0, SIZE_MAX};
    // The length is known for regular files; pipes and the like are read to their end.
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (fseek(f, 0, SEEK_SET) != 0)
        size = -1;
    if (size >= 0)
        r.left = (size_t)size;
    // A read error (e.g. the path is a directory) looks like a short file to the parser; report
    // it as what it is.
    tc_error parse_err;
    tc_error_clear(&parse_err);
    tc_status st = read_into(&r, out, &parse_err);
    if (ferror(f)) {
        tc_array_free(out);
        st = tc_error_set(err, TC_ERR_IO, "", "could not read the file");
    } else if (st != TC_OK && err != NULL) {
        *err = parse_err;
    }
    fclose(f);
    tc_error_set_file(err, path);
    return st;
}

void tc_array_free(tc_array *arr)
{
    if (arr == NULL)
        return;
    TC_FREE(arr->data);
    memset(arr, 0, sizeof *arr);
}

/* ---- writing ---- */

/* Builds numpy's version 1.0 prefix + header, padded with spaces and '\n' to a multiple of 64
 * bytes. Returns its length (0 if it does not fit). */
static size_t build_header(char *buf, size_t len, const int64_t *dim, int ndim)
{
    size_t used = 10;
    used += (size_t)snprintf(buf + used, len - used,
                             "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)dim[i]);
    used += (size_t)snprintf(buf + used, len - used, "%s), }", ndim == 1 ? "," : "");
    size_t total = (used + 1 + 63) / 64 * 64;
    if (total > len)
        return 0;
    memset(buf + used, ' ', total - 1 - used);
    buf[total - 1] = '\n';
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    return total;
}

/* Writes n floats as little-endian bytes, a block at a time. */
static bool write_data(FILE *f, const float *data, size_t n)
{
    unsigned char block[4096];
    size_t per_block = sizeof block / 4;
    for (size_t start = 0; start < n; start += per_block) {
        size_t count = n - start < per_block ? n - start : per_block;
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, &data[start + i], sizeof u);
            for (int b = 0; b < 4; b++)
                block[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        if (fwrite(block, 4, count, f) != count)
            return false;
    }
    return true;
}

tc_status tc_npy_write(const char *path, const float *data, const int64_t *dim, int ndim,
                       tc_error *err)
{
    tc_error_clear(err);
    if (path == NULL || (ndim > 0 && dim == NULL))
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "path and dim must not be NULL");
    if (ndim < 0 || ndim > NPY_MAX_NDIM)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "ndim must be 0..%d, got %d",
                            NPY_MAX_NDIM, ndim);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dim[i] < 0)
            return tc_error_set(err, TC_ERR_ARGUMENT, "", "dim[%d] must be >= 0, got %lld", i,
                                (long long)dim[i]);
        if ((uint64_t)dim[i] > SIZE_MAX || !tc_mul_size(numel, (size_t)dim[i], &numel) ||
            numel > SIZE_MAX / sizeof(float))
            return tc_error_set(err, TC_ERR_ARGUMENT, "", "the shape's byte size overflows");
    }
    if (data == NULL && numel > 0)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "data must not be NULL");
    char header[256];
    size_t header_len = build_header(header, sizeof header, dim, ndim);
    if (header_len == 0)
        return tc_error_set(err, TC_ERR_INTERNAL, "", "the .npy header does not fit");
    FILE *f = fopen(path, "wb");
    tc_status st = TC_OK;
    if (f == NULL) {
        st = tc_error_set(err, TC_ERR_IO, "", "cannot open the file for writing");
    } else {
        bool ok = fwrite(header, 1, header_len, f) == header_len && write_data(f, data, numel);
        if (fclose(f) != 0 || !ok) {
            st = tc_error_set(err, TC_ERR_IO, "", "could not write the whole file");
            remove(path); // a partial .npy would only mislead whoever reads it next
        }
    }
    tc_error_set_file(err, path);
    return st;
}
