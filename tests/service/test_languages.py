"""test_languages.py - the compile stage, test cases and multi-file programs, with the C and C++
profiles on the host rootfs (gcc and g++ are build dependencies, so every machine that builds
sandboxd has them)."""

from harness import check, shared, test


def c(code, **kw):
    body = {"language": "c", "code": code}
    body.update(kw)
    return body


def need(s, name):
    langs = {l["name"]: l for l in s.expect(s.get("/api/v1/languages"), 200).json["languages"]}
    check(name in langs and langs[name]["ready"], "%s is not ready on this host" % name, langs)


ADD = r"""#include <stdio.h>
int main(void) { int a, b; if (scanf("%d %d", &a, &b) != 2) return 3; printf("%d \n", a + b); return 0; }
"""


@test("c: compile once, run every test case, verdicts and summary")
def t_tests():
    s = shared()
    need(s, "c")
    a = s.execute(c(ADD, tests=[{"stdin": "1 2", "expected_output": "3"},
                                {"input": "2 2\n", "expected_output": "5\n"},
                                {"stdin": "x", "expected_output": "0"},
                                {"stdin": "40 2", "expected_output": "42\n\n"}]))
    check(a["compile"] and a["compile"]["status"] == "ok", "compile stage", a)
    check([t["status"] for t in a["tests"]] == ["ok", "wrong_answer", "runtime_error", "ok"],
          "per-case verdicts (trailing whitespace ignored)", a["tests"])
    check(a["summary"] == {"total": 4, "run": 4, "passed": 2, "failed": 2}, "summary", a)
    check(a["status"] == "wrong_answer" and a["stdout"] == "4 \n",
          "the first failing case speaks for the job", a)
    ok = s.execute(c(ADD, tests=[{"stdin": "1 1", "expected_output": "2"}]))
    check(ok["status"] == "ok" and ok["summary"]["passed"] == 1, "all cases pass", ok)


@test("c: a compile error is compile_error with the compiler's output, nothing runs")
def t_compile_error():
    s = shared()
    need(s, "c")
    a = s.execute(c("int main(void) { return undeclared; }",
                    tests=[{"stdin": "", "expected_output": ""}]))
    check(a["status"] == "compile_error", "status", a)
    check("undeclared" in a["compile"]["stderr"], "the compiler's message", a["compile"])
    check(a["tests"] == [] and a["summary"]["run"] == 0, "no case ran", a)


@test("c: runtime error, timeout and memory limit in the run stage")
def t_run_statuses():
    s = shared()
    need(s, "c")
    crash = s.execute(c("int main(void) { return 7; }"))
    check(crash["status"] == "runtime_error" and crash["exit_code"] == 7, "exit 7", crash)
    spin = s.execute(c("int main(void) { for (;;); }", limits={"cpu_ms": 300}))
    check(spin["status"] == "timeout", "a busy loop hits the CPU limit", spin)
    hog = s.execute(c("#include <stdio.h>\n#include <stdlib.h>\n"
                      "int main(void) { size_t n = 512u << 20; volatile char *p = malloc(n);\n"
                      "if (!p) return 2; for (size_t i = 0; i < n; i += 4096) p[i] = 1;\n"
                      "printf(\"%d\\n\", p[n / 2]); return 0; }", limits={"memory_mb": 64}))
    check(hog["status"] == "memory_limit", "512 MiB under a 64 MiB limit", hog)


@test("c and c++: multi-file programs (directories, every source compiled, args)")
def t_multi_file():
    s = shared()
    need(s, "c")
    a = s.execute({"language": "c", "args": ["x", "y"], "files": [
        {"name": "main.c", "content": '#include <stdio.h>\n#include "lib/twice.h"\n'
                                      'int main(int argc, char **argv) '
                                      '{ printf("%d %d\\n", twice(21), argc); return 0; }'},
        {"name": "lib/twice.h", "content": "int twice(int);\n"},
        {"name": "twice.c", "content": '#include "lib/twice.h"\nint twice(int x) { return 2 * x; }'},
    ]})
    check(a["status"] == "ok" and a["stdout"] == "42 3\n", "two .c files and a header", a)
    need(s, "c++")
    b = s.execute({"language": "cpp", "files": [
        {"name": "prog.cpp", "content": '#include <iostream>\n#include "util/add.hpp"\n'
                                        "int main() { std::cout << add(2, 3) << std::endl; }"},
        {"name": "util/add.hpp", "content": "inline int add(int a, int b) { return a + b; }\n"},
    ]})
    check(b["status"] == "ok" and b["stdout"] == "5\n" and b["language"] == "c++",
          "c++ by its alias, entry file named by the request", b)


@test("bad input: tests")
def t_bad_tests():
    s = shared()
    for body, field in (({"tests": []}, "tests"),
                        ({"tests": [{"stdin": "1"}]}, "tests[0].expected_output"),
                        ({"tests": [{"expected_output": 1}]}, "tests[0].expected_output"),
                        ({"tests": [{"expected_output": "", "extra": 1}]}, "tests[0].extra"),
                        ({"tests": [{"expected_output": ""}], "stdin": "x"}, "tests")):
        r = s.req("POST", "/api/v1/execute", c("int main(void){return 0;}", **body))
        check(r.status == 400 and r.error.get("field") == field, "field %s" % field, r)
