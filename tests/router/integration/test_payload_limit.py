"""Bodies over --payload-limit (2 MB by default) through real Python clients: the client must read
the 413, not a reset or a broken pipe, and the server must stay healthy. The server answers before
the body has arrived, so this needs the lingering close (read and drop the rest, bounded)."""
import http.client
import socket
import urllib.parse

import pytest
import requests


@pytest.mark.parametrize("size_mb", [3, 50])
def test_requests_reads_the_413_of_an_oversized_body(stack, size_mb):
    body = b'{"inputs": "' + b"x" * (size_mb << 20) + b'"}'
    r = requests.post(stack.url + "/generate", data=body, timeout=60,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error_type"] == "payload_too_large"
    assert requests.get(stack.url + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize("size_mb", [3, 50])
def test_http_client_reads_the_413_of_an_oversized_body(stack, size_mb):
    url = urllib.parse.urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("POST", "/v1/completions", body=b"y" * (size_mb << 20),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 413
        assert b"payload_too_large" in response.read()
    finally:
        conn.close()
    r = requests.post(stack.url + "/generate", timeout=60,
                      json={"inputs": "Once upon a time", "parameters": {"max_new_tokens": 4}})
    assert r.status_code == 200, r.text


def test_a_malformed_request_line_gets_400(stack):
    url = urllib.parse.urlsplit(stack.url)

    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(b"NOT A REQUEST\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply
