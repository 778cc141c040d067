"""--max-queue-ready: /health answers 503 while the queue holds more than N requests."""
import json
import time

import requests

ROUTER_ARGS = ("--max-queue-ready", "1", "--max-batch-size", "1")


def test_health_follows_the_queue(stack, reference):
    assert requests.get(stack.url + "/health").status_code == 200
    body = {"inputs": reference[0]["prompt"],
            "parameters": {"max_new_tokens": 200, "ignore_eos": True}}
    # Batch size 1: one request runs, the other three wait in the queue (3 > 1).
    streams = [requests.post(stack.url + "/generate_stream", json=body, stream=True, timeout=60)
               for _ in range(4)]
    first = streams[0].iter_lines()
    next(l for l in first if l.startswith(b"data:"))
    # Frozen, the shard cannot drain the queue while we look (see streams_in_flight).
    stack.pause_shard()
    try:
        assert stack.metric("tgi_queue_size") >= 2
        health = requests.get(stack.url + "/health")
    finally:
        stack.resume_shard()
    assert health.status_code == 503
    assert "queue" in health.json()["error"]
    for resp in streams:
        last = None
        for line in resp.iter_lines():
            if line.startswith(b"data:"):
                last = json.loads(line[5:])
        assert last["details"]["generated_tokens"] == 200
        resp.close()
    deadline = time.time() + 5
    while requests.get(stack.url + "/health").status_code != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert requests.get(stack.url + "/health").status_code == 200
