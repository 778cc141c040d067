"""Tensor parallelism on the CPU, end to end: text-gen-launcher --device cpu --num-shard N starts N
real text-gen-shard processes that each load their slice of the weights and all-reduce through
Gloo, and the router fans every batch out to all of them. Also two launchers on loopback (two
"nodes", one shard each) forming one TP=2 group.

Greedy outputs must equal one shard's (same dtype), and in float32 the Hugging Face reference."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import time
from pathlib import Path

import pytest
import requests

from launcher_harness import STORIES, Server, free_port, reference_rows

SMOLLM2 = next((Path(__file__).resolve().parents[2] / "models" / "SmolLM2-135M-Instruct")
               .glob("*.gguf"), None)

SMOL_BUDGET = ("--max-total-tokens", "128", "--max-batch-prefill-tokens", "128")


def generate(server: Server, prompt: str, max_new_tokens: int) -> str:
    r = requests.post(server.url + "/generate", timeout=120, json={
        "inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens}})
    assert r.status_code == 200, r.text
    return r.json()["generated_text"]


def greedy_texts(server: Server, max_new_tokens: int | None = None) -> list[str]:
    return [generate(server, row["prompt"], max_new_tokens or len(row["greedy_ids"]))
            for row in reference_rows()]


def metric(server: Server, name: str) -> float | None:
    text = requests.get(server.url + "/metrics", timeout=10).text
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def first_event_then_reset(server: Server, prompt: str, max_new_tokens: int) -> dict:
    """Streams a long generation, reads the first event, then resets the connection at once (a
    raw socket, so no client buffering delays it and the router's next write fails)."""
    body = json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens,
                                                        "ignore_eos": True}}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(b"POST /generate_stream HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        received = b""
        while not re.search(rb"data:[^\n]*\n", received):
            chunk = conn.recv(4096)
            assert chunk, received
            received += chunk
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return json.loads(re.search(rb"data:([^\n]*)\n", received).group(1))


def served_by(server: Server, shards: int) -> None:
    """The launcher started exactly `shards` shard processes and they form one group."""
    pids = server.child_pids()
    assert set(pids) == {f"shard-{r}" for r in range(shards)} | {"router"}, server.log()
    assert f"num_shard={shards}" in server.log()


def stop_cleanly(server: Server) -> None:
    assert server.stop(60) == 0, server.log()
    assert server.wait_gone(5) == [], server.log()


@pytest.fixture(scope="module")
def one_shard_outputs():
    """Greedy outputs of one CPU shard in the default dtype (bfloat16)."""
    s = Server("tp1")
    try:
        s.start()
        assert "as bf16" in s.log() or "as bfloat16" in s.log(), s.log()
        texts = greedy_texts(s)
        stop_cleanly(s)
        return texts
    finally:
        s.kill_everything()


@pytest.mark.parametrize("shards", [2, 4])
def test_sharded_greedy_equals_one_shard(shards, one_shard_outputs):
    s = Server(f"tp{shards}", extra_args=("--num-shard", str(shards)))
    try:
        s.start()
        served_by(s, shards)
        assert greedy_texts(s) == one_shard_outputs
        info = requests.get(s.url + "/info", timeout=10).json()
        assert info["model_id"] == str(STORIES)
        stop_cleanly(s)
    finally:
        s.kill_everything()


def test_two_shards_in_float32_match_the_hf_reference_stream_and_cancel():
    s = Server("tp2-f32", extra_args=("--num-shard", "2", "--dtype", "float32"))
    try:
        s.start()
        served_by(s, 2)
        rows = reference_rows()
        for row in rows:
            assert generate(s, row["prompt"], len(row["greedy_ids"])) == row["greedy_text"]

        # Streaming: the tokens arrive one event each and add up to the reference.
        row = rows[0]
        r = requests.post(s.url + "/generate_stream", stream=True, timeout=120, json={
            "inputs": row["prompt"], "parameters": {"max_new_tokens": 12}})
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith(b"data:")]
        assert [e["token"]["id"] for e in events] == row["greedy_ids"][:12]
        assert events[-1]["generated_text"] == "".join(e["token"]["text"] for e in events)

        # Cancellation: the client goes away mid-stream; every rank's KV blocks return. On a
        # loaded machine the router may finish all 500 tokens before it reads the reset; that
        # attempt proves nothing, so it is repeated (a cancellation must be seen within three).
        for attempt in range(3):
            cancelled_before = metric(s, "tgi_request_cancelled") or 0
            first = first_event_then_reset(s, row["prompt"], max_new_tokens=500)
            assert first["token"]["id"] == row["greedy_ids"][0]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (metric(s, "tgi_kv_blocks_used") != 0 or
                                                   metric(s, "tgi_running_requests") != 0):
                time.sleep(0.05)
            assert metric(s, "tgi_kv_blocks_used") == 0
            assert metric(s, "tgi_running_requests") == 0
            if metric(s, "tgi_request_cancelled") == cancelled_before + 1:
                break
        else:
            pytest.fail("no reset stream was cancelled in three attempts:\n" + s.log())
        # The group still serves after the cancellation.
        assert generate(s, row["prompt"], 8) == generate(s, row["prompt"], 8)
        stop_cleanly(s)
    finally:
        s.kill_everything()


def test_one_shard_killed_brings_the_whole_group_down():
    s = Server("tp2-kill", extra_args=("--num-shard", "2"))
    try:
        s.start()
        served_by(s, 2)
        victim = s.child_pids()["shard-1"]
        start = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        assert s.wait_exit(15) != 0
        assert time.monotonic() - start < 15
        assert s.wait_gone(5) == [], s.log()
        # Rank 0 also notices (rank 1 left the rendezvous store without a goodbye) and may exit
        # first; either way the launcher names the killed shard and stops the group.
        assert f"shard-1 (pid {victim}) was killed by signal 9 (SIGKILL)" in s.log(), s.log()
        assert "stopped because shard-" in s.log(), s.log()
    finally:
        s.kill_everything()


@pytest.mark.skipif(SMOLLM2 is None, reason="models/SmolLM2-135M-Instruct/*.gguf not fetched")
def test_smollm2_sharded_equals_one_shard():
    # SmolLM2-135M has 9 query and 3 key/value heads: 3 is the smallest group that splits them
    # evenly (2 does not divide 9; the launcher refuses it, see the last assertion).
    outputs = {}
    for shards in (1, 3):
        # Short budgets keep the warm-up prefill (and so the test) to seconds on two cores.
        # Tensor-parallel slices are dequantized, so the single shard must be too: computing on
        # the Q4_1 blocks (int8 activations) is a different, not a worse, rounding.
        s = Server(f"smol-tp{shards}", model=SMOLLM2,
                   extra_args=("--num-shard", str(shards), "--block-weights", "dequantize")
                   + SMOL_BUDGET)
        try:
            s.start()
            served_by(s, shards)
            outputs[shards] = greedy_texts(s, max_new_tokens=16)
            stop_cleanly(s)
        finally:
            s.kill_everything()
    assert all(len(text) > 10 for text in outputs[1]), outputs[1]
    assert outputs[3] == outputs[1]
    s = Server("smol-tp2", model=SMOLLM2, extra_args=("--num-shard", "2") + SMOL_BUDGET)
    try:
        s.start(wait=False)
        assert s.wait_exit(60) == 2
        assert "--num-shard 2 does not divide the model's 9 attention heads" in s.log()
    finally:
        s.kill_everything()


def test_two_launchers_on_loopback_form_one_group(one_shard_outputs):
    """--nnodes 2: each launcher runs one CPU shard; rank 0's node runs the router."""
    master_port = free_port()
    common = ("--num-shard", "2", "--nnodes", "2", "--master-addr", "127.0.0.1")
    node1 = Server("node1", extra_args=common + ("--node-rank", "1"), master_port=master_port)
    node0 = Server("node0", extra_args=common + ("--node-rank", "0"), master_port=master_port)
    try:
        node1.start(wait=False)
        node0.start()
        node1.wait_for_line("node 1 is ready: ranks 1..1 of 2 serve", 60)
        assert set(node0.child_pids()) == {"shard-0", "router"}, node0.log()
        assert set(node1.child_pids()) == {"shard-1"}, node1.log()
        assert greedy_texts(node0) == one_shard_outputs
        # Rank 1 is reached over TCP (MASTER_PORT + 2 + rank), not through a local socket.
        assert f"127.0.0.1:{master_port + 3}" in node0.log() + node1.log()

        # Node 0 stops: rank 1 loses its group and node 1's launcher follows on its own.
        stop_cleanly(node0)
        assert node1.wait_exit(20) != 0
        assert node1.wait_gone(5) == [], node1.log()
        assert "rendezvous store" in node1.log(), node1.log()
    finally:
        node0.kill_everything()
        node1.kill_everything()
