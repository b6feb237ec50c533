#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fake_sandboxd.py - canned answers for the endpoints `sandboxctl status` and `sandboxctl jobs`
use, on 127.0.0.1 and a free port (printed as the first line of stdout). A manual aid for the
client only: it knows nothing of jobs, and no test runner starts it.

  fake_sandboxd.py [--not-ready] [--api-key KEY] [--log FILE]

--log appends "METHOD PATH" of every request (query string as sent) to FILE.
Known jobs: "j1" (finished, with output), "j2" (running; DELETE cancels it; DELETE j1 deletes it), "huge" (an answer
past the client's 64 MiB bound). Any other id: 404.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

JOBS = {
    "j1": {"id": "j1", "status": "runtime_error", "language": "python", "version": "3.11",
           "created_at": "2024-05-01T10:00:00Z", "started_at": "2024-05-01T10:00:00Z",
           "finished_at": "2024-05-01T10:00:01Z", "exit_code": 1, "signal": 0, "limit": None,
           "time_ms": 31, "wall_ms": 45, "memory_kb": 9120, "message": "",
           "stdout": "hello\n", "stdout_truncated": False,
           "stderr": "Traceback (most recent call last):\n\x1b]0;pwned\x07ZeroDivisionError",
           "stderr_truncated": True, "error": None},
    "j2": {"id": "j2", "status": "running", "language": "c", "version": "12",
           "created_at": "2024-05-01T10:01:00Z", "started_at": "2024-05-01T10:01:01Z",
           "finished_at": None, "error": None},
}


def error(code, message, field=""):
    return {"error": {"code": code, "message": message, "field": field}}


class Handler(BaseHTTPRequestHandler):
    opts = None

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def huge(self):
        chunk = b" " * (1 << 20)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            for _ in range(80):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def record(self):
        if self.opts.log:
            with open(self.opts.log, "a") as f:
                f.write(f"{self.command} {self.path} key={self.headers.get('X-API-Key')}\n")

    def authorized(self):
        if self.opts.api_key and self.headers.get("X-API-Key") != self.opts.api_key:
            self.answer(401, error("unauthorized", "missing or wrong API key"))
            return False
        return True

    def list_jobs(self, query):
        q = parse_qs(query)
        jobs = [j for j in JOBS.values()
                if q.get("language", [j["language"]])[0] == j["language"]
                and q.get("status", [j["status"]])[0] == j["status"]]
        if "limit" in q and q["limit"][0] == "0":
            return self.answer(400, error("invalid_value", "limit must be 1..1000", "limit"))
        nxt = None if "cursor" in q else "c 2'x"
        self.answer(200, {"jobs": [{k: j.get(k) for k in
                                    ("id", "status", "language", "version", "created_at",
                                     "finished_at", "wall_ms")} for j in jobs],
                          "next_cursor": nxt})

    def do_GET(self):
        self.record()
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self.answer(200, {"status": "ok"})
        if url.path == "/readyz":
            if self.opts.not_ready:
                return self.answer(503, {"ready": False, "checks": {
                    "cgroup": "not delegated (Delegate=yes missing)", "history": True}})
            return self.answer(200, {"ready": True})
        if not self.authorized():
            return None
        if url.path == "/api/v1/queue":
            return self.answer(200, {"slots": 4, "running": 1, "queued": 2, "queue_max": 256,
                                     "totals": {"ok": 10, "timeout": 1, "running": 1}})
        if url.path == "/api/v1/jobs":
            return self.list_jobs(url.query)
        if url.path == "/api/v1/jobs/huge":
            return self.huge()
        job = JOBS.get(url.path.removeprefix("/api/v1/jobs/"))
        if url.path.startswith("/api/v1/jobs/") and job:
            return self.answer(200, job)
        return self.answer(404, error("not_found", "no such job"))

    def do_DELETE(self):
        self.record()
        if not self.authorized():
            return None
        jid = urlsplit(self.path).path.removeprefix("/api/v1/jobs/")
        if jid == "j2":
            return self.answer(200, {"id": "j2", "status": "cancelled"})
        if jid == "j1":
            return self.answer(200, {"id": "j1", "deleted": True})
        if jid in JOBS:
            return self.answer(409, error("busy", "the job is being cancelled"))
        return self.answer(404, error("not_found", "no such job"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--not-ready", action="store_true")
    p.add_argument("--api-key")
    p.add_argument("--log")
    Handler.opts = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
