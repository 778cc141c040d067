"""Starts a real text-gen-launcher (which starts text-gen-shard and text-gen-router) for tests.

Each server gets free ports and its own socket prefix in a temporary directory, so several servers
(and other test suites) run side by side. The launcher's stderr is collected line by line; the
pids of its children come from its "started NAME (pid N)" lines, and /proc is scanned for any
process still carrying the server's socket prefix, so "no process left behind" is checked for
real.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ASSETS = Path(os.environ.get("TG_ASSETS_DIR", Path(__file__).resolve().parents[3] / "shared/assets"))
STORIES = ASSETS / "models" / "stories260K"
REFERENCE = ASSETS / "reference" / "stories260K-reference.jsonl"


def launcher_path() -> Path:
    path = os.environ.get("TG_LAUNCHER")
    if not path:
        raise RuntimeError("TG_LAUNCHER must name the text-gen-launcher binary")
    return Path(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reference_rows() -> list[dict]:
    with open(REFERENCE) as f:
        return [json.loads(line) for line in f]


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line mentions `marker` (the server's socket prefix)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and running(int(entry)):
            found.append(int(entry))
    return found


class Server:
    def __init__(self, name: str = "server", model: Path = STORIES, extra_args: tuple = (),
                 port: int | None = None, master_port: int | None = None,
                 env: dict | None = None):
        self.name = name
        self.extra_env = dict(env or {})
        self.model = model
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.master_port = master_port or free_port()
        self.tmp = tempfile.mkdtemp(prefix=f"tg-{name}-")
        self.uds = os.path.join(self.tmp, "shard")
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.reader_done = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240.0, wait: bool = True,
              ready: str = "text-gen is ready: ") -> "Server":
        self.lines = []
        self.reader_done = False
        args = [str(launcher_path()), "--model-id", str(self.model), "--hostname", "127.0.0.1",
                "--port", str(self.port), "--master-port", str(self.master_port),
                "--shard-uds-path", self.uds, "--device", "cpu", "--threads", "1",
                "--shutdown-timeout", "20"] + self.extra_args
        env = dict(os.environ)
        for var in ("MODEL_ID", "PORT", "NUM_SHARD", "API_KEY", "MAX_TOTAL_TOKENS"):
            env.pop(var, None)
        env.update(self.extra_env)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, text=True,
                                     errors="replace", start_new_session=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        if wait:
            self.wait_for_line(ready, timeout)
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.reader_done = True
            self.cond.notify_all()

    def log(self) -> str:
        with self.cond:
            return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                if self.reader_done:
                    raise AssertionError(f"{self.name}: launcher exited with {self.proc.wait()}"
                                         f" before '{needle}':\n{self.log_unlocked()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: no '{needle}' within {timeout} s:\n"
                                         f"{self.log_unlocked()}")
                self.cond.wait(min(left, 0.5))

    def log_unlocked(self) -> str:
        return "\n".join(self.lines[-80:])

    def child_pids(self) -> dict[str, int]:
        pids = {}
        with self.cond:
            for line in self.lines:
                m = re.search(r"started (\S+) \(pid (\d+)\)", line)
                if m:
                    pids[m.group(1)] = int(m.group(2))
        return pids

    def leftovers(self) -> list[int]:
        pids = [p for p in self.child_pids().values() if running(p)]
        if self.proc and running(self.proc.pid):
            pids.append(self.proc.pid)
        return sorted(set(pids + processes_with(self.uds)))

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def wait_gone(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.leftovers()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the launcher's exit code."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill_everything(self) -> None:
        """Test clean-up: whatever is left of this server is killed."""
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc and self.proc.poll() is None:
            self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)
