"""Starts a real text-gen-shard with SmolLM2-135M-Instruct (GGUF, CPU) and a real text-gen-router
for the structured-output tests. Reuses the router integration tests' log reader and shutdown."""
import glob
import importlib.util
import os
import subprocess
import tempfile

import pytest

_spec = importlib.util.spec_from_file_location(
    "router_integration_conftest",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "router", "integration", "conftest.py"))
_router_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_router_conftest)
LogReader = _router_conftest.LogReader
stop_processes = _router_conftest.stop_processes

MODELS = os.environ.get("TG_MODELS_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "models"))
SHARD_BIN = os.environ.get("TG_SHARD_BIN", "")
ROUTER_BIN = os.environ.get("TG_ROUTER_BIN", "")


class SmolStack:
    def __init__(self, gguf, router_args=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="tg-grammar-")
        self.procs = []
        prefix = os.path.join(self.tmp.name, "shard")
        try:
            self.shard_log = self._spawn([SHARD_BIN, "--model-id", gguf, "--uds-path", prefix,
                                          "--device", "cpu", "--dtype", "float32", "--threads", "2"])
            self.shard_log.wait_for(r"ready", 120)
            self.router_log = self._spawn([ROUTER_BIN, "--hostname", "127.0.0.1", "--port", "0",
                                           "--master-shard-uds-path", prefix + "-0",
                                           "--tokenizer-name", gguf, "--model-id", "smollm2",
                                           "--http-threads", "8", *router_args])
            match = self.router_log.wait_for(r"listening on http://[^:]+:(\d+)", 120)
            self.url = "http://127.0.0.1:%s" % match.group(1)
        except BaseException:
            self.close()
            raise

    def _spawn(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        reader = LogReader(proc.stdout)
        reader.start()
        self.procs.append(proc)
        return reader

    def close(self):
        # A child that died on its own: its log goes to the test report (captured output).
        for proc, log in zip(self.procs, (self.shard_log, getattr(self, "router_log", None))):
            if proc.poll() not in (None, 0) and log is not None:
                print("%s exited with %s:\n%s" % (proc.args[0], proc.returncode, log.text()))
        stop_processes(self.procs)
        self.tmp.cleanup()


def smol_gguf():
    if not (SHARD_BIN and ROUTER_BIN):
        pytest.skip("TG_SHARD_BIN / TG_ROUTER_BIN not set")
    found = sorted(glob.glob(os.path.join(MODELS, "SmolLM2-135M-Instruct", "*.gguf")))
    if not found:
        pytest.skip("SmolLM2 GGUF not in models/ (scripts/fetch-default-model.sh)")
    return found[0]


@pytest.fixture(scope="session")
def smol():
    stack = SmolStack(smol_gguf())
    try:
        yield stack
    finally:
        stack.close()


ASSETS = os.environ.get("TG_ASSETS_DIR",
                        os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "assets"))


@pytest.fixture(scope="session")
def smol_qwen3_template():
    """SmolLM2's weights behind Qwen3's chat template (<think> blocks; same <|im_start|> markers)."""
    template = os.path.join(ASSETS, "chat-templates", "Qwen-Qwen3-0.6B.jinja")
    if not os.path.exists(template):
        pytest.skip("no " + template)
    stack = SmolStack(smol_gguf(), ["--chat-template", template])
    try:
        yield stack
    finally:
        stack.close()
