#!/usr/bin/env python3
"""Issue 19's serving figures from one run of bench/serving_figures.sh (all ratios within it):

  serving_256_vs_bound           256 x (512 in / 128 out) output tok/s over the roofline bound for
                                 the same work on the same GPU (roofline.json's measured copy
                                 bandwidth and GEMM rate: one prefill of all 256 prompts plus 128
                                 decode steps of batch 256)
  serving_itl_p99_over_tpot_mean ITL p99 / TPOT mean of that run (goal <= 2)
  long_prompt_itl_p99_over_tpot_mean
                                 the 64 streams' ITL p99 / TPOT mean while a 32k-token prompt
                                 arrives among them, per step budget (goal < 3)
  prefix_ttft_speedup            shared-prefix TTFT mean, cache off / cache on (goal >= 3)
  sharegpt_goodput               goodput (req/s meeting the SLOs) at each request rate
  peers                          HF static generate() and continuous batching on the 256 workload

    bench/serving_figures.py --dir OUT [--config MODEL/config.json] > figures.md
writes OUT/figures.json (headline keys as in bench/headline.json) and prints a markdown table.
"""
import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roofline  # noqa: E402


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def first_run(doc):
    return doc["runs"][0] if doc and doc.get("runs") else None


def ratio(a, b):
    return a / b if a is not None and b else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--config", help="model config.json (default: DIR/model-config.json)")
    args = parser.parse_args()
    d = args.dir
    figures = {}
    notes = []

    serving = first_run(load(os.path.join(d, "serving-256.json")))
    hw = load(os.path.join(d, "roofline.json"))
    config = load(args.config or os.path.join(d, "model-config.json"))
    if serving:
        figures["serving_256_output_tok_s"] = serving["output_throughput"]
        figures["serving_itl_p99_over_tpot_mean"] = ratio(serving["p99_itl_ms"],
                                                          serving["mean_tpot_ms"])
        figures["serving_256_itl_p99_ms"] = serving["p99_itl_ms"]
        figures["serving_256_tpot_mean_ms"] = serving["mean_tpot_ms"]
        figures["serving_256_ttft_mean_ms"] = serving["mean_ttft_ms"]
        if hw and config:
            w = load(os.path.join(d, "serving-256.json"))["workload"]
            bound = roofline.bounds(roofline.model_facts(config, 2),
                                    hw["hardware"]["bandwidth_bytes_per_s"],
                                    hw["hardware"]["gemm_flops_per_s"], w["num_prompts"],
                                    w["input_len"], w["output_len"])
            figures["serving_256_bound_tok_s"] = bound["output_tokens_per_s_max"]
            figures["serving_256_vs_bound"] = ratio(serving["output_throughput"],
                                                    bound["output_tokens_per_s_max"])
        else:
            notes.append("no roofline.json or model config: no bound")

    for path in sorted(glob.glob(os.path.join(d, "long-prompt-streams-b*.json"))):
        budget = os.path.basename(path)[len("long-prompt-streams-b"):-len(".json")]
        run = first_run(load(path))
        if run:
            figures[f"long_prompt_b{budget}_itl_p99_over_tpot_mean"] = ratio(run["p99_itl_ms"],
                                                                            run["mean_tpot_ms"])
            figures[f"long_prompt_b{budget}_itl_p99_ms"] = run["p99_itl_ms"]
            figures[f"long_prompt_b{budget}_tpot_mean_ms"] = run["mean_tpot_ms"]
        long_run = first_run(load(os.path.join(d, f"long-prompt-32k-b{budget}.json")))
        if long_run:
            figures[f"long_prompt_b{budget}_32k_ttft_ms"] = long_run["mean_ttft_ms"]

    on = first_run(load(os.path.join(d, "shared-prefix-cache-on.json")))
    off = first_run(load(os.path.join(d, "shared-prefix-cache-off.json")))
    if on and off:
        figures["prefix_ttft_mean_ms_cache_on"] = on["mean_ttft_ms"]
        figures["prefix_ttft_mean_ms_cache_off"] = off["mean_ttft_ms"]
        figures["prefix_ttft_speedup"] = ratio(off["mean_ttft_ms"], on["mean_ttft_ms"])
    hits = load(os.path.join(d, "prefix-cache-metrics.json"))
    if hits:
        figures["prefix_cache_hit_rate"] = ratio(hits.get("tgi_prefix_cache_hit_tokens"),
                                                 hits.get("tgi_prompt_tokens"))

    rates = load(os.path.join(d, "sharegpt-rates.json"))
    if rates:
        figures["sharegpt_goodput"] = {str(r["request_rate"]): r["request_goodput"]
                                       for r in rates["runs"]}
        figures["sharegpt_slo"] = rates["runs"][0].get("goodput_slo")

    for kind, suffix in (("static", ".peer.json"), ("continuous", ".peer.continuous.json")):
        peer = load(os.path.join(d, "serving-256" + suffix))
        if peer:
            figures[f"peer_{kind}_output_tok_s"] = peer["output_throughput"]
            if serving:
                figures[f"serving_256_vs_peer_{kind}"] = ratio(serving["output_throughput"],
                                                               peer["output_throughput"])

    with open(os.path.join(d, "figures.json"), "w") as f:
        json.dump(figures, f, indent=2)
    goals = {"serving_256_vs_bound": (">=", 0.70), "serving_itl_p99_over_tpot_mean": ("<=", 2.0),
             "prefix_ttft_speedup": (">=", 3.0)}
    print("| figure | value | goal |")
    print("|---|---|---|")
    for key, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v:.2f}" if v is not None else f"{k}: -"
                              for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.3f}"
        goal = goals.get(key)
        if key.startswith("long_prompt_") and key.endswith("_over_tpot_mean"):
            goal = ("<", 3.0)
        print(f"| {key} | {value} | {' '.join(map(str, goal)) if goal else ''} |")
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
