#!/usr/bin/env python3
"""Summarizes bench/router-overhead.sh: per run, the router's time between shard calls.

Reads runN.json (text-gen-bench) and runN.metrics-{before,after}.txt (/metrics) from --dir and
prints a markdown table, then the median of each column over the runs.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path


def histogram(text: str, name: str) -> tuple[float, float]:
    """(sum, count) of a Prometheus histogram over all its label sets."""
    total, count = 0.0, 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, value = line.rsplit(" ", 1)
        metric = series.split("{", 1)[0]
        if metric == name + "_sum":
            total += float(value)
        elif metric == name + "_count":
            count += float(value)
    return total, count


def delta(before: str, after: str, name: str) -> tuple[float, float]:
    s0, c0 = histogram(before, name)
    s1, c1 = histogram(after, name)
    return s1 - s0, c1 - c0


def summarize(directory: Path, run: int) -> dict:
    result = json.loads((directory / f"run{run}.json").read_text())
    before = (directory / f"run{run}.metrics-before.txt").read_text()
    after = (directory / f"run{run}.metrics-after.txt").read_text()
    host_s, gaps = delta(before, after, "tgi_batch_host_duration")
    rpc_s, calls = delta(before, after, "tgi_batch_inference_duration")
    tokens, _ = delta(before, after, "tgi_request_generated_tokens")
    if calls == 0 or tokens == 0:
        sys.exit(f"run {run}: no shard call or no token between the two /metrics reads")
    wall = float(result["runs"][0]["duration"])
    return {
        "run": run,
        "wall_s": wall,
        "shard_calls": int(calls),
        "tokens": int(tokens),
        "rpc_s": rpc_s,
        "wall_minus_rpc_s": wall - rpc_s,
        "host_s": host_s,
        "host_us_per_step": host_s / max(gaps, 1) * 1e6,
        "host_us_per_token": host_s / tokens * 1e6,
        "output_tok_s": tokens / wall,
    }


COLUMNS = [
    ("run", "{}"),
    ("wall_s", "{:.3f}"),
    ("shard_calls", "{}"),
    ("tokens", "{}"),
    ("rpc_s", "{:.3f}"),
    ("wall_minus_rpc_s", "{:.3f}"),
    ("host_s", "{:.3f}"),
    ("host_us_per_step", "{:.0f}"),
    ("host_us_per_token", "{:.2f}"),
    ("output_tok_s", "{:.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = [summarize(args.dir, run) for run in range(1, args.runs + 1)]
    print("| " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(fmt.format(row[name]) for name, fmt in COLUMNS) + " |")
    medians = {name: statistics.median(row[name] for row in rows) for name, _ in COLUMNS[1:]}
    print("| median | " + " | ".join(fmt.format(medians[name]) for name, fmt in COLUMNS[1:]) + " |")
    (args.dir / "summary.json").write_text(json.dumps({"runs": rows, "median": medians}, indent=1))


if __name__ == "__main__":
    main()
