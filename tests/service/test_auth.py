"""test_auth.py - API keys (who may call, whose jobs one sees) and the rate limit."""

import time

from harness import DEFAULT_CONFIG, Service, check, py, sleeper, test

ALICE = "alice-key-0123456789"
BOB = "bob-key-0123456789ab"


def auth_config():
    cfg = dict(DEFAULT_CONFIG)
    cfg["api_keys"] = [{"name": "alice", "key": ALICE}, {"name": "bob", "key": BOB}]
    return cfg


@test("auth: keys required, X-API-Key and Bearer, open probes")
def t_auth_keys():
    with Service(auth_config(), name="auth") as s:
        for path in ("/api/v1/languages", "/api/v1/jobs", "/api/v1/queue", "/metrics"):
            r = s.get(path)
            check(r.status == 401, "GET %s without a key: want 401" % path, r)
            check(r.error.get("code") == "unauthorized", "error.code", r)
        r = s.req("POST", "/api/v1/execute", py("print(1)"))
        check(r.status == 401, "POST /api/v1/execute without a key: want 401", r)
        for hdrs in ({"X-API-Key": "alice-key-0123456788"}, {"X-API-Key": ALICE[:-1]},
                     {"X-API-Key": ALICE + "0"}, {"Authorization": "Bearer " + BOB[:-1]},
                     {"Authorization": "Basic " + ALICE}, {"X-API-Key": ""}):
            r = s.get("/api/v1/languages", headers=hdrs)
            check(r.status == 401, "wrong key %r: want 401" % hdrs, r)
        for hdrs in ({"X-API-Key": ALICE}, {"Authorization": "Bearer " + BOB}):
            r = s.get("/api/v1/languages", headers=hdrs)
            check(r.status == 200, "good key %r: want 200" % hdrs, r)
        res = s.req("POST", "/api/v1/execute", py("print('authorized')"),
                    headers={"Authorization": "Bearer " + ALICE})
        check(res.status == 200 and (res.json or {}).get("stdout") == "authorized\n",
              "execute with a Bearer key", res)
        for path in ("/healthz", "/readyz"):
            check(s.get(path).status == 200, "%s must not need a key" % path)


@test("auth: a key sees only its own jobs")
def t_auth_owner():
    with Service(auth_config(), name="owner") as s:
        a, b = {"X-API-Key": ALICE}, {"X-API-Key": BOB}
        r = s.expect(s.req("POST", "/api/v1/jobs", py("print('alice')"), headers=a), 202)
        jid = r.json["id"]
        s.keys = a
        s.wait_job(jid, {"ok"})
        s.keys = {}
        r = s.get("/api/v1/jobs/" + jid, headers=b)
        check(r.status == 404, "bob GETs alice's job: want 404", r)
        r = s.req("DELETE", "/api/v1/jobs/" + jid, headers=b)
        check(r.status == 404, "bob DELETEs alice's job: want 404", r)
        r = s.expect(s.get("/api/v1/jobs/" + jid, headers=a), 200, "alice's job after bob")
        check(r.json.get("stdout") == "alice\n", "alice's job intact", r)
        bobs = s.expect(s.get("/api/v1/jobs?limit=1000", headers=b), 200).json["jobs"]
        check(jid not in {j["id"] for j in bobs}, "alice's job in bob's list", bobs)
        alices = s.expect(s.get("/api/v1/jobs?limit=1000", headers=a), 200).json["jobs"]
        check(jid in {j["id"] for j in alices}, "alice's job missing from her list", alices)
        # a running job: bob cannot cancel it either
        r = s.expect(s.req("POST", "/api/v1/jobs", sleeper(), headers=a), 202)
        long_id = r.json["id"]
        s.keys = a
        try:
            s.wait_job(long_id, {"running"}, timeout=10)
            r = s.req("DELETE", "/api/v1/jobs/" + long_id, headers=b, timeout=15)
            check(r.status == 404, "bob cancels alice's running job: want 404", r)
            check(s.job(long_id).get("status") == "running", "bob's DELETE stopped the job")
        finally:
            r = s.req("DELETE", "/api/v1/jobs/" + long_id, timeout=15)
        check(r.status == 200 and r.json.get("status") == "cancelled",
              "alice cancels her job", r)


@test("rate limit: burst 3 then 429 with Retry-After")
def t_rate_limit():
    cfg = dict(DEFAULT_CONFIG)
    cfg["rate_limit"] = {"per_second": 1, "burst": 3}
    with Service(cfg, name="rate") as s:
        codes = [s.get("/api/v1/languages").status for _ in range(3)]
        r = s.get("/api/v1/languages")
        check(codes == [200, 200, 200], "the burst of 3 must pass", codes)
        check(r.status == 429, "the 4th quick request: want 429", r)
        check(r.error.get("code") == "rate_limited", "error.code", r)
        ra = r.header("Retry-After")
        check(ra is not None and ra.isdigit() and int(ra) >= 1, "Retry-After %r" % ra, r)
        check(s.get("/healthz").status == 200, "/healthz is not rate limited")
        time.sleep(1.2)
        r = s.get("/api/v1/languages")
        check(r.status == 200, "one token back after 1.2 s at 1/s", r)
        r = s.get("/api/v1/languages")
        check(r.status == 429, "and only one", r)
