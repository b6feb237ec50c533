"""harness.py - the service tests' only dependency: start a real sandboxd, talk HTTP to it, check
that it leaves nothing behind.

Tests are plain functions registered with @test("name"). A test fails by raising AssertionError
(use check()), skips by raising Skip (use skip()), and passes otherwise. After every test the
runner asserts that no jail process is left and that no job cgroup is left under our cgroup
parent. Python standard library only: the tests must run on a fresh Debian 12 with python3.

A Service is one sandboxd process tree: a temporary directory under /tmp (state dir, config
file, stdout/stderr captures), a free loopback port, and the cgroup parent of this test run
(sandboxd-test-<pid>, created by libsandbox below the cgroup this process runs in). shared()
is the instance with the default test configuration; tests that need another configuration
start their own with Service(config).start() and stop it themselves (use `with`).
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOXD = os.path.join(ROOT, "build", "sandboxd")
CGROUP_PARENT = "sandboxd-test-%d" % os.getpid()
# Jobs run as uid_base + slot (profiles/security/default.json: 60000, 1000 slots).
JAIL_UID_MIN, JAIL_UID_MAX = 60000, 61000
READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 25

# The configuration most tests share: two slots, a small body cap (so 413 is cheap to reach),
# no rate limit (the concurrency tests would trip it), quick callback retries.
DEFAULT_CONFIG = {
    "host_fallback": True,
    "slots": 2,
    "queue_max": 20,
    "max_body_kb": 64,
    "rate_limit": {"per_second": 0, "burst": 1},
    "callback": {"retries": 3, "timeout_ms": 2000},
    "shutdown_grace_ms": 5000,
}

TESTS = []


class Skip(Exception):
    pass


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn

    return deco


def skip(reason):
    raise Skip(reason)


def check(cond, what, *details):
    if not cond:
        extra = "".join("\n    " + str(d) for d in details)
        raise AssertionError(what + extra)


def wait_until(fn, timeout, interval=0.05):
    """fn() until it returns something true, at most timeout seconds; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- HTTP ----------------------------------------------------------------------------------

class Resp:
    """One answer: status, headers (case-insensitive get), raw body, body parsed as JSON."""

    def __init__(self, method, path, status, headers, body):
        self.method, self.path = method, path
        self.status, self.headers, self.body = status, headers, body
        try:
            self.json = json.loads(body.decode("utf-8"))
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name)

    @property
    def error(self):
        """The {"error": {...}} object, or {} when the answer has none."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"]
        return {}

    def __repr__(self):
        return "%s %s -> %d %s" % (self.method, self.path, self.status,
                                   self.body[:600].decode("utf-8", "replace"))


def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on its own connection. body: dict/list (sent as JSON), bytes or str."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Resp(method, path, r.status, r.headers, r.read())
    finally:
        conn.close()


def raw_request(port, head, body_parts, timeout=15):
    """Send a request by hand (head: the request line and headers, without the blank line)
    and read the answer, even when the server answers and hangs up before the whole body is
    sent (a 413 does that: the send then fails with EPIPE/ECONNRESET, the answer is there)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sk:
        try:
            sk.sendall(head.encode() + b"\r\n\r\n")
            for part in body_parts:
                sk.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                got = sk.recv(65536)
                if not got:
                    break
                data += got
                hdr, sep, rest = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", hdr)
                if sep and m and len(rest) >= int(m.group(1)):
                    break
        except ConnectionResetError:
            pass
    hdr, _, rest = data.partition(b"\r\n\r\n")
    lines = hdr.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    if not m:
        raise AssertionError("no HTTP answer to %r: %r" % (head.split("\r\n")[0], data[:300]))
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()

    class _H(dict):
        def get(self, k, d=None):
            return dict.get(self, k.lower(), d)

    return Resp("RAW", head.split("\r\n")[0], int(m.group(1)), _H(headers), rest)


class Service:
    """A sandboxd on 127.0.0.1:<free port> with its own temporary state directory."""

    def __init__(self, config=None, name="svc", flags=()):
        self.config = dict(DEFAULT_CONFIG if config is None else config)
        self.name = name
        self.flags = list(flags)
        self.dir = tempfile.mkdtemp(prefix="sandboxd-test-%s-" % name, dir="/tmp")
        self.state_dir = os.path.join(self.dir, "state")
        self.proc = None
        self.port = None
        self.runs = 0
        self.err_path = None
        self.keys = {}  # headers added to every request (an API key)
        self.preexec = None  # run in the child before exec (e.g. join a cgroup)

    # -- life -----------------------------------------------------------------------------

    def start(self):
        """Start (or start again on the same state directory); returns self once /readyz is 200."""
        self.runs += 1
        self.port = free_port()
        cfg_path = os.path.join(self.dir, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(self.config, f)
        self.err_path = os.path.join(self.dir, "stderr.%d" % self.runs)
        args = [SANDBOXD, "--listen", "127.0.0.1:%d" % self.port, "--state-dir", self.state_dir,
                "--config", cfg_path, "--cgroup-parent", CGROUP_PARENT] + self.flags
        with open(self.err_path, "wb") as err, \
                open(os.path.join(self.dir, "stdout.%d" % self.runs), "wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         preexec_fn=self.preexec)
        end = time.monotonic() + READY_TIMEOUT_S
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("sandboxd (%s) exited with %d during start-up%s"
                                     % (self.name, self.proc.returncode, self.stderr_tail()))
            try:
                last = request(self.port, "GET", "/readyz", timeout=2)
                if last.status == 200:
                    return self
            except OSError as e:
                last = e
            time.sleep(0.05)
        self.kill9()
        raise AssertionError("sandboxd (%s) not ready within %d s: last /readyz %r%s"
                             % (self.name, READY_TIMEOUT_S, last, self.stderr_tail()))

    def pids(self):
        """The main process and its children (the supervisor), while they live."""
        if not self.proc or self.proc.poll() is not None:
            return []
        return [self.proc.pid] + children(self.proc.pid)

    def supervisor_pid(self):
        kids = children(self.proc.pid) if self.proc and self.proc.poll() is None else []
        return kids[0] if kids else None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; SIGKILL if it does not end in time. Returns the exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        sup = self.supervisor_pid()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("sandboxd (%s) did not stop within %d s of SIGTERM%s"
                                 % (self.name, timeout, self.stderr_tail()))
        # the supervisor is reaped by the main process; make sure it is gone too
        if sup and not wait_until(lambda: not pid_alive(sup), 5):
            raise AssertionError("the supervisor %d outlived sandboxd (%s)" % (sup, self.name))
        return rc

    def kill9(self):
        """SIGKILL the main process and the supervisor (not the jails: they must die alone)."""
        if not self.proc or self.proc.poll() is not None:
            return
        pids = self.pids()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        wait_until(lambda: not any(pid_alive(p) for p in pids[1:]), 10)

    def cleanup(self):
        """Stop (SIGTERM, else SIGKILL) and remove the temporary directory. A SIGKILL would
        leave job cgroups for the next start to reap: only the fallback."""
        try:
            if self.proc and self.proc.poll() is None:
                try:
                    self.stop(timeout=STOP_TIMEOUT_S)
                except AssertionError:
                    pass
            self.kill9()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def stderr_tail(self, n=25):
        """The last lines sandboxd wrote, for failure messages."""
        # the tests' own polling (GET job, queue) would push everything else out
        lines = [l for l in self.stderr_text().splitlines()
                 if "event=request method=GET" not in l]
        if not lines:
            return ""
        return "\n    sandboxd stderr (%s):\n      " % self.name + "\n      ".join(lines[-n:])

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    # -- HTTP -----------------------------------------------------------------------------

    def req(self, method, path, body=None, headers=None, timeout=30):
        hdrs = dict(self.keys)
        hdrs.update(headers or {})
        try:
            return request(self.port, method, path, body, hdrs, timeout)
        except OSError as e:
            raise AssertionError("%s %s: %r (sandboxd alive: %s)%s"
                                 % (method, path, e, self.proc.poll() is None, self.stderr_tail()))

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def expect(self, resp, status, what=""):
        """resp has this status; the failure message shows the answer and sandboxd's stderr."""
        check(resp.status == status, "%sexpected %d, got %d" % (what + ": " if what else "",
                                                                 status, resp.status),
              resp, self.stderr_tail(8))
        return resp

    def execute(self, body, status=200, timeout=30):
        r = self.req("POST", "/api/v1/execute", body, timeout=timeout)
        return self.expect(r, status, "POST /api/v1/execute").json

    def submit(self, body, status=202):
        r = self.req("POST", "/api/v1/jobs", body)
        j = self.expect(r, status, "POST /api/v1/jobs").json
        if status == 202:
            check(j.get("status") == "queued" and j.get("id"), "202 without id/queued", r)
        return j

    def job(self, jid):
        return self.expect(self.get("/api/v1/jobs/" + jid), 200, "GET job %s" % jid).json

    def wait_job(self, jid, states, timeout=10):
        """Poll GET /api/v1/jobs/{id} until its status is in states; returns the job."""
        last = wait_until(lambda: (lambda j: j if j.get("status") in states else None)(
            self.job(jid)), timeout, 0.05)
        if not last:
            last = self.job(jid)
            raise AssertionError("job %s not %s within %d s: %r%s"
                                 % (jid, "/".join(states), timeout, last, self.stderr_tail(10)))
        return last

    def queue(self):
        return self.expect(self.get("/api/v1/queue"), 200, "GET /api/v1/queue").json

    def cancel_all(self, ids):
        """Best-effort DELETE of jobs a test started (so the next test finds the slots free)."""
        for jid in ids:
            try:
                self.req("DELETE", "/api/v1/jobs/" + jid, timeout=15)
            except AssertionError:
                pass


_shared = None


def shared():
    """The instance with DEFAULT_CONFIG, started on first use, stopped by the runner."""
    global _shared
    if _shared is None or _shared.proc.poll() is not None:
        if _shared is not None:
            dead, _shared = _shared, None
            raise AssertionError("the shared sandboxd died (exit %s)%s"
                                 % (dead.proc.returncode, dead.stderr_tail()))
        s = Service(name="shared")
        try:
            s.start()
        except Exception:
            s.cleanup()
            raise
        _shared = s
    return _shared


def shared_running():
    return _shared


# ---- programs --------------------------------------------------------------------------------

def py(code, **kw):
    body = {"language": "python", "code": code}
    body.update(kw)
    return body


SLEEPER = "import time; time.sleep(30)"


def sleeper(**kw):
    """A job that runs until cancelled (30 s, under a 60 s wall limit)."""
    return py(SLEEPER, limits={"wall_ms": 60000, "cpu_ms": 5000}, **kw)


# ---- processes and cgroups -------------------------------------------------------------------

def pid_alive(pid):
    """Alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _ours(pid):
    """A process of this test run: in a cgroup below our parent, or descended from us. Other
    sandboxd or sandboxctl runs on the host (their jobs use the same uids) are not ours; a
    jail that outlives its supervisor stays in its job cgroup, so it is still found."""
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            if "/%s/" % CGROUP_PARENT in f.read():
                return True
    except OSError:
        return False
    me, seen = os.getpid(), 0
    while pid > 1 and seen < 64:
        if pid == me:
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
        seen += 1
    return False


def jail_processes():
    """(pid, uid, name) of this run's processes whose real uid is a jail uid."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/status" % d) as f:
                st = f.read()
        except OSError:
            continue
        uid = comm = None
        for line in st.splitlines():
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
            elif line.startswith("Name:"):
                comm = line.partition(":")[2].strip()
        if uid is not None and JAIL_UID_MIN <= uid <= JAIL_UID_MAX and _ours(int(d)):
            found.append((int(d), uid, comm))
    return found


def _mounts():
    """(mount point, root within the hierarchy, fstype, super options) of cgroup mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            a, b = pre.split(), post.split()
            if b and b[0] in ("cgroup", "cgroup2"):
                out.append((a[4], a[3], b[0], b[2] if len(b) > 2 else ""))
    return out


def cgroup_parent_dirs():
    """Our cgroup parent's directory in every hierarchy where it exists (read only)."""
    dirs = []
    mounts = _mounts()
    with open("/proc/self/cgroup") as f:
        lines = [l.rstrip("\n").split(":", 2) for l in f if l.strip()]
    for hid, ctrls, path in lines:
        for mnt, root, fstype, opts in mounts:
            if hid == "0" and not ctrls:
                if fstype != "cgroup2":
                    continue
            elif fstype != "cgroup" or not set(ctrls.split(",")) <= set(opts.split(",")):
                continue
            rel = path
            if root != "/":
                if not (path == root or path.startswith(root + "/")):
                    continue
                rel = path[len(root):]
            d = os.path.normpath(mnt + "/" + rel.strip("/") + "/" + CGROUP_PARENT)
            if os.path.isdir(d) and d not in dirs:
                dirs.append(d)
    return dirs


def job_cgroups():
    """Job leaves (job-<pid>-<seq>, and anything else) below our cgroup parent."""
    found = []
    for d in cgroup_parent_dirs():
        for name in sorted(os.listdir(d)):
            if os.path.isdir(os.path.join(d, name)):
                found.append(os.path.join(d, name))
    return found


def work_mounts():
    """Job work directories seen in our mount namespace (they belong to the supervisor's)."""
    with open("/proc/self/mountinfo") as f:
        return [l.strip() for l in f if "sandboxd-job" in l or "sandboxd-work" in l]


def check_no_leaks(timeout=3):
    """No jail process, no job cgroup (a job's reaping may trail its answer briefly), no work
    directory mount in the host's namespace."""
    mnts = work_mounts()
    check(not mnts, "sandboxd's work mounts leaked into the host mount namespace", *mnts)
    if not wait_until(lambda: not jail_processes(), timeout):
        raise AssertionError("processes of the jail uids remain after %d s: %r"
                             % (timeout, jail_processes()))
    if not wait_until(lambda: not job_cgroups(), timeout):
        raise AssertionError("job cgroups remain under %s after %d s: %r"
                             % (CGROUP_PARENT, timeout, job_cgroups()))


# ---- callback receiver -----------------------------------------------------------------------

class Receiver:
    """An HTTP server on 127.0.0.1:<free port> that records every POST; the first `fail` of
    them get a 500."""

    def __init__(self, fail=0):
        self.posts = []  # (headers dict, body bytes, answered status)
        self.fail = fail
        self.lock = threading.Lock()
        rcv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rcv.lock:
                    status = 500 if len(rcv.posts) < rcv.fail else 200
                    rcv.posts.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self):
        with self.lock:
            return [p for p in self.posts if p[2] == 200]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
