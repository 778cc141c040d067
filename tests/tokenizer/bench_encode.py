#!/usr/bin/env python3
"""Encode throughput (MB/s, one thread) of our tokenizer beside HF `tokenizers`, same text, same run.

Builds a ~1 MB mixed-language text (translated messages from vim's .mo catalogs when present,
the multilingual test strings in the shared assets, and the project's docs and sources), encodes
it with both, checks that the ids are identical, and prints the numbers.

Usage: tests/tokenizer/bench_encode.py [--build build-tok] [--tokenizer PATH] [--size BYTES]
Needs: pip install tokenizers; the bench_encode target built.
"""
import argparse, glob, gettext, json, os, random, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "..", "shared", "assets")


def corpus_parts():
    parts = []
    for mo in sorted(glob.glob("/usr/share/vim/vim*/lang/*/LC_MESSAGES/vim.mo")):
        lang = mo.split("/")[-3]
        if "." in lang and "utf" not in lang.lower():
            continue  # legacy encodings
        try:
            catalog = gettext.GNUTranslations(open(mo, "rb"))._catalog
        except Exception:
            continue
        parts += [v for v in catalog.values() if isinstance(v, str) and v.strip()]
    for path in glob.glob(os.path.join(ASSETS, "reference", "tok-public-*.jsonl")):
        parts += [json.loads(line)["text"] for line in open(path, encoding="utf-8")]
    for path in glob.glob(os.path.join(ASSETS, "vocab-gguf", "*.inp")):
        parts += open(path, encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    for pattern in ("*.md", "router/**/*.cc", "router/**/*.h", "common/*.cc"):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            parts += open(path, encoding="utf-8", errors="replace").read().split("\n\n")
    return [p for p in parts if p]


def build_text(size):
    parts = corpus_parts()
    rng = random.Random(0)
    out, total = [], 0
    while total < size:
        p = rng.choice(parts)
        out.append(p)
        total += len(p.encode("utf-8")) + 1
    return "\n".join(out).encode("utf-8")[:size].decode("utf-8", errors="ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-tok"))
    ap.add_argument("--tokenizer", default=os.path.join(ASSETS, "tokenizers", "qwen3", "tokenizer.json"))
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer, __version__ as hf_version

    text = build_text(args.size)
    nbytes = len(text.encode("utf-8"))
    binary = next(iter(glob.glob(os.path.join(args.build, "**", "bench_encode"), recursive=True)), None)
    if binary is None:
        sys.exit("bench_encode not built under " + args.build)
    with tempfile.TemporaryDirectory() as tmp:
        text_path, ids_path = os.path.join(tmp, "text.txt"), os.path.join(tmp, "ids.json")
        open(text_path, "w", encoding="utf-8", newline="").write(text)
        ours = json.loads(subprocess.check_output(
            [binary, "--tokenizer", args.tokenizer, "--input", text_path,
             "--repeat", str(args.repeat), "--ids-out", ids_path]))
        our_ids = json.load(open(ids_path))

    hf = Tokenizer.from_file(args.tokenizer)
    hf_runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        hf_ids = hf.encode(text, add_special_tokens=False).ids
        hf_runs.append(nbytes / 1e6 / (time.perf_counter() - start))

    print(f"text: {nbytes} bytes, {len(hf_ids)} tokens ({args.tokenizer})")
    print("ours          MB/s per run: " + ", ".join(f"{r:.2f}" for r in ours["mb_per_s"]))
    print(f"HF tokenizers {hf_version} MB/s per run: " + ", ".join(f"{r:.2f}" for r in hf_runs))
    print(f"best: ours {max(ours['mb_per_s']):.2f} MB/s, HF {max(hf_runs):.2f} MB/s")
    if our_ids != hf_ids:
        first = next(i for i, (a, b) in enumerate(zip(our_ids, hf_ids)) if a != b) \
            if any(a != b for a, b in zip(our_ids, hf_ids)) else min(len(our_ids), len(hf_ids))
        print(f"MISMATCH: ids differ from HF at token {first} (ours {len(our_ids)}, HF {len(hf_ids)})")
        return 1
    print("ids identical to HF")
    return 0


if __name__ == "__main__":
    sys.exit(main())
