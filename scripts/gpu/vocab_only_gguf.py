#!/usr/bin/env python3
"""Writes a vocab-only copy of a GGUF model: the same header and metadata (the tokenizer's
vocabulary, merges, token types and special ids among them), no tensors. It is what llama.cpp's
ggml-vocab-*.gguf files are, and what text-gen's tokenizer loads; a few MB where the model is
hundreds, so a model's real vocabulary can travel in the GPU bundle (cuda_bench --token-masks).
usage: vocab_only_gguf.py MODEL.gguf OUT.gguf"""
import struct
import sys

# GGUF value types: fixed sizes; 8 is a string, 9 an array.
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(f, kind):
    if kind == 8:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(n, 1)
    elif kind == 9:
        elem, count = struct.unpack("<IQ", f.read(12))
        if elem in SIZES:
            f.seek(SIZES[elem] * count, 1)
        else:
            for _ in range(count):
                skip_value(f, elem)
    elif kind in SIZES:
        f.seek(SIZES[kind], 1)
    else:
        raise ValueError("unknown GGUF value type %d" % kind)


def main(src, dst):
    with open(src, "rb") as f:
        magic, version, _tensors, kv_count = struct.unpack("<4sIQQ", f.read(24))
        if magic != b"GGUF" or version < 2:
            raise ValueError("%s is not a GGUF v2+ file" % src)
        start = f.tell()
        for _ in range(kv_count):
            (n,) = struct.unpack("<Q", f.read(8))
            f.seek(n, 1)
            (kind,) = struct.unpack("<I", f.read(4))
            skip_value(f, kind)
        end = f.tell()
        f.seek(start)
        metadata = f.read(end - start)
    with open(dst, "wb") as out:
        out.write(struct.pack("<4sIQQ", b"GGUF", version, 0, kv_count))
        out.write(metadata)
        out.write(b"\0" * (-out.tell() % 32))  # the data section's alignment (empty)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
