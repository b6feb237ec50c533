#!/usr/bin/env python3
"""languages.py - make bench, part 4: a cold hello-world per language, sandboxd against native.

For every language profile whose image tests/images/build-lang-images can build (python,
javascript, c, c++, java, go: Debian 12 toolchains under the profiles' image names), the images
are pushed to a throwaway loopback registry and pulled into a fresh state dir (the real pull
path); the registry is stopped before anything is timed. Then, interleaved round by round (the
order of the two sides alternates), medians of ROUNDS:
  - sandboxd: POST /api/v1/execute of the hello-world on a keep-alive connection to a sandboxd
    with host_fallback and pull_on_demand off (so the job runs on the image, nowhere else): the
    client's round trip, and the job's own wall_ms (compile.wall_ms for the compile stage);
  - native: the profile's compile and run argv, with the environment the jail gives (security
    profile env + the language's env), run by root chrooted into the same unpacked rootfs in a
    private mount namespace: the rootfs made read-only there (a read-only bind of itself: the
    store's copy is shared and must not be written), a fresh tmpfs on its /tmp holding the work
    directory, a tmpfs /dev with the jail's device nodes and a /proc. Timed from fork to reap.
"Cold": a fresh process, work directory and /tmp each time (Go's GOCACHE starts empty); the page
cache is warm on both sides (one unmeasured round first). Compiled languages get a compile row,
a run row and a total row (the round trip covers both stages). Exit 0 unless something fails
to run or is left behind; skipped with the reason when the images cannot be built; nothing
here asserts a time.
"""

import ctypes
import glob
import json
import os
import shlex
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time

from sandboxd import Sandboxd

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOXCTL = os.path.join(ROOT, "build", "sandboxctl")
BUILD = os.path.join(ROOT, "tests", "images", "build-lang-images")
PUSH = os.path.join(ROOT, "tests", "images", "push-lang-images")
REGISTRY = os.path.join(ROOT, "tests", "registry", "registry")
CGROUP_PARENT = "sandboxd-bench-lang"
ROUNDS = 5
SKIP_STATUS = 77  # build-lang-images: a prerequisite is missing
CONFIG = {"host_fallback": False, "pull_on_demand": False, "rate_limit": {"per_second": 0}}
HELLO = "hello, world\n"
# profile name -> the program (its entry file is the profile's "source")
PROGRAMS = {
    "python": 'print("hello, world")\n',
    "javascript": 'console.log("hello, world");\n',
    "c": '#include <stdio.h>\nint main(void)\n{\n\tputs("hello, world");\n\treturn 0;\n}\n',
    "c++": '#include <iostream>\nint main()\n{\n\tstd::cout << "hello, world" << std::endl;\n}\n',
    "java": 'public class Main {\n\tpublic static void main(String[] args) {\n'
            '\t\tSystem.out.println("hello, world");\n\t}\n}\n',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello, world")\n}\n',
}
# The jail's /dev (sandbox/mount.c): character devices and links.
DEV_NODES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
             "urandom": (1, 9), "tty": (5, 0)}
DEV_LINKS = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
             "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
CLONE_NEWNS = 0x20000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000


class Failure(Exception):
    """Something failed to run: the bench exits 1 with this message."""


def run(cmd, timeout, what):
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("%s took more than %d s" % (what, timeout))
    return p


def tail(text, n=6):
    return "\n  ".join(text.strip().splitlines()[-n:])


def load_json(path):
    with open(path) as f:
        return json.load(f)


def profiles():
    """The languages with a program here, by profile name, in PROGRAMS' order."""
    found = {}
    for path in glob.glob(os.path.join(ROOT, "profiles", "languages", "*.json")):
        p = load_json(path)
        found[p["name"]] = p
    return {n: found[n] for n in PROGRAMS if n in found}


# ---- the images ---------------------------------------------------------------------------------

def build_images():
    """None when build-lang-images built (or had cached) them, else why not."""
    r = run([sys.executable, BUILD], 3600, "build-lang-images")
    if r.returncode == SKIP_STATUS:
        return r.stderr.strip() or "build-lang-images exited 77"
    if r.returncode != 0:  # some built, some not: those are skipped at the pull
        print("bench languages: build-lang-images exited %d:\n  %s" % (r.returncode,
                                                                      tail(r.stderr)))
    return None


def start_registry(path):
    r = run([REGISTRY, path], 120, "tests/registry/registry")
    if r.returncode != 0:
        raise Failure("tests/registry/registry exited %d:\n  %s" % (r.returncode, tail(r.stderr)))
    return dict(shlex.split(l)[0].split("=", 1) for l in r.stdout.splitlines() if "=" in l)


def stop_registry(path):
    r = run([REGISTRY, "--stop", path], 60, "registry --stop")
    if r.returncode != 0:
        raise Failure("registry --stop exited %d:\n  %s" % (r.returncode, tail(r.stderr)))


def pull_images(state, refs, work):
    """ref -> (rootfs, None) or (None, why it is missing): every ref pushed, then pulled into
    state; the registry lives only this long."""
    reg = os.path.join(work, "registry")
    env = start_registry(reg)
    try:
        r = run([PUSH, env["REGISTRY_URL"]], 900, "push-lang-images")
        if r.returncode != 0:
            raise Failure("push-lang-images exited %d:\n  %s" % (r.returncode, tail(r.stderr)))
        out = {}
        for ref in refs:
            p = run([SANDBOXCTL, "pull", "--state-dir", state, "--registry-mirror",
                     env["REGISTRY_URL"], ref], 600, "sandboxctl pull " + ref)
            if p.returncode != 0:
                out[ref] = (None, "not pulled: " + tail(p.stderr or p.stdout, 2))
                continue
            i = run([SANDBOXCTL, "inspect", "--state-dir", state, ref], 60, "inspect " + ref)
            if i.returncode != 0:
                raise Failure("sandboxctl inspect %s exited %d: %s" % (ref, i.returncode,
                                                                       tail(i.stderr)))
            out[ref] = (json.loads(i.stdout)["rootfs"], None)
        return out
    finally:
        stop_registry(reg)


# ---- sandboxd -----------------------------------------------------------------------------------


class Service(Sandboxd):
    def __init__(self, work, state):
        try:
            super().__init__(work, state, CONFIG, CGROUP_PARENT)
        except RuntimeError as e:
            raise Failure(str(e))


def svc_job(svc, lang, code):
    """One execute: (round trip ms, compile wall_ms or None, run wall_ms)."""
    body = json.dumps({"language": lang, "code": code})
    t = time.perf_counter()
    status, a = svc.request("POST", "/api/v1/execute", body)
    rt = (time.perf_counter() - t) * 1e3
    if status != 200 or a.get("status") != "ok" or a.get("stdout") != HELLO:
        raise Failure("sandboxd: %s failed: %d %s" % (lang, status, json.dumps(a)[:800]))
    return rt, (a["compile"] or {}).get("wall_ms"), a["wall_ms"]


# ---- native -------------------------------------------------------------------------------------

def argv_of(tmpl, source):
    """The profile's argv for one file and no arguments, as runner.c substitutes it."""
    stem = os.path.splitext(os.path.basename(source))[0]
    out = []
    for a in tmpl:
        if a == "{args}":
            continue
        out.append(source if a == "{sources}" else
                   a.replace("{source}", source).replace("{stem}", stem))
    return out


def env_of(base, lang_env):
    env = dict(e.split("=", 1) for e in base)
    env.update(lang_env)
    return env


def sys_check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def enter_rootfs(rootfs, source, code):
    """In a forked child: a private mount namespace, the rootfs read-only, tmpfs /tmp (the
    work directory /tmp/box) and /dev, a /proc; then chroot. Nothing reaches the store's
    copy, and every mount dies with the child."""
    libc = ctypes.CDLL(None, use_errno=True)

    def mount(src, dst, fstype, flags, data):
        enc = lambda s: s.encode() if s is not None else None
        sys_check(libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
                  "mount %s" % dst)

    sys_check(libc.unshare(CLONE_NEWNS), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    mount(rootfs, rootfs, None, MS_BIND | MS_REC, None)
    mount(None, rootfs, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    mount("tmpfs", rootfs + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    mount("tmpfs", rootfs + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name, (major, minor) in DEV_NODES.items():
        os.mknod(rootfs + "/dev/" + name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    for name, target in DEV_LINKS.items():
        os.symlink(target, rootfs + "/dev/" + name)
    os.mkdir(rootfs + "/dev/pts")
    os.mkdir(rootfs + "/dev/shm", 0o1777)
    mount("proc", rootfs + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.mkdir(rootfs + "/tmp/box")
    with open(rootfs + "/tmp/box/" + source, "w") as f:
        f.write(code)
    os.chroot(rootfs)
    os.chdir("/tmp/box")


def native_stages(stages, env):
    """In the chroot: each argv timed from fork to reap; ms per stage, and the last stdout."""
    times, out = [], None
    for argv in stages:
        t = time.perf_counter()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        times.append((time.perf_counter() - t) * 1e3)
        if p.returncode != 0:
            raise RuntimeError("%s exited %d: %s" % (argv[0], p.returncode,
                                                     p.stderr.decode(errors="replace")[-600:]))
        out = p.stdout.decode(errors="replace")
    return times, out


def native_job(lang, rootfs, base_env):
    """(compile ms or None, run ms) of the profile's argv, natively on the image's rootfs."""
    prof = lang["profile"]
    stages = ([argv_of(prof["compile"], prof["source"])] if prof["compile"] else []) + \
        [argv_of(prof["run"], prof["source"])]
    env = env_of(base_env, prof.get("env", {}))
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            enter_rootfs(rootfs, prof["source"], lang["code"])
            res = dict(zip(("times", "stdout"), native_stages(stages, env)))
        except BaseException as e:
            res = {"error": "%s: %s" % (type(e).__name__, e)}
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        res = json.loads(f.read() or b'{"error": "no answer"}')
    os.waitpid(pid, 0)
    if "error" in res or res["stdout"] != HELLO:
        raise Failure("native %s failed: %s" % (prof["name"], res.get("error", res)))
    t = res["times"]
    return (t[0] if len(t) == 2 else None), t[-1]


# ---- the bench ----------------------------------------------------------------------------------

def measure(svc, langs, base_env, rounds):
    """name -> {"svc": [(rt, compile, run)], "nat": [(compile, run)]}, interleaved."""
    samples = {n: {"svc": [], "nat": []} for n in langs}
    for r in range(rounds):
        for name, lang in langs.items():
            sides = [("svc", lambda: svc_job(svc, name, lang["code"])),
                     ("nat", lambda: native_job(lang, lang["rootfs"], base_env))]
            for side, fn in (sides if r % 2 == 0 else sides[::-1]):
                samples[name][side].append(fn())
    return samples


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def table_rows(name, s):
    """(language, stage, rt, wall, native) rows: the medians."""
    med = lambda xs: statistics.median(xs) if xs and None not in xs else None
    rt = med([x[0] for x in s["svc"]])
    cw, rw = med([x[1] for x in s["svc"]]), med([x[2] for x in s["svc"]])
    cn, rn = med([x[0] for x in s["nat"]]), med([x[1] for x in s["nat"]])
    if cw is None:
        return [(name, "run", rt, rw, rn)]
    tw = med([x[1] + x[2] for x in s["svc"]])
    tn = med([x[0] + x[1] for x in s["nat"]])
    return [(name, "compile", None, cw, cn), (name, "run", None, rw, rn),
            (name, "total", rt, tw, tn)]


def print_table(samples):
    print("%-11s %-8s %10s %11s %10s %9s %9s" % ("language", "stage", "sbx rt ms", "sbx wall ms",
                                                 "native ms", "rt/nat", "wall/nat"))
    for name, s in samples.items():
        for lang, stage, rt, wall, nat in table_rows(name, s):
            print("%-11s %-8s %10s %11s %10s %9s %9s" % (
                lang, stage, fmt(rt), fmt(wall), fmt(nat),
                fmt(rt / nat if rt is not None else None, "%.2fx"),
                fmt(wall / nat, "%.2fx")))


def bench(work):
    profs = profiles()
    state = os.path.join(work, "state")
    pulled = pull_images(state, sorted({p["image"] for p in profs.values()}), work)
    langs = {}
    for name, p in profs.items():
        rootfs, why = pulled[p["image"]]
        if why:
            print("bench languages: %s skipped: %s %s" % (name, p["image"], why))
            continue
        langs[name] = {"profile": p, "code": PROGRAMS[name], "rootfs": rootfs}
    if not langs:
        raise Failure("no language image could be pulled")
    base_env = load_json(os.path.join(ROOT, "profiles", "security", "default.json"))["env"]
    svc = Service(work, state)
    try:
        status, ls = svc.request("GET", "/api/v1/languages")
        on_image = {l["name"] for l in ls.get("languages", ls) if l.get("rootfs") == "image"}
        missing = sorted(set(langs) - on_image)
        if status != 200 or missing:
            raise Failure("sandboxd does not run %s on its image: %s" % (missing, ls))
        measure(svc, langs, base_env, 1)  # warm the page cache on both sides
        samples = measure(svc, langs, base_env, ROUNDS)
    finally:
        svc.stop()
    print("cold hello-world per language: sandboxd POST /api/v1/execute vs native chroot on the "
          "same rootfs, %d CPUs, median of %d interleaved rounds" % (os.cpu_count(), ROUNDS))
    print_table(samples)
    print("(sbx rt: the client's round trip, both stages; sbx wall: the job's own wall_ms; "
          "native: fork to reap of the same argv as root in a chroot)")


def leftovers(work):
    """What the bench left: mounts below work, cgroups named CGROUP_PARENT."""
    left = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == work or mp.startswith(work + "/"):
                left.append("mount " + mp)
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        left += ["cgroup " + os.path.join(root, d) for d in dirs if d == CGROUP_PARENT]
        dirs[:] = [d for d in dirs if d != CGROUP_PARENT]
    return left


def main():
    if os.geteuid() != 0:
        print("bench languages: skipped: needs root")
        return 0
    why = build_images()
    if why:
        print("bench languages: skipped: the language images cannot be built here: " + why)
        return 0
    work = tempfile.mkdtemp(prefix="sandboxd-bench-lang-")
    rc = 0
    try:
        bench(work)
    except Failure as e:
        print("bench languages: %s (files in %s)" % (e, work), file=sys.stderr)
        rc = 1
    left = leftovers(work)
    if left:
        print("bench languages: left behind:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    # The images (hundreds of MiB) go in any case; on a failure the logs stay for a look.
    shutil.rmtree(os.path.join(work, "state") if rc else work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
