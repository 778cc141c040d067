#!/usr/bin/env python3
"""The peers every benchmark report is compared with: Hugging Face transformers.

--mode static (default) runs the exact workload text-gen-bench sent (its --save-workload file:
prompts and output lengths) through `model.generate()` in static batches: bf16 (float32 on CPU),
SDPA attention, greedy,
left padding, every request of a batch generating the batch's largest output length with EOS
ignored (min_new_tokens = max_new_tokens), which is what a static-batch server does. Requests
are taken in workload order, as they would arrive.

Reported like text-gen-bench: duration, request and output-token throughput (only the tokens
each request asked for count), and per-request latency as if every request arrived at t = 0
(a request finishes when its batch does). Prefill time is measured per batch with a separate
max_new_tokens=1 call, so TTFT here is "queueing for earlier batches + this batch's prefill".

    bench/hf_peer.py --model DIR --batch-size 32 --workload a.workload.json --out a.peer.json \
        [--workload b.workload.json --out b.peer.json ...]
The model is loaded once for all workloads; each result file is written as soon as it is done.

--mode continuous runs the same workload through transformers' continuous batching (the
ContinuousBatchingManager behind `generate_batch()`: paged attention, requests join and leave
every step, chunked prefill), the peer a user who wants throughput would pick. Every request is
submitted at t = 0 with its own max_new_tokens and EOS ignored; per-token timestamps give TTFT,
TPOT and latency. --mode both writes the continuous result beside the static one
(OUT with .continuous before .json).
"""
import argparse
import json
import os
import statistics
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer


def percentile(values, q):
    xs = sorted(values)
    rank = q / 100 * (len(xs) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def summary_ms(values):
    return {
        "mean": statistics.fmean(values) * 1000,
        "median": percentile(values, 50) * 1000,
        "p90": percentile(values, 90) * 1000,
        "p99": percentile(values, 99) * 1000,
    }


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load_model(path, device, dtype):
    kwargs = {"attn_implementation": "sdpa"}
    try:  # transformers >= 4.56 / 5.x name the argument `dtype`
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, **kwargs)
    return model.to(device).eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="HF model directory")
    parser.add_argument("--tokenizer", help="tokenizer directory (default: --model)")
    parser.add_argument("--workload", action="append", required=True,
                        help="text-gen-bench --save-workload file (repeatable)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="auto", help="bfloat16, float32 or auto")
    parser.add_argument("--max-requests", type=int, default=0, help="use only the first N")
    parser.add_argument("--out", action="append", required=True, help="one per --workload")
    parser.add_argument("--mode", choices=["static", "continuous", "both"], default="static",
                        help="generate() in static batches, continuous batching, or both")
    parser.add_argument("--max-batch-tokens", type=int, default=0,
                        help="continuous: tokens per step (0: transformers' default)")
    args = parser.parse_args()

    dtype_name = args.dtype
    if dtype_name == "auto":
        dtype_name = "bfloat16" if args.device.startswith("cuda") else "float32"
    dtype = getattr(torch, dtype_name)
    load_start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = load_model(args.model, args.device, dtype)
    load_seconds = time.perf_counter() - load_start

    def generate(prompts, new_tokens):
        batch = tokenizer(prompts, return_tensors="pt", padding=True).to(args.device)
        out = model.generate(**batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return batch["input_ids"].shape[1], out.shape[1] - batch["input_ids"].shape[1]

    if len(args.workload) != len(args.out):
        parser.error("give one --out per --workload")
    for workload_path, out_path in zip(args.workload, args.out):
        with open(workload_path) as f:
            workload = json.load(f)
        requests = workload["requests"]
        if args.max_requests:
            requests = requests[: args.max_requests]
        label = os.path.basename(workload_path).split(".")[0]
        if args.mode in ("static", "both"):
            run_one(args, generate, requests, label, dtype_name, load_seconds, out_path)
        if args.mode in ("continuous", "both"):
            if args.mode == "both":
                out_path = out_path[: -len(".json")] + ".continuous.json"
            run_continuous(args, model, tokenizer, requests, label, dtype_name, load_seconds,
                           out_path)


def run_totals(completed, load_seconds, duration, total_input, total_output):
    """The counts and throughputs every peer result reports, in text-gen-bench's field names."""
    return {
        "completed": completed,
        "load_seconds": load_seconds,
        "duration": duration,
        "total_input_tokens": total_input,
        "total_output_tokens": total_output,
        "request_throughput": completed / duration,
        "output_throughput": total_output / duration,
        "total_token_throughput": (total_input + total_output) / duration,
    }


def device_name(device):
    return torch.cuda.get_device_name() if device.startswith("cuda") else device


def run_continuous(args, model, tokenizer, requests, label, dtype_name, load_seconds, out_path):
    from transformers.generation import GenerationConfig

    inputs = [tokenizer(r["prompt"])["input_ids"] for r in requests]
    config = GenerationConfig(do_sample=False, max_new_tokens=max(r["output_len"] for r in requests),
                              eos_token_id=None, pad_token_id=tokenizer.pad_token_id)
    if args.max_batch_tokens:
        config.max_batch_tokens = args.max_batch_tokens

    def serve(batch):
        # Requests in, results out; eos_token_id=[] ignores EOS (exact output lengths).
        manager = model.init_continuous_batching(generation_config=config)
        manager.start()
        try:
            start = time.perf_counter()
            ids = [manager.add_request(ids, max_new_tokens=r["output_len"], eos_token_id=[],
                                       record_timestamps=True)
                   for ids, r in zip(batch[0], batch[1])]
            results = {}
            while len(results) < len(ids):
                out = manager.get_result(timeout=1)
                if out is not None and out.is_finished():
                    results[out.request_id] = out
            return start, [results[i] for i in ids]
        finally:
            manager.stop(block=True)

    with torch.inference_mode():
        serve((inputs[: args.batch_size], requests[: args.batch_size]))  # warm-up
        sync(args.device)
        start, outputs = serve((inputs, requests))
        sync(args.device)
    errors = [o.error for o in outputs if o.error]
    if errors:
        raise RuntimeError(f"continuous batching failed: {errors[0]}")
    ttfts, latencies, tpots = [], [], []
    total_input = total_output = 0
    for r, o in zip(requests, outputs):
        stamps = o.timestamps or []
        assert len(o.generated_tokens) == r["output_len"], (len(o.generated_tokens), r["output_len"])
        first, last = stamps[0] - start, stamps[-1] - start
        ttfts.append(first)
        latencies.append(last)
        if len(stamps) > 1:
            tpots.append((last - first) / (len(stamps) - 1))
        total_input += r["prompt_len"]
        total_output += r["output_len"]
    duration = max(latencies)
    result = {
        "label": label,
        "backend": f"hf-transformers {transformers.__version__} continuous batching "
                   f"(generate_batch manager, {model.config._attn_implementation})",
        "torch": torch.__version__,
        "device": device_name(args.device),
        "dtype": dtype_name,
        "batch_size": "continuous",
        **run_totals(len(requests), load_seconds, duration, total_input, total_output),
        "ttft_ms": summary_ms(ttfts),
        "tpot_ms": summary_ms(tpots) if tpots else None,
        "e2el_ms": summary_ms(latencies),
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"hf_peer {label} (continuous): {len(requests)} requests in {duration:.2f} s: "
          f"{result['request_throughput']:.2f} req/s, {result['output_throughput']:.1f} output "
          f"tok/s ({dtype_name}, {result['device']})")


def run_one(args, generate, requests, label, dtype_name, load_seconds, out_path):
    # Warm-up: kernels, allocator, SDPA dispatch.
    with torch.inference_mode():
        generate([r["prompt"] for r in requests[: args.batch_size]], 2)
    sync(args.device)

    ttfts, latencies = [], []
    total_input = total_output = 0
    batches = []
    # The peer's clock advances only by real generate() time; the prefill probes are left out.
    clock = 0.0
    with torch.inference_mode():
        for first in range(0, len(requests), args.batch_size):
            chunk = requests[first: first + args.batch_size]
            prompts = [r["prompt"] for r in chunk]
            new_tokens = max(r["output_len"] for r in chunk)
            t0 = time.perf_counter()
            generate(prompts, 1)
            sync(args.device)
            prefill = time.perf_counter() - t0
            t1 = time.perf_counter()
            padded_len, generated = generate(prompts, new_tokens)
            sync(args.device)
            elapsed = time.perf_counter() - t1
            assert generated == new_tokens, (generated, new_tokens)
            batches.append({"size": len(chunk), "padded_prompt_len": padded_len,
                            "new_tokens": new_tokens, "prefill_s": prefill, "generate_s": elapsed})
            for r in chunk:
                ttfts.append(clock + prefill)
                latencies.append(clock + elapsed)
                total_input += r["prompt_len"]
                total_output += r["output_len"]
            clock += elapsed
    duration = clock

    name = args.device
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name()
    result = {
        "label": label,
        "backend": f"hf-transformers {transformers.__version__} generate (sdpa, static batch)",
        "torch": torch.__version__,
        "device": name,
        "dtype": dtype_name,
        "batch_size": args.batch_size,
        **run_totals(len(requests), load_seconds, duration, total_input, total_output),
        "ttft_ms": summary_ms(ttfts),
        "e2el_ms": summary_ms(latencies),
        "batches": batches,
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"hf_peer {label}: {len(requests)} requests in {duration:.2f} s: "
          f"{result['request_throughput']:.2f} req/s, {result['output_throughput']:.1f} output tok/s "
          f"(batch {args.batch_size}, {dtype_name}, {name})")


if __name__ == "__main__":
    main()
