#!/usr/bin/python3
"""make_seeds.py - (re)builds the seed corpora in tests/fuzz/corpus/ from files in the repository.

model: every tests/fixtures/*.json (valid and malformed), models/examples, small PyTorch cases,
       the image fixtures' models; a model with a weights_file gets "weights_file": "w.bin" and
       the file's bytes after the separator that fuzz_model.c splits on.
image: the image fixtures (valid, odd and hostile) up to 8 KiB.
npy:   tests/fixtures/npy, models/examples/*.npy, small PyTorch case inputs.
idx:   small idx files made here: images, labels, 4-D, empty; plain and gzipped.

Run from anywhere: /usr/bin/python3 tests/fuzz/make_seeds.py. Output is deterministic.
"""
import gzip
import re
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus"
SEP = b"\n#weights\n"
WEIGHTS_FILE = re.compile(rb'"weights_file"\s*:\s*"([^"\\\\]*)"')
MAX_SEED = 16 * 1024


def put(kind, name, data):
    if len(data) > MAX_SEED:
        return
    d = OUT / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def model_seed(path):
    """The file's text with its weights_file renamed (text edit: malformed seeds stay as they
    are), followed by the weights file's bytes."""
    text = path.read_bytes()
    m = WEIGHTS_FILE.search(text)
    if m is None:
        return text
    blob = path.parent / m.group(1).decode()
    data = text[:m.start()] + b'"weights_file": "w.bin"' + text[m.end():]
    if blob.is_file():
        data += SEP + blob.read_bytes()
    return data


def models():
    for p in sorted((ROOT / "tests" / "fixtures").glob("*.json")):
        put("model", "fixture_" + p.stem, model_seed(p))
    for p in sorted((ROOT / "models" / "examples").glob("*.json")):
        put("model", "example_" + p.stem, model_seed(p))
    for p in sorted((ROOT / "tests" / "fixtures" / "images").glob("*.json")):
        put("model", "image_" + p.stem, model_seed(p))
    cases = sorted((ROOT / "tests" / "torch_cases").glob("*.json"))
    for i, p in enumerate(cases):
        # every third small case, plus all that use a weights file (when small)
        uses_file = (p.with_suffix(".bin")).is_file()
        if (i % 3 == 0 and p.stat().st_size < 3000) or uses_file:
            put("model", "torch_" + p.stem, model_seed(p))


def images():
    for p in sorted((ROOT / "tests" / "fixtures" / "images").iterdir()):
        if p.suffix != ".json" and p.is_file():
            put("image", p.name, p.read_bytes())


def npys():
    for p in sorted((ROOT / "tests" / "fixtures" / "npy").glob("*.npy")):
        put("npy", "fixture_" + p.name, p.read_bytes())
    for p in sorted((ROOT / "models" / "examples").glob("*.npy")):
        put("npy", "example_" + p.name, p.read_bytes())
    small = [p for p in sorted((ROOT / "tests" / "torch_cases").glob("*.in.npy"))
             if p.stat().st_size <= 1024]
    for p in small[::10]:
        put("npy", "torch_" + p.name, p.read_bytes())


def idx_bytes(dims, payload):
    head = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + payload


def idxs():
    images3 = idx_bytes([3, 4, 5], bytes((i * 17) % 256 for i in range(60)))
    labels = idx_bytes([7], bytes([0, 1, 2, 3, 4, 5, 9]))
    four = idx_bytes([1, 2, 2, 2], bytes(range(8)))
    empty = idx_bytes([0], b"")
    for name, data in [("images3", images3), ("labels", labels), ("four_d", four),
                       ("empty", empty)]:
        put("idx", name + ".idx", data)
        # mtime 0 and no file name keep the output deterministic
        put("idx", name + ".idx.gz", gzip.compress(data, mtime=0))
    named = bytearray(gzip.compress(labels, mtime=0))
    named[3] |= 8  # FNAME: a zero-terminated name after the 10-byte header
    put("idx", "labels_fname.idx.gz", bytes(named[:10]) + b"labels.idx\0" + bytes(named[10:]))
    put("idx", "bad_type_int32.idx", bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 0, 5]))


if __name__ == "__main__":
    models()
    images()
    npys()
    idxs()
