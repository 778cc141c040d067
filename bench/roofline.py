#!/usr/bin/env python3
"""Roofline bounds for a model and workload on the GPU in use.

Measures (torch, on the current device):
  copy bandwidth  device-to-device copy of a 1 GiB buffer: (read + write bytes) / time
  bf16 GEMM rate  torch.matmul of 8192x8192 by 8192x8192 bf16 matrices: 2*M*N*K / time
and derives, for a Llama-style config.json and a workload:
  decode step  >= (weight bytes + KV bytes read for the batch) / bandwidth
               -> decode tokens/s <= batch / step time
  prefill      >= (2 * params * tokens + causal attention FLOPs) / GEMM rate
Attention FLOPs of one causal prompt of s tokens: 2 * 2 * layers * heads * head_dim * s^2 / 2
(QK^T and PV, half the matrix).

    bench/roofline.py --config model/config.json --batch-size 64 --prompt-len 512 \
        --output-len 128 --json roofline.json
    bench/roofline.py --config ... --bandwidth-gbs 3350 --gemm-tflops 989   # no measurement
"""
import argparse
import json
import time


def measure(device):
    import torch

    def timed(fn, repeats):
        fn()
        torch.cuda.synchronize()
        begin = time.perf_counter()
        for _ in range(repeats):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - begin) / repeats

    n_bytes = 1 << 30
    src = torch.empty(n_bytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    copy_s = timed(lambda: dst.copy_(src), 20)
    bandwidth = 2 * n_bytes / copy_s
    del src, dst
    n = 8192
    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    gemm_s = timed(lambda: torch.matmul(a, b), 20)
    flops = 2 * n * n * n / gemm_s
    return {"device": torch.cuda.get_device_name(device), "bandwidth_bytes_per_s": bandwidth,
            "gemm_flops_per_s": flops, "torch": torch.__version__}


def model_facts(config, dtype_bytes):
    hidden = config["hidden_size"]
    layers = config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or hidden // heads
    inter = config["intermediate_size"]
    vocab = config["vocab_size"]
    attn = hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + heads * head_dim * hidden
    mlp = 3 * hidden * inter
    per_layer = attn + mlp + 2 * hidden
    embed = vocab * hidden
    lm_head = 0 if config.get("tie_word_embeddings", False) else vocab * hidden
    params = layers * per_layer + embed + lm_head + hidden
    # The embedding table is gathered, not streamed: a decode step reads everything else.
    streamed = params - embed if lm_head else params
    return {
        "params": params,
        "weight_bytes": params * dtype_bytes,
        "streamed_weight_bytes_per_step": streamed * dtype_bytes,
        "matmul_params": params - embed,  # what 2*params*tokens counts
        "kv_bytes_per_token": 2 * layers * kv_heads * head_dim * dtype_bytes,
        "layers": layers,
        "heads": heads,
        "head_dim": head_dim,
    }


def bounds(facts, bandwidth, gemm_flops, batch, prompt_len, output_len):
    # Decode: the average context over the generation is prompt + output/2.
    context = prompt_len + output_len / 2
    kv_bytes = batch * context * facts["kv_bytes_per_token"]
    step_bytes = facts["streamed_weight_bytes_per_step"] + kv_bytes
    step_s = step_bytes / bandwidth
    tokens = batch * prompt_len
    attention = 2 * 2 * facts["layers"] * facts["heads"] * facts["head_dim"] * prompt_len ** 2 / 2
    prefill_flops = 2 * facts["matmul_params"] * tokens + batch * attention
    prefill_s = prefill_flops / gemm_flops
    # Whole request set served in batches of `batch`: one prefill plus output_len steps each.
    request_s = prefill_s + output_len * step_s
    return {
        "batch_size": batch,
        "prompt_len": prompt_len,
        "output_len": output_len,
        "decode_step_bytes": step_bytes,
        "decode_step_ms_min": step_s * 1e3,
        "decode_tokens_per_s_max": batch / step_s,
        "tpot_ms_min": step_s * 1e3,
        "prefill_flops": prefill_flops,
        "prefill_ms_min": prefill_s * 1e3,
        "prefill_tokens_per_s_max": tokens / prefill_s,
        "batch_latency_ms_min": request_s * 1e3,
        "output_tokens_per_s_max": batch * output_len / request_s,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", required=True, help="HF config.json")
    parser.add_argument("--dtype-bytes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    parser.add_argument("--prompt-len", type=int, default=512)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--bandwidth-gbs", type=float, help="skip measuring: GB/s")
    parser.add_argument("--gemm-tflops", type=float, help="skip measuring: TFLOP/s")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args()

    with open(args.config) as f:
        config = json.load(f)
    facts = model_facts(config, args.dtype_bytes)
    if args.bandwidth_gbs and args.gemm_tflops:
        hw = {"device": "given", "bandwidth_bytes_per_s": args.bandwidth_gbs * 1e9,
              "gemm_flops_per_s": args.gemm_tflops * 1e12}
    else:
        hw = measure(args.device)
    rows = [bounds(facts, hw["bandwidth_bytes_per_s"], hw["gemm_flops_per_s"], b,
                   args.prompt_len, args.output_len) for b in args.batch_size]
    result = {"hardware": hw, "model": facts, "bounds": rows}
    print(f'{hw["device"]}: copy bandwidth {hw["bandwidth_bytes_per_s"] / 1e9:.0f} GB/s, '
          f'bf16 GEMM {hw["gemm_flops_per_s"] / 1e12:.0f} TFLOP/s; model {facts["params"] / 1e9:.2f} B '
          f'params, {facts["weight_bytes"] / 2**30:.2f} GiB')
    print("| batch | prompt | output | decode step ms (min) | decode tok/s (max) | "
          "prefill ms (min) | output tok/s (max) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f'| {r["batch_size"]} | {r["prompt_len"]} | {r["output_len"]} | '
              f'{r["decode_step_ms_min"]:.2f} | {r["decode_tokens_per_s_max"]:.0f} | '
              f'{r["prefill_ms_min"]:.1f} | {r["output_tokens_per_s_max"]:.0f} |')
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
