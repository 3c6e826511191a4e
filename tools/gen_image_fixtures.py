#!/usr/bin/python3
"""gen_image_fixtures.py - writes tests/fixtures/images/: special valid images that stb_image_write
cannot produce (16-bit, palette, 1-bit, interlaced, filtered PNGs; progressive JPEG) and broken or
hostile images that tinycnn must refuse cleanly (hostile_*).

PNGs are built by hand with zlib + struct so every byte is known. The JPEGs (progressive, and the
baseline one that hostile_truncated.jpg is cut from) need Pillow (Debian python3-pil), used only
here; the generated files are committed, so the tests never need it.

Run: /usr/bin/python3 tools/gen_image_fixtures.py   (from the repository root). Deterministic.
Expected pixel values of the valid fixtures are written out in tests/test_image.c.
"""
import io
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")
SIG = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def ihdr(w, h, depth, ctype, interlace=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))


def png(w, h, depth, ctype, raw, extra=(), interlace=0):
    """raw: the filtered scanlines (each starting with its filter byte)."""
    return (SIG + ihdr(w, h, depth, ctype, interlace) + b"".join(extra) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def rows_none(rows):
    """Scanlines with filter type 0 (None)."""
    return b"".join(b"\x00" + bytes(r) for r in rows)


def pack_bits(values, depth):
    """Packs one row of depth-bit samples, most significant first, padded to a byte."""
    out, acc, n = bytearray(), 0, 0
    for v in values:
        acc = (acc << depth) | v
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(ftype, row, prev, bpp):
    """PNG filtering (RFC 2083 section 6) of one row given the previous unfiltered row."""
    out = bytearray([ftype])
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
        out.append((x - pred) & 0xFF)
    return bytes(out)


def adam7(w, h, pixel):
    """Adam7-interlaced raw data of an 8-bit gray image (filter 0 on every reduced row)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        xs = range(x0, w, dx)
        for y in range(y0, h, dy):
            if len(xs):
                raw += b"\x00" + bytes(pixel(x, y) for x in xs)
    return bytes(raw)


def valid_fixtures():
    f = {}
    # 16-bit gray 4x1: 0x0000 0x1234 0xABCD 0xFFFF
    f["png16_gray.png"] = png(4, 1, 16, 0, b"\x00" + struct.pack(">4H", 0, 0x1234, 0xABCD, 0xFFFF))
    # 16-bit RGBA 2x1
    px = struct.pack(">8H", 0xFFFF, 0x8080, 0, 0xFFFF, 0x1234, 0xABCD, 0x7F7F, 0)
    f["png16_rgba.png"] = png(2, 1, 16, 6, b"\x00" + px)
    plte = chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]))
    # 8-bit palette 4x1, indices 3 2 1 0
    f["png_palette.png"] = png(4, 1, 8, 3, rows_none([[3, 2, 1, 0]]), [plte])
    # same with tRNS: entries 0..2 have alpha 255, 128, 0; entry 3 is opaque by omission
    trns = chunk(b"tRNS", bytes([255, 128, 0]))
    f["png_palette_trns.png"] = png(4, 1, 8, 3, rows_none([[3, 2, 1, 0]]), [plte, trns])
    # 2-bit palette 5x2: rows 0 1 2 3 1 / 3 3 0 0 2
    raw = b"".join(b"\x00" + pack_bits(r, 2) for r in ([0, 1, 2, 3, 1], [3, 3, 0, 0, 2]))
    f["png_palette_2bit.png"] = png(5, 2, 2, 3, raw, [plte])
    # 1-bit gray 10x1: 1 0 1 0 0 1 1 1 0 0
    bits = pack_bits([1, 0, 1, 0, 0, 1, 1, 1, 0, 0], 1)
    f["png_gray_1bit.png"] = png(10, 1, 1, 0, b"\x00" + bits)
    # 8-bit gray with tRNS (gray value 100 is transparent) 3x1: 0 100 200
    f["png_gray_trns.png"] = png(3, 1, 8, 0, rows_none([[0, 100, 200]]),
                                 [chunk(b"tRNS", struct.pack(">H", 100))])
    # Adam7-interlaced 8-bit gray 9x9: pixel (x, y) = 20 * y + x
    f["png_interlaced.png"] = png(9, 9, 8, 0, adam7(9, 9, lambda x, y: 20 * y + x), interlace=1)
    # RGB 4x5, row y uses filter type y (None, Sub, Up, Average, Paeth);
    # pixel (x, y) = ((37 * x + 11 * y) % 256, (200 - 13 * x * y) % 256, (x * x + 50 * y) % 256)
    rows = [bytes(v for x in range(4) for v in ((37 * x + 11 * y) % 256, (200 - 13 * x * y) % 256,
                                                (x * x + 50 * y) % 256)) for y in range(5)]
    raw = b"".join(filter_row(y, rows[y], rows[y - 1] if y else bytes(12), 3) for y in range(5))
    f["png_filters.png"] = png(4, 5, 8, 2, raw)
    # 24-bit BMP 3x2 stored top-down (negative height); rows (B, G, R) padded to 4 bytes.
    # Pixels (R, G, B): row 0: (255, 0, 0) (0, 255, 0) (0, 0, 255); row 1: (10, 20, 30) x 3
    rows = [bytes([0, 0, 255, 0, 255, 0, 255, 0, 0, 0, 0, 0]), bytes([30, 20, 10] * 3 + [0, 0, 0])]
    f["bmp_topdown.bmp"] = bmp_header(3, -2, data_len=24) + b"".join(rows)
    # PGM with maxval 15: samples 0 7 15 mean 0, 7/15 and full intensity
    f["pgm_maxval_15.pgm"] = b"P5 3 1 15\n\x00\x07\x0f"
    return f


def jpeg_fixtures():
    """Baseline and progressive JPEGs, and the truncated one (Pillow). stb_image_write's JPEG
    encoder cannot be used in the tests: it shifts signed ints too far (UBSan aborts)."""
    from PIL import Image
    f = {}
    # 16x16 gray, pixel (x, y) = 8 * x + 4 * y + 40: smooth, so quality 100 keeps it within +-2
    gray = Image.new("L", (16, 16))
    gray.putdata([8 * x + 4 * y + 40 for y in range(16) for x in range(16)])
    buf = io.BytesIO()
    gray.save(buf, "JPEG", quality=100, progressive=True)
    f["jpeg_progressive_gray.jpg"] = buf.getvalue()
    # 16x16 RGB flat (200, 40, 90), no chroma subsampling
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 90)).save(buf, "JPEG", quality=100, progressive=True,
                                                   subsampling=0)
    f["jpeg_progressive_rgb.jpg"] = buf.getvalue()
    for name in f:
        assert b"\xff\xc2" in f[name], name + " is not progressive (no SOF2)"
    # baseline JPEGs, quality 100, no chroma subsampling: the gray ramp, and an RGB ramp
    # (r, g, b) = (8x + 4y + 40, 255 - (8x + 4y + 40), 128)
    buf = io.BytesIO()
    gray.save(buf, "JPEG", quality=100)
    f["jpeg_baseline_gray.jpg"] = buf.getvalue()
    rgb = Image.new("RGB", (16, 16))
    rgb.putdata([(8 * x + 4 * y + 40, 215 - 8 * x - 4 * y, 128)
                 for y in range(16) for x in range(16)])
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=100, subsampling=0)
    f["jpeg_baseline_rgb.jpg"] = buf.getvalue()
    for name in ("jpeg_baseline_gray.jpg", "jpeg_baseline_rgb.jpg"):
        assert b"\xff\xc0" in f[name], name + " is not baseline (no SOF0)"
    # baseline 64x64 noise-ish RGB, cut in the middle of its scan data
    rgb = Image.new("RGB", (64, 64))
    rgb.putdata([((x * 7 + y * 3) % 256, (x * y) % 256, (x ^ y) * 4 % 256)
                 for y in range(64) for x in range(64)])
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=90)
    base = buf.getvalue()
    sos = base.index(b"\xff\xda")
    f["hostile_truncated.jpg"] = base[:sos + (len(base) - sos) // 2]
    return f


def bmp_header(w, h, bpp=24, hsz=40, data_len=0):
    file_header = b"BM" + struct.pack("<IHHI", 14 + hsz + data_len, 0, 0, 14 + hsz)
    info = struct.pack("<IiiHHIIiiII", hsz, w, h, 1, bpp, 0, data_len, 2835, 2835, 0, 0)
    return file_header + info + bytes(max(0, hsz - 40))


def hostile_fixtures():
    f = {}
    good = png(4, 4, 8, 0, rows_none([[16 * y + x for x in range(4)] for y in range(4)]))
    f["hostile_empty.png"] = b""
    f["hostile_text.png"] = b"This is a text file, not an image.\n"
    f["hostile_signature_only.png"] = SIG
    f["hostile_truncated_header.png"] = good[:8 + 8 + 6]
    idat = good.index(b"IDAT")
    f["hostile_truncated.png"] = good[:idat + 4 + 10]
    f["hostile_no_idat.png"] = SIG + ihdr(4, 4, 8, 0) + chunk(b"IEND", b"")
    tiny = zlib.compress(b"\x00" * 64, 9)
    f["hostile_100000x100000.png"] = (SIG + ihdr(100000, 100000, 8, 0) + chunk(b"IDAT", tiny) +
                                      chunk(b"IEND", b""))
    # a decompression bomb: 20000 x 20000 gray would inflate to 400 MB; the file holds the start
    # of that zlib stream (all zero rows), refused by the pixel limit before any decoding
    bomb = zlib.compressobj(9)
    start = bomb.compress(b"\x00" * (20001 * 200)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    f["hostile_bomb_20000x20000.png"] = (SIG + ihdr(20000, 20000, 8, 0) + chunk(b"IDAT", start) +
                                         chunk(b"IEND", b""))
    # under the 16-megapixel limit (4000 x 4000), but its IDAT is garbage after a zlib header
    garbage = bytes((i * 97 + 13) % 251 for i in range(512))
    f["hostile_bomb_garbage_idat.png"] = (SIG + ihdr(4000, 4000, 8, 0) +
                                          chunk(b"IDAT", b"\x78\x9c" + garbage) +
                                          chunk(b"IEND", b""))
    f["hostile_garbage_deflate.png"] = (SIG + ihdr(4, 4, 8, 0) +
                                        chunk(b"IDAT", b"\x78\x9c" + garbage[:40]) +
                                        chunk(b"IEND", b""))
    # valid deflate that inflates to 2 rows of a 4-row image
    f["hostile_short_idat.png"] = (SIG + ihdr(4, 4, 8, 0) +
                                   chunk(b"IDAT", zlib.compress(b"\x00" * 10)) +
                                   chunk(b"IEND", b""))
    idat_chunk = chunk(b"IDAT", zlib.compress(b"\x00" * 20))
    f["hostile_zero_width.png"] = SIG + ihdr(0, 4, 8, 0) + idat_chunk + chunk(b"IEND", b"")
    f["hostile_zero_height.png"] = SIG + ihdr(4, 0, 8, 0) + idat_chunk + chunk(b"IEND", b"")
    f["hostile_bad_color_type.png"] = SIG + ihdr(4, 4, 8, 5) + idat_chunk + chunk(b"IEND", b"")
    f["hostile_bad_bit_depth.png"] = SIG + ihdr(4, 4, 7, 0) + idat_chunk + chunk(b"IEND", b"")
    f["hostile_palette_missing.png"] = SIG + ihdr(4, 4, 8, 3) + idat_chunk + chunk(b"IEND", b"")
    # an IDAT chunk declaring 2 GiB - 16 bytes of data, followed by 16 bytes
    f["hostile_huge_chunk.png"] = (SIG + ihdr(4, 4, 8, 0) + struct.pack(">I", 0x7FFFFFF0) +
                                   b"IDAT" + bytes(16))
    # a PNG whose IHDR CRC is wrong (everything else valid)
    bad = bytearray(good)
    bad[8 + 8 + 13] ^= 0xFF
    f["hostile_bad_crc.png"] = bytes(bad)
    # JPEG: a Huffman table (DHT) declaring 16 x 255 = 4080 codes; a table holds at most 256
    dht = b"\x00" + bytes([255] * 16) + bytes(4080)
    f["hostile_dht_overflow.jpg"] = (b"\xff\xd8\xff\xc4" + struct.pack(">H", 2 + len(dht)) + dht +
                                     b"\xff\xd9")
    # JPEG: start of image and a JFIF marker, nothing else
    f["hostile_soi_only.jpg"] = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
                                 b"\x00\x00")
    # JPEG whose frame header (SOF0) declares 65535 x 65535, 1 component; no tables or data
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65535, 65535, 1) + b"\x01\x11\x00"
    f["hostile_65535x65535.jpg"] = b"\xff\xd8" + sof + b"\xff\xd9"
    # BMP headers: 40000 x 40000 pixels with no data; an unknown info header size; truncated data
    f["hostile_huge_header.bmp"] = bmp_header(40000, 40000)
    f["hostile_bad_header_size.bmp"] = bmp_header(4, 4, hsz=1000)[:14 + 40]
    f["hostile_truncated.bmp"] = bmp_header(64, 64, data_len=64 * 64 * 3) + bytes(10)
    f["hostile_zero_width.bmp"] = bmp_header(0, 4, data_len=0)
    # a BMP whose height is INT32_MIN (top-down with a height that has no absolute value)
    f["hostile_height_intmin.bmp"] = bmp_header(4, -2**31, data_len=48) + bytes(48)
    # a real 1x1 GIF: a format we do not support
    f["hostile.gif"] = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04"
                        b"\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D"
                        b"\x01\x00;")
    # PNM: a width that overflows a 32-bit int; truncated data; maxval out of range and zero
    f["hostile_width_overflow.pgm"] = b"P5 99999999999 1 255\n\x00"
    f["hostile_truncated.pgm"] = b"P5 8 8 255\n" + bytes(range(20))
    f["hostile_maxval_70000.ppm"] = b"P6 2 2 70000\n" + bytes(24)
    f["hostile_maxval_0.pgm"] = b"P5 2 2 0\n" + bytes(4)
    return f


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}
    files.update(valid_fixtures())
    files.update(hostile_fixtures())
    files.update(jpeg_fixtures())
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)
        print("%-34s %7d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
