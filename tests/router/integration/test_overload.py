"""Admission: past --max-concurrent-requests the router answers 429 at once; the others finish."""
import json
import time

import requests

ROUTER_ARGS = ("--max-concurrent-requests", "4")


def test_fifth_request_gets_429_and_the_first_four_complete(stack, reference):
    body = {"inputs": reference[0]["prompt"],
            "parameters": {"max_new_tokens": 300, "ignore_eos": True}}
    streams = []
    for _ in range(4):
        resp = requests.post(stack.url + "/generate_stream", json=body, stream=True, timeout=60)
        assert resp.status_code == 200
        lines = resp.iter_lines()
        next(l for l in lines if l.startswith(b"data:"))  # admitted and generating
        streams.append((resp, lines))
    start = time.time()
    fifth = requests.post(stack.url + "/generate", json=body, timeout=10)
    assert time.time() - start < 1.0
    assert fifth.status_code == 429
    assert fifth.headers.get("Retry-After")
    assert fifth.json()["error_type"] == "overloaded"
    for resp, lines in streams:
        last = None
        for line in lines:
            if line.startswith(b"data:"):
                last = json.loads(line[5:])
        resp.close()
        assert last["details"]["generated_tokens"] == 300
        assert last["details"]["finish_reason"] == "length"
    assert requests.post(stack.url + "/generate", json=body, timeout=60).status_code == 200
