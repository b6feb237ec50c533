#!/usr/bin/env python3
"""service.py - make bench, part 3: sandboxd round trips against native runs.

Starts a real sandboxd on loopback (its own state dir and cgroup parent) and measures, in one
process and interleaved round by round:
  - `print(1)` in python through POST /api/v1/execute (a keep-alive connection per client)
  - the same program natively: python3 -c 'print(1)' as a subprocess
at concurrency 1, 2 and 8 on the same cores: p50 round-trip latency and throughput, as ratios.
Also sandboxd's idle RSS (both processes) after start and after the load.
Targets: p50 <= 1.25x native, throughput >= 0.85x native, idle RSS <= 10 MiB.
Exit 0 unless something fails to run; nothing here asserts a time.
"""

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from sandboxd import Sandboxd

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROUNDS = 3
PER_CLIENT = 12
# The interpreter the host rootfs gives jobs (the jail's PATH), not whatever shim is first here.
PYTHON3 = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
BODY = json.dumps({"language": "python", "code": "print(1)"}).encode()



def rss_kib(pid):
    total = 0
    for p in [pid] + children(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Service(Sandboxd):
    """With its own temporary directory, removed at stop()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sandboxd-bench-")
        cfg = {"host_fallback": True, "rate_limit": {"per_second": 0}, "queue_max": 1000}
        try:
            super().__init__(self.dir, os.path.join(self.dir, "state"), cfg,
                             "sandboxd-bench-svc")
        except RuntimeError as e:
            sys.exit("bench: %s" % e)

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def service_client(port, n, lat):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        t = time.perf_counter()
        c.request("POST", "/api/v1/execute", BODY, {"Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        lat.append(time.perf_counter() - t)
        if r.status != 200 or body.get("status") != "ok" or body.get("stdout") != "1\n":
            sys.exit("bench: a job failed: %d %s" % (r.status, body))


def native_client(port, n, lat):
    for _ in range(n):
        t = time.perf_counter()
        out = subprocess.run([PYTHON3, "-c", "print(1)"], capture_output=True)
        lat.append(time.perf_counter() - t)
        if out.stdout != b"1\n":
            sys.exit("bench: native python failed")


def measure(fn, port, conc):
    lat = []
    threads = [threading.Thread(target=fn, args=(port, PER_CLIENT, lat)) for _ in range(conc)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return lat, len(lat) / (time.perf_counter() - t)


def main():
    if os.geteuid() != 0:
        print("bench service: skipped: needs root")
        return 0
    svc = Service()
    try:
        time.sleep(0.5)
        rss_start = rss_kib(svc.proc.pid)
        measure(service_client, svc.port, 2)  # warm caches on both sides
        measure(native_client, svc.port, 2)
        print("sandboxd round trip, python print(1), %d CPUs, %d rounds x %d requests per client"
              % (os.cpu_count(), ROUNDS, PER_CLIENT))
        print("%-5s %12s %12s %7s   %10s %10s %7s" % ("conc", "p50 svc ms", "p50 nat ms", "ratio",
                                                  "svc req/s", "nat req/s", "ratio"))
        verdicts = []
        for conc in (1, 2, 8):
            sl, nl, st, nt = [], [], [], []
            for _ in range(ROUNDS):
                lat, thr = measure(service_client, svc.port, conc)
                sl += lat
                st.append(thr)
                lat, thr = measure(native_client, svc.port, conc)
                nl += lat
                nt.append(thr)
            p50s, p50n = statistics.median(sl) * 1e3, statistics.median(nl) * 1e3
            ts, tn = statistics.median(st), statistics.median(nt)
            print("%-5d %12.1f %12.1f %6.2fx   %10.1f %10.1f %6.2fx" % (conc, p50s, p50n, p50s / p50n,
                                                                   ts, tn, ts / tn))
            verdicts.append((conc, p50s / p50n, ts / tn))
        time.sleep(1.5)
        rss_idle = rss_kib(svc.proc.pid)
    finally:
        svc.stop()
    print("idle RSS (both processes): %.1f MiB after start, %.1f MiB after the load"
          % (rss_start / 1024, rss_idle / 1024))
    for conc, lat, thr in verdicts:
        print("concurrency %d: p50 %.2fx (target <= 1.25x: %s), throughput %.2fx (target >= 0.85x: %s)"
              % (conc, lat, "met" if lat <= 1.25 else "NOT MET", thr, "met" if thr >= 0.85 else "NOT MET"))
    worst = max(rss_start, rss_idle) / 1024
    print("idle RSS %.1f MiB (target <= 10 MiB: %s)" % (worst, "met" if worst <= 10 else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
