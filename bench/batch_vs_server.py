#!/usr/bin/env python3
"""Throughput of text-gen-batch against the HTTP server path on the same workload.

Both paths get the same prompts and parameters (greedy, `ignore_eos`, fixed output length, so the
token counts are equal). The batch figure is the runner's own (generated tokens / seconds from
the first submission to the last record, start-up excluded); the server figure is generated
tokens / seconds from the first request to the last response, with every request sent at once
over `--concurrency` connections to POST /generate (start-up excluded too). The batch runner keeps
the same number of lines in flight (`--max-concurrent-requests`); the server's limit is twice
that, so a connection reused right after a response never sees a 429.

  bench/batch_vs_server.py --build build --model-id models/.../x.gguf --prompts 64 --output-len 64
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

OPENINGS = ["Once upon a time", "Write a short poem about the sea", "Explain why the sky is blue",
            "List three fruits", "Tell me about cats", "What is a computer?", "Describe a forest",
            "Give me a recipe"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workload(n: int, output_len: int) -> list[dict]:
    return [{"id": i, "prompt": f"{OPENINGS[i % len(OPENINGS)]} (#{i})",
             "parameters": {"max_new_tokens": output_len, "ignore_eos": True}} for i in range(n)]


def run_batch(args, lines: list[dict], tmp: str) -> tuple[float, int]:
    path_in, path_out = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
    with open(path_in, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    r = subprocess.run([os.path.join(args.build, "batch/text-gen-batch"), "--model-id", args.model_id,
                        "--input", path_in, "--output", path_out, "--progress", "json",
                        "--shard-uds-path", os.path.join(tmp, "batch"),
                        "--max-concurrent-requests", str(args.concurrency), *args.flags],
                       capture_output=True, text=True, check=True)
    final = [json.loads(l)["progress"] for l in r.stderr.splitlines() if l.startswith('{"progress"')][-1]
    assert final["final"] and final["errors"] == 0, final
    return final["generated_tokens"] / final["elapsed_seconds"], final["generated_tokens"]


def run_server(args, lines: list[dict], tmp: str) -> tuple[float, int]:
    port = free_port()
    proc = subprocess.Popen([os.path.join(args.build, "launcher/text-gen-launcher"), "--model-id",
                             args.model_id, "--port", str(port), "--hostname", "127.0.0.1",
                             "--master-port", str(free_port()), "--shard-uds-path",
                             os.path.join(tmp, "server"),
                             "--max-concurrent-requests", str(2 * args.concurrency), *args.flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "text-gen is ready" in line:
                break
        else:
            raise RuntimeError("the server did not start")
        url = f"http://127.0.0.1:{port}/generate"
        session_tokens = []

        def send(line):
            r = requests.post(url, json={"inputs": line["prompt"], "parameters": dict(
                line["parameters"], details=True)}, timeout=3600)
            r.raise_for_status()
            return r.json()["details"]["generated_tokens"]

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            session_tokens = list(pool.map(send, lines))
        seconds = time.monotonic() - start
        return sum(session_tokens) / seconds, sum(session_tokens)
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64,
                        help="requests in flight: HTTP connections, and the batch's queue")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs; medians reported")
    parser.add_argument("flags", nargs="*", help="extra model/device flags for both (after --)")
    args = parser.parse_args()
    lines = workload(args.prompts, args.output_len)
    batch_rates, server_rates = [], []
    for _ in range(args.repeat):  # alternating, so load changes on a shared machine hit both
        with tempfile.TemporaryDirectory() as tmp:
            batch_rate, batch_tokens = run_batch(args, lines, tmp)
            server_rate, server_tokens = run_server(args, lines, tmp)
        assert batch_tokens == server_tokens == args.prompts * args.output_len
        batch_rates.append(batch_rate)
        server_rates.append(server_rate)
        print(f"run: batch {batch_rate:.1f} tok/s, server {server_rate:.1f} tok/s", file=sys.stderr)
    batch_rate, server_rate = statistics.median(batch_rates), statistics.median(server_rates)
    print(f"| {os.path.basename(args.model_id)} | {args.prompts} x {args.output_len} | "
          f"{' '.join(args.flags)} | {batch_rate:.1f} | {server_rate:.1f} (c={args.concurrency}) | "
          f"{batch_rate / server_rate:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
