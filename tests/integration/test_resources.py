"""test_resources.py - attack catalogue T01-T16 (docker-profile.md section 9 A): resource exhaustion.

Each test runs one bounded attack of tests/probe/probe.c in the jail with small explicit limits
and asserts the catalogue's safe outcome: the errno the attack must meet, the verdict
(status/limit), bounded time, and (the runner, after every test) that nothing of the job is left.
"""

import hashlib
import json
import os
import subprocess
import threading
import time

from harness import JOB_UID, PROBE_DIR, SBX, check, ok_json, probe, probe_limited, skip, test

LIMITS = dict(memory="64M", cpu_time="2s", wall_time="4s", pids=32)
MIB = 1024 * 1024


def P(*args, **kw):
    """Run the probe with small explicit limits (any of them can be overridden)."""
    return probe_limited(LIMITS, *args, **kw)


def verdict(r, status, limit):
    check(r.get("status") == status and r.get("limit") == limit,
          "verdict %r/%r, expected %r/%r" % (r.get("status"), r.get("limit"), status, limit), r)


def elapsed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def host_procs_named(comm):
    found = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() == comm:
                    found.append(int(d))
        except (OSError, ValueError):
            pass
    return found


# ---- T01-T02 process and thread bombs -------------------------------------------------------

@test("T01 fork bomb: fork fails with EAGAIN at pids.max")
def t01_count():
    r, secs = elapsed(lambda: P("forkbomb", "count", "20", pids=16))
    o = ok_json(r)
    check(o["errno"] == "EAGAIN", "fork failed with %s, expected EAGAIN" % o["errno"], o)
    check(0 < o["forked"] < 16, "forked %d children under pids 16" % o["forked"], o)
    check(o["retries_failed"] == 20 and o["retry_errno"] == "EAGAIN", "later forks", o)
    check(secs < 5, "took %.1fs" % secs)


def host_latency_during(fn):
    """Runs fn() while timing trivial host commands; returns (fn's result, worst latency)."""
    worst = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            t0 = time.monotonic()
            subprocess.run(["/bin/true"])
            worst[0] = max(worst[0], time.monotonic() - t0)
            time.sleep(0.1)

    t = threading.Thread(target=sample)
    t.start()
    try:
        return fn(), worst[0]
    finally:
        done.set()
        t.join()


@test("T01 fork bomb (storm): killed at the wall limit, host stays responsive")
def t01_storm():
    (r, secs), worst = host_latency_during(
        lambda: elapsed(lambda: P("forkbomb", "storm", "20", pids=32, cpu_time="20s",
                                  wall_time="2s")))
    verdict(r, "timeout", "wall")
    check(secs < 6, "sandboxctl took %.1fs for a 2s wall limit" % secs)
    check(worst < 1.0, "a host command took %.2fs during the bomb" % worst)


@test("T02 thread bomb: pthread_create fails with EAGAIN at pids.max")
def t02_threads():
    o = ok_json(P("threadbomb", "64", "0", "20", pids=16))
    check(o["errno"] == "EAGAIN", "pthread_create failed with %s" % o["errno"], o)
    check(0 < o["threads"] < 16, "%d threads under pids 16" % o["threads"], o)


@test("T02 thread bomb: thread stacks are charged to the memory cgroup")
def t02_stacks():
    r = P("threadbomb", "1024", "900", "20", pids=64, memory="32M")
    verdict(r, "memory_limit", "memory")


# ---- T03-T05 memory, tmpfs, disk --------------------------------------------------------------

def memory_bomb(mode):
    # The memory verdict is what is tested: CPU and wall limits are wide, because page faults
    # in the cgroup-v2 guest (User-Mode Linux) are slow enough to reach 2 s of CPU first.
    r = P("membomb", mode, "1024", memory="64M", cpu_time="20s", wall_time="40s")
    verdict(r, "memory_limit", "memory")
    check(r["signal"] == 9 and r.rc == 128 + 9, "signal %d / exit %d, expected SIGKILL / 137"
          % (r["signal"], r.rc), r)
    check(32 * 1024 <= r["memory_kb"] <= 80 * 1024, "peak memory %d KiB for a 64M limit"
          % r["memory_kb"], r)


@test("T03 memory bomb (malloc+touch): OOM kill in the job, verdict memory")
def t03_touch():
    memory_bomb("touch")


@test("T03 memory bomb (MAP_POPULATE): OOM kill in the job, verdict memory")
def t03_populate():
    memory_bomb("populate")


@test("T03 memory bomb (mlockall): refused or OOM kill, never past the limit")
def t03_mlock():
    r = P("membomb", "mlock", "1024", memory="64M", cpu_time="20s", wall_time="40s")
    if r.get("status") == "memory_limit":
        verdict(r, "memory_limit", "memory")
        return
    o = ok_json(r)
    check(o["errno"] in ("ENOMEM", "EAGAIN") and o["allocated_mb"] < 64,
          "mlocked %d MiB under a 64M limit (%s)" % (o["allocated_mb"], o["errno"]), o)


@test("T04 tmpfs bomb (/tmp beyond memory): OOM or ENOSPC within the memory limit")
def t04_tmp():
    r = P("tmpfill", "/tmp/fill", "1024", memory="32M")
    if r.get("status") == "memory_limit":
        verdict(r, "memory_limit", "memory")
        return
    o = ok_json(r)
    check(o["errno"] in ("ENOSPC", "ENOMEM"), "filling /tmp ended with %s" % o["errno"], o)
    check(o["written"] <= 40 * MIB, "wrote %d MiB to tmpfs under a 32M memory limit: tmpfs pages "
          "are not charged to the job" % (o["written"] // MIB), o)


@test("T04 tmpfs bomb (/dev/shm): ENOSPC at its size cap")
def t04_shm():
    o = ok_json(P("tmpfill", "/dev/shm/fill", "1024", memory="256M"))
    check(o["errno"] == "ENOSPC", "filling /dev/shm ended with %s" % o["errno"], o)
    check(0 < o.get("fs_bytes", 0) <= 64 * MIB, "/dev/shm size %r is not capped at <= 64M"
          % o.get("fs_bytes"), o)
    check(o["written"] <= o["fs_bytes"], "wrote more than the cap", o)


@test("T04 tmpfs bomb (/dev): not writable")
def t04_dev():
    o = ok_json(P("tmpfill", "/dev/fill", "64"))
    check(o["errno"] in ("EROFS", "EACCES") and o["written"] == 0,
          "/dev accepted a file: %s" % o["errno"], o)


def host_shm_segments_of_job():
    try:
        with open("/proc/sysvipc/shm") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    return [l for l in lines if len(l.split()) > 7 and int(l.split()[7]) == JOB_UID]


@test("T04 SysV shm never removed: bounded, and gone with the job's IPC namespace")
def t04_sysv():
    r = P("shmbomb", "1024", memory="64M")
    if r.get("status") != "memory_limit":
        o = ok_json(r)
        check(o["errno"] in ("ENOMEM", "ENOSPC", "EINVAL") and o["segments_mb"] <= 72,
              "created %d MiB of SysV shm under a 64M limit (%s)"
              % (o["segments_mb"], o["errno"]), o)
    segs = host_shm_segments_of_job()
    check(not segs, "SysV segments of the job uid visible on the host", segs)


@test("T04 POSIX message queues: bounded by RLIMIT_MSGQUEUE, gone with the job")
def t04_mqueue():
    o = ok_json(P("mqbomb", "10000"))
    check(o["errno"] in ("EMFILE", "ENOMEM", "ENOSPC") and o["queues"] < 1000,
          "opened %d queues (%s)" % (o["queues"], o["errno"]), o)
    if os.path.isdir("/dev/mqueue"):
        left = [n for n in os.listdir("/dev/mqueue") if n.startswith("probe-q")]
        check(not left, "job's message queues visible on the host", left)


@test("T05 disk fill of /tmp: ENOSPC at size=, nothing on the host disk")
def t05_bytes():
    o = ok_json(P("tmpfill", "/tmp/fill", "4096", memory="512M", wall_time="10s"))
    check(o["errno"] == "ENOSPC", "filling /tmp ended with %s" % o["errno"], o)
    check(0 < o.get("fs_bytes", 0) <= 2048 * MIB, "/tmp size %r is not capped" % o.get("fs_bytes"),
          o)
    check(o["written"] <= o["fs_bytes"], "wrote more than size=", o)
    check(not os.path.exists("/tmp/fill.0"), "the job wrote to the host's /tmp")


@test("T05 inode fill of /tmp: ENOSPC at nr_inodes=")
def t05_inodes():
    o = ok_json(P("inodefill", "/tmp", "2000000", memory="256M", wall_time="20s"))
    check(o["errno"] == "ENOSPC", "creating files ended with %s" % o["errno"], o)
    check(0 < o.get("fs_inodes", 0) <= 1000000, "/tmp nr_inodes %r not capped"
          % o.get("fs_inodes"), o)
    check(o["files"] <= o["fs_inodes"], "created more files than nr_inodes", o)


# ---- T06 rootfs --------------------------------------------------------------------------------

def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@test("T06 writes to the rootfs: EROFS, host files untouched")
def t06_rootfs():
    before = sha("/etc/passwd")
    o = ok_json(P("rootfs"))
    for what, err in o.items():
        check(err != "OK", "%s succeeded" % what, o)
    for what in ("create /x", "create /etc/x", "create /usr/bin/x", "create /usr/lib/x",
                 "create /bin/x", "create /lib/x", "create /probe/x", "mkdir /newdir",
                 "mkdir /usr/newdir", "symlink /etc/evil"):
        check(o[what] == "EROFS", "%s: %s, expected EROFS" % (what, o[what]), o)
    for what in ("open_w /etc/passwd", "open_w /etc/hosts", "open_w /etc/resolv.conf",
                 "open_w /usr/bin/env", "truncate /etc/passwd", "unlink /etc/passwd",
                 "chmod /etc/passwd", "create /root/.x", "create /var/x", "create /dev/x",
                 "create /proc/x"):
        check(o[what] in ("EROFS", "EACCES", "EPERM", "ENOENT"), "%s: %s" % (what, o[what]), o)
    check(sha("/etc/passwd") == before, "host /etc/passwd changed")
    check(not os.path.exists("/x") and not os.path.exists("/newdir"), "host root changed")


# ---- T07-T08 output ---------------------------------------------------------------------------

def run_with_rusage(args, timeout=60):
    """Runs a command; returns (rc, stdout, stderr, max RSS in KiB, seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    bufs = {}

    def drain(name, f):
        bufs[name] = f.read()

    readers = [threading.Thread(target=drain, args=(n, f))
               for n, f in (("out", p.stdout), ("err", p.stderr))]
    for t in readers:
        t.start()
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    p.stdout.close()
    p.stderr.close()
    return p.returncode, bufs["out"], bufs["err"], ru.ru_maxrss, time.monotonic() - t0


@test("T07 output flood (stdout, lines): capped at --output, truncated, job ended, bounded memory")
def t07_stdout():
    args = [SBX, "run", "--memory", "64M", "--wall-time", "10s", "--cpu-time", "10s",
            "--output", "1M", "--bind", PROBE_DIR + ":/probe", "--json", "--",
            "/probe/probe", "outflood", "10000000000", "1", "1"]
    rc, out, err, rss_kb, secs = run_with_rusage(args)
    r = json.loads(out)
    check(r["status"] == "output_limit" and r["limit"] == "output", "verdict", r["status"],
          r["limit"], r["message"])
    check(r["stdout_truncated"] is True, "stdout not flagged truncated")
    check(len(r["stdout"].encode()) == MIB, "captured %d bytes for a 1M cap"
          % len(r["stdout"].encode()))
    check(secs < 5, "a 10 GB flood took %.1fs: the job was not stopped at the cap" % secs)
    check(rss_kb < 64 * 1024, "sandboxctl peak RSS %d KiB for a 1M cap" % rss_kb)


@test("T07 output flood (stderr, one endless line): capped, truncated")
def t07_stderr():
    r = P("outflood", "2000000000", "2", "0", output="64K", wall_time="10s", cpu_time="10s")
    verdict(r, "output_limit", "output")
    check(r["stderr_truncated"] is True and len(r["stderr"].encode()) == 64 * 1024,
          "stderr: %d bytes, truncated=%r" % (len(r["stderr"].encode()), r["stderr_truncated"]))
    check(r["wall_ms"] < 5000, "took %d ms" % r["wall_ms"])


@test("T08 blocked pipe: a writer stuck on a full pipe still meets the wall limit")
def t08_blocked():
    r, secs = elapsed(lambda: P("blockpipe", "100000", "30", wall_time="1s", cpu_time="5s"))
    verdict(r, "timeout", "wall")
    check(len(r["stdout"]) == 100000, "output written before blocking: %d bytes" % len(r["stdout"]))
    check(1000 <= r["wall_ms"] < 2500 and secs < 4, "wall %d ms for a 1s limit" % r["wall_ms"])
    check(r["time_ms"] < 500, "blocked job used %d ms CPU" % r["time_ms"])


# ---- T09-T11 CPU and sleeping -----------------------------------------------------------------

@test("T09 CPU loop: killed at the CPU-time limit")
def t09_cpu():
    r = P("cpuloop", "30", cpu_time="1s", wall_time="10s")
    verdict(r, "timeout", "cpu")
    check(1000 <= r["time_ms"] < 1700, "CPU time %d ms for a 1s limit" % r["time_ms"])
    check(r["wall_ms"] < 4000, "wall %d ms" % r["wall_ms"])


@test("T10 CPU burn in re-forking children: the cgroup total stops it")
def t10_children():
    r = P("cpuburn", "0", "3", "30", cpu_time="1s", wall_time="10s")
    verdict(r, "timeout", "cpu")
    check(1000 <= r["time_ms"] < 1800, "CPU time %d ms for a 1s limit" % r["time_ms"])
    check(r["wall_ms"] < 4000, "wall %d ms: the children's CPU was not counted" % r["wall_ms"])


@test("T10 CPU burn in threads: the cgroup total stops it")
def t10_threads():
    r = P("cpuburn", "4", "0", "30", cpu_time="1s", wall_time="10s")
    verdict(r, "timeout", "cpu")
    check(1000 <= r["time_ms"] < 1800, "CPU time %d ms for a 1s limit" % r["time_ms"])
    check(r["wall_ms"] < 4000, "wall %d ms" % r["wall_ms"])


@test("T10 CPU burn: throttled to the CPU quota (one CPU by default)")
def t10_quota():
    if os.cpu_count() < 2:
        skip("one CPU: throttling to one CPU is not observable")
    r = P("cpuburn", "4", "0", "30", cpu_time="1500ms", wall_time="10s")
    verdict(r, "timeout", "cpu")
    check(r["time_ms"] <= 1.25 * r["wall_ms"] + 150,
          "%d ms CPU in %d ms wall: more than one CPU" % (r["time_ms"], r["wall_ms"]))


def sleeper(mode):
    r, secs = elapsed(lambda: P("sleep", mode, "60", wall_time="1s", cpu_time="5s"))
    verdict(r, "timeout", "wall")
    check(1000 <= r["wall_ms"] < 2500 and secs < 4, "wall %d ms for a 1s limit" % r["wall_ms"])
    check(r["time_ms"] < 300, "sleeping job used %d ms CPU" % r["time_ms"])


@test("T11 sleep forever: wall-clock timeout, no CPU")
def t11_sleep():
    sleeper("sleep")


@test("T11 pause(): wall-clock timeout, no CPU")
def t11_pause():
    sleeper("pause")


@test("T11 blocking read: wall-clock timeout, no CPU")
def t11_read():
    sleeper("read")


# ---- T12-T16 ------------------------------------------------------------------------------------

@test("T12 double-fork daemon (setsid, signals ignored, subreaper): dies with the job")
def t12_daemon():
    o = ok_json(P("daemon", "close", "60"))
    check(o["daemon_ready"], "the daemon did not start", o)
    check(not host_procs_named("sbx-daemon"), "the daemon survived the job")


@test("T12 daemon holding stdout open: the job ends when the main program does")
def t12_hold():
    r, secs = elapsed(lambda: P("daemon", "hold", "60", wall_time="10s"))
    o = ok_json(r)
    check(o["daemon_ready"], "the daemon did not start", o)
    check(secs < 3 and r["wall_ms"] < 2000, "took %.1fs: waited for the daemon's stdout" % secs,
          r)
    check(not host_procs_named("sbx-daemon"), "the daemon survived the job")


@test("T12 respawning daemon (a new pid every 5 ms): dies with the job")
def t12_respawn():
    o = ok_json(P("daemon", "respawn", "60", pids=64))
    check(o["daemon_ready"], "the daemon did not start", o)
    check(not host_procs_named("sbx-daemon"), "the daemon survived the job")


@test("T13 zombies: unreaped children count toward pids.max")
def t13_zombies():
    o = ok_json(P("zombies", "unreaped", "1000", pids=16))
    check(o["errno"] == "EAGAIN" and 0 < o["forked"] < 16,
          "forked %d zombies under pids 16 (%s)" % (o["forked"], o["errno"]), o)


@test("T13 orphaned zombies: PID 1 of the jail reaps them")
def t13_orphans():
    # What is tested is the pids limit (8): 100 rounds only fit if orphans are reaped. The CPU
    # and wall limits are wide because the cgroup-v2 guest (User-Mode Linux) forks ~20x slower.
    o = ok_json(P("zombies", "orphans", "100", pids=8, cpu_time="20s", wall_time="40s"))
    check(o["errno"] == "OK" and o["rounds"] == 100,
          "only %d rounds (%s): orphans are not reaped" % (o["rounds"], o["errno"]), o)


@test("T14 fd exhaustion: EMFILE at an explicit RLIMIT_NOFILE")
def t14_fds():
    for kind in ("file", "pipe", "eventfd", "socket", "epoll"):
        o = ok_json(P("fds", kind))
        check(o["errno"] == "EMFILE", "%s: ended with %s, expected EMFILE" % (kind, o["errno"]), o)
        check(0 < o["nofile_hard"] <= 4096, "nofile hard limit %d" % o["nofile_hard"], o)
        check(o["raise_hard"] == "EPERM", "%s: raising the hard limit: %s" % (kind, o["raise_hard"]))
        per = 2 if kind in ("pipe", "socket") else 1
        check(o["opened"] * per + 3 >= o["nofile_hard"] - per, "%s: EMFILE after %d" % (
            kind, o["opened"]), o)


@test("T15 huge argv/env: E2BIG, normal exec still works")
def t15_bigexec():
    o = ok_json(P("bigexec", memory="128M"))
    for k in ("arg_1m", "argv_100m", "env_100m"):
        check(o[k] == "E2BIG", "%s: %s, expected E2BIG" % (k, o[k]), o)
    check(o["sane"] == "exec_ok", "a normal exec failed: %s" % o["sane"], o)


@test("T16 core dumps: RLIMIT_CORE 0 and cannot be raised; no core written")
def t16_core():
    o = ok_json(P("core", "32", "3", memory="128M"))
    check(o["core_soft"] == 0 and o["core_hard"] == 0, "core rlimit %r/%r" % (
        o["core_soft"], o["core_hard"]), o)
    check(o["raise_core_limit"] == "EPERM", "raising RLIMIT_CORE: %s" % o["raise_core_limit"])
    check(len(o["crashes"]) == 3, "crashes", o)
    for c in o["crashes"]:
        check(c["signal"] == 11 and not c["core_dumped"], "a core was dumped", o)
    check(o["core_files"] == [], "core files in the job's cwd", o)
