"""test_jail.py - what a program sees inside the jail (probe view) and sandboxctl's contract.

The inventory tests assert the jail of DESIGN.md "The jail": identity 60000, no capabilities,
no_new_privs, seccomp, fresh namespaces, read-only root, capped tmpfs /tmp, minimal /dev, no /sys,
only lo, only fds 0-2, only the given environment, core rlimit 0. The CLI tests assert
sandboxctl's exit codes, --json shape, stdin, --env, --bind, --cwd and streaming.
"""

import json
import os
import shutil
import subprocess
import time

from harness import (JOB_UID, PROBE_DIR, ROOT, SBX, check, job_processes, ok_json, our_cgroup_dirs,
                     probe, probe_limited, run, sandboxctl, test)

LIMITS = dict(memory="64M", cpu_time="2s", wall_time="5s", pids=32)
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp",
               "LANG=C.UTF-8"]
DEV_EXPECTED = {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd",
                "stdin", "stdout", "stderr"}
DEV_NODES = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9",
             "tty": "5:0"}
DEV_LINKS = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
             "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
ZERO_CAPS = "0000000000000000"


def P(*args, **kw):
    """Run the probe with small explicit limits (any of them can be overridden)."""
    return probe_limited(LIMITS, *args, **kw)


_VIEW = {}


def view():
    """`probe view` with the default jail (run once, shared by the inventory tests)."""
    if "v" not in _VIEW:
        _VIEW["v"] = ok_json(P("view"))
    return _VIEW["v"]


def mounts_by_target(v):
    """Target -> the last mount on it (the one visible)."""
    return {m["target"]: m for m in v["mounts"]}


def opts(m):
    return set(m["options"].split(",")) | set(m["super"].split(","))


# ---- the jail's inventory -------------------------------------------------------------------

@test("jail identity: uid/gid 60000, no groups, pid 2 under our init")
def t_identity():
    v = view()
    for k in ("uid", "gid", "euid", "egid"):
        check(v[k] == JOB_UID, "%s is %r, expected %d" % (k, v[k], JOB_UID))
    check(v["groups"] == [], "supplementary groups present", v["groups"])
    check(v["pid"] == 2, "program is pid %r, expected 2 (pid 1 is the reaper)" % v["pid"])
    check(v["ppid"] == 1, "program's parent is %r, expected our init (1)" % v["ppid"])
    check(v["hostname"] == "sandbox", "hostname %r" % v["hostname"])


@test("jail privileges: all capability sets empty, no_new_privs, seccomp filter")
def t_privileges():
    v = view()
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        check(v["caps"].get(name) == ZERO_CAPS, "%s is %r" % (name, v["caps"].get(name)))
    check(v["no_new_privs"] == 1, "NoNewPrivs is %r" % v["no_new_privs"])
    check(v["seccomp"] == 2, "Seccomp mode is %r, expected 2 (filter)" % v["seccomp"])


@test("jail namespaces: new mnt, pid, net, ipc, uts, cgroup")
def t_namespaces():
    v = view()
    for ns in ("mnt", "pid", "net", "ipc", "uts", "cgroup"):
        host = os.readlink("/proc/self/ns/" + ns)
        check(v["ns"][ns] and v["ns"][ns] != host, "%s namespace is the host's (%s)" % (ns, host))


@test("jail mounts: read-only root, capped tmpfs /tmp, fresh /proc, no /sys")
def t_mounts():
    v = view()
    m = mounts_by_target(v)
    check("/" in m and "ro" in m["/"]["options"].split(","), "root is not read-only", m.get("/"))
    tmp = m.get("/tmp")
    check(tmp and tmp["fstype"] == "tmpfs", "/tmp is not a tmpfs", tmp)
    check({"nosuid", "nodev"} <= opts(tmp), "/tmp lacks nosuid,nodev", tmp)
    check(any(o.startswith("size=") for o in opts(tmp)), "/tmp has no size= cap", tmp)
    check(any(o.startswith("nr_inodes=") for o in opts(tmp)), "/tmp has no nr_inodes= cap", tmp)
    proc = m.get("/proc")
    check(proc and proc["fstype"] == "proc", "/proc is not procfs", proc)
    check({"nosuid", "nodev"} <= opts(proc), "/proc lacks nosuid,nodev", proc)
    shm = m.get("/dev/shm")
    check(shm and shm["fstype"] == "tmpfs" and {"nosuid", "nodev"} <= opts(shm),
          "/dev/shm is not a nosuid,nodev tmpfs", shm)
    check(any(o.startswith("size=") for o in opts(shm)), "/dev/shm has no size= cap", shm)
    pts = m.get("/dev/pts")
    check(pts and pts["fstype"] == "devpts", "/dev/pts is not a devpts", pts)
    check(not any(t == "/sys" or t.startswith("/sys/") for t in m), "something is mounted on /sys")
    check(not v["sys_exists"], "/sys exists in the jail")
    check("/probe" in m and "ro" in m["/probe"]["options"].split(","), "/probe bind is not ro",
          m.get("/probe"))


@test("jail mounts: everything but /tmp, /dev, /proc is read-only")
def t_mounts_ro():
    v = view()
    writable = ("/tmp", "/dev", "/dev/shm", "/dev/pts", "/dev/mqueue", "/proc")
    masked = set(v["proc_masked"])  # /dev/null binds and empty tmpfs: nothing to write to
    for mnt in v["mounts"]:
        if mnt["target"] in writable or mnt["target"] in masked:
            continue
        check("ro" in mnt["options"].split(","), "%s is mounted read-write" % mnt["target"], mnt)
    check(not v["root_writable"] and v["root_errno"] == "EROFS",
          "creating /x: %s, expected EROFS" % v["root_errno"])
    check(v["tmp_writable"], "/tmp is not writable: %s" % v["tmp_errno"])


@test("jail /proc: Docker's masked paths hidden, read-only paths read-only")
def t_proc_masks():
    v = view()
    for path, state in v["proc_masked"].items():
        check(state in ("devnull", "empty", "absent"), "%s is %s" % (path, state))
    for path, state in v["proc_readonly"].items():
        check(state in ("ro", "absent"), "%s is %s" % (path, state))


@test("jail /dev: exactly null zero full random urandom tty pts ptmx shm fd stdin stdout stderr")
def t_dev():
    v = view()
    names = set(v["dev"])
    check(names == DEV_EXPECTED, "/dev differs",
          "extra: %s" % sorted(names - DEV_EXPECTED), "missing: %s" % sorted(DEV_EXPECTED - names))
    detail = {d["name"]: d for d in v["dev_detail"]}
    for name, rdev in DEV_NODES.items():
        d = detail.get(name, {})
        check(d.get("type") == "chr" and d.get("rdev") == rdev, "/dev/%s is not %s" % (name, rdev),
              d)
    for name, target in DEV_LINKS.items():
        d = detail.get(name, {})
        check(d.get("type") == "lnk" and d.get("link") == target,
              "/dev/%s is not a symlink to %s" % (name, target), d)
    check(set(v["dev_pts"]) <= {"ptmx"}, "/dev/pts is not a fresh instance", v["dev_pts"])


@test("jail network: only lo, and it is up")
def t_interfaces():
    v = view()
    names = [i["name"] for i in v["interfaces"]]
    check(names == ["lo"], "interfaces %r, expected only lo" % names)
    check(v["interfaces"][0].get("up"), "lo is down", v["interfaces"])


@test("jail fds: only 0, 1, 2 are open")
def t_fds():
    v = view()
    fds = sorted(f["fd"] for f in v["fds"])
    check(fds == [0, 1, 2], "open fds %r" % fds, v["fds"])


@test("jail env: defaults only, nothing inherited")
def t_env_default():
    os.environ["SBX_LEAK_CANARY"] = "1"
    try:
        v = ok_json(P("view"))
    finally:
        del os.environ["SBX_LEAK_CANARY"]
    check(sorted(v["env"]) == sorted(DEFAULT_ENV), "environment differs from the defaults",
          v["env"])
    check(v["cwd"] == "/tmp", "default cwd %r, expected /tmp" % v["cwd"])


@test("jail rlimits: core 0, explicit nofile/fsize/stack")
def t_rlimits():
    r = view()["rlimits"]
    check(r["core"] == {"soft": 0, "hard": 0}, "core rlimit %r, expected 0/0" % r["core"])
    check(0 < r["nofile"]["hard"] <= 4096, "nofile hard %r is not set explicitly" % r["nofile"])
    check(r["fsize"]["hard"] > 0, "fsize is unlimited", r["fsize"])
    check(r["stack"]["hard"] > 0, "stack is unlimited", r["stack"])


# ---- sandboxctl: exit codes, --json, stdin, env, binds, cwd, streaming ------------------------

@test("cli exit codes: the program's code, 128+signal")
def t_exit_codes():
    r = P("exit", "0")
    check(r.rc == 0 and r["status"] == "ok" and r["exit_code"] == 0, "exit 0", r)
    r = P("exit", "7")
    check(r.rc == 7 and r["status"] == "runtime_error" and r["exit_code"] == 7
          and r["signal"] == 0, "exit 7", r)
    r = P("kill", "15")
    check(r.rc == 128 + 15 and r["status"] == "signaled" and r["signal"] == 15
          and r["exit_code"] == -1, "SIGTERM", r)
    r = P("kill", "6")
    check(r.rc == 128 + 6 and r["status"] == "signaled" and r["signal"] == 6, "SIGABRT", r)


RESULT_TYPES = {"status": str, "exit_code": int, "signal": int, "time_ms": int, "wall_ms": int,
                "memory_kb": int, "stdout": str, "stderr": str, "stdout_truncated": bool,
                "stderr_truncated": bool, "message": str}
STATUSES = {"ok", "runtime_error", "signaled", "timeout", "memory_limit", "output_limit",
            "internal_error"}


def check_shape(r):
    for key, typ in RESULT_TYPES.items():
        check(key in r.obj and type(r.obj[key]) is typ,
              "result key %r missing or not %s" % (key, typ.__name__), r.obj)
    check("limit" in r.obj and r["limit"] in (None, "cpu", "wall", "memory", "output"),
          "result key 'limit' bad", r.obj)
    check(r["status"] in STATUSES, "unknown status %r" % r["status"])


@test("cli --json: one object with every key and the right types")
def t_json_shape():
    r = P("print", "hello", "world", "3")
    check(r.obj, "stdout is not one JSON object", r.raw_out[:500])
    check_shape(r)
    check(r["stdout"] == "hello" and r["stderr"] == "world", "captured output", r)
    check(r["status"] == "runtime_error" and r["exit_code"] == 3 and r["limit"] is None, "verdict", r)
    check(r["wall_ms"] >= 0 and r["memory_kb"] > 0, "measurements", r)


@test("cli stdin: --stdin delivered byte-exact; no --stdin reads EOF at once")
def t_stdin():
    data = b"".join(b"line %d of the input\n" % i for i in range(5000))
    r = P("cat", stdin=data)
    check(r["status"] == "ok" and r["stdout"].encode() == data, "stdin not delivered",
          len(r["stdout"]), r["stderr"])
    t0 = time.monotonic()
    r = P("cat", wall_time="3s")
    check(r["status"] == "ok" and r["stdout"] == "", "stdin without --stdin", r)
    check(time.monotonic() - t0 < 2.5, "reading stdin blocked")


@test("cli --env: the given variables, nothing inherited")
def t_env():
    os.environ["SBX_LEAK_CANARY"] = "1"
    try:
        v = ok_json(P("view", env=("A=1", "B=two words", "PATH=/usr/bin:/bin")))
    finally:
        del os.environ["SBX_LEAK_CANARY"]
    env = v["env"]
    for e in ("A=1", "B=two words", "PATH=/usr/bin:/bin"):
        check(e in env, "%r missing from the environment" % e, env)
    check(not any(e.startswith("SBX_LEAK_CANARY=") for e in env), "host environment leaked", env)
    check(len([e for e in env if e.startswith("PATH=")]) == 1, "PATH twice", env)
    for e in env:
        check(e in ("A=1", "B=two words", "PATH=/usr/bin:/bin") or e in DEFAULT_ENV,
              "unexpected variable %r" % e, env)


def work_dir(name):
    d = os.path.join(ROOT, "tests", ".work", "%s-%d" % (name, os.getpid()))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    return d


@test("cli --bind: a file and a dir at paths missing from the rootfs, read-only")
def t_bind():
    d = work_dir("bind")
    try:
        os.makedirs(os.path.join(d, "dir"))
        with open(os.path.join(d, "dir", "a.txt"), "w") as f:
            f.write("in the dir\n")
        with open(os.path.join(d, "input.txt"), "w") as f:
            f.write("bound file\n")
        for p in ("dir", "dir/a.txt", "input.txt"):
            os.chmod(os.path.join(d, p), 0o755 if p == "dir" else 0o644)
        r = P("stat", "/data/in", "/opt/x/input.txt", "/data/in/a.txt",
              binds=(d + "/dir:/data/in", d + "/input.txt:/opt/x/input.txt"))
        s = ok_json(r)
        check(s["/data/in"].get("entries") == ["a.txt"], "bound dir", s["/data/in"])
        check(s["/opt/x/input.txt"].get("content") == "bound file\n", "bound file",
              s["/opt/x/input.txt"])
        check(s["/data/in/a.txt"].get("content") == "in the dir\n", "file in bound dir")
        for p in ("/data/in", "/opt/x/input.txt"):
            check(s[p].get("write") in ("EROFS", "EACCES"), "%s is writable" % p, s[p])
        check(os.listdir(os.path.join(d, "dir")) == ["a.txt"], "the host dir changed")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test("cli --cwd: the program starts there")
def t_cwd():
    v = ok_json(P("view", cwd="/probe"))
    check(v["cwd"] == "/probe", "cwd %r" % v["cwd"])


@test("cli missing program: runtime_error, exit 127, a message")
def t_missing_program():
    r = run("/nonexistent/program", "arg", **LIMITS)
    check(r.rc == 127 and r["status"] == "runtime_error" and r["exit_code"] == 127,
          "missing program", r)
    check(r["message"], "no message says why", r)
    r = run("no-such-command-in-path", **LIMITS)
    check(r.rc == 127 and r["exit_code"] == 127, "missing program (PATH lookup)", r)


@test("cli internal error: a sandbox setup failure is internal_error, exit 125, never the program's")
def t_internal_error():
    # pids 1 leaves no room to fork the program beside our init: the sandbox cannot start it.
    r = P("print", "STARTED", "", pids=1)
    check("STARTED" not in r.raw_out.decode(errors="replace"), "the program ran", r)
    if r.rc == 2:
        check(len(r.raw_err.decode().strip().splitlines()) == 1, "usage error: one line", r)
        return
    check(r.rc == 125 and r.get("status") == "internal_error" and r.get("message"),
          "expected internal_error with exit 125 (or a usage error)", r)
    check(r["exit_code"] == -1 and r["signal"] == 0, "internal_error blames the program", r)


def usage_cases(tmpfile):
    return [
        ["--bogus-flag"],
        ["--memory", "12Q"],
        ["--memory", "-5M"],
        ["--wall-time", "soon"],
        ["--cpu-time", "1x"],
        ["--pids", "many"],
        ["--rootfs", "/nonexistent/rootfs"],
        ["--rootfs", tmpfile],
        ["--memory", "1000G"],
        ["--pids", "1000000"],
        ["--wall-time", "100000h"],
        ["--output", "100G"],
        ["--bind", "/nonexistent/source:/x"],
        ["--stdin", "/nonexistent/stdin"],
    ]


@test("cli usage errors: exit 2, one stderr line, nothing started")
def t_usage():
    d = work_dir("usage")
    try:
        tmpfile = os.path.join(d, "not-a-dir")
        open(tmpfile, "w").close()
        cgroups_before = set(our_cgroup_dirs())
        for case in usage_cases(tmpfile):
            args = ["run", "--bind", PROBE_DIR + ":/probe"] + case
            args += ["--", "/probe/probe", "print", "STARTED", ""]
            rc, out, err = sandboxctl(*args)
            check(rc == 2, "%r: exit %d, expected 2" % (case, rc), err[-300:])
            check("STARTED" not in out, "%r: the program ran" % case)
            lines = err.strip().splitlines()
            check(len(lines) == 1 and lines[0].strip(), "%r: stderr is not one line" % case, err)
            check(not job_processes() and set(our_cgroup_dirs()) <= cgroups_before,
                  "%r: a job was started" % case)
        for args in (["run"], ["run", "--"], ["no-such-subcommand"]):
            rc, out, err = sandboxctl(*args)
            check(rc == 2 and err.strip(), "%r: exit %d, expected 2 with a message" % (args, rc))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test("cli streaming: without --json output is passed through, verdict on stderr")
def t_streaming():
    r = P("print", "to stdout\n", "to stderr\n", "5", as_json=False)
    check(r.rc == 5, "exit code %d, expected 5" % r.rc)
    check(r.raw_out == b"to stdout\n", "stdout is not the program's", r.raw_out)
    err = r.raw_err.decode(errors="replace")
    check(err.startswith("to stderr\n"), "stderr does not start with the program's", err)
    check(len(err.splitlines()) == 2, "expected one verdict line after the program's stderr", err)


@test("cli streaming: output arrives while the program runs")
def t_streaming_live():
    args = [SBX, "run", "--memory", "64M", "--wall-time", "5s", "--bind", PROBE_DIR + ":/probe",
            "--", "/probe/probe", "lines", "3", "700"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        first = p.stdout.readline()
        t_first = time.monotonic() - t0
        rest = p.stdout.read()
        p.wait(timeout=10)
        t_end = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    check(first == b"line 0\n" and rest == b"line 1\nline 2\n", "output", first, rest)
    check(t_first < t_end - 1.0, "first line came at %.2fs, the run ended at %.2fs: not streamed"
          % (t_first, t_end))


@test("cli --bind-rw: the job writes to a host dir as its own uid; --bind stays read-only")
def t_bind_rw():
    d = os.path.join(ROOT, "tests", ".work", "bind-rw-%d" % os.getpid())
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    try:
        r = run("/bin/sh", "-c", "echo written > /work/out", binds=(), extra=["--bind-rw", d + ":/work"],
                probes=False)
        check(r.get("status") == "ok", "write through --bind-rw failed", r)
        st = os.stat(os.path.join(d, "out"))
        check(st.st_uid == JOB_UID, "file not owned by the job uid", st)
        r = run("/bin/sh", "-c", "echo x > /work/other", binds=(d + ":/work",), probes=False)
        check(r.get("status") == "runtime_error" and not os.path.exists(os.path.join(d, "other")),
              "--bind was writable", r)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def start_sleeping_job():
    """sandboxctl running /bin/sleep 60 in a jail, returned once the job's process exists."""
    p = subprocess.Popen([SBX, "run", "--wall-time", "60s", "--", "/bin/sleep", "60"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not job_processes() and time.monotonic() < deadline:
        time.sleep(0.02)
    check(job_processes(), "the job never started")
    return p


@test("cli signals: SIGINT/SIGTERM to sandboxctl kill the job and remove it, exit 128+signal")
def t_cancel_on_signal():
    import signal as sig
    for signo in (sig.SIGINT, sig.SIGTERM):
        p = start_sleeping_job()
        t0 = time.monotonic()
        p.send_signal(signo)
        out, err = p.communicate(timeout=20)
        check(p.returncode == 128 + signo, "exit status", p.returncode, err)
        check(time.monotonic() - t0 < 5, "the job outlived the cancel")
        # the runner's leak check then asserts: no job process, no cgroup, no mount left


@test("jail signals: nothing blocked or ignored, whatever the caller had (SIGPIPE ignored)")
def t_signals_reset():
    import signal as sig
    old = sig.signal(sig.SIGPIPE, sig.SIG_IGN)
    try:
        p = subprocess.run([SBX, "run", "--json", "--", "/bin/grep", "-E", "^Sig(Blk|Ign)",
                            "/proc/self/status"], stdin=subprocess.DEVNULL, capture_output=True,
                           restore_signals=False, text=True, timeout=60)
    finally:
        sig.signal(sig.SIGPIPE, old)
    out = json.loads(p.stdout)["stdout"]
    check("SigBlk:\t0000000000000000" in out and "SigIgn:\t0000000000000000" in out,
          "the job inherited blocked or ignored signals", out)


@test("jail /etc (host rootfs): only generated files, nothing of the host's /etc")
def t_host_etc_generated():
    r = run("/bin/sh", "-c", "ls -A /etc; echo ---; cat /proc/self/mountinfo", probes=False)
    check(r.get("status") == "ok", "job failed", r)
    listing, mountinfo = r.stdout.split("---\n", 1)
    names = set(listing.split())
    allowed = {"passwd", "group", "hosts", "resolv.conf", "hostname", "nsswitch.conf",
               "localtime", "alternatives"}
    check(names <= allowed, "unexpected /etc entries", sorted(names - allowed))
    check({"passwd", "group", "hosts", "resolv.conf"} <= names, "generated files missing", names)
    # No mount of the jail comes from the host's /etc (mountinfo field 4 is the source path).
    sources = [l.split()[3] for l in mountinfo.splitlines() if len(l.split()) > 4]
    check(not [s for s in sources if s == "/etc" or s.startswith("/etc/")],
          "a host /etc path is mounted in the jail", sources)


@test("cli kill -9: the job dies with sandboxctl, and the next run removes its cgroup")
def t_kill9_cleanup():
    import signal as sig
    p = start_sleeping_job()
    p.send_signal(sig.SIGKILL)
    p.wait(timeout=10)
    deadline = time.monotonic() + 5
    while job_processes() and time.monotonic() < deadline:
        time.sleep(0.02)
    check(not job_processes(), "the job outlived a SIGKILLed sandboxctl", job_processes())
    check([d for d in our_cgroup_dirs() if "/job-%d-" % p.pid in d + "-"],
          "expected the dead run's cgroup to be there before the next run")
    r = run("/bin/true", probes=False)
    check(r.get("status") == "ok", "next run failed", r)
    # the runner's leak check: no cgroup of ours remains, the dead run's included
