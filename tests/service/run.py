#!/usr/bin/env python3
"""run.py - run the service tests (every tests/service/test_*.py) against a real build/sandboxd
on loopback.

Usage: run.py [SUBSTRING...]   run the tests whose name contains any SUBSTRING.
Prints "ok NAME", "FAIL NAME: why" or "skip NAME: why" per test and ends with
"N passed, N failed, N skipped". After every test: no process of a jail uid and no job cgroup
may remain (the shared service is idle between tests; the others are stopped). The shared
service is stopped last, itself a test: SIGTERM, exit status 0, nothing left behind.
"""

import fcntl
import glob
import importlib.util
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def load_all():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)


def stop_shared():
    """The shared service ends on SIGTERM with status 0 and leaves no job, cgroup or process."""
    s = harness.shared_running()
    if s is None:
        return
    try:
        sup = s.supervisor_pid()
        rc = s.stop()
        harness.check(rc == 0, "sandboxd exited with %s on SIGTERM" % rc, s.stderr_tail())
        harness.check(sup is None or not harness.pid_alive(sup), "the supervisor lives on")
        harness.check_no_leaks()
        left = harness.cgroup_parent_dirs()
        harness.check(not left, "the cgroup parent outlived the last sandboxd", *left)
    finally:
        s.cleanup()


def run_one(name, fn):
    t0 = time.monotonic()
    try:
        fn()
        harness.check_no_leaks()
    except harness.Skip as e:
        print("skip %s: %s" % (name, e))
        return "skip"
    except AssertionError as e:
        print("FAIL %s: %s" % (name, e))
        return "fail"
    except Exception:
        print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", "\n    ")))
        return "fail"
    finally:
        sys.stdout.flush()
    print("ok %s (%.2fs)" % (name, time.monotonic() - t0))
    sys.stdout.flush()
    return "ok"


def main(pats):
    if os.geteuid() != 0:
        print("skip service: needs root (sandboxd makes namespaces, cgroups, mounts)")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if not os.access(harness.SANDBOXD, os.X_OK):
        print("FAIL service: %s is not built" % harness.SANDBOXD)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    # The leak checks look at the whole host (jail uids): take turns with the integration
    # tests and the bench, which hold the same lock.
    os.makedirs(os.path.join(harness.ROOT, "tests", ".work"), exist_ok=True)
    lock = open(os.path.join(harness.ROOT, "tests", ".work", "integration.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    stray = harness.jail_processes()
    if stray:
        print("FAIL service: processes of the jail uids run before any test: %r" % stray)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    load_all()
    counts = {"ok": 0, "fail": 0, "skip": 0}
    try:
        for name, fn in harness.TESTS:
            if pats and not any(p in name for p in pats):
                continue
            counts[run_one(name, fn)] += 1
    finally:
        if harness.shared_running() is not None:
            counts[run_one("shared service stops cleanly on SIGTERM", stop_shared)] += 1
    print("%d passed, %d failed, %d skipped" % (counts["ok"], counts["fail"], counts["skip"]))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
