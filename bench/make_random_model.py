#!/usr/bin/env python3
"""Creates a random-weight HF Llama model for benchmarks (no hub access on the GPU machine).

Default shape: Llama-3-8B (hidden 4096, 32 layers, 32 heads / 8 KV heads, MLP 14336, RoPE theta
500000), bf16, saved with save_pretrained (safetensors). The vocabulary is sized to the
tokenizer given (rounded up to a multiple of 128) because the benchmark tokenizer is the repo's
Qwen3 one (151,669 tokens; Llama-3's is not among the shared assets): with it the model is
Llama-3-8B plus 0.19 B embedding/lm_head parameters. The tokenizer files are copied next to the
weights so the directory is a complete model.

    bench/make_random_model.py --out /tmp/model --tokenizer-dir DIR [--layers 32]
"""
import argparse
import json
import os
import shutil
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokenizer-dir", required=True)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--intermediate", type=int, default=14336)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--max-position-embeddings", type=int, default=8192,
                        help="longer for long-prompt scenarios (serving_figures.sh: 40960)")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    with open(os.path.join(args.tokenizer_dir, "tokenizer.json")) as f:
        tok = json.load(f)
    ids = [v for v in tok["model"]["vocab"].values()] + [t["id"] for t in tok.get("added_tokens", [])]
    vocab = (max(ids) + 1 + 127) // 128 * 128
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, max_position_embeddings=args.max_position_embeddings, rope_theta=500000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=None, eos_token_id=None)
    begin = time.perf_counter()
    dtype = getattr(torch, args.dtype)
    torch.set_default_dtype(dtype)
    with torch.device(args.device):
        model = LlamaForCausalLM(config)
    # Default init has std 0.02 everywhere, which keeps bf16 activations finite.
    model.to(dtype)
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True, max_shard_size="5GB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(args.tokenizer_dir, name)
        if os.path.exists(src):
            shutil.copy(src, args.out)
    params = sum(p.numel() for p in model.parameters())
    print(f"make_random_model: {params / 1e9:.2f} B params, vocab {vocab}, "
          f"{args.layers} layers -> {args.out} in {time.perf_counter() - begin:.1f} s")


if __name__ == "__main__":
    main()
