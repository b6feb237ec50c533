"""harness.py - the integration tests' only dependency: run sandboxctl, run a probe, check leaks.

Tests are plain functions registered with @test("T01 fork bomb"). A test fails by raising
AssertionError (use check()), skips by raising Skip (use skip()), and passes otherwise. After
every test the runner asserts that the job left nothing behind (processes, cgroups, mounts).
Python standard library only: the tests must run on a fresh Debian 12 with python3.
"""

import json
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SBX = os.path.join(ROOT, "build", "sandboxctl")
PROBE_DIR = os.path.join(ROOT, "build", "probe")
JOB_UID = 60000  # uid_base of profiles/security/default.json + slot 0 (sandboxctl's default)

TESTS = []


class Skip(Exception):
    pass


def test(name, v2_only=False):
    """Register a test. Names of attack-catalogue tests start with their number: "T01 ..."."""

    def deco(fn):
        TESTS.append((name, fn, v2_only))
        return fn

    return deco


def skip(reason):
    raise Skip(reason)


def check(cond, what, *details):
    if not cond:
        extra = "".join("\n    " + str(d) for d in details)
        raise AssertionError(what + extra)


class Result:
    """One sandboxctl run: rc, raw stdout/stderr, and with json=True the result object."""

    def __init__(self, rc, out, err, as_json):
        self.rc, self.raw_out, self.raw_err = rc, out, err
        self.obj = {}
        if as_json:
            try:
                self.obj = json.loads(out.decode("utf-8", "replace"))
            except ValueError:
                self.obj = {}

    def __getitem__(self, key):
        return self.obj[key]

    def get(self, key, default=None):
        return self.obj.get(key, default)

    @property
    def stdout(self):
        return self.obj.get("stdout", "")

    @property
    def stderr(self):
        return self.obj.get("stderr", "")

    def probe_json(self):
        """The program's stdout parsed as JSON (probes print one JSON object)."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError("probe output is not JSON: %r / stderr %r / %r"
                                 % (self.stdout[:500], self.stderr[:500], self.obj))

    def __repr__(self):
        return "Result(rc=%d, obj=%r, stderr=%r)" % (self.rc, self.obj, self.raw_err[-500:])


def run(*prog, rootfs=None, memory=None, cpu_time=None, wall_time=None, pids=None, output=None,
        stdin=None, binds=(), env=(), cwd=None, extra=(), as_json=True, timeout=120,
        probes=True, popen_kw=None):
    """Run PROG in the jail through sandboxctl. Sizes/durations are strings ("64M", "2s").
    stdin: bytes, written to a temporary file passed with --stdin. binds: ("src:dst", ...).
    probes=True binds build/probe read-only at /probe. popen_kw: extra subprocess.run keywords
    giving sandboxctl a hostile caller state (env=, pass_fds=, preexec_fn=, start_new_session=)."""
    args = [SBX, "run"]
    if rootfs:
        args += ["--rootfs", rootfs]
    for flag, val in (("--memory", memory), ("--cpu-time", cpu_time), ("--wall-time", wall_time),
                      ("--pids", pids), ("--output", output), ("--cwd", cwd)):
        if val is not None:
            args += [flag, str(val)]
    if probes:
        args += ["--bind", PROBE_DIR + ":/probe"]
    for b in binds:
        args += ["--bind", b]
    for e in env:
        args += ["--env", e]
    stdin_file = None
    if stdin is not None:
        stdin_file = os.path.join(ROOT, "tests", ".work", "stdin-%d" % os.getpid())
        os.makedirs(os.path.dirname(stdin_file), exist_ok=True)
        with open(stdin_file, "wb") as f:
            f.write(stdin)
        args += ["--stdin", stdin_file]
    args += list(extra)
    if as_json:
        args.append("--json")
    args.append("--")
    args += [str(a) for a in prog]
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, **(popen_kw or {}))
    finally:
        if stdin_file:
            os.unlink(stdin_file)
    return Result(p.returncode, p.stdout, p.stderr, as_json)


def probe(name, *args, **kw):
    """Run /probe/NAME ARGS... in the jail (NAME is a file under tests/probe/, built static)."""
    return run("/probe/" + name, *args, **kw)


def attack(sub, *args, **kw):
    """Run /probe/attack SUB ARGS in the jail; the observations as a dict."""
    r = probe("attack", sub, *args, **kw)
    check(r.get("status") == "ok", "attack %s did not run to completion" % sub, r)
    return r.probe_json()


def expect(obs, want, what):
    """want: {key: allowed outcomes}. All mismatches are reported at once."""
    bad = ["%s = %r, safe: %s" % (k, obs.get(k, "<missing>"), "/".join(allowed))
           for k, allowed in want.items() if obs.get(k, "<missing>") not in allowed]
    check(not bad, what, *bad)


def probe_limited(limits, *args, **kw):
    """Run /probe/probe ARGS with these limits unless the call overrides one."""
    for k, v in limits.items():
        kw.setdefault(k, v)
    return probe("probe", *args, **kw)


def ok_json(r):
    """The run ended normally; returns what the probe printed."""
    check(r.get("status") == "ok" and r.rc == 0, "probe did not end ok", r)
    return r.probe_json()


def sandboxctl(*args, timeout=60):
    """Run sandboxctl with raw arguments; returns (rc, stdout, stderr) as text."""
    p = subprocess.run([SBX] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---- leak checks, run by the runner after every test ----------------------------------------

def job_processes():
    """PIDs of processes whose real uid is the job uid (there must be none between jobs)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/status" % d) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == JOB_UID:
                            found.append(int(d))
                        break
        except OSError:
            pass
    return found


def our_cgroup_dirs():
    """Every cgroup directory named sandboxd (our parent) and what is below it."""
    found = []
    for base in ("/sys/fs/cgroup",):
        for dirpath, dirnames, _ in os.walk(base):
            if os.path.basename(dirpath) == "sandboxd" or "/sandboxd/" in dirpath:
                found.append(dirpath)
    return found


def sandbox_mounts():
    """Mounts in our own mount namespace that a job could have left (it must leave none)."""
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if "sandboxd" in l]


def check_no_leaks():
    procs = job_processes()
    check(not procs, "processes of the job uid remain", procs)
    cgs = our_cgroup_dirs()
    check(not cgs, "cgroups of ours remain", cgs)
    mnts = sandbox_mounts()
    check(not mnts, "mounts of ours remain in the host namespace", mnts)
