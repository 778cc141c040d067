"""nginx (deploy/nginx) in front of two full text-gen servers on loopback, under load:
both serve; a server killed mid-load is routed around with in-flight requests failing fast and
no later request lost; a rolling restart completes with zero failed requests."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from launcher_harness import Server, free_port, reference_rows  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NGINX_DIR = REPO / "deploy" / "nginx"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")

PROMPT = reference_rows()[0]
MAX_NEW_TOKENS = 24


def nginx_config(tmp: Path, listen_port: int, backends: list[int]) -> str:
    """The shipped nginx.conf's upstream block (servers replaced by the local backends) and the
    shipped text-gen-proxy.conf, with every path inside tmp."""
    shipped = (NGINX_DIR / "nginx.conf").read_text()
    upstream = re.search(r"upstream text_gen \{.*?\n    \}", shipped, re.S).group(0)
    server_lines = re.findall(r"^\s*server \S+ (.*);$", upstream, re.M)
    assert len(server_lines) >= 2, upstream
    params = server_lines[0]
    upstream = re.sub(r"^\s*server \S+ .*;\n", "", upstream, flags=re.M)
    servers = "".join(f"        server 127.0.0.1:{p} {params};\n" for p in backends)
    upstream = upstream.replace("least_conn;\n", "least_conn;\n" + servers, 1)
    return f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$status $request_method $request_uri upstream=$upstream_addr '
                        'upstream_status=$upstream_status time=$request_time';
    access_log {tmp}/access.log upstream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{upstream}
    server {{
        listen 127.0.0.1:{listen_port};
        include {NGINX_DIR}/text-gen-proxy.conf;
    }}
}}
"""


class Nginx:
    def __init__(self, backends: list[int]):
        self.tmp = Path(tempfile.mkdtemp(prefix="tg-nginx-"))
        self.port = free_port()
        (self.tmp / "nginx.conf").write_text(nginx_config(self.tmp, self.port, backends))
        self.proc = subprocess.Popen([NGINX, "-p", str(self.tmp), "-e", str(self.tmp / "error.log"),
                                      "-c", str(self.tmp / "nginx.conf")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/nginx-probe", timeout=1)
                return
            except requests.ConnectionError:
                assert self.proc.poll() is None, self.proc.stdout.read()
                time.sleep(0.1)
        raise AssertionError("nginx did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        path = self.tmp / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def errors(self) -> list[str]:
        path = self.tmp / "error.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line for line in lines if "upstream" in line and "[debug]" not in line][-12:]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Load:
    """Closed-loop clients through nginx until stopped; every request's outcome is recorded."""

    def __init__(self, url: str, expected_text: str, clients: int = 3):
        self.url = url
        self.expected = expected_text
        self.results: list[dict] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(clients)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=120)
            assert not t.is_alive(), "a client hung"

    def _one(self, session: requests.Session, stream: bool) -> str:
        body = {"inputs": PROMPT["prompt"], "parameters": {"max_new_tokens": MAX_NEW_TOKENS}}
        if not stream:
            r = session.post(self.url + "/generate", json=body, timeout=(5, 60))
            if r.status_code != 200:
                return f"HTTP {r.status_code}: {r.text[:200]}"
            text = r.json()["generated_text"]
        else:
            text = None
            with session.post(self.url + "/generate_stream", json=body, timeout=(5, 60),
                              stream=True) as r:
                if r.status_code != 200:
                    return f"HTTP {r.status_code}: {r.text[:200]}"
                for line in r.iter_lines(decode_unicode=True):
                    if line and line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("generated_text") is not None:
                            text = event["generated_text"]
            if text is None:
                return "stream ended without a final event"
        return "ok" if text == self.expected else f"wrong text {text!r}"

    def _client(self, index: int) -> None:
        session = requests.Session()
        n = 0
        while not self.stop_event.is_set():
            start = time.monotonic()
            try:
                outcome = self._one(session, stream=(index == 0 and n % 2 == 1))
            except requests.RequestException as e:
                outcome = f"{type(e).__name__}: {e}"
                session = requests.Session()
            with self.lock:
                self.results.append({"start": start, "end": time.monotonic(), "outcome": outcome})
            n += 1

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.results)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        base = len(self.snapshot())
        while len(self.snapshot()) < base + count:
            assert time.monotonic() < deadline, "load made no progress"
            time.sleep(0.05)


def served_by(log: list[str], port: int) -> int:
    return sum(1 for line in log if line.startswith("200 ") and f"127.0.0.1:{port}" in line)


def wait_until_balancer_uses(nginx: Nginx, port: int, timeout: float = 30) -> None:
    """A restarted server counts as back once nginx sent it a request that succeeded."""
    before = served_by(nginx.access_log(), port)
    deadline = time.monotonic() + timeout
    while served_by(nginx.access_log(), port) <= before:
        assert time.monotonic() < deadline, f"nginx sent nothing to :{port} after its restart"
        time.sleep(0.1)


@pytest.fixture
def cluster():
    # float32: the outputs are compared with the float32 HF reference (the default is bfloat16).
    a = Server("lb-a", extra_args=("--dtype", "float32"))
    b = Server("lb-b", extra_args=("--dtype", "float32"))
    nginx = None
    try:
        a.start(wait=False)
        b.start(wait=False)
        a.wait_for_line("text-gen is ready: ", 240)
        b.wait_for_line("text-gen is ready: ", 240)
        nginx = Nginx([a.port, b.port])
        yield a, b, nginx
    finally:
        if nginx:
            nginx.stop()
        for s in (a, b):
            if s.proc and s.proc.poll() is None:
                s.stop(60)
            s.kill_everything()


def test_balancing_failover_and_rolling_restart(cluster):
    a, b, nginx = cluster
    direct = requests.post(a.url + "/generate", timeout=60, json={
        "inputs": PROMPT["prompt"], "parameters": {"max_new_tokens": MAX_NEW_TOKENS}}).json()
    expected = direct["generated_text"]
    assert PROMPT["greedy_text"].startswith(expected) and len(expected) > 40, expected

    # 1. Both backends serve.
    with Load(nginx.url, expected) as load:
        load.wait_for(40)
    results = load.snapshot()
    assert all(r["outcome"] == "ok" for r in results), [r["outcome"] for r in results][:5]
    log = nginx.access_log()
    assert served_by(log, a.port) > 0 and served_by(log, b.port) > 0, log[-10:]

    # 2. Killing server A (launcher kill -9: shard and router follow) mid-load.
    with Load(nginx.url, expected) as load:
        load.wait_for(10)
        killed_at = time.monotonic()
        a.signal(signal.SIGKILL)
        a.wait_exit(10)
        assert a.wait_gone(10) == [], a.log()
        gone_at = time.monotonic()
        deadline = time.monotonic() + 60
        while sum(r["start"] >= gone_at for r in load.snapshot()) < 30:
            assert time.monotonic() < deadline, "load made no progress after the kill"
            time.sleep(0.05)
    results = load.snapshot()
    failed = [r for r in results if r["outcome"] != "ok"]
    for r in failed:  # only requests in flight at the kill, and they failed fast (no hang)
        assert r["start"] < gone_at, r
        assert r["end"] - killed_at < 15, r
        assert not r["outcome"].startswith("wrong text"), r  # an error, never a wrong answer
    after = [r for r in results if r["start"] >= gone_at]
    assert len(after) >= 30 and all(r["outcome"] == "ok" for r in after), \
        [r["outcome"] for r in after if r["outcome"] != "ok"][:5]
    print(f"\nkill: {len(results)} requests, {len(failed)} failed (in flight on the killed "
          f"server, slowest failure {max((r['end'] - killed_at for r in failed), default=0):.2f} s "
          f"after the kill), {len(after)} sent afterwards all ok")

    # 3. Rolling restart under load: A comes back, then B is restarted; nothing may fail.
    events = {}
    with Load(nginx.url, expected) as load:
        load.wait_for(5)
        events["A start"] = time.monotonic()
        a.start()
        events["A ready"] = time.monotonic()
        wait_until_balancer_uses(nginx, a.port)
        events["A in rotation"] = time.monotonic()
        b.signal(signal.SIGTERM)
        events["B SIGTERM"] = time.monotonic()
        assert b.wait_exit(60) == 0, b.log()
        events["B exited"] = time.monotonic()
        assert b.wait_gone(10) == [], b.log()
        load.wait_for(10)
        events["B start"] = time.monotonic()
        b.start()
        events["B ready"] = time.monotonic()
        wait_until_balancer_uses(nginx, b.port)
        events["B in rotation"] = time.monotonic()
        load.wait_for(10)
    results = load.snapshot()
    failed = [r for r in results if r["outcome"] != "ok"]
    t0 = events["A start"]
    timeline = ", ".join(f"{k} {v - t0:.3f}" for k, v in events.items())
    detail = [f"{r['outcome'][:40]} sent {r['start'] - t0:.3f} done {r['end'] - t0:.3f}"
              for r in failed[:3]]
    assert failed == [], (f"{len(failed)} of {len(results)} failed: {detail}\n"
                          f"timeline (s): {timeline}\n" + "\n".join(nginx.errors()))
    assert len(results) >= 25
    log = nginx.access_log()
    resent = [line for line in log if re.search(r"upstream_status=\S*(502|503)", line)]
    print(f"rolling restart: {len(results)} requests, 0 failed; nginx log: {len(log)} lines, "
          f"{len(resent)} passed on after a refusal/503")
