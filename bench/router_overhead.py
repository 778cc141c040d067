#!/usr/bin/env python3
"""The router's time between shard calls, from /metrics read around text-gen-bench runs.

The headline column is shard_busy: the shard engine's own time (tgi_batch_shard_duration) over
the run's wall time; 1 - shard_busy is the time the shard (on a GPU host: the GPU) waited for
calls, answers and the router. With async scheduling (two calls in flight) the other columns
that add up call times still add up to the run: a call queued behind another counts from when
that one returned.

--dir: bench/router-overhead.sh's folder (runN.json, runN.metrics-{before,after}.txt); prints a
markdown table and the median of each column over --runs runs, and writes summary.json.
--result/--before/--after: one run, e.g. the GPU's serving-256 scenario:
  bench/router_overhead.py --result OUT/serving-256.json \
    --before OUT/serving-256.metrics-before.txt --after OUT/serving-256.metrics-after.txt
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


def summarize(run: int, result_path: Path, before_path: Path, after_path: Path) -> dict:
    result = json.loads(result_path.read_text())
    before = before_path.read_text()
    after = after_path.read_text()
    host_s, gaps = delta(before, after, "tgi_batch_host_duration")
    rpc_s, calls = delta(before, after, "tgi_batch_inference_duration")
    shard_s, _ = delta(before, after, "tgi_batch_shard_duration")
    forward_s, _ = delta(before, after, "tgi_batch_forward_duration")
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
        "forward_s": forward_s,
        # The call around the shard's own work: protobuf, gRPC, the socket (both sides).
        "call_us_per_step": (rpc_s - shard_s) / calls * 1e6 if shard_s > 0 else float("nan"),
        "wall_minus_rpc_s": wall - rpc_s,
        "host_s": host_s,
        "host_us_per_step": host_s / max(gaps, 1) * 1e6,
        "host_us_per_token": host_s / tokens * 1e6,
        "output_tok_s": tokens / wall,
        "shard_idle_s": wall - shard_s,
        "shard_busy": shard_s / wall,
    }


COLUMNS = [
    ("run", "{}"),
    ("wall_s", "{:.3f}"),
    ("shard_calls", "{}"),
    ("tokens", "{}"),
    ("rpc_s", "{:.3f}"),
    ("forward_s", "{:.3f}"),
    ("call_us_per_step", "{:.0f}"),
    ("wall_minus_rpc_s", "{:.3f}"),
    ("host_s", "{:.3f}"),
    ("host_us_per_step", "{:.0f}"),
    ("host_us_per_token", "{:.2f}"),
    ("output_tok_s", "{:.0f}"),
    ("shard_idle_s", "{:.3f}"),
    ("shard_busy", "{:.3f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--result", type=Path, help="one text-gen-bench result JSON")
    parser.add_argument("--before", type=Path, help="/metrics before that run")
    parser.add_argument("--after", type=Path, help="/metrics after that run")
    args = parser.parse_args()
    if args.result:
        if not (args.before and args.after):
            parser.error("--result needs --before and --after")
        rows = [summarize(1, args.result, args.before, args.after)]
    elif args.dir:
        rows = [
            summarize(run, args.dir / f"run{run}.json", args.dir / f"run{run}.metrics-before.txt",
                      args.dir / f"run{run}.metrics-after.txt")
            for run in range(1, args.runs + 1)
        ]
    else:
        parser.error("give --dir, or --result with --before and --after")
    print("| " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(fmt.format(row[name]) for name, fmt in COLUMNS) + " |")
    medians = {name: statistics.median(row[name] for row in rows) for name, _ in COLUMNS[1:]}
    print("| median | " + " | ".join(fmt.format(medians[name]) for name, fmt in COLUMNS[1:]) + " |")
    if args.dir:
        (args.dir / "summary.json").write_text(json.dumps({"runs": rows, "median": medians}, indent=1))


if __name__ == "__main__":
    main()
