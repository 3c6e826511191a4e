/*
 * image.c - image decoding: the only file that compiles stb_image (from Debian's libstb-dev
 * headers), limited to the formats we support. Headers are read first so that a small file can
 * never make us allocate gigabytes.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tc_internal.h"

#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_NO_STDIO          /* we read files ourselves, with a size limit */
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 24)
#define STBI_MALLOC(n) TC_MALLOC(n)
#define STBI_REALLOC(p, n) TC_REALLOC((p), (n))
#define STBI_FREE(p) TC_FREE(p)
#define STBI_ASSERT(x) ((void)0) /* never abort on a hostile file */
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
/* stb declares a few static functions it only defines for formats we leave out. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wvla"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static const char *format_of(const uint8_t *d, size_t len)
{
    if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "PNG";
    if (len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return "JPEG";
    if (len >= 2 && d[0] == 'B' && d[1] == 'M')
        return "BMP";
    if (len >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6'))
        return "PGM/PPM";
    return NULL;
}

tc_status tc_image_decode(const void *data, size_t len, size_t max_pixels, tc_image *out,
                          tc_error *err)
{
    tc_error_clear(err);
    if (out == NULL || (data == NULL && len > 0))
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "data and out must not be NULL");
    memset(out, 0, sizeof *out);
    if (max_pixels == 0)
        max_pixels = TC_DEFAULT_MAX_PIXELS;
    if (len == 0)
        return tc_error_set(err, TC_ERR_RANGE, "", "the file is empty");
    if (len > TC_MAX_IMAGE_FILE_BYTES || len > INT32_MAX)
        return tc_error_set(err, TC_ERR_LIMIT, "", "the file is %zu bytes; the limit is %zu", len,
                            TC_MAX_IMAGE_FILE_BYTES);
    const char *format = format_of(data, len);
    if (format == NULL)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "not a PNG, JPEG, BMP or PGM/PPM image (unrecognised signature)");
    int w = 0;
    int h = 0;
    int comp = 0;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp) || w < 1 || h < 1)
        return tc_error_set(err, TC_ERR_RANGE, "", "invalid %s header (%s)", format,
                            stbi_failure_reason() ? stbi_failure_reason() : "unreadable");
    if ((uint64_t)w * (uint64_t)h > max_pixels)
        return tc_error_set(err, TC_ERR_LIMIT, "",
                            "%s of %d x %d pixels is above the limit of %zu pixels", format, w, h,
                            max_pixels);
    int got_w = 0;
    int got_h = 0;
    uint8_t *pixels = stbi_load_from_memory(data, (int)len, &got_w, &got_h, &comp, 0);
    if (pixels == NULL)
        return tc_error_set(err, TC_ERR_RANGE, "", "cannot decode the %s data (%s)", format,
                            stbi_failure_reason() ? stbi_failure_reason() : "corrupt");
    if (got_w != w || got_h != h || comp < 1 || comp > 4) {
        stbi_image_free(pixels);
        return tc_error_set(err, TC_ERR_RANGE, "", "inconsistent %s image", format);
    }
    out->width = w;
    out->height = h;
    out->channels = comp;
    out->pixels = pixels;
    return TC_OK;
}

tc_status tc_image_load(const char *path, size_t max_pixels, tc_image *out, tc_error *err)
{
    tc_error_clear(err);
    if (path == NULL || out == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "path and out must not be NULL");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    struct stat sb;
    tc_status st = TC_OK;
    if (f == NULL || fstat(fileno(f), &sb) != 0)
        st = tc_error_set(err, TC_ERR_IO, "", "cannot open the image file");
    else if (!S_ISREG(sb.st_mode))
        st = tc_error_set(err, TC_ERR_IO, "", "not a regular file");
    else if ((uint64_t)sb.st_size > TC_MAX_IMAGE_FILE_BYTES)
        st = tc_error_set(err, TC_ERR_LIMIT, "", "the file is %lld bytes; the limit is %zu",
                          (long long)sb.st_size, TC_MAX_IMAGE_FILE_BYTES);
    size_t len = st == TC_OK ? (size_t)sb.st_size : 0;
    uint8_t *data = NULL;
    if (st == TC_OK && len > 0 && (data = TC_MALLOC(len)) == NULL)
        st = tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", len);
    if (st == TC_OK && len > 0 && fread(data, 1, len, f) != len)
        st = tc_error_set(err, TC_ERR_IO, "", "could not read the image file");
    if (f != NULL)
        fclose(f);
    if (st == TC_OK)
        st = tc_image_decode(data, len, max_pixels, out, err);
    TC_FREE(data);
    tc_error_set_file(err, path);
    return st;
}

tc_status tc_gunzip(const uint8_t *data, size_t len, size_t max_out, uint8_t **out,
                    size_t *out_len, tc_error *err)
{
    *out = NULL;
    *out_len = 0;
    /* RFC 1952: 10-byte header, optional fields, deflate data, CRC32, ISIZE (little-endian). */
    if (len < 18 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8)
        return tc_error_set(err, TC_ERR_RANGE, "", "not a gzip file");
    uint8_t flags = data[3];
    size_t pos = 10;
    if (flags & 4) { /* FEXTRA */
        if (pos + 2 > len)
            return tc_error_set(err, TC_ERR_RANGE, "", "truncated gzip header");
        pos += 2 + (size_t)(data[pos] | data[pos + 1] << 8);
    }
    for (int bit = 8; bit <= 16; bit *= 2) { /* FNAME, FCOMMENT: zero-terminated */
        if (flags & bit) {
            while (pos < len && data[pos] != 0)
                pos++;
            pos++;
        }
    }
    if (flags & 2) /* FHCRC */
        pos += 2;
    if (pos + 8 > len)
        return tc_error_set(err, TC_ERR_RANGE, "", "truncated gzip file");
    const uint8_t *t = data + len - 4;
    size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
    if (isize > max_out)
        return tc_error_set(err, TC_ERR_LIMIT, "",
                            "gzip data claims %zu bytes uncompressed; the limit is %zu", isize,
                            max_out);
    /* Decoding into a fixed buffer of the declared size: a lying size or a bomb fails instead of
     * growing without bound. */
    uint8_t *buf = TC_MALLOC(isize + 1);
    if (buf == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", isize + 1);
    size_t body = len - pos - 8;
    if (body > INT32_MAX || isize + 1 > INT32_MAX) {
        TC_FREE(buf);
        return tc_error_set(err, TC_ERR_LIMIT, "", "gzip file too large");
    }
    int n = stbi_zlib_decode_noheader_buffer((char *)buf, (int)isize + 1,
                                             (const char *)data + pos, (int)body);
    if (n < 0 || (size_t)n != isize) {
        TC_FREE(buf);
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "corrupt gzip data (inflated %d bytes, header says %zu)", n, isize);
    }
    *out = buf;
    *out_len = isize;
    return TC_OK;
}

void tc_image_free(tc_image *img)
{
    if (img == NULL)
        return;
    stbi_image_free(img->pixels);
    memset(img, 0, sizeof *img);
}
