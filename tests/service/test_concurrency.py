"""test_concurrency.py - many clients at once: every answer arrives, each with its own output,
never more jobs running than slots; a full queue says 429 with Retry-After."""

import threading
import time

from harness import Service, check, py, shared, sleeper, test

N_CLIENTS = 12
SLEEP_S = 0.3


@test("12 concurrent /execute on 2 slots: all answered, own output, <= 2 running")
def t_burst():
    s = shared()
    results = [None] * N_CLIENTS
    samples = []
    done = threading.Event()

    def client(i):
        try:
            results[i] = s.req("POST", "/api/v1/execute", py(
                "import time, sys\ntime.sleep(%s)\nprint('client-%d', sys.argv[1:])"
                % (SLEEP_S, i), args=[str(i)]), timeout=20)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    def sampler():
        while not done.is_set():
            try:
                samples.append(s.queue())
            except AssertionError:
                pass
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(N_CLIENTS)]
    watch = threading.Thread(target=sampler)
    t0 = time.monotonic()
    watch.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(25)
    elapsed = time.monotonic() - t0
    done.set()
    watch.join(5)

    bad = []
    for i, r in enumerate(results):
        if r is None or isinstance(r, Exception):
            bad.append("client %d: no answer (%r)" % (i, r))
        elif r.status != 200 or (r.json or {}).get("status") != "ok":
            bad.append("client %d: %r" % (i, r))
        elif r.json.get("stdout") != "client-%d ['%d']\n" % (i, i):
            bad.append("client %d got someone else's output: %r" % (i, r.json.get("stdout")))
    check(not bad, "%d of %d clients went wrong" % (len(bad), N_CLIENTS), *(bad + [
        s.stderr_tail(10)]))
    ids = [r.json.get("id") for r in results]
    check(len(set(ids)) == N_CLIENTS, "job ids are not distinct", ids)
    running = [q.get("running") for q in samples]
    check(samples, "no /api/v1/queue sample during the burst")
    check(max(running) <= 2, "more jobs ran than the 2 slots", running)
    check(max(q.get("queued", 0) for q in samples) > 0,
          "12 clients on 2 slots never showed a queued job", samples[:5])
    # 12 jobs of 0.3 s on 2 slots cannot finish in less than 6 rounds
    check(elapsed >= N_CLIENTS / 2 * SLEEP_S * 0.9,
          "12 x 0.3 s on 2 slots took %.2f s: the slots do not limit" % elapsed)


@test("queue full: 429 with Retry-After (slots 1, queue_max 1)")
def t_queue_full():
    cfg = {"host_fallback": True, "slots": 1, "queue_max": 1,
           "rate_limit": {"per_second": 0, "burst": 1}}
    with Service(cfg, name="qfull") as s:
        first = s.submit(sleeper())["id"]
        s.wait_job(first, {"running"}, timeout=10)
        second = s.submit(sleeper())["id"]
        q = s.queue()
        check(q.get("running") == 1 and q.get("queued") == 1 and q.get("slots") == 1,
              "one running, one queued", q)
        for path in ("/api/v1/jobs", "/api/v1/execute"):
            r = s.req("POST", path, py("print(1)"), timeout=15)
            check(r.status == 429, "POST %s on a full queue: want 429" % path, r,
                  s.stderr_tail(8))
            check(r.error.get("code") == "queue_full", "error.code", r)
            ra = r.header("Retry-After")
            check(ra is not None and ra.isdigit() and int(ra) >= 1,
                  "Retry-After must be a number of seconds >= 1, got %r" % ra, r)
        check(s.job(second).get("status") == "queued", "the queued job stays queued")
        # the queue did not grow behind the refusals
        q = s.queue()
        check(q.get("queued") == 1, "refused jobs were queued", q)
        for jid in (second, first):
            r = s.expect(s.req("DELETE", "/api/v1/jobs/" + jid, timeout=15), 200, "cancel")
            check(r.json.get("status") == "cancelled", "cancel answer", r)
        rc = s.stop()
        check(rc == 0, "exit status %s on SIGTERM" % rc, s.stderr_tail())
