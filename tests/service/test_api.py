"""test_api.py - every endpoint doing its job, as a client sees it (shared service)."""

import base64
import json
import re

from harness import check, py, shared, test

RESULT_KEYS = ("id", "language", "version", "status", "exit_code", "signal", "time_ms", "wall_ms",
               "memory_kb", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "limit",
               "message", "compile")

PROGRAM = r"""
import json, os, sys
out = {
    "argv": sys.argv[1:],
    "stdin": sys.stdin.read(),
    "env": os.environ.get("GREETING"),
    "cwd": os.getcwd(),
    "sub": open("pkg/data.txt").read(),
    "bin": open("blob.bin", "rb").read().hex(),
    "entry": os.path.basename(sys.argv[0]),
}
print(json.dumps(out))
print("to stderr", file=sys.stderr)
"""


def ok_result(res, what):
    check(isinstance(res, dict), "%s: the answer is not a JSON object" % what, res)
    missing = [k for k in RESULT_KEYS if k not in res]
    check(not missing, "%s: the answer lacks %s" % (what, missing), res)
    check(res["status"] == "ok" and res["exit_code"] == 0,
          "%s: status %r exit %r" % (what, res["status"], res["exit_code"]), res)
    return res


def python_version(s):
    """What /api/v1/languages says python is (on the host fallback: the host's python)."""
    langs = s.expect(s.get("/api/v1/languages"), 200).json["languages"]
    return next(l["version"] for l in langs if l["name"] == "python")


@test("execute python: files in a subdirectory, base64, stdin, args, env")
def t_execute_python():
    s = shared()
    blob = b"\x00\x01\xfe\xffsandbox"
    res = s.execute({
        "language": "python",
        "files": [
            {"name": "prog.py", "content": PROGRAM},
            {"name": "pkg/data.txt", "content": "in a subdirectory \u00e9", "encoding": "utf8"},
            {"name": "blob.bin", "content": base64.b64encode(blob).decode(),
             "encoding": "base64"},
        ],
        "stdin": "line one\nline two\n",
        "args": ["a b", "--flag", ""],
        "env": {"GREETING": "hello world"},
    })
    ok_result(res, "python with files")
    check(res["language"] == "python" and res["version"] == python_version(s),
          "language/version", res)
    check(re.fullmatch(r"[A-Za-z0-9_-]{8,64}", res["id"] or ""), "no usable job id", res)
    check(res["stderr"] == "to stderr\n", "stderr", res)
    check(res["compile"] is None and res["limit"] is None, "compile/limit not null", res)
    check(res["stdout_truncated"] is False and res["stderr_truncated"] is False,
          "truncation flags", res)
    try:
        out = json.loads(res["stdout"])
    except ValueError:
        raise AssertionError("the program's stdout is not JSON: %r" % res)
    want = {"argv": ["a b", "--flag", ""], "stdin": "line one\nline two\n",
            "env": "hello world", "cwd": "/box", "sub": "in a subdirectory \u00e9",
            "bin": blob.hex(), "entry": "prog.py"}
    bad = ["%s: got %r, want %r" % (k, out.get(k), v) for k, v in want.items() if out.get(k) != v]
    check(not bad, "what the program saw", *bad)
    for k in ("time_ms", "wall_ms", "memory_kb"):
        check(isinstance(res[k], (int, float)) and res[k] >= 0, "%s is not a count" % k, res)


@test("execute python with code, an alias and input")
def t_execute_code():
    s = shared()
    res = s.execute({"language": "py", "code": "import sys\nprint(sys.argv[0], input())",
                     "input": "from input\n"})
    ok_result(res, "python code")
    check(res["language"] == "python", "an alias must answer with the language's name", res)
    check(res["stdout"] == "main.py from input\n", "stdout", res)


@test("execute bash")
def t_execute_bash():
    s = shared()
    res = s.execute({"language": "sh", "code": 'read x; echo "$1|$GREETING|$x|$(pwd)"',
                     "args": ["arg1"], "env": {"GREETING": "hi"}, "stdin": "typed\n"})
    ok_result(res, "bash")
    check(res["language"] == "bash", "language", res)
    check(res["stdout"] == "arg1|hi|typed|/box\n", "stdout", res)


@test("exit code and exception -> runtime_error")
def t_runtime_error():
    s = shared()
    res = s.execute(py("import sys\nprint('before')\nsys.exit(3)"))
    check(res.get("status") == "runtime_error" and res.get("exit_code") == 3,
          "sys.exit(3): want runtime_error / 3", res)
    check(res.get("stdout") == "before\n", "stdout before the exit", res)
    res = s.execute(py("1/0"))
    check(res.get("status") == "runtime_error" and res.get("exit_code") == 1,
          "1/0: want runtime_error / 1", res)
    check("ZeroDivisionError" in res.get("stderr", ""), "the traceback is in stderr", res)
    res = s.execute({"language": "bash", "code": "exit 7"})
    check(res.get("status") == "runtime_error" and res.get("exit_code") == 7, "bash exit 7", res)


@test("wall time limit -> timeout")
def t_timeout():
    s = shared()
    res = s.execute(py("while True: pass", limits={"wall_ms": 700, "cpu_ms": 5000}), timeout=30)
    check(res.get("status") == "timeout", "busy loop with wall_ms 700: want timeout", res)
    check(res.get("limit") in ("wall", "cpu"), "limit names what was hit", res)
    check(600 <= res.get("wall_ms", 0) < 5000, "wall_ms should be about 700", res)
    res = s.execute(py("import time; time.sleep(20)", limits={"wall_ms": 500}), timeout=30)
    check(res.get("status") == "timeout" and res.get("limit") == "wall",
          "sleep with wall_ms 500: want timeout/wall", res)


@test("memory limit -> memory_limit")
def t_memory():
    s = shared()
    res = s.execute(py("b = b'x' * (400 << 20)\nprint(len(b))", limits={"memory_mb": 64}),
                    timeout=30)
    check(res.get("status") == "memory_limit", "400 MiB under memory_mb 64: want memory_limit",
          res)
    check(res.get("limit") == "memory", "limit", res)
    check(res.get("stdout") == "", "the program never printed", res)


@test("output limit -> output_limit, truncated")
def t_output():
    s = shared()
    res = s.execute(py("import sys\nfor i in range(1000): sys.stdout.write('y' * 1000)",
                       limits={"output_kb": 16}), timeout=30)
    check(res.get("status") == "output_limit", "1 MB out, output_kb 16: want output_limit", res)
    check(res.get("stdout_truncated") is True, "stdout_truncated", res)
    out = res.get("stdout", "")
    check(0 < len(out) <= 16 * 1024 and set(out) == {"y"},
          "stdout: up to 16 KiB of what was written, got %d bytes" % len(out))


@test("GET /api/v1/languages")
def t_languages():
    s = shared()
    r = s.expect(s.get("/api/v1/languages"), 200)
    langs = {l.get("name"): l for l in (r.json or {}).get("languages", [])}
    check(set(langs) >= {"python", "bash"}, "python and bash listed", r)
    for name, aliases in (("python", {"python3", "py"}), ("bash", {"sh", "shell"})):
        l = langs[name]
        check(set(l.get("aliases", [])) == aliases, "%s aliases" % name, l)
        check(l.get("rootfs") == "host" and l.get("ready") is True,
              "%s runs on the host rootfs here (no image, host_fallback)" % name, l)
        check(l.get("version") and l.get("image"), "%s version/image" % name, l)


@test("GET /api/v1/queue, /healthz, /readyz")
def t_queue_health():
    s = shared()
    q = s.queue()
    want = {"queued": 0, "running": 0, "slots": 2, "queue_max": 20, "draining": False}
    bad = ["%s = %r, want %r" % (k, q.get(k), v) for k, v in want.items() if q.get(k) != v]
    check(not bad, "idle queue", q, *bad)
    check(isinstance(q.get("totals"), dict), "totals", q)
    check(q["totals"].get("ok", 0) >= 1, "totals count the ok jobs run so far", q)
    r = s.expect(s.get("/healthz"), 200)
    check(r.json is not None, "/healthz answers JSON", r)
    r = s.expect(s.get("/readyz"), 200)
    check((r.json or {}).get("ready") is True, "/readyz ready", r)


def metric(text, name, labels=None):
    """The value of one sample; 0 when it is absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in (labels or {}).items()) and \
                (labels is not None or not have):
            return float(m.group(3))
    return 0.0


@test("GET /metrics: counters move with a job")
def t_metrics():
    s = shared()
    r0 = s.expect(s.get("/metrics"), 200)
    check((r0.header("Content-Type") or "").startswith("text/plain"), "content type",
          r0.header("Content-Type"))
    before = r0.body.decode()
    for name in ("sandboxd_jobs_total", "sandboxd_queue_depth", "sandboxd_job_run_seconds",
                 "sandboxd_job_overhead_seconds", "sandboxd_http_requests_total"):
        check(("# TYPE %s " % name) in before, "no # TYPE line for %s" % name, before[:3000])
    s.execute(py("print('metrics')"))
    s.execute(py("import sys; sys.exit(1)"))
    after = s.expect(s.get("/metrics"), 200).body.decode()
    checks = [
        ("sandboxd_jobs_total", {"language": "python", "status": "ok"}, 1),
        ("sandboxd_jobs_total", {"language": "python", "status": "runtime_error"}, 1),
        ("sandboxd_job_run_seconds_count", {"language": "python"}, 2),
        ("sandboxd_job_overhead_seconds_count", {"language": "python"}, 2),
        ("sandboxd_http_requests_total", {"code": "200"}, 3),
    ]
    bad = []
    for name, labels, delta in checks:
        b, a = metric(before, name, labels), metric(after, name, labels)
        if a - b < delta:
            bad.append("%s%s: %s -> %s, want +%d" % (name, labels, b, a, delta))
    check(not bad, "metrics did not move", *bad)
    check(metric(after, "sandboxd_queue_depth") == 0, "queue depth of an idle service", after)


@test("GET /api/v1/jobs: filters, newest first, pages with a cursor")
def t_jobs_list():
    s = shared()
    ids = [s.submit(py("print(%d)" % i))["id"] for i in range(5)]
    bad_id = s.submit(py("raise SystemExit(2)"))["id"]
    bash_id = s.submit({"language": "bash", "code": "echo b"})["id"]
    for jid in ids + [bad_id, bash_id]:
        s.wait_job(jid, {"ok", "runtime_error", "failed", "cancelled"})
    mine = set(ids + [bad_id, bash_id])

    # every page of python jobs, 2 at a time
    seen, pages, cursor = [], 0, None
    while pages < 100:
        path = "/api/v1/jobs?language=python&limit=2" + ("&cursor=" + cursor if cursor else "")
        page = s.expect(s.get(path), 200, path).json
        check(isinstance(page.get("jobs"), list) and "next_cursor" in page, "page shape", page)
        check(len(page["jobs"]) <= 2, "more than limit=2 jobs in a page", page)
        seen += page["jobs"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        check(isinstance(cursor, str) and cursor, "next_cursor is a string or null", page)
    check(pages >= 3, "want at least 3 pages of python jobs, got %d" % pages)
    got = [j.get("id") for j in seen]
    check(len(got) == len(set(got)), "a job appears twice across pages", got)
    check(all(j.get("language") == "python" for j in seen), "language filter",
          [(j.get("id"), j.get("language")) for j in seen])
    check(bash_id not in got, "the bash job is in the python list")
    order = [i for i in got if i in mine]
    want = [i for i in reversed(ids + [bad_id]) if i in mine]
    check(order == want, "not newest first", "got  %s" % order, "want %s" % want)

    # an alias filters like the name; the status filter
    alias = s.expect(s.get("/api/v1/jobs?language=py&limit=1000"), 200).json["jobs"]
    check({j["id"] for j in alias} >= set(ids + [bad_id]), "language=py misses python jobs")
    rt = s.expect(s.get("/api/v1/jobs?status=runtime_error&limit=1000"), 200).json["jobs"]
    check(all(j.get("status") == "runtime_error" for j in rt), "status filter",
          [j.get("status") for j in rt])
    check(bad_id in {j["id"] for j in rt}, "the runtime_error job is not listed")
    b = s.expect(s.get("/api/v1/jobs?language=bash&status=ok"), 200).json["jobs"]
    check(bash_id in {j["id"] for j in b} and all(j.get("language") == "bash" for j in b),
          "language=bash&status=ok", b)


@test("GET and DELETE /api/v1/jobs/{id}")
def t_job_get_delete():
    s = shared()
    jid = s.submit(py("print('kept')"))["id"]
    j = s.wait_job(jid, {"ok"})
    check(j.get("id") == jid and j.get("stdout") == "kept\n" and j.get("exit_code") == 0,
          "the finished job", j)
    check(j.get("language") == "python" and j.get("version") == python_version(s),
          "language/version", j)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
    for k in ("created_at", "started_at", "finished_at"):
        check(isinstance(j.get(k), str) and re.fullmatch(stamp, j[k]), "%s not RFC 3339" % k, j)
    check(j["created_at"] <= j["started_at"] <= j["finished_at"], "timestamps out of order", j)
    check("error" in j and j["error"] is None, "error must be null", j)
    r = s.expect(s.req("DELETE", "/api/v1/jobs/" + jid), 200, "DELETE finished job")
    check(r.json == {"id": jid, "deleted": True}, "DELETE of a finished job", r)
    r = s.expect(s.get("/api/v1/jobs/" + jid), 404, "GET deleted job")
    check(r.error.get("code") == "not_found", "404 error code", r)
    s.expect(s.req("DELETE", "/api/v1/jobs/" + jid), 404, "DELETE deleted job")
    listed = s.expect(s.get("/api/v1/jobs?limit=1000"), 200).json["jobs"]
    check(jid not in {x["id"] for x in listed}, "a deleted job is still listed")
    s.expect(s.get("/api/v1/jobs/0123456789abcdef0123456789abcdef"), 404, "unknown job")
    s.expect(s.req("DELETE", "/api/v1/jobs/0123456789abcdef0123456789abcdef"), 404,
             "DELETE unknown job")
