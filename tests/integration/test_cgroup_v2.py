"""test_cgroup_v2.py - what only the cgroup-v2 backend promises; run in the v2 guest.

v2 kills an out-of-memory job as a whole (memory.oom.group), reports its peak from memory.peak
and starts the job straight inside its leaf (CLONE_INTO_CGROUP).
"""

from harness import check, run, sandboxctl, test


@test("v2 backend: sandboxctl check reports cgroup v2 and a runnable jail", v2_only=True)
def t_v2_backend():
    rc, out, err = sandboxctl("check")
    check(rc == 0, "check failed", out, err)
    check(" v2 (" in out, "not the v2 backend", out)


@test("v2 oom.group: one process over the limit takes the whole job down", v2_only=True)
def t_v2_oom_group():
    # The main process sleeps far past the limits; only its child allocates. With
    # memory.oom.group the kernel kills both, so the job ends at once as memory_limit.
    prog = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    x = bytearray(200 << 20)\n"
            "    time.sleep(60)\n"
            "time.sleep(60)\n")
    r = run("python3", "-c", prog, memory="48M", wall_time="30s", cpu_time="20s", probes=False)
    check(r.get("status") == "memory_limit" and r.get("limit") == "memory", "not memory_limit", r)
    check(r.get("wall_ms", 99999) < 20000, "the job outlived its OOM-killed member", r)


@test("v2 memory.peak: the peak is reported, not the usage at the end", v2_only=True)
def t_v2_peak():
    prog = "x = bytearray(40 << 20); del x; print('done')"
    r = run("python3", "-c", prog, memory="128M", probes=False)
    check(r.get("status") == "ok", "job failed", r)
    check(r.get("memory_kb", 0) >= 40 * 1024, "peak below what was allocated", r)
