"""--max-queue-ready: /health answers 503 while the queue holds more than N requests."""
import concurrent.futures
import json
import time

import requests

from conftest import streams_in_flight

ROUTER_ARGS = ("--max-queue-ready", "1", "--max-batch-size", "1")


def test_health_follows_the_queue(stack, reference):
    assert requests.get(stack.url + "/health").status_code == 200
    body = {"inputs": reference[0]["prompt"],
            "parameters": {"max_new_tokens": 200, "ignore_eos": True}}

    def last_event(resp, lines=None):
        last = None
        for line in lines or resp.iter_lines():
            if line.startswith(b"data:"):
                last = json.loads(line[5:])
        resp.close()
        return last

    # Batch size 1: one request runs, held there with the shard frozen (streams_in_flight), so
    # the three sent after it wait in the queue (3 > 1) for as long as the test looks.
    [(first, first_lines, _)] = streams_in_flight(stack, body, 1)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        try:
            queued = [pool.submit(lambda: last_event(requests.post(
                stack.url + "/generate_stream", json=body, stream=True, timeout=60)))
                for _ in range(3)]
            # Each is queued as it is admitted (the engine thread, waiting on the frozen shard,
            # refreshes the /metrics gauge only after its step, so /health is what is watched).
            deadline = time.time() + 10
            health = requests.get(stack.url + "/health")
            while health.status_code != 503 and time.time() < deadline:
                time.sleep(0.02)
                health = requests.get(stack.url + "/health")
            assert health.status_code == 503
            assert "queue" in health.json()["error"]
        finally:
            stack.resume_shard()
        results = [last_event(first, first_lines)] + [q.result() for q in queued]
    for last in results:
        assert last["details"]["generated_tokens"] == 200
    deadline = time.time() + 5
    while requests.get(stack.url + "/health").status_code != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert requests.get(stack.url + "/health").status_code == 200
