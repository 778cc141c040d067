"""Starts a real text-gen-shard (stories260K, float32, CPU) and a real text-gen-router over
sockets for the router's integration tests. Children are always killed at the end."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests

ASSETS = os.environ.get("TG_ASSETS_DIR", os.path.join(os.path.dirname(__file__), "../../../../shared/assets"))
MODEL = os.path.join(ASSETS, "models", "stories260K")
REFERENCE = os.path.join(ASSETS, "reference", "stories260K-reference.jsonl")
SHARD_BIN = os.environ.get("TG_SHARD_BIN", "")
ROUTER_BIN = os.environ.get("TG_ROUTER_BIN", "")
HERE = os.path.dirname(os.path.abspath(__file__))


def load_reference():
    with open(REFERENCE) as f:
        return [json.loads(line) for line in f if line.strip()]


class LogReader(threading.Thread):
    """Collects a child's output lines so tests can wait for a line and show logs on failure."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = []
        self.cond = threading.Condition()

    def run(self):
        for raw in iter(self.stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF marker
            self.cond.notify_all()

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        regex = re.compile(pattern)
        with self.cond:
            while True:
                for line in self.lines:
                    if line is None:
                        raise RuntimeError("process exited before logging %r:\n%s" % (pattern, self.text()))
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no %r within %ss:\n%s" % (pattern, timeout, self.text()))
                self.cond.wait(left)

    def text(self):
        return "\n".join(l for l in self.lines if l is not None)



def stop_processes(procs):
    """SIGTERM in reverse start order (the router before its shard), then wait; kill after 20 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

class Stack:
    """One shard + one router; `url` is the router's base URL."""

    def __init__(self, router_args=(), shard_threads=1, model=MODEL):
        if not (SHARD_BIN and ROUTER_BIN):
            pytest.skip("TG_SHARD_BIN / TG_ROUTER_BIN not set")
        self.tmp = tempfile.TemporaryDirectory(prefix="tg-router-it-")
        self.procs = []
        try:
            self._start(router_args, shard_threads, model)
        except BaseException:
            self.close()
            raise

    def _start(self, router_args, shard_threads, model):
        prefix = os.path.join(self.tmp.name, "shard")
        self.shard = self._spawn([SHARD_BIN, "--model-id", model, "--uds-path", prefix,
                                  "--device", "cpu", "--dtype", "float32",
                                  "--threads", str(shard_threads)])
        self.shard_log.wait_for(r"ready", 120)
        self.router = self._spawn([ROUTER_BIN, "--hostname", "127.0.0.1", "--port", "0",
                                   "--master-shard-uds-path", prefix + "-0",
                                   "--tokenizer-name", model, "--model-id", "stories260K",
                                   "--http-threads", "2", *router_args])
        match = self.router_log.wait_for(r"listening on http://[^:]+:(\d+)", 120)
        self.url = "http://127.0.0.1:%s" % match.group(1)

    def _spawn(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        reader = LogReader(proc.stdout)
        reader.start()
        self.procs.append(proc)
        if len(self.procs) == 1:
            self.shard_log = reader
        else:
            self.router_log = reader
        return proc

    def metric(self, name):
        text = requests.get(self.url + "/metrics", timeout=10).text
        match = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
        return float(match.group(1)) if match else None

    def pause_shard(self):
        """SIGSTOP: the shard makes no progress until resume_shard(). The router is left a moment
        to take in a response the shard sent before it stopped."""
        self.shard.send_signal(signal.SIGSTOP)
        time.sleep(0.2)

    def resume_shard(self):
        if getattr(self, "shard", None) and self.shard.poll() is None:
            self.shard.send_signal(signal.SIGCONT)

    def close(self):
        self.resume_shard()
        stop_processes(self.procs)
        self.tmp.cleanup()


def wait_metric(stack, name, value, timeout=10):
    deadline = time.time() + timeout
    while stack.metric(name) != value and time.time() < deadline:
        time.sleep(0.02)
    return stack.metric(name)


def streams_in_flight(stack, body, count, headers=None, attempts=5):
    """Opens `count` streams of `body`, each past its first token, and freezes the shard (SIGSTOP)
    while all of them are still generating; returns (response, line iterator, first event) for
    each. The
    caller acts on the running requests, then calls `stack.resume_shard()`.

    Why freeze: stories260K makes a token in under a millisecond, so a 400-token request can end
    between two lines of a test on a loaded machine, and a test of what happens to a *running*
    request then sees a finished one. Frozen, nothing ends until the test says so. If a request
    did end before the freeze, the streams are closed and opened again."""
    for _ in range(attempts):
        streams = []
        for _ in range(count):
            resp = requests.post(stack.url + "/generate_stream", json=body, headers=headers,
                                 stream=True, timeout=60)
            assert resp.status_code == 200, resp.text
            lines = resp.iter_lines()
            first = next(l for l in lines if l.startswith(b"data:"))  # admitted, generating
            streams.append((resp, lines, json.loads(first[5:])))
        stack.pause_shard()
        if stack.metric("tgi_running_requests") == count:
            return streams
        stack.resume_shard()
        for resp, _, _ in streams:
            resp.close()
        wait_metric(stack, "tgi_running_requests", 0)
    raise AssertionError("no %d requests were in flight at once in %d attempts" % (count, attempts))


@pytest.fixture(scope="module")
def stack(request):
    args = getattr(request.module, "ROUTER_ARGS", ())
    s = Stack(router_args=args)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def reference():
    return load_reference()
