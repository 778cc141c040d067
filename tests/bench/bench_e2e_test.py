#!/usr/bin/env python3
"""text-gen-bench against the real CPU server (launcher -> shard -> router, stories260K).

Checks that the load generator's numbers are consistent with what the server returned: every
request succeeds, streamed token counts equal max_new_tokens (ignore_eos) and the server's own
count, TTFT <= latency, the streamed text of a request equals the non-streamed /generate answer
for the same prompt (greedy), and the shard sweep returns sane timings straight over gRPC.

Usage: bench_e2e_test.py LAUNCHER SHARD BENCH ASSETS_DIR   (ctest passes these)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

LAUNCHER, SHARD, BENCH, ASSETS = sys.argv[1:5]
MODEL = os.path.join(ASSETS, "models", "stories260K")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, process):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what}: process exited with {process.returncode}")
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not ready after {timeout} s")


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def post_json(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.load(r)


def read_text(path):
    with open(path) as f:
        return f.read()


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.port = free_port()
        cls.url = f"http://127.0.0.1:{cls.port}"
        cls.log = open(os.path.join(cls.tmp.name, "server.log"), "w")
        cls.server = subprocess.Popen(
            [LAUNCHER, "--model-id", MODEL, "--device", "cpu", "--port", str(cls.port),
             "--hostname", "127.0.0.1", "--threads", "1",
             "--shard-uds-path", os.path.join(cls.tmp.name, "shard"),
             "--master-port", str(free_port())],
            stdout=cls.log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: http_ok(cls.url + "/health"), 120, "server", cls.server)
        except AssertionError:
            stop(cls.server)
            cls.log.close()
            print(read_text(os.path.join(cls.tmp.name, "server.log"))[-4000:])
            raise

    @classmethod
    def tearDownClass(cls):
        stop(cls.server)
        cls.log.close()
        cls.tmp.cleanup()

    def bench(self, *extra):
        result = os.path.join(self.tmp.name, "result.json")
        workload = os.path.join(self.tmp.name, "workload.json")
        command = [BENCH, "--base-url", self.url, "--tokenizer", MODEL, "--num-prompts", "8",
                   "--input-len", "16", "--output-len", "12", "--seed", "3", "--check",
                   "--result-json", result, "--save-workload", workload, *extra]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("Serving Benchmark Result", done.stdout)
        with open(result) as f, open(workload) as w:
            return json.load(f), json.load(w)

    def check_run(self, run, workload, expected_output):
        n = len(workload["requests"])
        self.assertEqual(run["completed"], n)
        self.assertEqual(run["failed"], 0)
        self.assertEqual(run["consistency_problems"], [])
        self.assertEqual(run["output_lens"], [expected_output] * n)
        self.assertEqual(run["total_output_tokens"], expected_output * n)
        self.assertEqual(run["input_lens"], [r["prompt_len"] for r in workload["requests"]])
        for ttft, latency in zip(run["ttfts"], run["latencies"]):
            self.assertGreater(ttft, 0)
            self.assertLessEqual(ttft, latency)
        for reported in run["server_output_lens"]:
            if reported is not None:
                self.assertEqual(reported, expected_output)
        self.assertGreater(run["output_throughput"], 0)
        self.assertLessEqual(run["median_ttft_ms"], run["median_e2el_ms"])
        self.assertAlmostEqual(run["output_throughput"] * run["duration"],
                               run["total_output_tokens"], delta=1e-6 * run["total_output_tokens"])

    def test_tgi_stream_all_at_once_and_poisson(self):
        doc, workload = self.bench("--request-rate", "inf,20", "--max-concurrency", "4",
                                   "--goodput", "ttft:60000")
        self.assertEqual(len(doc["runs"]), 2)
        for run in doc["runs"]:
            self.check_run(run, workload, 12)
            # A 60 s TTFT objective is met by every request on this tiny model.
            self.assertAlmostEqual(run["request_goodput"], run["request_throughput"])
        # The stream carries the same tokens as a plain /generate call (greedy decoding).
        prompt = workload["requests"][0]["prompt"]
        answer = post_json(self.url + "/generate", {
            "inputs": prompt, "parameters": {"max_new_tokens": 12, "ignore_eos": True,
                                             "details": True, "do_sample": False}})
        self.assertEqual(answer["details"]["generated_tokens"], 12)
        self.assertEqual(doc["runs"][0]["generated_texts"][0], answer["generated_text"])

    def test_openai_completions_stream(self):
        doc, workload = self.bench("--protocol", "openai", "--model", "stories260K",
                                   "--request-rate", "inf")
        self.check_run(doc["runs"][0], workload, 12)

    def test_prefix_workload(self):
        doc, workload = self.bench("--workload", "prefix", "--prefix-len", "24",
                                   "--num-prefixes", "2", "--input-len", "4")
        self.check_run(doc["runs"][0], workload, 12)


class ShardSweepTest(unittest.TestCase):
    def test_sweep_over_grpc(self):
        with tempfile.TemporaryDirectory() as tmp:
            prefix = os.path.join(tmp, "shard")
            log_path = os.path.join(tmp, "shard.log")
            with open(log_path, "w") as log:
                shard = subprocess.Popen(
                    [SHARD, "--model-id", MODEL, "--device", "cpu", "--uds-path", prefix,
                     "--threads", "1", "--master-port", str(free_port())],
                    stdout=log, stderr=subprocess.STDOUT)
                try:
                    wait_for(lambda: "ready" in read_text(log_path), 60, "shard", shard)
                    result = os.path.join(tmp, "sweep.json")
                    done = subprocess.run(
                        [BENCH, "shard", "--uds", f"unix://{prefix}-0", "--batch-sizes", "1,3",
                         "--sequence-lengths", "8,20", "--decode-length", "4", "--runs", "2",
                         "--result-json", result], capture_output=True, text=True, timeout=120)
                    self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
                finally:
                    stop(shard)
            with open(result) as f:
                sweep = json.load(f)
        self.assertEqual(sweep["info"]["deviceType"], "cpu")
        cases = sweep["cases"]
        self.assertEqual([(c["batch_size"], c["sequence_length"]) for c in cases],
                         [(1, 8), (1, 20), (3, 8), (3, 20)])
        for c in cases:
            self.assertEqual(c["prefill_latency"]["count"], 2)
            self.assertEqual(c["decode_step_latency"]["count"], 2 * 4)
            self.assertGreater(c["prefill_latency"]["mean_ms"], 0)
            self.assertGreater(c["decode_step_latency"]["mean_ms"], 0)
            # The shard's own forward time cannot exceed the wall time the client saw.
            self.assertLessEqual(c["prefill_forward"]["mean_ms"], c["prefill_latency"]["mean_ms"])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
