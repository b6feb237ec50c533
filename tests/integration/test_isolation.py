"""test_isolation.py - attack catalogue E (T48-T52): other processes, the service, other jobs.

The job (/probe/attack tNN, tests/probe/attack.c) attacks; this side plays the service and the
neighbours: a host process of the job's own uid that must survive, secrets in sandboxctl's
environment and fds, a controlling terminal, and a second job that must find nothing.
"""

import fcntl
import json
import os
import subprocess
import termios

from harness import JOB_UID, ROOT, attack, check, expect, probe, test

SECRET = "sbx-secret-7f3a9c"
T50_KEY = 0x5BD0050


def as_job_uid():
    os.setgroups([])
    os.setgid(JOB_UID)
    os.setuid(JOB_UID)


@test("T48 signals")
def t48():
    # A host process with the job's uid: without a pid ns, kill(-1) from the job would reach it.
    neighbour = subprocess.Popen(["sleep", "60"], preexec_fn=as_job_uid,
                                 stdin=subprocess.DEVNULL)
    try:
        obs = attack("t48", neighbour.pid)
        expect(obs, {"kill_host": ("ESRCH",), "pidfd_open_host": ("ESRCH",),
                     "kill_pid1": ("EPERM", "OK"), "kill_all": ("OK",),
                     "sibling_killed": (True,),
                     "pid1_after": ("EPERM", "OK")},  # ESRCH would mean the reaper died
               "signals must stay inside the job's pid namespace")
        check(neighbour.poll() is None, "kill(-1) from the job killed a host process",
              neighbour.returncode)
    finally:
        neighbour.kill()
        neighbour.wait()


def profile_env():
    with open(os.path.join(ROOT, "profiles", "security", "default.json")) as f:
        return json.load(f).get("env", [])


def secret_fd():
    path = os.path.join(ROOT, "tests", ".work", "t49-secret-%d" % os.getpid())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(SECRET)
    fd = os.open(path, os.O_RDONLY)
    os.unlink(path)
    return fd


@test("T49 service secrets")
def t49():
    # A careless caller: a secret in sandboxctl's environment and an inherited fd.
    env = dict(os.environ, SANDBOXD_TEST_SECRET=SECRET, HTTP_PROXY="http://%s@proxy" % SECRET,
               HOME="/%s-home" % SECRET, LANG="%s.UTF-8" % SECRET,
               PATH="/%s-bin:%s" % (SECRET, os.environ.get("PATH", "/usr/bin:/bin")))
    fd = secret_fd()
    try:
        kw = {"env": env, "pass_fds": (fd,)}
        r = probe("attack", "t49", env=("FOO=bar",), popen_kw=kw)
        check(r.get("status") == "ok", "attack t49 did not run", r)
        obs = r.probe_json()
        # Exactly --env plus the profile's own defaults (PATH, HOME, LANG), none from the caller.
        allowed = {"FOO=bar"} | set(profile_env())
        check("FOO=bar" in obs["environ"] and set(obs["environ"]) <= allowed,
              "the job's environment is not --env plus the profile's defaults",
              obs["environ"], sorted(allowed))
        check(SECRET not in r.stdout + r.stderr, "the secret is visible inside the job",
              r.stdout[:2000])
        expect(obs, {"pid1_environ": ("EACCES", "EPERM"), "run_secrets": ("ENOENT",),
                     "docker_sock": ("ENOENT",)}, "service state must be unreachable")
        r = probe("attack", "t45", popen_kw=kw)
        check(r.get("status") == "ok", "attack t45 did not run", r)
        fds = r.probe_json()
        check(fds["fds"] == [0, 1, 2], "an fd of sandboxctl's caller reached the job",
              fds["links"])
    finally:
        os.close(fd)


def host_ipc_keys():
    keys = set()
    for kind in ("shm", "sem", "msg"):
        with open("/proc/sysvipc/" + kind) as f:
            keys |= {int(l.split()[0]) for l in list(f)[1:] if l.split()}
    return keys


def ipc_rows(obs):
    """Objects listed in the job's /proc/sysvipc tables (header lines excluded)."""
    return {k: obs[k]["head"].splitlines()[1:] for k in ("sysvipc_shm", "sysvipc_sem",
                                                          "sysvipc_msg")}


@test("T50 shm, SysV IPC and mqueue across jobs")
def t50():
    check(T50_KEY not in host_ipc_keys(), "the host already has IPC key 0x%x" % T50_KEY)
    made = attack("t50", "create")
    expect(made["create"], {k: ("OK",) for k in ("shmget", "semget", "msgget", "shm_file")},
           "the first job could not create its IPC objects (nothing to look for)")
    seen = attack("t50", "look")
    want = {k: ("ENOENT",) for k in ("shmget", "semget", "msgget", "shm_file")}
    if made["create"].get("mq_open") == "OK":
        want["mq_open"] = ("ENOENT",)
    expect(seen["look"], want, "the second job sees the first job's IPC objects")
    rows = ipc_rows(seen)
    check(not any(rows.values()), "the second job sees SysV IPC objects", rows)
    check(seen["dev_shm"] == [], "the second job's /dev/shm is not empty", seen["dev_shm"])
    check(T50_KEY not in host_ipc_keys(), "the job's IPC objects reached the host namespace")
    check(not os.path.lexists("/dev/shm/sbx-t50"), "the job's /dev/shm file is on the host")


def with_ctty(slave):
    """preexec_fn: make the pty slave sandboxctl's controlling terminal (after setsid)."""
    def fn():
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    return fn


def drain(master):
    os.set_blocking(master, False)
    try:
        return os.read(master, 4096)
    except (BlockingIOError, OSError):
        return b""


@test("T51 terminal injection")
def t51():
    safe = ("ENOTTY", "EPERM", "EIO")
    obs = attack("t51")
    expect(obs, {"tiocsti_0": safe, "tiocsti_1": safe, "tiocsti_2": safe,
                 "tioclinux_0": safe + ("EINVAL",)}, "stdio must not be a terminal")
    # CVE-2017-5226: sandboxctl itself runs with a controlling terminal.
    master, slave = os.openpty()
    try:
        kw = {"start_new_session": True, "preexec_fn": with_ctty(slave)}
        obs = attack("t51", popen_kw=kw)
        check(obs["open_dev_tty"] != "OK" or obs.get("tiocsti_dev_tty") != "OK",
              "the job can inject into the caller's terminal through /dev/tty", obs)
        check(obs["open_dev_tty"] in ("ENXIO", "ENOENT", "EACCES", "EPERM"),
              "the job still has the caller's controlling terminal (no setsid?)", obs)
        check(b"x" not in drain(master), "a byte was injected into the caller's terminal")
    finally:
        os.close(master)
        os.close(slave)


@test("T52 cross-job persistence")
def t52():
    wrote = attack("t52", "write")
    w = wrote["write"]
    expect(w, {"/tmp/sbx-t52": ("OK",), "/dev/shm/sbx-t52": ("OK",)},
           "the first job could not write its scratch files")
    ro = ("EROFS", "EACCES", "ENOENT")
    expect(w, {"/var/tmp/sbx-t52": ro, "/home/sbx-t52": ro, "/dev/sbx-t52": ro},
           "the rootfs and /dev must not be writable")
    seen = attack("t52", "look")
    expect(seen["look"], {k: ("ENOENT",) for k in seen["look"]},
           "a file of the previous job is visible")
    left = [n for n in seen["tmp"] + seen["dev_shm"] if n.startswith("sbx-")]
    check(not left, "files of earlier jobs in /tmp or /dev/shm", left)
    for p in ("/tmp/sbx-t52", "/dev/shm/sbx-t52", "/var/tmp/sbx-t52"):
        check(not os.path.lexists(p), "the job's file reached the host", p)
