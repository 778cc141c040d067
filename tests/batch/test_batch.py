"""text-gen-batch on 200 prompts with the real stories260K model on the CPU: every line gets a
record in input order, greedy (and seeded) lines equal what the HTTP server answers for the same
request, bad lines get error records, and a run interrupted halfway resumes to the same file."""
from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from launcher_harness import STORIES, Server  # noqa: E402

BATCH = os.environ.get("TG_BATCH", "")
PLAIN_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
OPENINGS = ["Once upon a time", "One day", "There was a little", "Lily and Tom", "The sun was",
            "A big dog", "Mom said", "In the park"]
NAMES = ["Lily", "Tom", "Sue", "Ben", "Max"]
BAD_LINES = {57: "{not json", 131: json.dumps({"prompt": "Hi", "parameters": {"temperature": -1}})}


def make_lines() -> list[str]:
    """200 prompts with per-line parameters (greedy, stop sequences, seeded sampling, chats) and
    two bad lines."""
    lines = []
    for i in range(200):
        prompt = f"{OPENINGS[i % len(OPENINGS)]} {NAMES[i % len(NAMES)]}"
        params = {"max_new_tokens": 8 + (i * 7) % 48}
        if i % 9 == 4:
            params["stop"] = ["."]
        if i % 13 == 6:
            params.update({"do_sample": True, "temperature": 0.8, "top_k": 20, "seed": i})
        if i % 10 == 3:
            lines.append(json.dumps({"id": f"chat-{i}", "messages": [
                {"role": "user", "content": prompt}], "parameters": params}))
        else:
            lines.append(json.dumps({"id": i, "prompt": prompt, "parameters": params}))
    for index, line in sorted(BAD_LINES.items()):
        lines.insert(index, line)
    return lines


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    if not BATCH:
        pytest.skip("TG_BATCH must name the text-gen-batch binary")
    d = tmp_path_factory.mktemp("batch")
    (d / "plain.jinja").write_text(PLAIN_TEMPLATE)
    (d / "input.jsonl").write_text("\n".join(make_lines()) + "\n")
    return d


def batch_args(workdir: Path, output: str, *extra: str) -> list[str]:
    return [BATCH, "--model-id", str(STORIES), "--device", "cpu", "--threads", "1",
            "--chat-template", str(workdir / "plain.jinja"), "--input", str(workdir / "input.jsonl"),
            "--output", str(workdir / output), "--shard-uds-path", str(workdir / f"{output}.sock"),
            *extra]


def run_batch(workdir: Path, output: str, *extra: str) -> subprocess.CompletedProcess:
    r = subprocess.run(batch_args(workdir, output, "--progress", "json", *extra),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    return r


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def full_run(workdir):
    r = run_batch(workdir, "full.jsonl")
    return r, records(workdir / "full.jsonl")


def test_every_line_has_a_record_in_input_order(full_run):
    r, out = full_run
    lines = make_lines()
    assert [rec["index"] for rec in out] == list(range(len(lines)))
    for rec, line in zip(out, lines):
        if rec.get("error"):
            continue
        assert rec["id"] == json.loads(line)["id"]
        assert rec["generated_tokens"] >= 1 and rec["finish_reason"] in ("length", "stop_sequence",
                                                                         "eos_token")
    errors = {rec["index"]: rec for rec in out if "error" in rec}
    assert set(errors) == set(BAD_LINES), errors
    assert errors[57]["error_type"] == "validation"
    assert "temperature" in errors[131]["error"] and errors[131]["error_type"] == "validation"
    # Not a TTY: JSON progress lines, the last one final and complete.
    progress = [json.loads(l)["progress"] for l in r.stderr.splitlines() if l.startswith('{"progress"')]
    assert progress and progress[-1]["final"] and progress[-1]["done"] == len(lines)
    assert progress[-1]["errors"] == 2 and progress[-1]["generated_tokens"] > 0
    assert progress[-1]["tokens_per_second"] > 0


def test_outputs_equal_the_servers_answers(workdir, full_run):
    _, out = full_run
    server = Server("batch-ref", extra_args=("--chat-template", str(workdir / "plain.jinja")))
    try:
        server.start()

        def ask(line: str) -> str:
            body = json.loads(line)
            if "messages" in body:
                p = body["parameters"]
                req = {"model": "tgi", "messages": body["messages"], "max_tokens": p["max_new_tokens"]}
                if p.get("do_sample"):
                    req.update(temperature=p["temperature"], top_k=p["top_k"], seed=p["seed"])
                else:
                    req["temperature"] = 0
                if "stop" in p:
                    req["stop"] = p["stop"]
                r = requests.post(server.url + "/v1/chat/completions", json=req, timeout=60)
                assert r.status_code == 200, r.text
                return ("chat", r.json()["choices"][0]["message"]["content"])
            r = requests.post(server.url + "/generate", timeout=60,
                              json={"inputs": body["prompt"], "parameters": body["parameters"]})
            assert r.status_code == 200, r.text
            return ("generate", r.json()["generated_text"])

        good = [(i, line) for i, line in enumerate(make_lines()) if i not in BAD_LINES]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda item: ask(item[1]), good))
    finally:
        server.stop(30)
        server.kill_everything()
    for (i, line), (route, text) in zip(good, answers):
        generated = out[i]["generated_text"]
        if route == "chat" and out[i]["finish_reason"] == "stop_sequence":
            # OpenAI hides the stop sequence; TGI (and the batch record) keeps it.
            assert generated.endswith(".") and generated[:-1] == text, (line, generated, text)
        else:
            assert generated == text, (line, generated, text)


def test_interrupted_halfway_then_resumed_gives_the_same_file(workdir, full_run):
    output = workdir / "resumed.jsonl"
    # A small queue slows the run down enough to interrupt it in the middle.
    proc = subprocess.Popen(batch_args(workdir, "resumed.jsonl", "--progress", "none",
                                       "--max-concurrent-requests", "2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if output.exists() and output.read_text().count("\n") >= 60:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, stderr[-3000:]
    written = output.read_text().count("\n")
    assert 60 <= written < len(make_lines()), written
    assert "run again to resume" in stderr

    r = run_batch(workdir, "resumed.jsonl")
    assert f"resuming: {written} of {len(make_lines())}" in r.stderr
    assert output.read_text() == (workdir / "full.jsonl").read_text()


def test_a_torn_last_line_is_rewritten_on_resume(workdir, full_run):
    full = (workdir / "full.jsonl").read_text()
    kept = full.splitlines(keepends=True)[:100]
    torn = full.splitlines(keepends=True)[100][:25]
    (workdir / "torn.jsonl").write_text("".join(kept) + torn)
    r = run_batch(workdir, "torn.jsonl")
    assert "resuming: 100 of" in r.stderr
    assert (workdir / "torn.jsonl").read_text() == full


def test_output_of_another_input_is_refused(workdir):
    (workdir / "other.jsonl").write_text(json.dumps({"index": 5, "generated_text": "x"}) + "\n")
    r = subprocess.run(batch_args(workdir, "other.jsonl"), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert "is not the record of input line 1" in r.stderr
