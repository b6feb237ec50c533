"""sandboxd.py - the bench's one way to run a real sandboxd on loopback (service.py and
languages.py): its own config, state dir and cgroup parent; ready when /readyz says so."""

import http.client
import json
import os
import signal
import socket
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOXD = os.path.join(ROOT, "build", "sandboxd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandboxd:
    def __init__(self, work, state, config, cgroup_parent):
        self.port = free_port()
        cfg = os.path.join(work, "config.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        self.log_path = os.path.join(work, "sandboxd.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [SANDBOXD, "--config", cfg, "--state-dir", state,
             "--listen", "127.0.0.1:%d" % self.port, "--cgroup-parent", cgroup_parent],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.conn = None
        deadline = time.time() + 20
        while time.time() < deadline and self.proc.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("sandboxd did not become ready:\n  " +
                           "\n  ".join(self.log_text().splitlines()[-10:]))

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None):
        """(status, parsed JSON) on one keep-alive connection."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
        self.conn.request(method, path, body, {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read())

    def stop(self):
        if self.conn:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
