#!/usr/bin/env python3
"""Differential test against HF `tokenizers` itself: tokenizer.json variants built with the HF
Python API (Metaspace prepend schemes, Split behaviours with invert, Digits, Whitespace,
Punctuation, NFKC/Lowercase/Strip/Replace/NFD normalizers, added tokens with lstrip/rstrip/
single_word/normalized, TemplateProcessing) encode and decode identically in our implementation.

Usage: tokenizer_hf_diff_test.py PATH/TO/bench_encode
Exit 77 (ctest: skipped) when HF tokenizers is not installed.
"""
import json, os, random, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    from tokenizers import Tokenizer, AddedToken, normalizers as N, pre_tokenizers as P, \
        decoders as D, processors as PP, Regex
except ImportError:
    print("HF tokenizers not installed: skipping")
    sys.exit(77)
import bench_encode as b

A = b.ASSETS + "/"
rng=random.Random(1)
parts=b.corpus_parts()
lines=[p for p in rng.sample(parts, 150)]
lines += ["a <tool> b", "x<tool>y", "  <tool>  z", "word words sword word_ word.", "hello special there", "Hello SPECIAL", "  spaced   out  ", "12345 678 9", "CamelCase ÀÉÎ ﬁ ① Ⅻ", "   ", "", "tab\there", "▁already"]
def variants():
    t=Tokenizer.from_file(A+'tokenizers/qwen3/tokenizer.json')
    t.add_tokens([AddedToken("<tool>", lstrip=True, rstrip=True, special=False), AddedToken(" special", normalized=True, special=False), AddedToken("word", single_word=True, special=False)])
    yield 'qwen3_added', t
    t=Tokenizer.from_file(A+'tokenizers/llama2/tokenizer.json')
    t.normalizer=None
    t.pre_tokenizer=P.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    t.decoder=D.Metaspace(replacement="▁", prepend_scheme="first")
    yield 'llama2_metaspace_first', t
    t=Tokenizer.from_file(A+'tokenizers/llama2/tokenizer.json')
    t.normalizer=None
    t.pre_tokenizer=P.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    t.decoder=D.Metaspace(replacement="▁", prepend_scheme="always")
    yield 'llama2_metaspace_always', t
    t=Tokenizer.from_file(A+'tokenizers/gpt2/tokenizer.json')
    t.normalizer=N.Sequence([N.NFKC(), N.Lowercase(), N.Strip()])
    t.pre_tokenizer=P.Sequence([P.Digits(individual_digits=True), P.ByteLevel(add_prefix_space=True)])
    yield 'gpt2_nfkc_lower_digits', t
    t=Tokenizer.from_file(A+'tokenizers/gpt2/tokenizer.json')
    t.pre_tokenizer=P.Sequence([P.Whitespace(), P.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.post_processor=PP.TemplateProcessing(single="<|endoftext|> $A <|endoftext|>", special_tokens=[("<|endoftext|>",50256)])
    yield 'gpt2_whitespace_template', t
    for beh in ["removed","isolated","merged_with_previous","merged_with_next","contiguous"]:
        for inv in [False, True]:
            t=Tokenizer.from_file(A+'tokenizers/gpt2/tokenizer.json')
            t.pre_tokenizer=P.Sequence([P.Split(Regex(r"\s+|[.,!?]"), behavior=beh, invert=inv), P.ByteLevel(add_prefix_space=False, use_regex=False)])
            yield f'gpt2_split_{beh}_{inv}', t
    t=Tokenizer.from_file(A+'tokenizers/gpt2/tokenizer.json')
    t.pre_tokenizer=P.Sequence([P.Punctuation(), P.WhitespaceSplit(), P.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.normalizer=N.Sequence([N.Replace(Regex(r"\d+"), "#"), N.NFD()])
    yield 'gpt2_punct_replace', t


def main():
    bench = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        lines_path = os.path.join(tmp, "lines.jsonl")
        with open(lines_path, "w") as f:
            for l in lines:
                f.write(json.dumps(l) + "\n")
        for name, t in variants():
            path = os.path.join(tmp, name + ".json")
            t.save(path)
            out = subprocess.run([bench, "--tokenizer", path, "--input", lines_path, "--ids-per-line"],
                                 capture_output=True)
            if out.returncode != 0:
                print(name, "ERROR", out.stderr.decode()[:300])
                failures += 1
                continue
            ours = [json.loads(x) for x in out.stdout.decode().splitlines()]
            bad = sum(1 for l, o in zip(lines, ours) if o != t.encode(l, add_special_tokens=False).ids)
            bad += abs(len(ours) - len(lines))
            ids_path = os.path.join(tmp, "ids.jsonl")
            refs = [t.encode(l, add_special_tokens=True).ids for l in lines]
            with open(ids_path, "w") as f:
                for ids in refs:
                    f.write(json.dumps(ids) + "\n")
            out = subprocess.run([bench, "--tokenizer", path, "--input", ids_path, "--decode-per-line"],
                                 capture_output=True)
            decoded = [json.loads(x) for x in out.stdout.decode().splitlines()]
            dbad = sum(1 for ids, d in zip(refs, decoded) if d != t.decode(ids, skip_special_tokens=False))
            dbad += abs(len(decoded) - len(refs))
            print(f"{name}: encode mismatches {bad}/{len(lines)}, decode mismatches {dbad}")
            failures += bad + dbad
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
