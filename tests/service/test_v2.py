"""test_v2.py - sandboxd on a genuine cgroup-v2 hierarchy, started the way systemd starts a
Delegate=yes service: alone in a cgroup of its own. Its jobs' cgroups must stay inside that
subtree, with the limits applied there. Runs on a v2 host, or in the User-Mode-Linux guest of
tests/vm/v2-suite; elsewhere it is skipped with the reason."""

import os
import time

from harness import Service, check, py, sleeper, skip, test, wait_until

V2_ROOT = "/sys/fs/cgroup"


def v2_root_delegates():
    """Why not, or None: the v2 root must hand memory and pids to a new child."""
    try:
        with open(os.path.join(V2_ROOT, "cgroup.subtree_control")) as f:
            ctl = f.read().split()
    except OSError:
        return "this host has no cgroup-v2 hierarchy at %s" % V2_ROOT
    if "memory" not in ctl or "pids" not in ctl:
        return "the cgroup-v2 root does not hand memory and pids to its children"
    return None


def remove_tree(d):
    for root, dirs, _ in os.walk(d, topdown=False):
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass
    try:
        os.rmdir(d)
    except OSError:
        pass


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return repr(e)


def job_dirs(d):
    return [r for r, _, _ in os.walk(d) if os.path.basename(r).startswith("job-")]


@test("v2 delegated service: jobs in the delegated subtree, limits applied, nothing left")
def t_v2_delegated():
    why = v2_root_delegates()
    if why:
        skip(why)
    home = os.path.join(V2_ROOT, "sandboxd-delegate-%d" % os.getpid())
    os.mkdir(home)
    try:
        s = Service(name="v2")

        def join_home():  # in the child, before exec: start alone in home, as systemd would
            with open(os.path.join(home, "cgroup.procs"), "w") as f:
                f.write("0")

        s.preexec = join_home
        with s:
            a = s.execute(py("print('v2')"))
            check(a.get("status") == "ok" and a.get("stdout") == "v2\n", "a job on v2", a)
            body = sleeper()
            body["limits"]["memory_mb"] = 96
            jid = s.submit(body)["id"]
            dirs = wait_until(lambda: job_dirs(home), 10)
            check(dirs, "no job cgroup below the delegated cgroup %s" % home,
                  [x for x, _, _ in os.walk(V2_ROOT) if "job-" in x])
            # the leaf appears (mkdir) a moment before its limits are written: poll for them
            check(wait_until(lambda: read(os.path.join(dirs[0], "memory.max")) == str(96 << 20),
                             5), "memory.max of the job", dirs[0],
                  read(os.path.join(dirs[0], "memory.max")))
            check(s.req("DELETE", "/api/v1/jobs/" + jid).status == 200, "cancel")
            hog = s.execute(py("x = bytearray(512 << 20)", limits={"memory_mb": 64}))
            check(hog.get("status") == "memory_limit", "memory_limit on v2", hog)
            rc = s.stop()
            check(rc == 0, "exit status %s on SIGTERM" % rc, s.stderr_tail())
            left = wait_until(lambda: not job_dirs(home), 5)
            check(left, "job cgroups left in the delegated subtree", job_dirs(home))
    finally:
        time.sleep(0.1)
        remove_tree(home)
