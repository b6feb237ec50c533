"""test_lifecycle.py - stopping and dying: SIGTERM drains, kill -9 loses nothing but the jobs
that were running, and both leave no process or cgroup behind."""

import os
import signal
import threading
import time

from harness import (CGROUP_PARENT, Service, check, jail_processes, job_cgroups, pid_alive, py,
                     sleeper, test, wait_until)


def brief(answer):
    """An answer or the exception instead of one, on one line."""
    if isinstance(answer, Exception):
        return (str(answer).splitlines() or [repr(answer)])[0]
    return repr(answer)


def one_slot():
    return {"host_fallback": True, "slots": 1, "queue_max": 10,
            "rate_limit": {"per_second": 0, "burst": 1}, "shutdown_grace_ms": 5000}


@test("SIGTERM: in-flight /execute answered, exit 0, queued jobs run after restart")
def t_sigterm():
    with Service(one_slot(), name="sigterm") as s:
        before = s.execute(py("print('before')"))
        answer = {}

        def client(key, body):
            try:
                answer[key] = s.req("POST", "/api/v1/execute", body, timeout=30)
            except Exception as e:  # noqa: BLE001 - reported below
                answer[key] = e

        t = threading.Thread(target=client, args=(
            "running", py("import time\ntime.sleep(1)\nprint('in flight')")))
        t.start()
        check(wait_until(lambda: s.queue().get("running") == 1, 5), "the /execute never ran")
        queued = [s.submit(py("print('queued %d')" % i))["id"] for i in range(2)]
        # an /execute waiting behind it: its client is told to go elsewhere
        t2 = threading.Thread(target=client, args=("waiting", py("print('never')")))
        t2.start()
        check(wait_until(lambda: s.queue().get("queued") == 3, 5), "3 jobs should wait",
              s.queue())
        for jid in queued:
            check(s.job(jid).get("status") == "queued", "job %s should wait" % jid)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        t.join(20)
        t2.join(20)
        # what the two clients got is checked last: the restart is worth checking anyway
        wrong = []
        r = answer.get("running")
        if isinstance(r, Exception) or r is None or r.status != 200 or \
                (r.json or {}).get("status") != "ok" or r.json.get("stdout") != "in flight\n":
            wrong.append("the in-flight /execute must get its 200 ok, got %s" % brief(r))
        w = answer.get("waiting")
        if isinstance(w, Exception) or w is None or w.status != 503 or \
                w.error.get("code") != "shutting_down" or not w.header("Retry-After"):
            wrong.append("a queued /execute must get 503 shutting_down with Retry-After, got %s"
                         % brief(w))
        if wrong:
            wrong.append(s.stderr_tail(12))
        try:
            rc = s.proc.wait(timeout=20)
        except Exception:
            raise AssertionError("sandboxd did not exit within 20 s of SIGTERM%s"
                                 % s.stderr_tail())
        check(rc == 0, "exit status %d after SIGTERM" % rc, s.stderr_tail())
        check(time.monotonic() - t0 < 15, "draining took longer than the job needed")
        check(not jail_processes(), "jail processes outlived sandboxd", jail_processes())

        s.start()  # the same state directory
        for i, jid in enumerate(queued):
            j = s.wait_job(jid, {"ok", "failed", "cancelled", "runtime_error"}, timeout=10)
            check(j.get("status") == "ok" and j.get("stdout") == "queued %d\n" % i,
                  "queued job %d after the restart" % i, j)
        old = s.job(before["id"])
        check(old.get("status") == "ok" and old.get("stdout") == "before\n",
              "a job from before the restart", old)
        ran = [j for j in s.expect(s.get("/api/v1/jobs?limit=10"), 200).json["jobs"]
               if j.get("id") not in queued and j.get("id") != before["id"]]
        check([j.get("status") for j in ran] == ["failed", "ok"],
              "history: the refused /execute failed, the drained one ok", ran)
        rc = s.stop()
        check(rc == 0, "exit status %s on the second SIGTERM" % rc, s.stderr_tail())
        check(not wrong, "the clients in flight at SIGTERM", *wrong)


@test("kill -9: running job failed (interrupted), queued job runs, no stale cgroup")
def t_kill9():
    with Service(one_slot(), name="kill9") as s:
        before = s.execute(py("print('before')"))
        long_id = s.submit(sleeper())["id"]
        s.wait_job(long_id, {"running"}, timeout=10)
        queued = s.submit(py("print('after the crash')"))["id"]
        check(s.job(queued).get("status") == "queued", "the second job waits")
        old_sup = s.supervisor_pid()
        check(old_sup, "no supervisor process under sandboxd %d" % s.proc.pid)
        old_leaves = [c for c in job_cgroups()
                      if os.path.basename(c).startswith("job-%d-" % old_sup)]
        check(old_leaves, "the running job has no job-%d-* cgroup under %s"
              % (old_sup, CGROUP_PARENT), job_cgroups())
        check(wait_until(jail_processes, 5), "no jail process while the job runs")

        s.kill9()
        check(not pid_alive(old_sup), "the supervisor survived SIGKILL")
        gone = wait_until(lambda: not jail_processes(), 10)
        check(gone, "the jail outlived its supervisor by 10 s", jail_processes())

        s.start()  # the same state directory
        j = s.wait_job(long_id, {"failed", "ok", "cancelled", "timeout"}, timeout=10)
        check(j.get("status") == "failed", "the interrupted job must be failed", j)
        check("interrupted" in (j.get("error") or ""), "error must say interrupted", j)
        j = s.wait_job(queued, {"ok", "failed", "cancelled", "runtime_error"}, timeout=20)
        check(j.get("status") == "ok" and j.get("stdout") == "after the crash\n",
              "the queued job after the restart", j)
        old = s.job(before["id"])
        check(old.get("status") == "ok" and old.get("stdout") == "before\n",
              "a finished job from before the crash", old)
        stale = wait_until(lambda: not [c for c in job_cgroups() if
                                        os.path.basename(c).startswith("job-%d-" % old_sup)], 3)
        check(stale, "cgroups of the killed supervisor remain", job_cgroups())
        rc = s.stop()
        check(rc == 0, "exit status %s on SIGTERM after the restart" % rc, s.stderr_tail())


@test("SIGTERM: a job past shutdown_grace_ms is stopped and recorded failed")
def t_grace():
    cfg = one_slot()
    cfg["shutdown_grace_ms"] = 500
    with Service(cfg, name="grace") as s:
        jid = s.submit(sleeper())["id"]
        s.wait_job(jid, {"running"})
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        try:
            rc = s.proc.wait(timeout=10)
        except Exception:
            raise AssertionError("sandboxd did not exit within 10 s of SIGTERM (grace 0.5 s)%s"
                                 % s.stderr_tail())
        took = time.monotonic() - t0
        check(rc == 0, "exit status %d" % rc, s.stderr_tail())
        check(took < 5, "stopping took %.1f s with a 0.5 s grace period" % took)
        check(not jail_processes(), "the job outlived sandboxd", jail_processes())
        s.start()
        j = s.job(jid)
        check(j.get("status") == "failed" and "grace" in (j.get("error") or ""),
              "the job stopped at the end of the grace period: failed, saying why", j)
        rc = s.stop()
        check(rc == 0, "exit status %s on the second SIGTERM" % rc, s.stderr_tail())
