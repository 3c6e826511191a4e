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
/* Zeroed: stb 2.27 decodes a JPEG scan with a Huffman table no DHT segment defined, reading the
 * table's uninitialised memory as indices (out of bounds); zeroed tables decode as no codes. */
#define STBI_MALLOC(n) TC_CALLOC(1, (n))
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

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static tc_status too_many_pixels(const char *format, uint64_t w, uint64_t h, size_t max_pixels,
                                 tc_error *err)
{
    return tc_error_set(err, TC_ERR_LIMIT, "",
                        "%s of %llu x %llu pixels is above the limit max_pixels = %zu", format,
                        (unsigned long long)w, (unsigned long long)h, max_pixels);
}

/* The CRC-32 of PNG chunks and gzip files (ISO 3309, reflected polynomial 0xEDB88320). The
 * table is built by each caller (on its stack: no shared state between threads). */
static void crc32_table(uint32_t table[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc32_of(const uint32_t table[256], const uint8_t *d, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ d[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* PNG: the CRCs of critical chunks (stb checks none) and the IHDR size before stb sees it. */
static tc_status check_png(const uint8_t *d, size_t len, size_t max_pixels, tc_error *err)
{
    uint32_t table[256];
    crc32_table(table);
    if (len >= 24 && memcmp(d + 12, "IHDR", 4) == 0) {
        uint64_t w = be32(d + 16);
        uint64_t h = be32(d + 20);
        if (w * h > max_pixels)
            return too_many_pixels("PNG", w, h, max_pixels, err);
    }
    size_t pos = 8;
    bool seen_idat = false;
    bool seen_iend = false;
    while (pos + 12 <= len) {
        uint32_t n = be32(d + pos);
        /* stb appends IDAT data at its buffer + offset; before the first non-empty IDAT that
         * buffer is NULL, and NULL + 0 is undefined behaviour. Encoders do not write this. */
        if (memcmp(d + pos + 4, "IDAT", 4) == 0 && n == 0 && !seen_idat)
            return tc_error_set(err, TC_ERR_RANGE, "",
                                "unsupported PNG: the first IDAT chunk is empty");
        seen_idat = seen_idat || memcmp(d + pos + 4, "IDAT", 4) == 0;
        if (n > len - pos - 12) /* stb would grow its IDAT buffer to n before finding out */
            return tc_error_set(err, TC_ERR_RANGE, "",
                                "truncated PNG: chunk %.4s declares %lu bytes, the file has %zu "
                                "left", (const char *)d + pos + 4, (unsigned long)n,
                                len - pos - 12);
        bool critical = (d[pos + 4] & 0x20) == 0; /* IHDR, PLTE, IDAT, IEND (as libpng) */
        if (critical && crc32_of(table, d + pos + 4, 4 + (size_t)n) != be32(d + pos + 8 + n))
            return tc_error_set(err, TC_ERR_RANGE, "", "corrupt PNG: bad CRC in chunk %.4s",
                                (const char *)d + pos + 4);
        if (memcmp(d + pos + 4, "IEND", 4) == 0) {
            seen_iend = true;
            break;
        }
        pos += 12 + (size_t)n;
    }
    /* stb fails without IEND too, but only after reading the chunk header cut short */
    if (!seen_iend && pos > 8)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "truncated PNG: %zu bytes where a chunk should start, and no IEND",
                            len - pos);
    return TC_OK;
}

/* JPEG: stb 2.27 overflows its Huffman tables on a DHT segment with more than 256 codes. Walk
 * the markers the way stb reads them (padding skipped, fill bytes, entropy-coded data up to the
 * next marker) and refuse such a table before stb sees it. Where stb would stop with an error
 * the walk just ends: stb reports it. */
static uint8_t byte_at(const uint8_t *d, size_t len, size_t pos)
{
    return pos < len ? d[pos] : 0; /* stb reads zeros past the end */
}

static tc_status check_jpeg(const uint8_t *d, size_t len, tc_error *err)
{
    size_t pos = 2; /* after SOI */
    while (pos < len) {
        if (d[pos++] != 0xFF)
            continue; /* padding between segments */
        while (pos < len && d[pos] == 0xFF)
            pos++;
        if (pos >= len)
            break;
        uint8_t m = d[pos++];
        if (m == 0xD9 || m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8))
            break; /* end of image, or a marker stb refuses here */
        size_t seg = (size_t)byte_at(d, len, pos) << 8 | byte_at(d, len, pos + 1);
        if (m == 0xC4) {
            long left = (long)seg - 2;
            size_t t = pos + 2;
            while (left > 0) {
                if ((byte_at(d, len, t) >> 4) > 1 || (byte_at(d, len, t) & 15) > 3)
                    return TC_OK; /* stb: "bad DHT header" */
                size_t n = 0;
                for (size_t i = 1; i <= 16; i++)
                    n += byte_at(d, len, t + i);
                if (n > 256)
                    return tc_error_set(err, TC_ERR_RANGE, "",
                                        "corrupt JPEG: a Huffman table of %zu codes (at most 256)",
                                        n);
                t += 17 + n;
                left -= 17 + (long)n;
            }
            if (left != 0)
                return TC_OK; /* stb: the segment length does not match its tables */
        }
        pos += seg;
        if (m == 0xDA) { /* entropy-coded data: up to an 0xFF that is not 0xFF00 or RSTn */
            while (pos + 1 < len && !(d[pos] == 0xFF && d[pos + 1] != 0x00 && d[pos + 1] != 0xFF &&
                                      !(d[pos + 1] >= 0xD0 && d[pos + 1] <= 0xD7)))
                pos++;
        }
    }
    return TC_OK;
}

/* BMP: the size with a top-down (negative) height, and pixel data that is all there (stb
 * would read zeros past the end). */
static tc_status check_bmp(const uint8_t *d, size_t len, size_t max_pixels, int *w, int *h,
                           tc_error *err)
{
    if (len < 30)
        return TC_OK;
    uint32_t offset = le32(d + 10);
    uint32_t hsz = le32(d + 14);
    int64_t bw, bh, bpp;
    uint32_t compression = 0;
    if (hsz == 12) {
        bw = d[18] | d[19] << 8;
        bh = d[20] | d[21] << 8;
        bpp = d[24] | d[25] << 8;
    } else if (len >= 34) {
        bw = (int32_t)le32(d + 18);
        bh = (int32_t)le32(d + 22);
        bpp = d[28] | d[29] << 8;
        compression = le32(d + 30);
    } else {
        return TC_OK;
    }
    if (bh < 0)
        bh = -bh; /* top-down; int64_t, so INT32_MIN is fine */
    if (bw < 1 || bh < 1 || bh > INT32_MAX)
        return tc_error_set(err, TC_ERR_RANGE, "", "invalid BMP size %lld x %lld",
                            (long long)bw, (long long)bh);
    if ((uint64_t)bw * (uint64_t)bh > max_pixels)
        return too_many_pixels("BMP", (uint64_t)bw, (uint64_t)bh, max_pixels, err);
    uint64_t row = ((uint64_t)bw * (uint64_t)bpp + 31) / 32 * 4;
    if ((compression == 0 || compression == 3) && (uint64_t)offset + row * (uint64_t)bh > len)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "truncated BMP: %lld x %lld at %lld bits needs %llu bytes of pixels, "
                            "the file has %zu", (long long)bw, (long long)bh, (long long)bpp,
                            (unsigned long long)(row * (uint64_t)bh),
                            len > offset ? len - offset : 0);
    *w = (int)bw;
    *h = (int)bh;
    return TC_OK;
}

/* PGM/PPM (P5/P6): stb overflows on long numbers, ignores maxval and reads past the end of a
 * truncated file, so the header is parsed here. *maxval gets the maximum sample value. */
static tc_status check_pnm(const uint8_t *d, size_t len, size_t max_pixels, int *maxval,
                           tc_error *err)
{
    uint64_t v[3] = {0, 0, 0};
    size_t pos = 2;
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and comments */
            while (pos < len && strchr(" \t\r\n\v\f", d[pos]) && d[pos] != 0)
                pos++;
            if (pos < len && d[pos] == '#') {
                while (pos < len && d[pos] != '\n' && d[pos] != '\r')
                    pos++;
                continue;
            }
            break;
        }
        int digits = 0;
        while (pos < len && d[pos] >= '0' && d[pos] <= '9' && digits < 10) {
            v[k] = v[k] * 10 + (uint64_t)(d[pos++] - '0');
            digits++;
        }
        if (digits == 0 || digits == 10)
            return tc_error_set(err, TC_ERR_RANGE, "", "invalid PGM/PPM header (%s)",
                                digits ? "a number with 10 or more digits" : "expected a number");
    }
    pos++; /* the single whitespace after maxval */
    if (v[0] < 1 || v[1] < 1)
        return tc_error_set(err, TC_ERR_RANGE, "", "invalid PGM/PPM size %llu x %llu",
                            (unsigned long long)v[0], (unsigned long long)v[1]);
    if (v[2] < 1 || v[2] > 65535)
        return tc_error_set(err, TC_ERR_RANGE, "", "invalid PGM/PPM maxval %llu (1..65535)",
                            (unsigned long long)v[2]);
    if (v[2] > 255 && v[2] != 65535)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "PGM/PPM maxval %llu is not supported (up to 255, or 65535)",
                            (unsigned long long)v[2]);
    if (v[0] * v[1] > max_pixels)
        return too_many_pixels("PGM/PPM", v[0], v[1], max_pixels, err);
    uint64_t need = v[0] * v[1] * (d[1] == '6' ? 3u : 1u) * (v[2] > 255 ? 2u : 1u);
    if (pos > len || len - pos < need)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "truncated PGM/PPM: %llu x %llu needs %llu bytes of samples, the "
                            "file has %zu", (unsigned long long)v[0], (unsigned long long)v[1],
                            (unsigned long long)need, pos > len ? 0 : len - pos);
    *maxval = (int)v[2];
    return TC_OK;
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
        return tc_error_set(err, TC_ERR_LIMIT, "",
                            "the image file is %zu bytes, above the limit "
                            "TC_MAX_IMAGE_FILE_BYTES = %zu", len, TC_MAX_IMAGE_FILE_BYTES);
    const char *format = format_of(data, len);
    if (format == NULL)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "not a PNG, JPEG, BMP or PGM/PPM image (unrecognised signature)");
    int w = 0;
    int h = 0;
    int comp = 0;
    int bmp_w = 0;
    int bmp_h = 0;
    int maxval = 255;
    tc_status st = TC_OK;
    if (strcmp(format, "PNG") == 0)
        st = check_png(data, len, max_pixels, err);
    else if (strcmp(format, "JPEG") == 0)
        st = check_jpeg(data, len, err);
    else if (strcmp(format, "BMP") == 0)
        st = check_bmp(data, len, max_pixels, &bmp_w, &bmp_h, err);
    else
        st = check_pnm(data, len, max_pixels, &maxval, err);
    if (st != TC_OK)
        return st;
    int ok = stbi_info_from_memory(data, (int)len, &w, &h, &comp);
    if (ok && bmp_h > 0 && w == bmp_w && h == -bmp_h)
        h = bmp_h; /* stb reports a top-down BMP's height negative */
    if (!ok || w < 1 || h < 1)
        return tc_error_set(err, TC_ERR_RANGE, "", "invalid or unsupported %s header", format);
    if ((uint64_t)w * (uint64_t)h > max_pixels)
        return tc_error_set(err, TC_ERR_LIMIT, "",
                            "%s of %d x %d pixels is above the limit max_pixels = %zu", format,
                            w, h, max_pixels);
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
    if (maxval != 255 && maxval != 65535) { /* PGM/PPM samples 0..maxval to 0..255 */
        for (size_t i = 0; i < (size_t)w * (size_t)h * (size_t)comp; i++) {
            int v = pixels[i] >= maxval ? maxval : pixels[i];
            pixels[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
        }
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
        st = tc_error_set(err, TC_ERR_LIMIT, "",
                          "the image file is %lld bytes, above the limit "
                          "TC_MAX_IMAGE_FILE_BYTES = %zu", (long long)sb.st_size,
                          TC_MAX_IMAGE_FILE_BYTES);
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

#define DEFLATE_MAX_RATIO 1032 /* longest match (258 bytes) per shortest code (2 bits) */

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
                            "gzip data claims %zu bytes uncompressed, above the limit of %zu",
                            isize, max_out);
    size_t body = len - pos - 8;
    /* Deflate cannot expand more than 1032:1, so a larger claim is a lie: refusing it keeps the
     * allocation proportional to the file's size. */
    if (isize > DEFLATE_MAX_RATIO * body + 64)
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "corrupt gzip file: %zu bytes of deflate data cannot inflate to the "
                            "%zu bytes its trailer claims", body, isize);
    /* Decoding into a fixed buffer of the declared size: a lying size or a bomb fails instead of
     * growing without bound. */
    uint8_t *buf = TC_MALLOC(isize + 1);
    if (buf == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", isize + 1);
    if (body > INT32_MAX || isize + 1 > INT32_MAX) {
        TC_FREE(buf);
        return tc_error_set(err, TC_ERR_LIMIT, "", "gzip file too large");
    }
    /* The 8 trailer bytes stay readable: stb's bit reader looks ahead past the last deflate
     * symbol and reports a premature end otherwise. The final-block flag ends the stream. */
    int n = stbi_zlib_decode_noheader_buffer((char *)buf, (int)isize + 1,
                                             (const char *)data + pos, (int)body + 8);
    if (n < 0 || (size_t)n != isize) {
        TC_FREE(buf);
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "corrupt gzip data (inflated %d bytes, header says %zu)", n, isize);
    }
    uint32_t table[256];
    crc32_table(table);
    const uint32_t crc = (uint32_t)data[len - 8] | (uint32_t)data[len - 7] << 8 |
                         (uint32_t)data[len - 6] << 16 | (uint32_t)data[len - 5] << 24;
    if (crc32_of(table, buf, isize) != crc) { /* damaged data that still inflates */
        TC_FREE(buf);
        return tc_error_set(err, TC_ERR_RANGE, "",
                            "corrupt gzip data: CRC-32 of the %zu inflated bytes is not the "
                            "trailer's", isize);
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
