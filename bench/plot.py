#!/usr/bin/env python3
"""Draws the benchmark chart from text-gen-bench result files (and optional HF-peer files).

Left: CDFs of TTFT and end-to-end latency for every run. Right: output-token throughput against
request rate, one line per scenario/backend; peers (hf_peer.py, static batches, no arrival
process) appear as horizontal lines since their throughput does not depend on a rate.

    bench/plot.py --out chart.png results/*.json [--peer peer.json ...]
"""
import argparse
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rate_value(rate):
    return math.inf if rate in ("inf", None) else float(rate)


def cdf(values):
    xs = sorted(values)
    ys = [(i + 1) / len(xs) for i in range(len(xs))]
    return xs, ys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("results", nargs="+", help="text-gen-bench --result-json files")
    parser.add_argument("--peer", action="append", default=[], help="hf_peer.py result files")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--title", default="text-gen-bench")
    args = parser.parse_args()

    fig, (ax_cdf, ax_tput) = plt.subplots(1, 2, figsize=(14, 5.5))
    finite_rates = []
    series = {}
    color_index = 0  # one colour per run: its TTFT (dotted) and E2EL (solid) curves
    for path in args.results:
        with open(path) as f:
            doc = json.load(f)
        for run in doc["runs"]:
            ok = [i for i, e in enumerate(run["errors"]) if not e]
            rate = rate_value(run["request_rate"])
            name = f'{run["label"]} @ {run["request_rate"]} req/s'
            if ok:
                color = f"C{color_index % 10}"
                linestyle = "-" if color_index < 10 else "-."
                color_index += 1
                xs, ys = cdf([run["ttfts"][i] * 1000 for i in ok])
                ax_cdf.plot(xs, ys, linestyle=":", color=color)
                xs, ys = cdf([run["latencies"][i] * 1000 for i in ok])
                ax_cdf.plot(xs, ys, linestyle=linestyle, color=color, label=name)
            series.setdefault(f'{run["backend"]}: {run["label"]}', []).append(
                (rate, run["output_throughput"]))
            if math.isfinite(rate):
                finite_rates.append(rate)

    # "All at once" is drawn one step right of the largest finite rate, labelled "inf".
    inf_x = max(finite_rates) * 2 if finite_rates else 1.0
    for name, points in series.items():
        points.sort(key=lambda p: p[0])
        xs = [inf_x if math.isinf(r) else r for r, _ in points]
        ax_tput.plot(xs, [t for _, t in points], marker="o", label=name)
    for path in args.peer:
        with open(path) as f:
            peer = json.load(f)
        ax_tput.axhline(peer["output_throughput"], linestyle=":", color="gray")
        ax_tput.text(min(finite_rates, default=inf_x / 2), peer["output_throughput"],
                     f'HF peer ({peer["label"]}, batch {peer["batch_size"]})', fontsize=8,
                     va="bottom")

    ax_cdf.set_xscale("log")
    ax_cdf.set_xlabel("latency (ms, log scale)")
    ax_cdf.set_ylabel("fraction of requests")
    ax_cdf.set_title("Latency CDFs (dotted: TTFT, solid: end-to-end)")
    ax_cdf.grid(True, which="both", alpha=0.3)
    ax_cdf.legend(fontsize=6)
    ax_tput.set_xscale("log")
    ax_tput.set_xlabel("request rate (req/s; rightmost point = all at once)")
    ax_tput.set_ylabel("output tokens / s")
    ax_tput.set_title("Throughput against request rate")
    ax_tput.grid(True, which="both", alpha=0.3)
    ax_tput.legend(fontsize=7)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"plot: wrote {args.out}")


if __name__ == "__main__":
    main()
