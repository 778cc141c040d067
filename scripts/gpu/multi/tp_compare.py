#!/usr/bin/env python3
"""Helpers of scripts/gpu/multi/run.sh (standard library only).

  generate --port P --steps N --out F      greedy /generate of fixed prompts, token ids + logprobs,
                                           one at a time (batch 1), with each request's wall time
  compare --reference F --candidate F      TP=N greedy tokens and logprobs against TP=1's
  scaling FILE...                          output throughput per text-gen-bench result, speedup
  roofline --config C --tp N --bench F     batch-1 decode TPOT against the per-GPU HBM bound
"""
import argparse
import json
import statistics
import sys
import time
import urllib.request

PROMPTS = [
    "The history of the printing press",
    "Write a haiku about distributed systems.",
    "def fibonacci(n):",
    "Once upon a time, in a land far away,",
    "Explain tensor parallelism to a new engineer.",
    "The capital of France is",
    "List five prime numbers:",
    "In 1969, the first humans",
    "SELECT name, count(*) FROM users",
    "A recipe for bread needs flour, water,",
    "The quick brown fox",
    "Translate to German: good morning",
    "import numpy as np\n",
    "Dear hiring manager,",
    "The three laws of thermodynamics are",
    "Q: What is 17 times 23?\nA:",
]


def generate(args):
    results = []
    for prompt in PROMPTS:
        body = {"inputs": prompt, "parameters": {"max_new_tokens": args.steps, "do_sample": False,
                                                 "details": True, "ignore_eos": True}}
        request = urllib.request.Request(f"http://127.0.0.1:{args.port}/generate",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=300) as response:
            reply = json.load(response)
        seconds = time.perf_counter() - start
        tokens = reply["details"]["tokens"]
        results.append({"prompt": prompt, "ids": [t["id"] for t in tokens],
                        "logprobs": [t["logprob"] for t in tokens], "seconds": seconds})
    with open(args.out, "w") as out:
        json.dump(results, out)
    # The first request pays for lazy start-up work; the median of the rest is the batch-1 speed.
    per_token = [r["seconds"] * 1e3 / max(1, len(r["ids"])) for r in results[1:]] or [0.0]
    print(json.dumps({"out": args.out, "prompts": len(results), "steps": args.steps,
                      "median_ms_per_token_batch1": round(statistics.median(per_token), 3)}))


def ms_per_token(results):
    per_token = [r["seconds"] * 1e3 / max(1, len(r["ids"])) for r in results[1:] if "seconds" in r]
    return round(statistics.median(per_token), 3) if per_token else None


def compare(args):
    reference = json.load(open(args.reference))
    candidate = json.load(open(args.candidate))
    equal, max_rel, first_divergence = 0, 0.0, []
    for ref, cand in zip(reference, candidate):
        n = min(len(ref["ids"]), len(cand["ids"]))
        diverge = next((i for i in range(n) if ref["ids"][i] != cand["ids"][i]), None)
        if diverge is None and len(ref["ids"]) == len(cand["ids"]):
            equal += 1
        first_divergence.append(diverge)
        # Where both runs saw the same prefix, the chosen token's logprob must agree.
        for i in range(n if diverge is None else diverge + 1):
            a, b = cand["logprobs"][i], ref["logprobs"][i]
            max_rel = max(max_rel, abs(a - b) / max(abs(b), 1e-2))
    fraction = equal / max(1, len(reference))
    ok = fraction >= args.min_equal_fraction and max_rel < args.max_rel_err
    print(json.dumps({"candidate": args.candidate, "prompts": len(reference),
                      "prompts_equal_all_steps": equal, "fraction_equal": round(fraction, 3),
                      "first_divergence": first_divergence,
                      "max_logprob_rel_err": round(max_rel, 6),
                      "ms_per_token_batch1": {"reference": ms_per_token(reference),
                                              "candidate": ms_per_token(candidate)},
                      "ok": ok}))
    return 0 if ok else 1


def scaling(args):
    rows = []
    for path in args.files:
        r = json.load(open(path))
        rows.append({"file": path, "label": r.get("label"),
                     "output_throughput": r.get("output_throughput"),
                     "request_throughput": r.get("request_throughput"),
                     "median_tpot_ms": r.get("median_tpot_ms"),
                     "median_ttft_ms": r.get("median_ttft_ms")})
    base = next((r["output_throughput"] for r in rows if r["label"] and r["label"].endswith("tp1")),
                None)
    for r in rows:
        if base and r["output_throughput"]:
            r["speedup_vs_tp1"] = round(r["output_throughput"] / base, 3)
    print(json.dumps(rows, indent=1))


def roofline(args):
    c = json.load(open(args.config))
    h, inter, layers, vocab = (c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
                               c["vocab_size"])
    d = c.get("head_dim") or h // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * inter  # bf16 matrices streamed per token
    lm_head = vocab * h
    bw = args.hbm_gbs * 1e9

    def bound_ms(n_layers):
        return 2 * (n_layers * per_layer + lm_head) / args.tp / bw * 1e3

    bench = json.load(open(args.bench))
    tpot = bench.get("median_tpot_ms")
    full = args.full_layers or layers
    scale = (full * per_layer + lm_head) / (layers * per_layer + lm_head)
    print(json.dumps({
        "tp": args.tp, "layers_measured": layers, "layers_full": full,
        "hbm_gbs_per_gpu": args.hbm_gbs,
        "bytes_per_gpu_per_token": 2 * (layers * per_layer + lm_head) / args.tp,
        "roofline_tpot_ms": round(bound_ms(layers), 3),
        "measured_median_tpot_ms": tpot,
        "fraction_of_roofline": round(bound_ms(layers) / tpot, 3) if tpot else None,
        "roofline_tpot_ms_full_depth": round(bound_ms(full), 3),
        "measured_tpot_ms_scaled_to_full_depth": round(tpot * scale, 3) if tpot else None,
    }, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--steps", type=int, default=64)
    g.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--reference", required=True)
    c.add_argument("--candidate", required=True)
    c.add_argument("--min-equal-fraction", type=float, default=0.75)
    c.add_argument("--max-rel-err", type=float, default=2e-2)
    s = sub.add_parser("scaling")
    s.add_argument("files", nargs="+")
    r = sub.add_parser("roofline")
    r.add_argument("--config", required=True)
    r.add_argument("--tp", type=int, required=True)
    r.add_argument("--bench", required=True)
    r.add_argument("--hbm-gbs", type=float, default=4800.0)
    r.add_argument("--full-layers", type=int, default=0)
    args = parser.parse_args()
    return {"generate": generate, "compare": compare, "scaling": scaling,
            "roofline": roofline}[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
