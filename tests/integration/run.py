#!/usr/bin/env python3
"""run.py - run the integration tests (every tests/integration/test_*.py).

Usage: run.py [--v2] [SUBSTRING...]   run the tests whose name contains any SUBSTRING.
--v2 marks a run inside a cgroup-v2 guest; tests registered with v2_only=True run only then,
and are reported as skipped (with the reason) elsewhere.
Prints "ok NAME", "FAIL NAME: why" or "skip NAME: why" per test and ends with
"N passed, N failed, N skipped".
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


def main(argv):
    v2 = "--v2" in argv
    pats = [a for a in argv if a != "--v2"]
    if os.geteuid() != 0:
        print("skip integration: needs root (namespaces, cgroups, mounts)")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if not os.access(harness.SBX, os.X_OK):
        print("FAIL integration: %s is not built" % harness.SBX)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    # The leak checks look at the whole host: concurrent runs (another checkout, the bench)
    # take turns instead of seeing each other's jobs as leaks.
    os.makedirs(os.path.join(harness.ROOT, "tests", ".work"), exist_ok=True)
    lock = open(os.path.join(harness.ROOT, "tests", ".work", "integration.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    load_all()
    passed = failed = skipped = 0
    for name, fn, v2_only in harness.TESTS:
        if pats and not any(p in name for p in pats):
            continue
        if v2_only and not v2:
            print("skip %s: needs cgroup v2 (runs in the v2 guest)" % name)
            skipped += 1
            continue
        t0 = time.monotonic()
        try:
            fn()
            harness.check_no_leaks()
        except harness.Skip as e:
            print("skip %s: %s" % (name, e))
            skipped += 1
            continue
        except AssertionError as e:
            print("FAIL %s: %s" % (name, e))
            failed += 1
            continue
        except Exception:
            print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", "\n    ")))
            failed += 1
            continue
        print("ok %s (%.2fs)" % (name, time.monotonic() - t0))
        passed += 1
        sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
