#!/usr/bin/env python3
"""Builds the markdown results tables (the format of bench/RESULTS.md) from a scenario run's
output folder: one table per scenario with date, commit, device, command, our figures, the HF
peer's figures and the ratios; then the shard sweep and the roofline bounds when present.

    bench/results_table.py --dir OUT --commit SHA > results.md
"""
import argparse
import datetime
import glob
import json
import os


def load(path):
    with open(path) as f:
        return json.load(f)


def read(path, default=""):
    return open(path).read().strip() if os.path.exists(path) else default


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def scenario_table(name, doc, peer, meta):
    lines = [f"### {name}", ""]
    lines.append(f"- date: {meta['date']}; commit: `{meta['commit']}`; device: {meta['device']}")
    lines.append(f"- command: `{read(os.path.join(meta['dir'], name + '.cmd'))}`")
    w = doc["workload"]
    shape = {
        "random": f"input {w['input_len']}, output {w['output_len']} tokens",
        "sharegpt": f"ShareGPT-like lengths x {w['length_scale']}",
        "prefix": f"{w['num_prefixes']} prefixes of {w['prefix_len']} + suffix {w['input_len']}, "
                  f"output {w['output_len']} tokens",
    }.get(w["kind"], "")
    lines.append(f"- workload: {w['kind']}, {w['num_prompts']} requests, {shape}, ignore_eos")
    if peer:
        lines.append(f"- peer: {peer['backend']}, {peer['dtype']}, batch {peer['batch_size']}, "
                     f"torch {peer['torch']} (`{read(os.path.join(meta['dir'], name + '.peer.cmd'))}`)")
    lines.append("")
    lines.append("| rate (req/s) | burstiness | ok/failed | req/s | output tok/s | TTFT mean / p99 ms | "
                 "TPOT mean / p99 ms | ITL p99 ms | E2EL mean / p99 ms | goodput req/s | "
                 "peer req/s | peer output tok/s | ratio output tok/s (ours/peer) |")
    lines.append("|" + "---|" * 13)
    for run in doc["runs"]:
        ratio = None
        if peer and peer["output_throughput"] > 0:
            ratio = run["output_throughput"] / peer["output_throughput"]
        lines.append(
            f"| {run['request_rate']} | {run['burstiness']} | {run['completed']}/{run['failed']} | "
            f"{fmt(run['request_throughput'])} | {fmt(run['output_throughput'], 1)} | "
            f"{fmt(run['mean_ttft_ms'], 1)} / {fmt(run['p99_ttft_ms'], 1)} | "
            f"{fmt(run['mean_tpot_ms'])} / {fmt(run['p99_tpot_ms'])} | {fmt(run['p99_itl_ms'])} | "
            f"{fmt(run['mean_e2el_ms'], 1)} / {fmt(run['p99_e2el_ms'], 1)} | "
            f"{fmt(run['request_goodput'])} | "
            f"{fmt(peer['request_throughput']) if peer else '-'} | "
            f"{fmt(peer['output_throughput'], 1) if peer else '-'} | "
            f"{fmt(ratio) if ratio is not None else '-'} |")
        if run.get("consistency_problems"):
            lines.append(f"\n**consistency problems**: {run['consistency_problems'][:3]}\n")
    if peer:
        lines.append("")
        lines.append(f"Peer latency (all requests arrive at t=0, static batches): TTFT mean "
                     f"{fmt(peer['ttft_ms']['mean'], 1)} ms, E2EL mean {fmt(peer['e2el_ms']['mean'], 1)}"
                     f" ms / p99 {fmt(peer['e2el_ms']['p99'], 1)} ms.")
    lines.append("")
    return lines


def sweep_table(sweep, meta):
    lines = ["### shard-sweep (Prefill/Decode over gRPC, no router)", ""]
    info = sweep.get("info", {})
    lines.append(f"- date: {meta['date']}; commit: `{meta['commit']}`; device: "
                 f"{info.get('deviceName', meta['device'])} ({info.get('dtype', '?')})")
    lines.append(f"- command: `{read(os.path.join(meta['dir'], 'shard-sweep.cmd'))}`")
    lines.append("")
    lines.append("| batch | seq len | prefill ms mean / p90 | prefill fwd ms | prefill tok/s | "
                 "decode step ms mean / p90 | decode fwd ms | decode tok/s |")
    lines.append("|" + "---|" * 8)
    for c in sweep["cases"]:
        lines.append(
            f"| {c['batch_size']} | {c['sequence_length']} | {fmt(c['prefill_latency']['mean_ms'])} / "
            f"{fmt(c['prefill_latency']['p90_ms'])} | {fmt(c['prefill_forward']['mean_ms'])} | "
            f"{fmt(c['prefill_tokens_per_s'], 0)} | {fmt(c['decode_step_latency']['mean_ms'], 3)} / "
            f"{fmt(c['decode_step_latency']['p90_ms'], 3)} | {fmt(c['decode_forward']['mean_ms'], 3)} | "
            f"{fmt(c['decode_tokens_per_s'], 0)} |")
    lines.append("")
    return lines


def roofline_table(roof):
    hw, model = roof["hardware"], roof["model"]
    lines = ["### roofline", "",
             f"- {hw['device']}: measured copy bandwidth {hw['bandwidth_bytes_per_s'] / 1e9:.0f} GB/s, "
             f"bf16 GEMM {hw['gemm_flops_per_s'] / 1e12:.0f} TFLOP/s; model "
             f"{model['params'] / 1e9:.2f} B params", "",
             "| batch | prompt | output | decode step ms (min) | decode tok/s (max) | "
             "prefill ms (min) | output tok/s (max) |", "|" + "---|" * 7]
    for r in roof["bounds"]:
        lines.append(f"| {r['batch_size']} | {r['prompt_len']} | {r['output_len']} | "
                     f"{r['decode_step_ms_min']:.2f} | {r['decode_tokens_per_s_max']:.0f} | "
                     f"{r['prefill_ms_min']:.1f} | {r['output_tokens_per_s_max']:.0f} |")
    lines.append("")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--commit", default="unknown")
    args = parser.parse_args()
    meta = {"dir": args.dir, "commit": args.commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "device": read(os.path.join(args.dir, "device.txt"), "unknown")}
    out = [f"## Benchmark run {meta['date']} ({meta['device']})", ""]
    for path in sorted(glob.glob(os.path.join(args.dir, "*.json"))):
        base = os.path.basename(path)
        if any(base.endswith(s) for s in (".workload.json", ".peer.json")) or base in (
                "shard-sweep.json", "roofline.json", "server-info.json"):
            continue
        name = base[: -len(".json")]
        peer_path = os.path.join(args.dir, name + ".peer.json")
        peer = load(peer_path) if os.path.exists(peer_path) else None
        out += scenario_table(name, load(path), peer, meta)
    sweep = os.path.join(args.dir, "shard-sweep.json")
    if os.path.exists(sweep):
        out += sweep_table(load(sweep), meta)
    roof = os.path.join(args.dir, "roofline.json")
    if os.path.exists(roof):
        out += roofline_table(load(roof))
    skipped = read(os.path.join(args.dir, "skipped.txt"))
    if skipped:
        out += ["Skipped: " + ", ".join(skipped.splitlines()), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
