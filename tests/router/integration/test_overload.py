"""Admission: past --max-concurrent-requests the router answers 429 at once; the others finish."""
import json

import requests

from conftest import streams_in_flight

ROUTER_ARGS = ("--max-concurrent-requests", "4")


def test_fifth_request_gets_429_and_the_first_four_complete(stack, reference):
    body = {"inputs": reference[0]["prompt"],
            "parameters": {"max_new_tokens": 300, "ignore_eos": True}}
    # The shard is frozen with the four running: a fifth request that queued instead of being
    # refused would get no answer and time out here.
    streams = streams_in_flight(stack, body, 4)
    try:
        fifth = requests.post(stack.url + "/generate", json=body, timeout=10)
    finally:
        stack.resume_shard()
    assert fifth.status_code == 429
    assert fifth.headers.get("Retry-After")
    assert fifth.json()["error_type"] == "overloaded"
    for resp, lines, _ in streams:
        last = None
        for line in lines:
            if line.startswith(b"data:"):
                last = json.loads(line[5:])
        resp.close()
        assert last["details"]["generated_tokens"] == 300
        assert last["details"]["finish_reason"] == "length"
    assert requests.post(stack.url + "/generate", json=body, timeout=60).status_code == 200
