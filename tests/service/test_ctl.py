"""test_ctl.py - the operators' CLI, `sandboxctl status`, `sandboxctl jobs [show|cancel]` and
`sandboxctl languages` (tools/sandboxctl_jobs.c), against a real sandboxd: what an operator reads on stdout and
stderr, and the exit status (0 done, 1 the server said no, 2 usage, 125 unreachable).

sandboxctl runs with an environment without SANDBOXD_URL and SANDBOXD_API_KEY unless a test
sets them, so that the caller's shell cannot point it elsewhere.
"""

import json
import os
import pty
import select
import shlex
import subprocess
import time
import tty

from harness import (CGROUP_PARENT, DEFAULT_CONFIG, READY_TIMEOUT_S, ROOT, SANDBOXD, Service,
                     check, free_port, py, request, shared, sleeper, test, wait_until)

CTL = os.path.join(ROOT, "build", "sandboxctl")
CTL_TIMEOUT_S = 30
KEY = "ops-key-0123456789abcdef"
FINISHED = {"ok", "runtime_error", "signaled", "timeout", "memory_limit", "output_limit",
            "internal_error", "compile_error", "cancelled"}
LIST_HEADER = ["ID", "STATUS", "LANGUAGE", "CREATED", "WALL(ms)"]
LANG_HEADER = ["NAME", "VERSION", "ALIASES", "ROOTFS", "IMAGE"]


class Ran:
    """One sandboxctl run: argv, exit status, stdout and stderr as text."""

    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __repr__(self):
        return "%s -> exit %s\n      stdout: %r\n      stderr: %r" % (
            " ".join(shlex.quote(a) for a in self.argv), self.rc, self.out[:1500],
            self.err[:600])


def ctl_env(env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("SANDBOXD_URL", "SANDBOXD_API_KEY")}
    e.update(env or {})
    return e


def ctl(*args, env=None):
    """build/sandboxctl ARGS..., bounded in time."""
    check(os.access(CTL, os.X_OK) and os.access(CTL + "-image", os.X_OK),
          "%s and %s-image are not built (make)" % (CTL, CTL))
    argv = [CTL] + list(args)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           env=ctl_env(env), timeout=CTL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not end within %d s" % (" ".join(argv), CTL_TIMEOUT_S))
    return Ran(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"))


def ctl_on_tty(*args):
    """sandboxctl with its stdout on a terminal (raw mode: no \\n -> \\r\\n); returns Ran."""
    argv = [CTL] + list(args)
    master, slave = pty.openpty()
    try:
        tty.setraw(slave)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.PIPE, env=ctl_env())
    finally:
        os.close(slave)
    out, end = b"", time.monotonic() + CTL_TIMEOUT_S
    try:
        while time.monotonic() < end:
            if not select.select([master], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        try:
            rc = p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("%s did not end within %d s" % (" ".join(argv), CTL_TIMEOUT_S))
        err = p.stderr.read()
    finally:
        p.stderr.close()
        os.close(master)
    return Ran(argv, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def url_of(s):
    return "http://127.0.0.1:%d" % s.port


def fields(out):
    """The "key   value" lines of `status` or `jobs show`, up to the first "--- ... ---"."""
    d = {}
    for line in out.splitlines():
        if line.startswith("--- "):
            break
        k, _, v = line.partition(" ")
        d[k] = v.strip()
    return d


def totals(text):
    """`totals    ok 3, runtime_error 1` (or "-") as {"ok": 3, "runtime_error": 1}."""
    if text == "-":
        return {}
    out = {}
    for part in text.split(", "):
        name, _, n = part.rpartition(" ")
        check(name and n.isdigit(), "a totals entry %r in %r" % (part, text))
        out[name] = int(n)
    return out


def listing(r):
    """`sandboxctl jobs`: ([{"id", "status", "language", "created", "wall"}], next line or
    None). The header comes first, the "next:" line (if any) last."""
    lines = r.out.splitlines()
    check(lines and lines[0].split() == LIST_HEADER, "the list's header", r)
    rows, nxt = [], None
    for i, line in enumerate(lines[1:], 1):
        if line.startswith("next: "):
            check(i == len(lines) - 1, "the next-page line is not the last", r)
            nxt = line[len("next: "):]
            continue
        f = line.split()
        check(len(f) == 5, "a job line with %d columns: %r" % (len(f), line), r)
        rows.append(dict(zip(("id", "status", "language", "created", "wall"), f)))
    return rows, nxt


def follow(nxt):
    """Run the printed next-page command as an operator pasting it would (the line must name
    the server itself: the environment does not)."""
    argv = shlex.split(nxt)
    check(argv[:2] == ["sandboxctl", "jobs"], "the next-page line: %r" % nxt)
    return ctl(*argv[1:])


def expect_rc(r, rc, what):
    check(r.rc == rc, "%s: expected exit %d, got %s" % (what, rc, r.rc), r)


# ---- status ---------------------------------------------------------------------------------

@test("ctl: status shows ready, slots, running, queued and totals; --json parses")
def t_ctl_status():
    s = shared()
    url = url_of(s)
    s.execute(py("print('counted')"))  # totals has at least one "ok"
    jid = s.submit(sleeper())["id"]
    try:
        s.wait_job(jid, {"running"}, timeout=10)
        r = ctl("status", "--server", url)
        q = s.queue()
    finally:
        s.cancel_all([jid])
    expect_rc(r, 0, "status of a ready service")
    check(r.err == "", "status wrote to stderr", r)
    f = fields(r.out)
    want = {"server": url, "ready": "yes", "slots": "2", "running": "1",
            "queued": "0 (at most 20)"}
    check({k: f.get(k) for k in want} == want, "status lines", want, r)
    shown = totals(f.get("totals", ""))
    check(shown.get("ok", 0) >= 1 and shown == q.get("totals"),
          "totals %r, the API says %r" % (shown, q.get("totals")), r)

    r = ctl("status", "--json", "--server", url)
    expect_rc(r, 0, "status --json")
    try:
        j = json.loads(r.out)
    except ValueError:
        raise AssertionError("status --json is not JSON: %r" % r)
    check(j.get("server") == url and j.get("healthz", {}).get("status") == "ok" and
          j.get("readyz", {}).get("ready") is True, "status --json: server, healthz, readyz", j)
    queue = j.get("queue", {})
    check(queue.get("slots") == 2 and queue.get("running") == 0 and queue.get("queued") == 0,
          "status --json: the queue after the cancel", j)
    check(queue.get("totals", {}).get("cancelled", 0) >= 1, "the cancelled job counted", j)


class Unready(Service):
    """A sandboxd that is up but never ready: no language has a rootfs (a fresh state
    directory holds no image, and host_fallback is off). start() waits for /healthz."""

    def start(self):
        self.runs += 1
        self.port = free_port()
        cfg_path = os.path.join(self.dir, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(self.config, f)
        self.err_path = os.path.join(self.dir, "stderr.%d" % self.runs)
        args = [SANDBOXD, "--listen", "127.0.0.1:%d" % self.port, "--state-dir",
                self.state_dir, "--config", cfg_path, "--cgroup-parent", CGROUP_PARENT]
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)

        def healthy():
            check(self.proc.poll() is None, "sandboxd (%s) exited with %s during start-up"
                  % (self.name, self.proc.returncode), self.stderr_tail())
            try:
                return request(self.port, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False

        try:
            check(wait_until(healthy, READY_TIMEOUT_S), "sandboxd (%s) does not answer "
                  "/healthz within %d s" % (self.name, READY_TIMEOUT_S), self.stderr_tail())
        except BaseException:
            self.cleanup()
            raise
        return self


@test("ctl: status of a service that is not ready: exit 1 and the reason")
def t_ctl_status_unready():
    cfg = dict(DEFAULT_CONFIG)
    cfg["host_fallback"] = False
    cfg["pull_on_demand"] = False
    with Unready(cfg, name="unready") as s:
        url = url_of(s)
        r = ctl("status", "--server", url)
        expect_rc(r, 1, "status of a service that is not ready")
        f = fields(r.out)
        check(f.get("ready") == "no: no language has a rootfs", "the ready line", r)
        check(f.get("slots") == "2" and f.get("running") == "0", "the queue is still shown", r)
        r = ctl("status", "--json", "--server", url)
        expect_rc(r, 1, "status --json of a service that is not ready")
        try:
            j = json.loads(r.out)
        except ValueError:
            raise AssertionError("status --json is not JSON: %r" % r)
        check(j.get("readyz", {}).get("ready") is False and
              j["readyz"].get("reason") == "no language has a rootfs", "readyz in --json", j)


# ---- jobs -----------------------------------------------------------------------------------

@test("ctl: jobs lists the test's jobs newest first; --language, --status, --limit, next page")
def t_ctl_jobs_list():
    s = shared()
    url = url_of(s)
    bodies = [(py("print('ctl-a')"), "ok"), ({"language": "bash", "code": "echo ctl-b"}, "ok"),
              (py("import sys; sys.exit(3)"), "runtime_error"), (py("print('ctl-d')"), "ok")]
    made = [s.submit(b)["id"] for b, _ in bodies]
    jobs = {}
    for jid, (_, want) in zip(made, bodies):
        jobs[jid] = s.wait_job(jid, FINISHED, timeout=15)
        check(jobs[jid]["status"] == want, "job %s ended %s, not %s" % (jid, jobs[jid]["status"],
                                                                         want), jobs[jid])
    a, b, c, d = made

    r = ctl("jobs", "--server", url)
    expect_rc(r, 0, "jobs")
    rows, _ = listing(r)
    check([x["id"] for x in rows[:4]] == [d, c, b, a], "the newest four jobs, newest first",
          [d, c, b, a], r)
    for x in rows[:4]:
        j = jobs[x["id"]]
        check((x["status"], x["language"], x["created"], x["wall"]) ==
              (j["status"], j["language"], j["created_at"], "%d" % j["wall_ms"]),
              "the line of job %s" % x["id"], j, r)

    r = ctl("jobs", "--language", "bash", "--server", url)
    expect_rc(r, 0, "jobs --language bash")
    rows, _ = listing(r)
    ids = [x["id"] for x in rows]
    check(b in ids and not {a, c, d} & set(ids), "--language bash: only the bash job of ours", r)
    check(all(x["language"] == "bash" for x in rows), "--language bash lists other languages", r)

    r = ctl("jobs", "--status", "runtime_error", "--server", url)
    expect_rc(r, 0, "jobs --status runtime_error")
    rows, _ = listing(r)
    ids = [x["id"] for x in rows]
    check(c in ids and not {a, b, d} & set(ids), "--status runtime_error: only job c of ours", r)
    check(all(x["status"] == "runtime_error" for x in rows), "--status lists other statuses", r)

    r = ctl("jobs", "--language", "python", "--limit", "2", "--server", url)
    expect_rc(r, 0, "jobs --language python --limit 2")
    rows, nxt = listing(r)
    check([x["id"] for x in rows] == [d, c], "the first page of python jobs, two", r)
    check(nxt is not None, "no next-page line though job %s is older" % a, r)
    check(nxt.startswith("sandboxctl jobs --cursor ") and " --language python" in nxt and
          " --limit 2" in nxt, "the next-page line keeps the filters: %r" % nxt, r)
    r2 = follow(nxt)
    expect_rc(r2, 0, "following the next-page line")
    rows, _ = listing(r2)
    check(1 <= len(rows) <= 2 and rows[0]["id"] == a, "the second page starts with job a",
          a, r2)
    check(all(x["language"] == "python" for x in rows), "the second page kept --language", r2)

    r = ctl("jobs", "--json", "--limit", "1", "--server", url)
    expect_rc(r, 0, "jobs --json")
    try:
        j = json.loads(r.out)
    except ValueError:
        raise AssertionError("jobs --json is not JSON: %r" % r)
    check([x.get("id") for x in j.get("jobs", [])] == [d] and j.get("next_cursor"),
          "jobs --json --limit 1: the API's page", j)


@test("ctl: jobs show prints the job's status and output; an unknown id exits 1")
def t_ctl_jobs_show():
    s = shared()
    url = url_of(s)
    code = "import sys; print('line one'); print('line two'); sys.stderr.write('to stderr\\n')"
    jid = s.submit(py(code))["id"]
    job = s.wait_job(jid, FINISHED, timeout=15)
    r = ctl("jobs", "show", jid, "--server", url)
    expect_rc(r, 0, "jobs show")
    f = fields(r.out)
    want = {"id": jid, "status": "ok", "language": "python", "exit_code": "0",
            "wall_ms": "%d" % job["wall_ms"]}
    check({k: f.get(k) for k in want} == want, "the job's fields", want, r)
    check(r.out.endswith("--- stdout ---\nline one\nline two\n--- stderr ---\nto stderr\n"),
          "the job's stdout and stderr under their headings", r)

    r = ctl("jobs", "show", jid, "--json", "--server", url)
    expect_rc(r, 0, "jobs show --json")
    try:
        shown = json.loads(r.out)
    except ValueError:
        raise AssertionError("jobs show --json is not JSON: %r" % r)
    check(shown == s.job(jid), "jobs show --json is the API's job", shown)

    r = ctl("jobs", "show", "nope", "--server", url)
    expect_rc(r, 1, "jobs show nope")
    check(r.out == "" and r.err == "sandboxctl: no job nope\n", "an unknown job", r)


@test("ctl: jobs show on a terminal turns a job's control characters into '?'")
def t_ctl_jobs_show_tty():
    s = shared()
    url = url_of(s)
    code = "import sys; sys.stdout.write('\\x1b]0;pwned\\x07title\\n')"
    jid = s.submit(py(code))["id"]
    s.wait_job(jid, FINISHED, timeout=15)
    r = ctl("jobs", "show", jid, "--server", url)  # a pipe: the bytes as the job wrote them
    expect_rc(r, 0, "jobs show into a pipe")
    check(r.out.endswith("--- stdout ---\n\x1b]0;pwned\x07title\n"), "the output as written", r)
    r = ctl_on_tty("jobs", "show", jid, "--server", url)
    expect_rc(r, 0, "jobs show on a terminal")
    check(r.out.endswith("--- stdout ---\n?]0;pwned?title\n") and "\x1b" not in r.out and
          "\x07" not in r.out, "an escape sequence reached the operator's terminal", r)


@test("ctl: jobs cancel ends a running job as cancelled, then deletes it")
def t_ctl_jobs_cancel():
    s = shared()
    url = url_of(s)
    jid = s.submit(sleeper())["id"]
    try:
        s.wait_job(jid, {"running"}, timeout=10)
        time.sleep(0.3)  # inside the program, not in its start-up
        t0 = time.monotonic()
        r = ctl("jobs", "cancel", jid, "--server", url)
        took = time.monotonic() - t0
    finally:
        if s.job(jid).get("status") in ("queued", "running"):  # the CLI did not cancel it
            s.cancel_all([jid])
    expect_rc(r, 0, "jobs cancel of a running job")
    check(r.out == "%s cancelled\n" % jid, "what cancel prints", r)
    check(took < 5, "cancelling took %.1f s" % took)
    check(s.job(jid).get("status") == "cancelled", "the API shows the job cancelled", s.job(jid))
    check(s.queue().get("running") == 0, "the slot is free again", s.queue())
    r = ctl("jobs", "show", jid, "--server", url)
    expect_rc(r, 0, "jobs show of the cancelled job")
    check(fields(r.out).get("status") == "cancelled", "show: status cancelled", r)

    r = ctl("jobs", "cancel", jid, "--server", url)  # finished: deleted from the history
    expect_rc(r, 0, "jobs cancel of a finished job")
    check(r.out == "%s deleted\n" % jid, "what cancel of a finished job prints", r)
    r = ctl("jobs", "show", jid, "--server", url)
    expect_rc(r, 1, "jobs show of a deleted job")
    check(r.err == "sandboxctl: no job %s\n" % jid, "a deleted job is gone", r)


# ---- languages ------------------------------------------------------------------------------

def lang_table(r):
    """`sandboxctl languages`: {name: {"version", "aliases", "rootfs", "image"}}; the header
    first, five columns on every line."""
    lines = r.out.splitlines()
    check(lines and lines[0].split() == LANG_HEADER, "the languages table's header", r)
    rows = {}
    for line in lines[1:]:
        f = line.split()
        check(len(f) == 5, "a language line with %d columns: %r" % (len(f), line), r)
        rows[f[0]] = dict(zip(("version", "aliases", "rootfs", "image"), f[1:]))
    return rows


@test("ctl: languages lists every language, its aliases, rootfs and image; --json parses")
def t_ctl_languages():
    s = shared()
    url = url_of(s)
    api = s.expect(s.get("/api/v1/languages"), 200).json["languages"]
    r = ctl("languages", "--server", url)
    expect_rc(r, 0, "languages")
    check(r.err == "", "languages wrote to stderr", r)
    rows = lang_table(r)
    check(sorted(rows) == sorted(l["name"] for l in api), "the API's languages, no more", api, r)
    for l in api:
        want = {"version": l["version"] or "-", "aliases": ",".join(l["aliases"]) or "-",
                "rootfs": l["rootfs"], "image": l["image"] or "-"}
        check(rows[l["name"]] == want, "the line of %s" % l["name"], want, r)
    # The shared service has an empty image store and host_fallback on.
    for name in ("python", "bash"):
        check(rows.get(name, {}).get("rootfs") == "host", "%s does not run on the host" % name, r)
    check("python3" in rows["python"]["aliases"].split(","), "python's aliases", r)
    check(rows["python"]["image"] == "python:3.12-slim", "python's image", r)

    r = ctl("languages", "--json", "--server", url)
    expect_rc(r, 0, "languages --json")
    try:
        j = json.loads(r.out)
    except ValueError:
        raise AssertionError("languages --json is not JSON: %r" % r)
    check(j.get("languages") == api, "languages --json is the API's answer", j)

    r = ctl("languages", "--server", "http://127.0.0.1:%d" % free_port())
    expect_rc(r, 125, "languages against a closed port")
    check(r.out == "" and r.err.startswith("sandboxctl: cannot reach sandboxd at "),
          "languages against a closed port: the message", r)


# ---- keys, reachability, usage --------------------------------------------------------------

@test("ctl: a keyed service: no key exits 1 and says how to give one; --api-key and env work")
def t_ctl_api_key():
    cfg = dict(DEFAULT_CONFIG)
    cfg["api_keys"] = [{"name": "ops", "key": KEY}]
    hint = "sandboxctl: give a key with --api-key or SANDBOXD_API_KEY\n"
    with Service(cfg, name="ctl-keyed") as s:
        url = url_of(s)
        s.keys = {"X-API-Key": KEY}
        jid = s.submit(py("print('keyed')"))["id"]
        s.wait_job(jid, {"ok"}, timeout=15)

        for args in (("jobs",), ("jobs", "show", jid), ("jobs", "cancel", jid), ("languages",)):
            r = ctl(*args, "--server", url)
            expect_rc(r, 1, "%s without a key" % " ".join(args))
            check(r.out == "" and "an API key is required" in r.err and r.err.endswith(hint),
                  "%s without a key: the server's reason and how to give a key"
                  % " ".join(args), r)
        check(s.job(jid).get("status") == "ok", "a cancel without a key deleted the job")
        r = ctl("status", "--server", url)
        expect_rc(r, 1, "status without a key (the queue is refused)")
        check(fields(r.out).get("ready") == "yes" and "slots" not in fields(r.out),
              "status without a key: readiness shown, no queue", r)
        check(r.err.endswith(hint), "status without a key: how to give a key", r)
        r = ctl("status", "--json", "--server", url)
        expect_rc(r, 1, "status --json without a key")
        check(json.loads(r.out).get("readyz", {}).get("ready") is True and
              r.err.endswith(hint), "status --json without a key", r)

        r = ctl("jobs", "--api-key", "wrong-" + KEY, "--server", url)
        expect_rc(r, 1, "jobs with a wrong key")
        check(r.err == "sandboxctl: the API key is not valid (unauthorized)\n",
              "a wrong key is refused as such", r)

        r = ctl("jobs", "--api-key", KEY, "--server", url)
        expect_rc(r, 0, "jobs --api-key")
        rows, _ = listing(r)
        check([x["id"] for x in rows] == [jid], "the keyed job listed", r)
        r = ctl("languages", "--api-key", KEY, "--server", url)
        expect_rc(r, 0, "languages --api-key")
        check("python" in lang_table(r), "languages --api-key lists python", r)
        r = ctl("status", "--api-key", KEY, "--server", url)
        expect_rc(r, 0, "status --api-key")
        check(fields(r.out).get("slots") == "2", "status --api-key shows the queue", r)
        r = ctl("jobs", "show", jid, "--server", url, env={"SANDBOXD_API_KEY": KEY})
        expect_rc(r, 0, "jobs show with $SANDBOXD_API_KEY")
        check(r.out.endswith("--- stdout ---\nkeyed\n"), "the job's output", r)


@test("ctl: a closed port: exit 125, cannot reach sandboxd")
def t_ctl_unreachable():
    url = "http://127.0.0.1:%d" % free_port()
    for args in (("status",), ("jobs",), ("jobs", "show", "x"), ("jobs", "cancel", "x"),
                 ("languages",)):
        r = ctl(*args, "--server", url)
        expect_rc(r, 125, "%s against a closed port" % " ".join(args))
        check(r.out == "" and r.err.startswith("sandboxctl: cannot reach sandboxd at %s: " % url),
              "%s against a closed port: the message" % " ".join(args), r)
    r = ctl("status", env={"SANDBOXD_URL": url + "/"})
    expect_rc(r, 125, "status with $SANDBOXD_URL on a closed port")
    check(r.err.startswith("sandboxctl: cannot reach sandboxd at %s: " % url),
          "$SANDBOXD_URL is the server asked", r)


@test("ctl: usage errors exit 2 before any request")
def t_ctl_usage():
    url = "http://127.0.0.1:%d" % free_port()  # a request would exit 125, not 2
    cases = [(("jobs", "show"), "jobs show: expected one job ID"),
             (("jobs", "show", "a", "b"), "jobs show: expected one job ID"),
             (("jobs", "frob", "x"), "jobs: unknown action 'frob'"),
             (("status", "extra"), "status: expected no argument"),
             (("languages", "extra"), "languages: expected no argument"),
             (("languages", "--limit", "2"), "go with 'sandboxctl jobs'"),
             (("jobs", "--limit", "0"), "--limit '0': expected a count"),
             (("jobs", "show", "x", "--status", "ok"), "go with 'sandboxctl jobs'"),
             (("status", "--frob"), "unknown or incomplete option '--frob'")]
    for args, msg in cases:
        r = ctl(*args, "--server", url)
        expect_rc(r, 2, " ".join(args))
        check(r.out == "" and r.err.startswith("sandboxctl: ") and msg in r.err,
              "%s: the message should say %r" % (" ".join(args), msg), r)
    r = ctl("jobs", "--server", "ftp://127.0.0.1/")
    expect_rc(r, 2, "an ftp:// server")
    check("expected an http:// or https:// URL" in r.err, "a non-HTTP server", r)
