#!/usr/bin/env python3
"""Per-kernel time table of one profiled step, from an ncu CSV.

Made on the GPU machine by (cuda_bench's profiling modes bracket one step with
cudaProfilerStart/Stop):
  ncu --clock-control none --profile-from-start off --metrics gpu__time_duration.sum --csv \
    cuda_bench --profile-decode 1 > bs1.csv        (or --profile-prefill 2048)
Each kernel runs alone under ncu, with the L2 flushed before it (ncu's default cache control),
so the sum is an upper bound of the step: weights are read cold, as a decode step reads them.

usage: ncu_kernel_table.py CSV [CSV ...]   -> markdown, kernels by total time
"""
import collections
import csv
import sys

UNIT_TO_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}


def kernel_times(path):
    header, times = None, []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row and row[0] == "ID":
                header = row
            elif header and len(row) == len(header):
                r = dict(zip(header, row))
                if r["Metric Name"] != "gpu__time_duration.sum":
                    continue
                value = float(r["Metric Value"].replace(",", ""))
                times.append((r["Kernel Name"], value * UNIT_TO_US[r["Metric Unit"]]))
    return times


def table(path):
    times = kernel_times(path)
    by_name = collections.defaultdict(lambda: [0, 0.0])
    for name, us in times:
        short = name.split("(")[0].replace("void ", "")[:70]
        by_name[short][0] += 1
        by_name[short][1] += us
    total = sum(us for _, us in times)
    lines = [f"### {path}: {len(times)} kernels, {total / 1e3:.3f} ms", "",
             "| kernel | calls | total us | mean us | share |", "|---|---|---|---|---|"]
    for name, (calls, us) in sorted(by_name.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| `{name}` | {calls} | {us:.1f} | {us / calls:.2f} | {us / total:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n\n".join(table(p) for p in sys.argv[1:]))
