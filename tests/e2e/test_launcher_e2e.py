"""End to end through the launcher: text-gen-launcher -> text-gen-shard + text-gen-router on the
CPU with the real stories260K model, checked against Hugging Face transformers' greedy outputs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

from launcher_harness import STORIES, Server, free_port, launcher_path, reference_rows

# Renders the user's message after BOS, so the chat prompt tokenizes exactly like the reference's
# "<s>Once upon a time" and greedy chat output must equal the reference continuation.
PLAIN_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"


@pytest.fixture
def server(tmp_path):
    template = tmp_path / "plain.jinja"
    template.write_text(PLAIN_TEMPLATE)
    # float32: the outputs are compared with the float32 HF reference (the default is bfloat16).
    s = Server("e2e", extra_args=("--chat-template", str(template), "--dtype", "float32"))
    yield s
    s.kill_everything()


def test_serves_generate_and_chat_then_stops_cleanly_on_sigterm(server):
    server.start()
    ready = [line for line in server.lines if "text-gen is ready: " in line]
    assert len(ready) == 1 and f"http://127.0.0.1:{server.port}" in ready[0], server.log()
    assert requests.get(server.url + "/health", timeout=10).status_code == 200

    for row in reference_rows():
        r = requests.post(server.url + "/generate", timeout=120, json={
            "inputs": row["prompt"], "parameters": {"max_new_tokens": len(row["greedy_ids"])}})
        assert r.status_code == 200, r.text
        assert r.json()["generated_text"] == row["greedy_text"], row["prompt"]

    first = reference_rows()[0]
    r = requests.post(server.url + "/v1/chat/completions", timeout=120, json={
        "model": "tgi", "messages": [{"role": "user", "content": first["prompt"]}],
        "max_tokens": 20, "temperature": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    content = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 20
    assert len(content) > 20 and first["greedy_text"].startswith(content), content
    # --model-id was a directory path: the API names the model after it, never by the path.
    assert body["model"] == STORIES.name
    models = requests.get(server.url + "/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [STORIES.name], models

    pids = server.child_pids()
    assert set(pids) == {"shard-0", "router"}, server.log()
    server.signal(signal.SIGTERM)
    assert server.wait_exit(60) == 0, server.log()
    assert server.wait_gone(5) == [], server.log()
    assert "shutdown complete" in server.log()


def test_shard_killed_brings_the_launcher_down_within_10s(server):
    server.start()
    shard = server.child_pids()["shard-0"]
    start = time.monotonic()
    os.kill(shard, signal.SIGKILL)
    code = server.wait_exit(10)
    assert code != 0
    assert time.monotonic() - start < 10
    assert server.wait_gone(5) == [], server.log()
    assert f"shard-0 (pid {shard}) was killed by signal 9 (SIGKILL)" in server.log()


def test_device_lost_exits_the_shard_and_stops_the_group():
    """A fatal device error (injected at the 3rd decode step: the CPU half of the GPU's
    illegal-address test) must not leave a live shard that fails every request: the shard exits
    with its device-lost code, naming the failing op, and the launcher stops the whole group."""
    s = Server("e2e-device-lost", env={"TG_TEST_DEVICE_FAULT_AT_DECODE": "3"})
    try:
        s.start()
        shard = s.child_pids()["shard-0"]
        try:
            r = requests.post(s.url + "/generate", timeout=60, json={
                "inputs": "Once upon a time", "parameters": {"max_new_tokens": 20}})
            assert r.status_code >= 400, r.text  # an error, never a hang or a truncated success
        except requests.ConnectionError:
            pass  # the launcher may stop the router before it answers
        assert s.wait_exit(20) != 0, s.log()
        assert s.wait_gone(5) == [], s.log()
        log = s.log()
        assert "device lost, exiting with code 3" in log and "InjectDeviceFault" in log, log
        assert f"shard-0 (pid {shard}) exited with code 3" in log, log
    finally:
        s.kill_everything()


def test_launcher_killed_leaves_no_process_behind(tmp_path):
    s = Server("e2e-json", extra_args=("--json-output",))
    try:
        s.start()
        children = s.child_pids()
        assert set(children) == {"shard-0", "router"}
        # --json-output: every line the launcher forwards or writes is one JSON object.
        for line in list(s.lines):
            record = json.loads(line)
            assert {"timestamp", "level", "message"} <= set(record), line
        s.signal(signal.SIGKILL)
        s.wait_exit(10)
        assert s.wait_gone(5) == [], s.log()
    finally:
        s.kill_everything()


def test_serves_a_gguf_file():
    """--model-id may name one .gguf file: weights, tokenizer and limits all come from it."""
    s = Server("e2e-gguf", model=STORIES / "stories260K.gguf", extra_args=("--dtype", "float32"))
    try:
        s.start()
        row = reference_rows()[2]
        r = requests.post(s.url + "/generate", timeout=120, json={
            "inputs": row["prompt"], "parameters": {"max_new_tokens": 32}})
        assert r.status_code == 200, r.text
        text = r.json()["generated_text"]
        assert len(text) > 40 and row["greedy_text"].startswith(text), text
        assert "max_total_tokens=128" in s.log()  # llama.context_length of this GGUF
        assert s.stop(60) == 0, s.log()
        assert s.wait_gone(5) == []
    finally:
        s.kill_everything()


def test_download_only_prints_the_resolved_path_and_starts_nothing():
    r = subprocess.run([str(launcher_path()), "--model-id", str(STORIES), "--download-only"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(STORIES)
    assert "started" not in r.stderr


@pytest.mark.parametrize("args, expected", [
    (["--max-input-tokens", "600"], "--max-input-tokens (600) must be less than --max-total-tokens (512"),
    (["--max-total-tokens", "1000"], "--max-total-tokens (1000) exceeds the model's max_position_embeddings (512)"),
    (["--nnodes", "2", "--node-rank", "2"], "--node-rank 2 is outside 0..1 for --nnodes 2"),
    (["--nnodes", "0"], "--nnodes must be at least 1"),
    (["--num-shard", "3", "--nnodes", "2"], "--num-shard 3 must be a multiple of --nnodes 2"),
    (["--master-port", "65535"], "--master-port must be in 1..65534"),
    (["--master-port", "29500", "--port", "29501"], "--port 29501 collides with --master-port"),
    (["--num-shard", "3", "--device", "cpu"], "--num-shard 3 does not divide the model's 8"),
    (["--kv-cache-dtype", "fp8"], "--kv-cache-dtype expects auto, bfloat16, float16 or float32, got 'fp8'"),
])
def test_conflicting_flags_are_rejected_before_anything_starts(args, expected):
    r = subprocess.run([str(launcher_path()), "--model-id", str(STORIES), "--port", "1"] + args,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr, r.stderr
    assert "started" not in r.stderr


def test_kv_cache_dtype_the_cpu_cannot_serve_stops_the_launcher_at_once(tmp_path):
    """The launcher passes --kv-cache-dtype to every shard; a CPU shard refuses bfloat16 before
    it opens the model, naming the flag, and the launcher exits instead of waiting for it."""
    start = time.monotonic()
    r = subprocess.run([str(launcher_path()), "--model-id", str(STORIES), "--device", "cpu",
                        "--kv-cache-dtype", "bfloat16", "--port", str(free_port()),
                        "--shard-uds-path", str(tmp_path / "shard")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stderr
    assert "--kv-cache-dtype bfloat16 is not supported on the CPU backend" in r.stderr, r.stderr
    assert time.monotonic() - start < 30, r.stderr
