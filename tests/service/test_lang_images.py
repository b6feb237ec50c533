"""test_lang_images.py - the language profiles on their images, not on the host: a sandboxd with
host_fallback off whose store holds the five toolchain images (tests/images/build-lang-images,
pushed to a throwaway loopback registry, pulled through `sandboxctl pull --registry-mirror`, the
real pull path). Per language: its self-test, a compile error (or a syntax error where there is
no compile stage), a runtime error, a timeout, a memory limit, a multi-file program and a set of
test cases with one wrong answer.

The fixture is built once, by the first test that needs it, and shared. It is torn down by the
last test of this module that the runner selects (so a filtered run stops it too, before the
runner stops the shared service), else at exit. If the images cannot be built here (no
mmdebstrap, no mirror, not root: build-lang-images exits 77), every test skips with the
builder's message.
"""

import atexit
import concurrent.futures
import glob
import json
import os
import shlex
import subprocess
import sys
import time

from harness import ROOT, Service, Skip, check, pid_alive, skip, test

BUILD = os.path.join(ROOT, "tests", "images", "build-lang-images")
PUSH = os.path.join(ROOT, "tests", "images", "push-lang-images")
REGISTRY = os.path.join(ROOT, "tests", "registry", "registry")
SANDBOXCTL = os.path.join(ROOT, "build", "sandboxctl")
SKIP_STATUS = 77  # build-lang-images: a prerequisite is missing

# The languages whose images build-lang-images makes (bash has none: it must stay unavailable,
# as host_fallback is off).
IMAGE_LANGS = ("python", "javascript", "c", "c++", "java", "go")
NO_IMAGE_LANGS = ("bash",)

# The dedicated service: no host fallback and no pull on demand (a language without its image
# is unavailable, so a pass below cannot come from the host's toolchain, and nothing is fetched
# from docker.io), room for the generous limits some cases ask for, no rate limit (a test
# sends its cases two at a time).
CONFIG = {
    "host_fallback": False,
    "pull_on_demand": False,
    "slots": 2,
    "queue_max": 50,
    "rate_limit": {"per_second": 0, "burst": 1},
    "limits_max": {"cpu_ms": 60000, "wall_ms": 120000, "memory_mb": 2048, "pids": 512,
                   "output_kb": 16384},
}
REQUEST_TIMEOUT_S = 180  # one execute, queueing behind the other slot's compile included


def load_profiles():
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "profiles", "languages", "*.json"))):
        with open(path) as f:
            p = json.load(f)
        out[p["name"]] = p
    return out


PROFILES = load_profiles()


# ---- the fixture -----------------------------------------------------------------------------

_fx = {"svc": None, "skip": None, "error": None}


def _run(cmd, timeout, what):
    """Run cmd to completion; returns CompletedProcess. A hang is a failure, not a stall."""
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s took more than %d s: %s" % (what, timeout, " ".join(cmd)))


def _tail(text, n=8):
    return "\n    ".join(text.strip().splitlines()[-n:])


def _build_images():
    """build-lang-images (cached after the first run); None when built, else the skip reason."""
    r = _run([sys.executable, BUILD], 3600, "build-lang-images")
    if r.returncode == SKIP_STATUS:
        return r.stderr.strip() or "build-lang-images exited 77 without a message"
    check(r.returncode == 0, "build-lang-images exited %d" % r.returncode, _tail(r.stderr))
    return None


def _start_registry(path):
    """tests/registry/registry PATH; returns its env (REGISTRY_URL, REGISTRY_PID, ...)."""
    r = _run([REGISTRY, path], 120, "tests/registry/registry")
    check(r.returncode == 0, "tests/registry/registry exited %d" % r.returncode,
          _tail(r.stderr))
    env = dict(shlex.split(l)[0].split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    check(env.get("REGISTRY_URL", "").startswith("http://127.0.0.1:"),
          "the registry printed no loopback REGISTRY_URL", r.stdout)
    return env


def _stop_registry(path, env):
    r = _run([REGISTRY, "--stop", path], 60, "registry --stop")
    check(r.returncode == 0, "registry --stop exited %d" % r.returncode, _tail(r.stderr))
    pid = int(env.get("REGISTRY_PID", "0"))
    check(not pid or not pid_alive(pid), "the registry (pid %d) outlived --stop" % pid)


def _pull_all(svc, url):
    """Every image the languages name, pulled at once (the store takes concurrent pulls) into
    the service's state dir, docker.io mirrored to the loopback registry."""
    refs = sorted({PROFILES[n]["image"] for n in IMAGE_LANGS})
    procs = {}
    for ref in refs:
        log = open(os.path.join(svc.dir, "pull-%s.log" % ref.replace("/", "_")), "w+")
        procs[ref] = (subprocess.Popen([SANDBOXCTL, "pull", "--state-dir", svc.state_dir,
                                        "--registry-mirror", url, ref],
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT), log)
    failed = []
    end = time.monotonic() + 300
    for ref, (p, log) in procs.items():
        try:
            rc = p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "timeout: %s" % p.wait()
        log.seek(0)
        if rc != 0:
            failed.append("sandboxctl pull %s: exit %s: %s" % (ref, rc, _tail(log.read(), 4)))
        log.close()
    check(not failed, "pulling the language images failed", *failed)


def _build_fixture():
    reason = _build_images()
    if reason:
        _fx["skip"] = reason
        skip(reason)
    svc = Service(CONFIG, name="lang-images")
    try:
        reg_dir = os.path.join(svc.dir, "registry")
        env = _start_registry(reg_dir)
        try:
            r = _run([PUSH, env["REGISTRY_URL"]], 600, "push-lang-images")
            check(r.returncode == 0, "push-lang-images exited %d" % r.returncode,
                  _tail(r.stderr))
            _pull_all(svc, env["REGISTRY_URL"])
        except BaseException:
            subprocess.run([REGISTRY, "--stop", reg_dir], capture_output=True, timeout=60)
            raise
        _stop_registry(reg_dir, env)  # the service below never talks to it
        svc.start()
    except BaseException:
        svc.cleanup()
        raise
    return svc


def lang_service():
    """The dedicated service with the images pulled, built on first use."""
    if _fx["skip"]:
        skip(_fx["skip"])
    if _fx["error"]:
        raise AssertionError("the language-image fixture failed earlier: " + _fx["error"])
    svc = _fx["svc"]
    if svc is not None and svc.proc.poll() is not None:
        _fx["svc"] = None
        svc.cleanup()
        raise AssertionError("the language-image sandboxd died (exit %s)%s"
                             % (svc.proc.returncode, svc.stderr_tail()))
    if svc is None:
        try:
            svc = _fx["svc"] = _build_fixture()
        except Skip:
            raise
        except Exception as e:
            _fx["error"] = str(e) if isinstance(e, AssertionError) else repr(e)
            raise
    return svc


def teardown(quiet=False):
    """Stop the dedicated service (SIGTERM, exit status 0) and remove its directory."""
    svc, _fx["svc"] = _fx["svc"], None
    if svc is None:
        return
    try:
        rc = svc.stop()
        if not quiet:
            check(rc == 0, "the language-image sandboxd exited with %s on SIGTERM" % rc,
                  svc.stderr_tail())
    finally:
        svc.cleanup()


atexit.register(teardown, True)

_NAMES = []  # this module's tests, in order


def _last_selected(name):
    """Is name the last test of this module that run.py runs (its arguments are substrings of
    the names to run, as in run.py's main)?"""
    if os.path.basename(sys.argv[0]) != "run.py":
        return False
    pats = sys.argv[1:]
    chosen = [n for n in _NAMES if not pats or any(p in n for p in pats)]
    return bool(chosen) and chosen[-1] == name


def image_test(name):
    """@test, and the last selected test of the module tears the fixture down."""

    def deco(fn):
        _NAMES.append(name)

        def run():
            try:
                fn()
            except BaseException:
                if _last_selected(name):
                    teardown(quiet=True)
                raise
            if _last_selected(name):
                teardown()

        return test(name)(run)

    return deco


# ---- helpers ---------------------------------------------------------------------------------

def on_image(svc, lang):
    """lang runs on its image here (not the host, not unavailable)."""
    langs = {l["name"]: l for l in svc.expect(svc.get("/api/v1/languages"), 200).json["languages"]}
    l = langs.get(lang)
    check(l and l["rootfs"] == "image" and l["ready"], "%s does not run on its image" % lang, l)


def run_all(svc, bodies):
    """POST /api/v1/execute for each body (a dict name -> body), two at a time as the service
    has two slots; returns name -> answer."""
    names = list(bodies)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        answers = ex.map(lambda n: svc.execute(bodies[n], timeout=REQUEST_TIMEOUT_S), names)
        return dict(zip(names, answers))


def self_test_body(lang):
    st = PROFILES[lang]["self_test"]
    return {"language": lang, "code": st["code"], "stdin": st["stdin"], "args": st["args"]}


def check_self_test(lang, a):
    want = PROFILES[lang]["self_test"]["expected_output"]
    check(a["status"] == "ok" and a["stdout"].strip() == want,
          "%s: the profile's self-test prints %s" % (lang, want), a)


def check_compile_error(a, *words):
    """compile_error, the compiler's message in compile.stderr, the program never ran."""
    check(a["status"] == "compile_error", "status compile_error", a)
    comp = a["compile"] or {}
    check(comp.get("exit_code") not in (None, 0), "the compiler's non-zero exit", comp)
    for w in words:
        check(w in comp.get("stderr", ""), "the compiler's message names %r" % w, comp)
    check(a["stdout"] == "", "nothing ran", a)


def check_status(a, status, what, **fields):
    check(a["status"] == status, "%s: status %s" % (what, status), a)
    for k, v in fields.items():
        check(a.get(k) == v, "%s: %s == %r" % (what, k, v), a)


def check_in(text, word, what, a):
    check(word in text, "%s: %r in the output" % (what, word), a)


def tests_body(lang, code):
    """A program that prints the product of two numbers, against 3 cases, the 2nd one wrong."""
    return {"language": lang, "code": code,
            "tests": [{"stdin": "6 7\n", "expected_output": "42\n"},
                      {"stdin": "2 2\n", "expected_output": "5\n"},
                      {"stdin": "0 9\n", "expected_output": "0"}]}


def check_tests(a):
    check([t["status"] for t in a["tests"]] == ["ok", "wrong_answer", "ok"],
          "per-case verdicts ok, wrong_answer, ok", a)
    check([t["stdout"] for t in a["tests"]] == ["42\n", "4\n", "0\n"], "per-case output", a)
    check(a["summary"] == {"total": 3, "run": 3, "passed": 2, "failed": 1}, "summary", a)
    check(a["status"] == "wrong_answer", "the wrong answer speaks for the job", a)


def timeout_check(a):
    check_status(a, "timeout", "a busy loop under cpu_ms 1000", limit="cpu")
    check(a["time_ms"] >= 1000, "CPU time of the busy loop reaches the limit", a)


def memory_check(a, mb):
    check_status(a, "memory_limit", "512 MiB touched under memory_mb %d" % mb, limit="memory")
    check(a["stdout"] == "", "the program died before it printed", a)


# ---- tests -----------------------------------------------------------------------------------

@image_test("image languages: python, javascript, c, c++, java, go run on their images, "
            "bash is unavailable")
def t_languages():
    s = lang_service()
    langs = {l["name"]: l for l in s.expect(s.get("/api/v1/languages"), 200).json["languages"]}
    for name in IMAGE_LANGS:
        l = langs.get(name)
        check(l and l["rootfs"] == "image" and l["ready"] and l["image"] == PROFILES[name]["image"],
              "%s: rootfs image, ready, its profile's image" % name, l)
    for name in NO_IMAGE_LANGS:
        l = langs.get(name)
        check(l and l["rootfs"] == "unavailable" and not l["ready"],
              "%s: no image and no host fallback: unavailable" % name, l)
        r = s.req("POST", "/api/v1/execute", {"language": name, "code": "echo hi"})
        check(r.status == 503 and r.error.get("code") == "language_unavailable",
              "a request for %s is refused" % name, r)


@image_test("image python: self-test, syntax error, exception, timeout, memory limit, "
            "package in a subdirectory, test cases")
def t_python():
    s = lang_service()
    on_image(s, "python")
    a = run_all(s, {
        "self": self_test_body("python"),
        "syntax": {"language": "python", "code": "print('before')\ndef f(:\n    pass\n"},
        "raise": {"language": "python",
                  "code": "print('before', flush=True)\nraise ValueError('boom')\n"},
        "spin": {"language": "python", "code": "while True:\n    pass\n",
                 "limits": {"cpu_ms": 1000}},
        # bytearray(n) is calloc'd (untouched pages): write one byte per page
        "hog": {"language": "python", "limits": {"memory_mb": 128},
                "code": "b = bytearray(512 << 20)\nfor i in range(0, len(b), 4096):\n"
                        "    b[i] = 1\nprint(len(b))\n"},
        "files": {"language": "python", "args": ["x"], "files": [
            {"name": "main.py", "content": "import sys\nfrom pkg.util import twice\n"
                                           "print(twice(21), sys.argv[1:])\n"},
            {"name": "pkg/__init__.py", "content": ""},
            {"name": "pkg/util.py", "content": "def twice(x):\n    return 2 * x\n"}]},
        "tests": tests_body("python", "a, b = map(int, input().split())\nprint(a * b)\n"),
    })
    check_self_test("python", a["self"])
    # no compile stage: the syntax error comes from the run, before any statement runs
    check_status(a["syntax"], "runtime_error", "syntax error", compile=None, stdout="")
    check_in(a["syntax"]["stderr"], "SyntaxError", "syntax error", a["syntax"])
    check_status(a["raise"], "runtime_error", "uncaught exception", exit_code=1,
                 stdout="before\n")
    check_in(a["raise"]["stderr"], "ValueError: boom", "uncaught exception", a["raise"])
    timeout_check(a["spin"])
    memory_check(a["hog"], 128)
    check_status(a["files"], "ok", "main.py imports pkg/util.py", stdout="42 ['x']\n")
    check_tests(a["tests"])


@image_test("image javascript: self-test, syntax error, exception, timeout, memory limit, "
            "module in a subdirectory, test cases")
def t_javascript():
    s = lang_service()
    on_image(s, "javascript")
    a = run_all(s, {
        "self": self_test_body("javascript"),
        "syntax": {"language": "javascript", "code": "console.log('before');\nfunction f( {\n"},
        "throw": {"language": "javascript",
                  "code": "console.log('before');\nthrow new Error('boom');\n"},
        "spin": {"language": "javascript", "code": "for (;;) {}\n", "limits": {"cpu_ms": 1000}},
        # a Buffer lives outside V8's heap (NODE_OPTIONS caps that at 192 MiB): only the
        # cgroup stops it; fill writes every page
        "hog": {"language": "javascript", "limits": {"memory_mb": 128},
                "code": "const b = Buffer.alloc(512 * 1024 * 1024, 1);\nconsole.log(b.length);\n"},
        "files": {"language": "javascript", "args": ["x"], "files": [
            {"name": "main.js",
             "content": "const { twice } = require('./lib/util');\n"
                        "console.log(twice(21), process.argv.slice(2).join());\n"},
            {"name": "lib/util.js", "content": "exports.twice = (x) => 2 * x;\n"}]},
        "tests": tests_body("javascript",
                            "const [a, b] = require('fs').readFileSync(0, 'utf8').trim()"
                            ".split(/\\s+/).map(Number);\nconsole.log(a * b);\n"),
    })
    check_self_test("javascript", a["self"])
    check_status(a["syntax"], "runtime_error", "syntax error", compile=None, stdout="")
    check_in(a["syntax"]["stderr"], "SyntaxError", "syntax error", a["syntax"])
    check_status(a["throw"], "runtime_error", "uncaught exception", exit_code=1,
                 stdout="before\n")
    check_in(a["throw"]["stderr"], "Error: boom", "uncaught exception", a["throw"])
    timeout_check(a["spin"])
    memory_check(a["hog"], 128)
    check_status(a["files"], "ok", "main.js requires lib/util.js", stdout="42 x\n")
    check_tests(a["tests"])


C_HOG = r"""#include <stdio.h>
#include <stdlib.h>
int main(void)
{
	size_t n = (size_t)512 << 20;
	volatile char *p = malloc(n); /* volatile: -O2 would drop a buffer nobody reads */
	if (!p)
		return 2;
	for (size_t i = 0; i < n; i += 4096)
		p[i] = 1;
	printf("%d\n", p[n / 2]);
	return 0;
}
"""

C_MUL = '#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) ' \
        'return 1; printf("%ld\\n", a * b); return 0; }\n'


@image_test("image c: self-test, compile error, exit code, timeout, memory limit, sources in "
            "a subdirectory, test cases")
def t_c():
    s = lang_service()
    on_image(s, "c")
    a = run_all(s, {
        "self": self_test_body("c"),
        "cerr": {"language": "c", "code": "int main(void) { return undeclared_name; }\n"},
        "exit": {"language": "c", "code": '#include <stdio.h>\n'
                                          'int main(void) { puts("before"); return 3; }\n'},
        "spin": {"language": "c", "code": "int main(void) { for (;;); }\n",
                 "limits": {"cpu_ms": 1000}},
        "hog": {"language": "c", "code": C_HOG, "limits": {"memory_mb": 128}},
        "files": {"language": "c", "args": ["x", "y"], "files": [
            {"name": "main.c", "content": '#include <stdio.h>\n#include "lib/twice.h"\n'
                                          "int main(int argc, char **argv) "
                                          '{ printf("%d %d\\n", twice(21), argc); return 0; }\n'},
            {"name": "lib/twice.h", "content": "int twice(int);\n"},
            {"name": "lib/twice.c", "content": '#include "twice.h"\n'
                                               "int twice(int x) { return 2 * x; }\n"}]},
        "tests": tests_body("c", C_MUL),
    })
    check_self_test("c", a["self"])
    check_compile_error(a["cerr"], "undeclared_name", "error")
    check_status(a["exit"], "runtime_error", "exit 3", exit_code=3, stdout="before\n")
    timeout_check(a["spin"])
    memory_check(a["hog"], 128)
    check_status(a["files"], "ok", "main.c + lib/twice.c compiled together", stdout="42 3\n")
    check_tests(a["tests"])


@image_test("image c++: self-test, compile error, uncaught exception, second source file, "
            "test cases")
def t_cpp():
    s = lang_service()
    on_image(s, "c++")
    a = run_all(s, {
        "self": self_test_body("c++"),
        "cerr": {"language": "c++", "code": "int main() { return undeclared_name; }\n"},
        "throw": {"language": "c++", "code": "#include <iostream>\n#include <stdexcept>\n"
                                             'int main() { std::cout << "before" << std::endl; '
                                             'throw std::runtime_error("boom"); }\n'},
        "files": {"language": "c++", "files": [
            {"name": "main.cpp",
             "content": '#include <iostream>\n#include "util/add.hpp"\n'
                        "int main() { std::cout << add(40, 2) << std::endl; }\n"},
            {"name": "util/add.hpp", "content": "int add(int a, int b);\n"},
            {"name": "util/add.cpp", "content": '#include "add.hpp"\n'
                                                "int add(int a, int b) { return a + b; }\n"}]},
        "tests": tests_body("c++", "#include <iostream>\nint main() { long a, b; "
                                   "std::cin >> a >> b; std::cout << a * b << std::endl; }\n"),
    })
    check_self_test("c++", a["self"])
    check_compile_error(a["cerr"], "undeclared_name", "error")
    # an uncaught C++ exception ends in abort(): the documented status is "signaled" (SIGABRT),
    # not runtime_error (README: runtime_error is a non-zero exit)
    check_status(a["throw"], "signaled", "uncaught exception", signal=6, stdout="before\n")
    check_in(a["throw"]["stderr"], "boom", "uncaught exception", a["throw"])
    check_status(a["files"], "ok", "main.cpp + util/add.cpp compiled together", stdout="42\n")
    check_tests(a["tests"])


JAVA = "public class Main {\n\tpublic static void main(String[] args) {\n\t\t%s\n\t}\n}\n"


@image_test("image java: self-test, compile error, exception, timeout, memory limit, classes "
            "in their own files and a package directory, test cases")
def t_java():
    s = lang_service()
    on_image(s, "java")
    a = run_all(s, {
        "self": self_test_body("java"),
        "cerr": {"language": "java", "code": JAVA % "int x = undeclaredVar;"},
        "throw": {"language": "java", "code": JAVA % 'System.out.println("before"); '
                                                     'throw new IllegalStateException("boom");'},
        "spin": {"language": "java", "code": JAVA % "long i = 0; while (true) { i++; }",
                 "limits": {"cpu_ms": 1000}},
        # The profile runs java -Xmx256m. Under memory_mb 128 the heap must outgrow the cgroup
        # before the JVM could decide it is out of heap, so the verdict is memory_limit; at
        # memory_mb 256 (= -Xmx) it would be a race between the cgroup and the JVM's own
        # OutOfMemoryError. 512 arrays of 1 MiB, each filled, all kept live.
        "hog": {"language": "java", "limits": {"memory_mb": 128}, "code": JAVA % (
            "byte[][] b = new byte[512][];\n\t\tfor (int i = 0; i < b.length; i++) {\n"
            "\t\t\tb[i] = new byte[1 << 20];\n\t\t\tjava.util.Arrays.fill(b[i], (byte) 1);\n"
            "\t\t}\n\t\tSystem.out.println(b.length);")},
        # One array above -Xmx is the JVM's own refusal, whatever the cgroup allows: an
        # OutOfMemoryError, i.e. runtime_error (what a user of this profile sees).
        "bigarray": {"language": "java", "limits": {"memory_mb": 1024}, "code": JAVA % (
            "byte[] b = new byte[512 << 20];\n\t\tSystem.out.println(b.length);")},
        "files": {"language": "java", "args": ["x"], "files": [
            {"name": "Main.java", "content": "import util.Words;\n" + JAVA % (
                'System.out.println(Helper.twice(21) + " " + Words.join(args));')},
            {"name": "Helper.java", "content": "class Helper {\n"
                                               "\tstatic int twice(int x) { return 2 * x; }\n}\n"},
            {"name": "util/Words.java", "content": "package util;\n\npublic class Words {\n"
                                                   "\tpublic static String join(String[] a) "
                                                   '{ return String.join(",", a); }\n}\n'}]},
        "tests": tests_body("java", "import java.util.Scanner;\n" + JAVA % (
            "Scanner in = new Scanner(System.in);\n"
            "\t\tSystem.out.println(in.nextLong() * in.nextLong());")),
    })
    check_self_test("java", a["self"])
    check_compile_error(a["cerr"], "undeclaredVar", "cannot find symbol")
    check_status(a["throw"], "runtime_error", "uncaught exception", exit_code=1,
                 stdout="before\n")
    check_in(a["throw"]["stderr"], "IllegalStateException: boom", "uncaught exception",
             a["throw"])
    timeout_check(a["spin"])
    memory_check(a["hog"], 128)
    check_status(a["bigarray"], "runtime_error", "an array above -Xmx256m", exit_code=1)
    check_in(a["bigarray"]["stderr"], "OutOfMemoryError", "an array above -Xmx256m",
             a["bigarray"])
    check_status(a["files"], "ok", "Main.java + Helper.java + util/Words.java", stdout="42 x\n")
    check_tests(a["tests"])


GO = 'package main\n\nimport "fmt"\n\nfunc main() {\n%s\n}\n'


@image_test("image go: self-test, compile error, panic, timeout, memory limit, second file "
            "in package main, test cases")
def t_go():
    s = lang_service()
    on_image(s, "go")
    a = run_all(s, {
        "self": self_test_body("go"),
        "cerr": {"language": "go", "code": GO % "\tfmt.Println(undeclaredName)"},
        "panic": {"language": "go", "code": GO % '\tfmt.Println("before")\n\tpanic("boom")'},
        "spin": {"language": "go", "code": "package main\n\nfunc main() {\n\tn := 0\n"
                                           "\tfor {\n\t\tn++\n\t}\n}\n",
                 "limits": {"cpu_ms": 1000}},
        "hog": {"language": "go", "limits": {"memory_mb": 128}, "code": GO % (
            "\tb := make([]byte, 512<<20)\n\tfor i := 0; i < len(b); i += 4096 {\n"
            "\t\tb[i] = 1\n\t}\n\tfmt.Println(len(b))")},
        "files": {"language": "go", "files": [
            {"name": "main.go", "content": GO % "\tfmt.Println(twice(21))"},
            {"name": "twice.go", "content": "package main\n\n"
                                            "func twice(x int) int { return 2 * x }\n"}]},
        "tests": tests_body("go", GO % "\tvar a, b int64\n\tfmt.Scan(&a, &b)\n"
                                       "\tfmt.Println(a * b)"),
    })
    check_self_test("go", a["self"])
    check_compile_error(a["cerr"], "undefined: undeclaredName")
    check_status(a["panic"], "runtime_error", "panic", exit_code=2, stdout="before\n")
    check_in(a["panic"]["stderr"], "panic: boom", "panic", a["panic"])
    timeout_check(a["spin"])
    memory_check(a["hog"], 128)
    check_status(a["files"], "ok", "main.go + twice.go", stdout="42\n")
    check_tests(a["tests"])


@image_test("image service: stops cleanly on SIGTERM")
def t_stop():
    if _fx["skip"]:
        skip(_fx["skip"])
    if _fx["svc"] is None:
        skip("the language-image service was not started")
    svc = _fx["svc"]
    sup = svc.supervisor_pid()
    teardown()
    check(sup is None or not pid_alive(sup), "its supervisor lives on")
