"""A minimal server-sent-events reader over requests, for checking the wire format itself."""
import json

import requests


def stream_events(url, body, timeout=60, **kwargs):
    """Yields each `data:` payload (parsed JSON, or the raw string for [DONE])."""
    with requests.post(url, json=body, stream=True, timeout=timeout, **kwargs) as resp:
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line or not line.startswith(b"data:"):
                continue
            payload = line[len(b"data:"):].strip()
            yield payload.decode() if payload == b"[DONE]" else json.loads(payload)
