"""test_jobs.py - asynchronous jobs: cancelling them (running and queued), and callbacks."""

import json
import time

from harness import Receiver, check, py, shared, sleeper, test, wait_until


@test("cancel a running job: cancelled in < 5 s")
def t_cancel_running():
    s = shared()
    jid = s.submit(sleeper())["id"]
    try:
        s.wait_job(jid, {"running"}, timeout=10)
        time.sleep(0.3)  # well inside the program, not in its start-up
        t0 = time.monotonic()
        r = s.req("DELETE", "/api/v1/jobs/" + jid, timeout=15)
        took = time.monotonic() - t0
    except BaseException:
        s.cancel_all([jid])  # the slot must be free for the next test
        raise
    s.expect(r, 200, "DELETE of a running job")
    check(r.json.get("id") == jid and r.json.get("status") == "cancelled",
          "the answer is the job, cancelled", r)
    check(took < 5, "cancelling took %.1f s" % took)
    j = s.job(jid)
    check(j.get("status") == "cancelled" and j.get("finished_at"), "GET after cancel", j)
    q = s.queue()
    check(q.get("running") == 0 and q.get("queued") == 0, "the slot is free again", q)


@test("cancel a queued job: it never starts")
def t_cancel_queued():
    s = shared()
    ids = []
    try:
        for _ in range(2):  # the shared service has 2 slots: fill them
            ids.append(s.submit(sleeper())["id"])
        for jid in ids:
            s.wait_job(jid, {"running"}, timeout=10)
        queued = s.submit(py("print('must not run')"))["id"]
        ids.append(queued)
        check(s.job(queued).get("status") == "queued", "the third job waits")
        r = s.expect(s.req("DELETE", "/api/v1/jobs/" + queued, timeout=15), 200,
                     "DELETE of a queued job")
        check(r.json.get("id") == queued and r.json.get("status") == "cancelled",
              "the answer is the job, cancelled", r)
        j = s.job(queued)
        check(j.get("status") == "cancelled" and j.get("started_at") is None,
              "a cancelled queued job never started", j)
        check("stdout" not in j or not j["stdout"], "it produced no output", j)
        q = s.queue()
        check(q.get("queued") == 0 and q.get("running") == 2, "queue after the cancel", q)
        for jid in ids[:2]:
            r = s.expect(s.req("DELETE", "/api/v1/jobs/" + jid, timeout=15), 200, "cancel")
            check(r.json.get("status") == "cancelled", "cancel of a running job", r)
    except BaseException:
        s.cancel_all(ids)  # the slots must be free for the next test
        raise
    # a cancelled job is finished: DELETE now removes it
    r = s.expect(s.req("DELETE", "/api/v1/jobs/" + queued), 200, "DELETE cancelled job")
    check(r.json == {"id": queued, "deleted": True}, "deleting a cancelled job", r)


def callback_body(post):
    try:
        return json.loads(post[1].decode())
    except ValueError:
        raise AssertionError("the callback body is not JSON: %r" % post[1][:300])


@test("callback: the finished job is POSTed to callback_url")
def t_callback():
    s = shared()
    with Receiver() as rcv:
        jid = s.submit(py("print('called back')", callback_url=rcv.url))["id"]
        check(wait_until(rcv.delivered, 15), "no callback within 15 s", s.job(jid),
              s.stderr_tail(10))
        time.sleep(0.3)
        check(len(rcv.posts) == 1, "delivered more than once", [p[2] for p in rcv.posts])
        hdrs, _, _ = rcv.posts[0]
        body = callback_body(rcv.posts[0])
        check(body.get("id") == jid and body.get("status") == "ok" and
              body.get("stdout") == "called back\n", "the callback body", body)
        ctype = {k.lower(): v for k, v in hdrs.items()}.get("content-type", "")
        check(ctype.startswith("application/json"), "Content-Type %r" % ctype)
        job_hdr = {k.lower(): v for k, v in hdrs.items()}.get("x-sandboxd-job")
        check(job_hdr == jid, "X-Sandboxd-Job %r" % job_hdr)
        j = wait_until(lambda: (lambda j: j if (j.get("callback") or {}).get("state") ==
                                "delivered" else None)(s.job(jid)), 5) or s.job(jid)
        check(j.get("callback") == {"url": rcv.url, "state": "delivered"},
              "GET shows the callback delivered", j)


@test("callback: retried after two 500s, then delivered")
def t_callback_retry():
    s = shared()
    with Receiver(fail=2) as rcv:
        t0 = time.monotonic()
        jid = s.submit(py("print('third time')", callback_url=rcv.url))["id"]
        check(wait_until(rcv.delivered, 20), "not delivered within 20 s",
              [p[2] for p in rcv.posts], s.job(jid), s.stderr_tail(10))
        took = time.monotonic() - t0
        check([p[2] for p in rcv.posts] == [500, 500, 200], "attempts",
              [p[2] for p in rcv.posts])
        check(took >= 1.0, "retries came without backoff (%.2f s for three attempts)" % took)
        body = callback_body(rcv.posts[-1])
        check(body.get("id") == jid and body.get("stdout") == "third time\n", "body", body)
        j = wait_until(lambda: (lambda j: j if (j.get("callback") or {}).get("state") ==
                                "delivered" else None)(s.job(jid)), 5) or s.job(jid)
        check((j.get("callback") or {}).get("state") == "delivered",
              "GET shows the callback delivered", j)
