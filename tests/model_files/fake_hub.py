#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub on 127.0.0.1, started by hub_test.cc.

Serves one repository from a local folder with the routes and headers of the real hub:
  GET  /api/models/{repo}/revision/{rev}       -> {"id", "sha", "siblings": [{"rfilename"}]}
  GET  /api/models/{repo}/tree/{rev}           -> [{"type": "file", "path", "size", "oid", "lfs"?}],
                                                  the listing recent huggingface_hub snapshot_download reads
                                                  (one page: the hub adds a Link header past 1000 entries)
  HEAD /{repo}/resolve/{rev}/{file}            -> ETag, X-Repo-Commit; for large ("LFS") files a 302 to a
                                                  signed URL on the "CDN" with X-Linked-Etag/X-Linked-Size
  GET  /{repo}/resolve/{rev}/{file}            -> the bytes (or that 302), with Range support (206)
The CDN listens on its own port, i.e. another origin, as the real one is another host: clients must read
the LFS metadata from the 302 itself (huggingface_hub follows redirects only within the hub's origin) and
must not send the hub token there (it checks the URL's signature, not the token).
Every request is appended to --log as one JSON line ("server": "hub" or "cdn") so the test can check it.
"""
import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import urllib.parse
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
CDN_SECRET = secrets.token_bytes(16)
CDN_PORT = 0  # set by main() once the CDN listens


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(name):
    """The small text file git stores in place of an LFS file."""
    data = open(os.path.join(ARGS.root, name), "rb").read()
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
        hashlib.sha256(data).hexdigest().encode(), len(data))


def etag_of(name):
    data = open(os.path.join(ARGS.root, name), "rb").read()
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    # Regular git files: the git blob sha1, as the hub does.
    return git_blob_sha1(data)


def tree_entry(name):
    """One file of GET /api/models/{repo}/tree/{rev}, as the hub lists it (expand=false)."""
    size = os.path.getsize(os.path.join(ARGS.root, name))
    entry = {"type": "file", "path": name, "size": size}
    if name.endswith(LFS_SUFFIXES):
        pointer = lfs_pointer(name)
        # For an LFS file the git oid is the pointer's; size and lfs.oid describe the real bytes.
        entry["oid"] = git_blob_sha1(pointer)
        entry["lfs"] = {"oid": etag_of(name), "size": size, "pointerSize": len(pointer)}
    else:
        entry["oid"] = etag_of(name)
    return entry


def cdn_signature(name):
    return hmac.new(CDN_SECRET, name.encode(), hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self):
        with open(ARGS.log, "a") as f:
            f.write(json.dumps({"server": self.server.name, "method": self.command, "path": self.path,
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
        if self.server.name == "cdn":
            return self.serve_cdn()
        if not self.authorized():
            return
        api = "/api/models/%s/revision/" % ARGS.repo
        tree = "/api/models/%s/tree/" % ARGS.repo
        resolve = "/%s/resolve/" % ARGS.repo
        if self.path.startswith(tree):
            return self.serve_tree(urllib.parse.urlsplit(self.path).path[len(tree):])
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
                location = "http://127.0.0.1:%d/%s?Signature=%s" % (CDN_PORT, name, cdn_signature(name))
                # The 302 describes the content (X-Linked-*); its own ETag is the git pointer's oid.
                common.update({"X-Linked-Etag": '"%s"' % etag_of(name), "X-Linked-Size": str(size),
                               "Location": location, "ETag": '"%s"' % git_blob_sha1(lfs_pointer(name))})
                return self.send(302, b"", common)
            return self.serve_file(name, common)
        self.send(404, b"not found")

    def serve_cdn(self):
        url = urllib.parse.urlsplit(self.path)
        name = url.path[1:]
        signature = urllib.parse.parse_qs(url.query).get("Signature", [""])[0]
        if name not in FILES or not hmac.compare_digest(signature, cdn_signature(name)):
            return self.send(403, b"<Error><Code>AccessDenied</Code></Error>")
        return self.serve_file(name, {})

    def serve_tree(self, rev_and_folder):
        rev, _, folder = rev_and_folder.partition("/")
        rev = urllib.parse.unquote(rev)
        if rev not in ("main", COMMIT):
            return self.send(404, b'{"error": "Revision Not Found"}', {"X-Error-Code": "RevisionNotFound"})
        # The served repository is flat: only its root is a folder.
        if folder:
            return self.send(404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound"})
        body = json.dumps([tree_entry(f) for f in FILES]).encode()
        return self.send(200, body, {"Content-Type": "application/json"})

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


def listen(name):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.name = name
    return server


def main():
    global CDN_PORT
    hub, cdn = listen("hub"), listen("cdn")
    CDN_PORT = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(hub.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    hub.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
