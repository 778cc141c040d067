"""API key, CORS, readiness and graceful drain on SIGTERM."""
import json
import signal
import threading

import pytest
import requests

from conftest import Stack


@pytest.fixture
def secured():
    s = Stack(router_args=("--api-key", "secret", "--cors-allow-origin", "http://app.example"))
    try:
        yield s
    finally:
        s.close()


def test_api_key_and_cors(secured):
    body = {"inputs": "Hi", "parameters": {"max_new_tokens": 2}}
    resp = requests.post(secured.url + "/generate", json=body)
    assert resp.status_code == 401 and resp.json()["error_type"] == "unauthorized"
    resp = requests.post(secured.url + "/generate", json=body,
                         headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401
    resp = requests.post(secured.url + "/generate", json=body,
                         headers={"Authorization": "Bearer secret", "Origin": "http://app.example"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.example"
    resp = requests.options(secured.url + "/generate", headers={"Origin": "http://app.example"})
    assert resp.status_code == 204
    resp = requests.post(secured.url + "/generate", json=body,
                         headers={"Authorization": "Bearer secret", "Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert requests.get(secured.url + "/health").status_code == 200


def test_sigterm_drains_in_flight_requests(secured, reference):
    headers = {"Authorization": "Bearer secret"}
    body = {"inputs": reference[0]["prompt"],
            "parameters": {"max_new_tokens": 300, "ignore_eos": True}}
    resp = requests.post(secured.url + "/generate_stream", json=body, headers=headers,
                         stream=True, timeout=60)
    lines = resp.iter_lines()
    next(l for l in lines if l.startswith(b"data:"))
    secured.router.send_signal(signal.SIGTERM)
    last = None
    for line in lines:
        if line.startswith(b"data:"):
            last = json.loads(line[5:])
    assert last["details"]["generated_tokens"] == 300
    assert secured.router.wait(timeout=30) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(secured.url + "/health", timeout=5)
