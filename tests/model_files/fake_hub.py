#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub on 127.0.0.1, started by hub_test.cc.

Serves one repository from a local folder with the routes and headers of the real hub:
  GET  /api/models/{repo}/revision/{rev}       -> {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD /{repo}/resolve/{rev}/{file}            -> ETag, X-Repo-Commit; for large ("LFS") files an absolute 302
                                                  to /cdn/{file} (the "CDN") with X-Linked-Etag/X-Linked-Size
  GET  /{repo}/resolve/{rev}/{file}, /cdn/...  -> the bytes, with Range support (206)
Every request is appended to --log as one JSON line so the test can check what was asked.
"""
import argparse
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--token", default="")
    p.add_argument("--drop", default="", help="FILE:BYTES - first GET of FILE stops after BYTES")
    p.add_argument("--change-etag", default="", help="FILE - GET answers with another ETag")
    p.add_argument("--corrupt", default="", help="FILE - GET serves bytes that miss their sha256")
    return p.parse_args()


ARGS = parse_args()
FILES = sorted(f for f in os.listdir(ARGS.root) if os.path.isfile(os.path.join(ARGS.root, f)))
DROPPED = set()


def etag_of(name):
    data = open(os.path.join(ARGS.root, name), "rb").read()
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    # Regular git files: the git blob sha1, as the hub does.
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self):
        with open(ARGS.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "range": self.headers.get("Range", ""),
                                "auth": self.headers.get("Authorization", "")}) + "\n")

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def authorized(self):
        if ARGS.token and self.headers.get("Authorization") != "Bearer " + ARGS.token:
            self.send(401, b'{"error": "Invalid credentials"}', {"X-Error-Code": "GatedRepo"})
            return False
        return True

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.record()
        if not self.authorized():
            return
        api = "/api/models/%s/revision/" % ARGS.repo
        resolve = "/%s/resolve/" % ARGS.repo
        if self.path.startswith(api):
            rev = self.path[len(api):]
            if rev not in ("main", COMMIT):
                return self.send(404, b'{"error": "Revision Not Found"}')
            body = json.dumps({"id": ARGS.repo, "sha": COMMIT,
                               "siblings": [{"rfilename": f} for f in FILES]}).encode()
            return self.send(200, body, {"Content-Type": "application/json"})
        if self.path.startswith(resolve):
            rev, _, name = self.path[len(resolve):].partition("/")
            if rev not in ("main", COMMIT) or name not in FILES:
                return self.send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"})
            size = os.path.getsize(os.path.join(ARGS.root, name))
            common = {"X-Repo-Commit": COMMIT}
            if name.endswith(LFS_SUFFIXES):
                common.update({"X-Linked-Etag": '"%s"' % etag_of(name), "X-Linked-Size": str(size),
                               "Location": "http://127.0.0.1:%d/cdn/%s" % (self.server.server_address[1], name), "ETag": '"gitpointer"'})
                return self.send(302, b"", common)
            return self.serve_file(name, common)
        if self.path.startswith("/cdn/") and self.path[5:] in FILES:
            return self.serve_file(self.path[5:], {})
        self.send(404, b"not found")

    def serve_file(self, name, headers):
        data = open(os.path.join(ARGS.root, name), "rb").read()
        if name == ARGS.corrupt:
            data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        etag = etag_of(name) if name != ARGS.change_etag else "f" * 64
        headers = dict(headers, ETag='"%s"' % etag, **{"Accept-Ranges": "bytes"})
        start, status = 0, 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        if self.command == "GET" and ARGS.drop:
            drop_name, drop_bytes = ARGS.drop.split(":")
            if name == drop_name and name not in DROPPED:
                DROPPED.add(name)
                # Announce the full length, send part of it, then hang up: a broken download.
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:int(drop_bytes)])
                self.wfile.flush()
                self.close_connection = True
                return
        self.send(status, body, headers)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
