#!/usr/bin/python3
"""make_samples.py - writes samples/: Fashion-MNIST and MNIST test images as 28 x 28 grayscale
PNGs, and the article's 3 x 3 example matrix as a PGM.

- fashion_<index>_<class>.png: the first two images of each class in Fashion-MNIST's test set
  (Debian package dataset-fashion-mnist, /usr/share/datasets/fashion-mnist/t10k-*.gz).
- digit_<index>_<label>.png: the first image of each digit in MNIST's test set
  (../shared/external/mnist-t10k, see its PROVENANCE.md).
- article_3x3.pgm: [[1, 2, 3], [4, 5, 6], [7, 8, 9]] as an 8-bit binary PGM (P5).

<index> is the image's position in the test set (0-based). Pixels are copied exactly (0 =
background, 255 = ink); each PNG is decoded again here and compared with the idx data.
numpy + the standard library only. Run from anywhere: /usr/bin/python3 tools/make_samples.py
"""
import gzip
import os
import struct
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "samples")
FASHION = "/usr/share/datasets/fashion-mnist"
MNIST = os.path.join(ROOT, "..", "shared", "external", "mnist-t10k")
FASHION_CLASSES = ["t_shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle_boot"]


def read_idx(path):
    """An idx file of unsigned bytes (gzipped): its array, shaped as declared."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte idx file" % path)
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: %d values, header says %s" % (path, arr.size, dims))
    return arr.reshape(dims)


def png_gray(img):
    """An 8-bit grayscale PNG (filter 0 on every row)."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def unpng_gray(data, w, h):
    """Decodes what png_gray wrote (one IDAT, filter 0), to check it."""
    n = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41:41 + n])
    rows = [raw[y * (w + 1):(y + 1) * (w + 1)] for y in range(h)]
    assert all(r[0] == 0 for r in rows)
    return np.frombuffer(b"".join(r[1:] for r in rows), np.uint8).reshape(h, w)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as fh:
        fh.write(data)
    print("%-36s %5d bytes" % (name, len(data)))


def write_png(name, img):
    data = png_gray(img)
    assert np.array_equal(unpng_gray(data, img.shape[1], img.shape[0]), img)
    write(name, data)


def main():
    os.makedirs(OUT, exist_ok=True)
    images = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))
    for c, name in enumerate(FASHION_CLASSES):
        for i in np.flatnonzero(labels == c)[:2]:
            write_png("fashion_%04d_%s.png" % (i, name), images[i])
    images = read_idx(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz"))
    for digit in range(10):
        i = int(np.flatnonzero(labels == digit)[0])
        write_png("digit_%04d_%d.png" % (i, digit), images[i])
    write("article_3x3.pgm", b"P5\n3 3\n255\n" + bytes(range(1, 10)))


if __name__ == "__main__":
    main()
