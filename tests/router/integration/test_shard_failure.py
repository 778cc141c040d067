"""A failed shard: in-flight requests get a `generation` error (424) and /health turns 503."""
import json
import signal

import pytest
import requests

from conftest import Stack, streams_in_flight


@pytest.fixture
def doomed():
    s = Stack()
    try:
        yield s
    finally:
        s.close()


def test_shard_failure_fails_in_flight_requests_and_health(doomed, reference):
    assert requests.get(doomed.url + "/health").status_code == 200
    body = {"inputs": reference[0]["prompt"],
            "parameters": {"max_new_tokens": 400, "ignore_eos": True}}
    [(resp, lines, _)] = streams_in_flight(doomed, body, 1)
    doomed.shard.send_signal(signal.SIGKILL)
    doomed.shard.wait()
    last = None
    for line in lines:
        if line.startswith(b"data:"):
            last = json.loads(line[5:])
    assert last.get("error_type") == "generation", last
    assert requests.get(doomed.url + "/health").status_code == 503
    after = requests.post(doomed.url + "/generate", json=body, timeout=30)
    assert after.status_code == 424
    assert after.json()["error_type"] == "generation"
