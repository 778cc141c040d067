#!/usr/bin/env python3
"""Whole-model comparison of our CUDA backend against HF transformers, on the GPU machine.

For each architecture shape (Llama-3-8B, Qwen2.5-7B with qkv bias, Qwen3-8B with q/k norm,
Mistral-7B) it builds a random-weight bf16 model with transformers (the real per-layer shapes,
vocabularies and rope settings, but only --layers decoder layers, to save time), saves it with
save_pretrained, runs prompts of awkward lengths through transformers (last-position logits and
32 greedy tokens) and through our engine (cuda_hf_driver: LlamaModel on the CUDA backend, bf16
weights and KV), and reports the logits' relative error (||ours - hf|| / ||hf||, target < 2e-2)
and the rate of prompts whose greedy tokens are identical for all steps.

usage: hf_compare.py --bin .bundle/bin --out results.json [--layers 2] [--steps 32]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import transformers


def shapes():
    llama3_rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    return {
        "llama-3-8b": (transformers.LlamaConfig, dict(
            hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
            num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0,
            rope_scaling=llama3_rope, max_position_embeddings=131072, rms_norm_eps=1e-5,
            tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001)),
        "qwen2.5-7b": (transformers.Qwen2Config, dict(
            hidden_size=3584, intermediate_size=18944, num_attention_heads=28,
            num_key_value_heads=4, vocab_size=152064, rope_theta=1000000.0,
            max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=False)),
        "qwen3-8b": (transformers.Qwen3Config, dict(
            hidden_size=4096, intermediate_size=12288, num_attention_heads=32,
            num_key_value_heads=8, head_dim=128, vocab_size=151936, rope_theta=1000000.0,
            max_position_embeddings=40960, rms_norm_eps=1e-6, tie_word_embeddings=False)),
        "mistral-7b": (transformers.MistralConfig, dict(
            hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
            num_key_value_heads=8, vocab_size=32768, rope_theta=1000000.0,
            max_position_embeddings=32768, rms_norm_eps=1e-5, sliding_window=None,
            tie_word_embeddings=False)),
    }


def hub_style_rope(directory):
    """transformers 5 saves rope settings as config["rope_parameters"]; the checkpoints on the
    Hub (Llama-3-8B, Qwen2.5-7B, ...) carry top-level "rope_theta" / "rope_scaling", which is what
    our config reader parses. Add those keys (same values) so both readers see the same rope."""
    path = os.path.join(directory, "config.json")
    cfg = json.load(open(path))
    rope = cfg.get("rope_parameters") or {}
    if "rope_theta" in rope:
        cfg.setdefault("rope_theta", rope["rope_theta"])
    if rope.get("rope_type", "default") != "default":
        cfg.setdefault("rope_scaling", {k: v for k, v in rope.items() if k != "rope_theta"})
    json.dump(cfg, open(path, "w"), indent=2)
    return {k: cfg.get(k) for k in ("rope_theta", "rope_scaling", "rope_parameters")}


def hf_reference(model, prompts, steps):
    out = []
    for ids in prompts:
        x = torch.tensor([ids], device="cuda")
        with torch.no_grad():
            last = model(x).logits[0, -1].float().cpu()
            gen = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=steps,
                                 min_new_tokens=steps, do_sample=False, eos_token_id=None,
                                 pad_token_id=0)
        out.append({"last_logits": last, "tokens": gen[0, len(ids):].tolist()})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    driver = os.path.join(args.bin, "cuda_hf_driver")
    results = {"layers": args.layers, "steps": args.steps, "transformers": transformers.__version__,
               "torch": torch.__version__, "models": {}}
    g = torch.Generator().manual_seed(1234)
    for name, (cls, kw) in shapes().items():
        if args.only and name not in args.only.split(","):
            continue
        t0 = time.time()
        entry = {}
        try:
            torch.manual_seed(0)
            config = cls(num_hidden_layers=args.layers, **kw)
            config._attn_implementation = "sdpa"
            with torch.device("cuda"):
                model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
            model.eval()
            vocab = kw["vocab_size"]
            prompts = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in (1, 7, 33, 130)]
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp, safe_serialization=True)
                entry["config_rope"] = hub_style_rope(tmp)
                ref = hf_reference(model, prompts, args.steps)
                # The same bf16 weights run by transformers in float32 (our activations are
                # float32): how much of the greedy disagreement is HF's own bf16 rounding.
                ref32 = hf_reference(model.float(), prompts, args.steps)
                del model
                torch.cuda.empty_cache()
                with open(os.path.join(tmp, "prompts.json"), "w") as f:
                    json.dump(prompts, f)
                ours_path = os.path.join(tmp, "ours.json")
                proc = subprocess.run([driver, tmp, os.path.join(tmp, "prompts.json"),
                                       str(args.steps), ours_path],
                                      capture_output=True, text=True, timeout=240)
                if proc.returncode != 0:
                    raise RuntimeError(f"driver failed ({proc.returncode}): {proc.stderr[-2000:]}")
                ours = json.load(open(ours_path))
            rel, same = [], 0
            for r, o in zip(ref, ours):
                mine = torch.tensor(o["last_logits"])
                rel.append(float((mine - r["last_logits"]).norm() / r["last_logits"].norm()))
                same += int(o["tokens"] == r["tokens"])
            rel32, same32 = [], 0
            for r, o in zip(ref32, ours):
                mine = torch.tensor(o["last_logits"])
                rel32.append(float((mine - r["last_logits"]).norm() / r["last_logits"].norm()))
                same32 += int(o["tokens"] == r["tokens"])
            hf_self = sum(int(a["tokens"] == b["tokens"]) for a, b in zip(ref, ref32))
            entry = {**entry, "vs_hf_fp32_rel_err": rel32,
                     "vs_hf_fp32_greedy_identical": f"{same32}/{len(prompts)}",
                     "hf_bf16_vs_hf_fp32_greedy_identical": f"{hf_self}/{len(prompts)}",
                     "logits_rel_err": rel, "max_rel_err": max(rel), "rel_err_ok": max(rel) < 2e-2,
                     "greedy_identical": f"{same}/{len(prompts)}",
                     "prompt_lengths": [len(p) for p in prompts]}
        except Exception as e:  # one architecture failing must not hide the others
            entry = {"error": f"{type(e).__name__}: {e}"}
        entry["seconds"] = round(time.time() - t0, 1)
        results["models"][name] = entry
        print(name, json.dumps(entry), flush=True)
    json.dump(results, open(args.out, "w"), indent=2)
    ok = all(m.get("rel_err_ok") for m in results["models"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
