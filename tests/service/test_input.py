"""test_input.py - every kind of bad input gets its documented refusal, and none of them harms
the service (shared service: max_body_kb 64, limits_max at their defaults)."""

import base64
import json

from harness import check, py, raw_request, shared, test

WHOLE_BODY = (None, "")  # field of an error about the whole body

# (name, body: dict or raw bytes, status, error.code, error.field or WHOLE_BODY)
CASES = [
    ("malformed JSON", b'{"language": "python", "code": ', 400, "invalid_json", WHOLE_BODY),
    ("empty body", b"", 400, "invalid_json", WHOLE_BODY),
    ("trailing garbage", b'{"language": "python", "code": "1"} x', 400, "invalid_json",
     WHOLE_BODY),
    ("array body", b'[{"language": "python", "code": "1"}]', 400, "invalid_type", WHOLE_BODY),
    ("string body", b'"python"', 400, "invalid_type", WHOLE_BODY),
    ("language: 5", {"language": 5, "code": "1"}, 400, "invalid_type", "language"),
    ("args: \"x\"", py("1", args="x"), 400, "invalid_type", "args"),
    ("args: [1]", py("1", args=[1]), 400, "invalid_type", "args[0]"),
    ("env: [1]", py("1", env=[1]), 400, "invalid_type", "env"),
    ("env value not a string", py("1", env={"A": 1}), 400, "invalid_type", "env.A"),
    ("env name invalid", py("1", env={"A=B": "x"}), 400, "invalid_value", "env.A=B"),
    ("stdin: 5", py("1", stdin=5), 400, "invalid_type", "stdin"),
    ("code: null (null is \"not given\")", {"language": "python", "code": None}, 400,
     "missing_field", "code"),
    ("a key given twice", b'{"language":"python","code":"1","code":"2"}', 400, "invalid_json",
     "code"),
    ("\\u0000 in an arg", b'{"language":"python","code":"1","args":["x\\u0000y"]}', 400,
     "invalid_value", WHOLE_BODY),
    ("limits.cpu_ms: \"1\"", py("1", limits={"cpu_ms": "1"}), 400, "invalid_type",
     "limits.cpu_ms"),
    ("limits.wall_ms: 0", py("1", limits={"wall_ms": 0}), 400, "invalid_value",
     "limits.wall_ms"),
    ("limits.memory_mb: -5", py("1", limits={"memory_mb": -5}), 400, "invalid_value",
     "limits.memory_mb"),
    ("limits.pids: 1.5", py("1", limits={"pids": 1.5}), 400, "invalid_value", "limits.pids"),
    ("limits: unknown key", py("1", limits={"cpus": 1}), 400, "unknown_field", "limits.cpus"),
    ("limits.cpu_ms above the cap", py("1", limits={"cpu_ms": 60001}), 400, "limit_exceeded",
     "limits.cpu_ms"),
    ("limits.memory_mb above the cap", py("1", limits={"memory_mb": 4096}), 400,
     "limit_exceeded", "limits.memory_mb"),
    ("unknown field", py("1", bogus=1), 400, "unknown_field", "bogus"),
    ("no language", {"code": "print(1)"}, 400, "missing_field", "language"),
    ("unknown language", {"language": "cobol", "code": "1"}, 400, "unknown_language",
     "language"),
    ("unknown version", {"language": "python", "version": "2.7", "code": "1"}, 400,
     "unknown_version", "version"),
    ("no code or files", {"language": "python"}, 400, "missing_field", "code"),
    ("both code and files", py("1", files=[{"name": "a.py", "content": "1"}]), 400,
     "invalid_value", ("files", "code")),
    ("files: []", {"language": "python", "files": []}, 400, "invalid_value", "files"),
    ("invalid UTF-8 in code", b'{"language":"python","code":"\xff"}', 400, "invalid_utf8",
     WHOLE_BODY),
    ("overlong UTF-8", b'{"language":"python","code":"\xc0\xaf"}', 400, "invalid_utf8",
     WHOLE_BODY),
    ("invalid base64", {"language": "python", "files": [
        {"name": "main.py", "content": "print(1)"},
        {"name": "d.bin", "content": "!!not base64!!", "encoding": "base64"}]},
     400, "invalid_value", "files[1].content"),
    ("unknown encoding", {"language": "python", "files": [
        {"name": "main.py", "content": "1", "encoding": "hex"}]},
     400, "invalid_value", "files[0].encoding"),
    ("file name with ..", {"language": "python", "files": [
        {"name": "main.py", "content": "1"}, {"name": "../escape.txt", "content": "x"}]},
     400, "invalid_value", "files[1].name"),
    ("file name .. inside", {"language": "python", "files": [
        {"name": "main.py", "content": "1"}, {"name": "a/../../b", "content": "x"}]},
     400, "invalid_value", "files[1].name"),
    ("absolute file name", {"language": "python", "files": [
        {"name": "main.py", "content": "1"}, {"name": "/etc/passwd", "content": "x"}]},
     400, "invalid_value", "files[1].name"),
    ("duplicate file name", {"language": "python", "files": [
        {"name": "main.py", "content": "1"}, {"name": "main.py", "content": "2"}]},
     400, "invalid_value", "files[1].name"),
    ("file without name among several", {"language": "python", "files": [
        {"name": "main.py", "content": "1"}, {"content": "2"}]},
     400, "missing_field", "files[1].name"),
]


def check_error(r, status, code, field, what):
    check(r.status == status, "%s: want %d, got %d" % (what, status, r.status), r)
    e = r.error
    check(e, "%s: no {\"error\": {...}} object in the answer" % what, r)
    check(isinstance(e.get("message"), str) and e["message"], "%s: no message" % what, r)
    check(e.get("code") == code, "%s: error.code %r, want %r" % (what, e.get("code"), code), r)
    if field is not WHOLE_BODY and isinstance(field, tuple):
        check(e.get("field") in field, "%s: error.field %r, want one of %r"
              % (what, e.get("field"), field), r)
    elif field is WHOLE_BODY:
        check("field" in e and e["field"] in WHOLE_BODY,
              "%s: error.field %r, want null (the whole body)" % (what, e.get("field")), r)
    else:
        check(e.get("field") == field, "%s: error.field %r, want %r"
              % (what, e.get("field"), field), r)


@test("bad input: every refusal has its status, code and field")
def t_bad_bodies():
    s = shared()
    bad = []
    for name, body, status, code, field in CASES:
        for path in ("/api/v1/execute", "/api/v1/jobs"):
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            r = s.req("POST", path, raw, headers={"Content-Type": "application/json"})
            try:
                check_error(r, status, code, field, "%s (%s)" % (name, path))
            except AssertionError as e:
                bad.append(str(e))
    check(not bad, "%d of %d refusals are wrong" % (len(bad), 2 * len(CASES)), *bad)
    r = s.expect(s.get("/healthz"), 200, "after the bad bodies")
    check(s.proc.poll() is None, "sandboxd died")


@test("bad input: callback_url")
def t_bad_callback():
    s = shared()
    r = s.req("POST", "/api/v1/jobs", py("1", callback_url="ftp://127.0.0.1/x"))
    check_error(r, 400, "invalid_value", "callback_url", "ftp callback_url")
    r = s.req("POST", "/api/v1/jobs", py("1", callback_url=5))
    check_error(r, 400, "invalid_type", "callback_url", "callback_url: 5")
    # /execute answers in its own response: a callback has no place there
    r = s.req("POST", "/api/v1/execute", py("1", callback_url="http://127.0.0.1:9/x"))
    check(r.status == 400 and r.error.get("field") == "callback_url",
          "execute with callback_url: want 400 naming callback_url", r)
    check(r.error.get("code") in ("invalid_value", "unknown_field"),
          "execute with callback_url: error.code %r is not one of the documented codes"
          % r.error.get("code"), r)


@test("bad input: body above max_body_kb -> 413")
def t_too_large():
    s = shared()
    big = json.dumps(py("#" + "x" * (100 * 1024))).encode()
    head = ("POST /api/v1/execute HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: %d" % len(big))
    r = raw_request(s.port, head, [big])
    check(r.status == 413, "a 100 KiB body with max_body_kb 64: want 413", r)
    check(r.error.get("code") and r.error.get("message"), "413 without an error object", r)
    # without Content-Length (chunked): the cap holds as the body streams in
    head = ("POST /api/v1/execute HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked")
    parts = [b'{"language": "python", "code": "#'] + [b"x" * 8192] * 12 + [b'"}']
    chunked = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]
    r = raw_request(s.port, head, chunked)
    check(r.status == 413, "a chunked 96 KiB body with max_body_kb 64: want 413", r)
    s.expect(s.get("/healthz"), 200, "after 413")


@test("bad input: a body just under max_body_kb is accepted")
def t_under_cap():
    s = shared()
    body = py("#" + "x" * (60 * 1024) + "\nprint('fits')")
    r = s.req("POST", "/api/v1/execute", body)
    check(r.status == 200 and (r.json or {}).get("stdout") == "fits\n",
          "a %d-byte body with max_body_kb 64 must run" % len(json.dumps(body)), r,
          s.stderr_tail(5))


@test("bad input: base64 file content")
def t_base64_ok():
    # the positive twin of "invalid base64": the same shape with valid base64 runs
    s = shared()
    res = s.execute({"language": "python", "files": [
        {"name": "main.py", "content": base64.b64encode(b"print(open('d.bin','rb').read())")
         .decode(), "encoding": "base64"},
        {"name": "d.bin", "content": base64.b64encode(b"\x00ok").decode(),
         "encoding": "base64"}]})
    check(res.get("stdout") == "b'\\x00ok'\n", "base64 entry and data file", res)


@test("bad routes: 404 and 405 with Allow")
def t_routes():
    s = shared()
    for path in ("/", "/api/v1", "/api/v2/execute", "/api/v1/executex", "/api/v1/jobs/a/b",
                 "/api/v1/jobs/" + "x" * 300, "/api/v1/jobs/..%2F..%2Fetc"):
        r = s.get(path)
        check(r.status == 404, "GET %s: want 404" % path, r)
        check(r.error.get("code") == "not_found", "GET %s: error.code" % path, r)
    for method, path, allow in (("GET", "/api/v1/execute", {"POST"}),
                                ("PUT", "/api/v1/jobs", {"GET", "POST"}),
                                ("DELETE", "/api/v1/languages", {"GET"}),
                                ("POST", "/healthz", {"GET"}),
                                ("PATCH", "/api/v1/jobs/abc", {"GET", "DELETE"})):
        r = s.req(method, path, b"{}" if method in ("PUT", "POST", "PATCH") else None)
        check(r.status == 405, "%s %s: want 405" % (method, path), r)
        got = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
        check(got == allow, "%s %s: Allow %r, want %s" % (method, path, r.header("Allow"),
                                                         sorted(allow)), r)
    s.expect(s.get("/healthz"), 200, "after the bad routes")


@test("bad input: query arguments of the job list")
def t_list_args():
    s = shared()
    bad = [("/api/v1/jobs?limit=0", "limit"), ("/api/v1/jobs?limit=abc", "limit"),
           ("/api/v1/jobs?limit=1001", "limit"), ("/api/v1/jobs?cursor=-1", "cursor")]
    for path, field in bad:
        r = s.get(path)
        check(r.status == 400 and r.error.get("field") == field,
              "GET %s: want 400 naming %s" % (path, field), r)
        check(r.error.get("code") == "invalid_value",
              "GET %s: error.code %r, want invalid_value" % (path, r.error.get("code")), r)
