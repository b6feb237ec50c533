"""test_images.py - pulling OCI images into the store, through sandboxctl, from real registries
on loopback (Debian's docker-registry; tests/registry/ starts them and pushes the test images).

Covers every media type, platform choice, whiteouts, each hostile layer (refused, nothing
outside the store), a corrupted blob, basic/token auth and TLS, 401/404, an unreachable
registry, interrupted and concurrent pulls, mirrors, offline sources (OCI layout, docker save),
rm/gc, a job run on a pulled image, and `pull --all` (every language profile's image).
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import time

from harness import ROOT, SBX, check, run, sandboxctl, skip, test

WORK = os.path.join(ROOT, "tests", ".work", "images")
REG = os.path.join(ROOT, "tests", "registry")
_registries = {}  # mode -> (env dict, summary dict)


def _env_file(d):
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v.strip("'\"")
    return env


def registry(mode="plain"):
    """A registry of this mode with the test images pushed: (env, summary). Started once."""
    if mode in _registries:
        return _registries[mode]
    if not shutil.which("docker-registry"):
        skip("docker-registry is not installed (make deps installs it)")
    d = os.path.join(WORK, "registry-" + mode)
    subprocess.run([os.path.join(REG, "registry"), "--stop", d], capture_output=True)
    args = {"plain": [], "basic": ["--htpasswd", "tester:s3cret"],
            "token": ["--token", "tester:s3cret"], "tls": ["--tls"]}[mode]
    p = subprocess.run([os.path.join(REG, "registry")] + args + [d], capture_output=True,
                       text=True, timeout=120)
    check(p.returncode == 0, "registry %s did not start" % mode, p.stderr[-2000:])
    summary = os.path.join(d, "summary.json")
    p = subprocess.run([os.path.join(REG, "make-images"), "-q", "--summary", summary, d],
                       capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, "make-images failed for %s" % mode, p.stderr[-2000:])
    with open(summary) as f:
        _registries[mode] = (_env_file(d), json.load(f))
    return _registries[mode]


def stop_registries():
    for mode in list(_registries):
        subprocess.run([os.path.join(REG, "registry"), "--stop",
                        os.path.join(WORK, "registry-" + mode)], capture_output=True)
        del _registries[mode]
    shutil.rmtree(WORK, ignore_errors=True)


atexit.register(stop_registries)  # whatever subset of the tests ran


def store(name):
    """A fresh state dir for one test (its parent exists; the store creates the dir itself)."""
    d = os.path.join(WORK, "state-" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(WORK, exist_ok=True)
    return d


def ctl(*args, timeout=300):
    return sandboxctl(*args, timeout=timeout)


def pull(state, ref, *extra):
    return ctl("pull", "--state-dir", state, *extra, ref)


def images(state):
    rc, out, err = ctl("images", "--state-dir", state)
    check(rc == 0, "sandboxctl images failed", out, err)
    return [l.split()[0] for l in out.splitlines()[1:] if l.strip()]


def inspect(state, ref):
    rc, out, err = ctl("inspect", "--state-dir", state, ref)
    check(rc == 0, "inspect failed", out, err)
    return json.loads(out)


def store_is_clean(state, tags_before):
    """A failed pull leaves the tags as they were and nothing half-written behind."""
    check(images(state) == tags_before, "the failed pull changed the tags", images(state))
    tmp = os.path.join(state, "tmp")
    left = [n for n in os.listdir(tmp) if not n.endswith(".lock")] if os.path.isdir(tmp) else []
    check(not left, "a failed pull left files in tmp/", left)


def check_tree(rootfs, img):
    """The unpacked rootfs is the summary's flattened tree: types, modes, contents, links."""
    for path, want in img["files"].items():
        p = rootfs + path
        check(os.path.lexists(p), "missing in the rootfs: " + path)
        if want["type"] == "symlink":
            check(os.readlink(p) == want["target"], "symlink target of " + path)
        elif want["type"] == "file" and "sha256" in want:
            import hashlib
            with open(p, "rb") as f:
                check(hashlib.sha256(f.read()).hexdigest() == want["sha256"], "content of " + path)
        if "mode" in want and want["type"] != "symlink":
            check("%04o" % (os.lstat(p).st_mode & 0o7777) == want["mode"], "mode of " + path)
    for path in img["absent"]:
        check(not os.path.lexists(rootfs + path), "whiteout not applied: " + path)


@test("images: pull an OCI image, the rootfs is the flattened tree with whiteouts applied")
def t_pull_oci():
    env, s = registry()
    state = store("oci")
    img = s["images"]["tiny:oci"]
    rc, out, err = pull(state, img["ref"])
    check(rc == 0, "pull failed", out, err)
    info = inspect(state, img["ref"])
    check(info["digest"] == img["digest"], "wrong manifest digest", info)
    check(info["working_dir"] == "/opt/tiny" and "GREETING=sandboxd" in info["env"],
          "config Env/WorkingDir not kept", info)
    check_tree(info["rootfs"], img)
    check(os.stat(state).st_mode & 0o077 == 0, "the store is readable by other users")


@test("images: Docker v2s2, OCI index, Docker manifest list and zstd layers all pull")
def t_pull_media_types():
    env, s = registry()
    state = store("types")
    want = {"tiny:v2s2": s["images"]["tiny:v2s2"]["digest"],
            "tiny:latest": s["images"]["tiny:oci"]["digest"],
            "tiny:list-v2s2": s["images"]["tiny:v2s2"]["digest"]}
    if "tiny:zstd" in s["images"]:
        want["tiny:zstd"] = s["images"]["tiny:zstd"]["digest"]
    for tag, digest in want.items():
        rc, out, err = pull(state, s["images"][tag]["ref"])
        check(rc == 0, "pull %s failed" % tag, out, err)
        check(inspect(state, s["images"][tag]["ref"])["digest"] == digest,
              "%s: not the manifest for this platform" % tag)


@test("images: platform choice from an index; none for this platform is a clear error")
def t_platform():
    env, s = registry()
    state = store("platform")
    stub = s["stub_arch"]
    rc, out, err = pull(state, s["images"]["tiny:latest"]["ref"], "--platform", "linux/" + stub)
    check(rc == 0, "pull --platform failed", out, err)
    check(inspect(state, s["images"]["tiny:latest"]["ref"])["platform"].endswith(stub),
          "the wrong platform was picked")
    before = images(state)
    rc, out, err = pull(state, s["images"]["tiny:foreign-only"]["ref"])
    check(rc != 0 and s["arch"] in err + out, "no error naming the missing platform", rc, err)
    store_is_clean(state, before)


# Must be refused outright; the other hostile layers may instead be re-rooted inside the image
# (a leading "/" stripped, a symlink followed only inside the root), as §10 of the reference
# allows: either way nothing may land outside the store.
MUST_REFUSE = {"hostile:dotdot", "hostile:hardlink-dotdot", "hostile:chardev"}


@test("images: every hostile layer is refused or kept inside the image, nothing written outside")
def t_hostile_layers():
    env, s = registry()
    state = store("hostile")
    check(pull(state, s["images"]["tiny:oci"]["ref"])[0] == 0, "baseline pull failed")
    for tag, img in s["images"].items():
        if not tag.startswith("hostile:") or tag in ("hostile:gzip-bomb", "hostile:corrupt-blob"):
            continue
        before = images(state)
        rc, out, err = pull(state, img["ref"])
        for host_path in img.get("must_not_exist_on_host", []):
            check(not os.path.lexists(host_path), "%s wrote %s on the host" % (tag, host_path))
        if rc != 0:
            check(err.strip(), "%s: refused without a message" % tag)
            store_is_clean(state, before)
            continue
        check(tag not in MUST_REFUSE, "%s was accepted" % tag, out)
        rootfs = inspect(state, img["ref"])["rootfs"]
        check(os.path.realpath(rootfs).startswith(os.path.realpath(state)), "rootfs outside")


@test("images: a decompression bomb stops at the unpack size cap, the store untouched")
def t_gzip_bomb():
    env, s = registry()
    state = store("bomb")
    img = s["images"]["hostile:gzip-bomb"]  # 64 MiB of zeros in ~64 KiB of gzip
    rc, out, err = pull(state, img["ref"], "--max-size", "16M")
    check(rc != 0 and err.strip(), "the bomb went past --max-size", rc, out, err)
    store_is_clean(state, [])
    rc, out, err = pull(state, img["ref"], "--max-size", "1G")
    check(rc == 0, "the same layer under a cap it fits", err)


@test("images: a corrupted blob is refused by its digest, the store untouched")
def t_corrupt_blob():
    env, s = registry()
    if not s.get("corrupted"):
        skip("the fixture could not corrupt the registry's storage")
    state = store("corrupt")
    rc, out, err = pull(state, s["images"]["hostile:corrupt-blob"]["ref"])
    check(rc != 0 and "digest" in err, "corrupted blob accepted or unclear error", rc, err)
    store_is_clean(state, [])


@test("images: 404 for an unknown tag, unreachable registry, bad reference: clear, store untouched")
def t_errors():
    env, s = registry()
    state = store("errors")
    host = env["REGISTRY_HOST"]
    rc, out, err = pull(state, host + "/sandboxd/tiny:no-such-tag")
    check(rc != 0 and "unknown" in err.lower(), "unknown tag", rc, err)
    rc, out, err = pull(state, "127.0.0.1:1/sandboxd/tiny:oci")
    check(rc != 0 and err.strip(), "unreachable registry", rc, err)
    rc, out, err = pull(state, "Bad//Reference")
    check(rc == 2 and len(err.strip().splitlines()) == 1, "bad reference: usage error", rc, err)
    store_is_clean(state, [])


@test("images: basic auth needs the credentials file; token auth pulls anonymously; TLS needs the CA")
def t_auth_and_tls():
    env, s = registry("basic")
    state = store("auth")
    ref = s["images"]["tiny:oci"]["ref"]
    rc, out, err = pull(state, ref)
    check(rc != 0 and "unauthorized" in err.lower(), "basic auth without credentials", rc, err)
    rc, out, err = pull(state, ref, "--auth-file", env["REGISTRY_DOCKER_CONFIG"])
    check(rc == 0, "basic auth with credentials", out, err)
    env, s = registry("token")
    rc, out, err = pull(state, s["images"]["tiny:v2s2"]["ref"])
    check(rc == 0, "anonymous pull with a bearer token", out, err)
    rc, out, err = pull(state, s["images"]["tiny:oci"]["ref"], "--auth-file",
                        env["REGISTRY_DOCKER_CONFIG"])
    check(rc == 0, "pull with a bearer token won with credentials", out, err)
    env, s = registry("tls")
    ref = s["images"]["tiny:oci"]["ref"]
    rc, out, err = pull(state, ref)
    check(rc != 0, "TLS with an unknown CA was accepted", out)
    rc, out, err = pull(state, ref, "--ca-file", env["REGISTRY_CA"])
    check(rc == 0, "TLS with the CA", out, err)


@test("images: no space left: one clear line, nothing tagged")
def t_no_space():
    env, s = registry()
    d = store("nospace")
    os.makedirs(d)
    # A 1 MiB tmpfs as the state dir, in a private mount namespace of this one command.
    p = subprocess.run(["unshare", "-m", "sh", "-c",
                        'mount -t tmpfs -o size=1m nospace "$1" && exec "$2" pull --state-dir "$1" "$3"',
                        "sh", d, SBX, s["images"]["tiny:oci"]["ref"]],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode != 0, "a pull into a full disk succeeded", p.stdout)
    errors = [l for l in p.stderr.splitlines() if l.startswith("sandboxctl")]
    check(len(errors) == 1 and "space" in errors[0].lower(), "not one clear line about space",
          p.stderr)


@test("images: pull shows per-layer progress bars on a terminal, plain lines otherwise")
def t_progress():
    import pty
    env, s = registry()
    ref = s["images"]["tiny:oci"]["ref"]
    rc, out, err = pull(store("progress-plain"), ref)
    check(rc == 0 and "done" in err and "\r" not in err, "plain progress lines", err)
    state = store("progress-tty")
    master, slave = pty.openpty()
    p = subprocess.Popen([SBX, "pull", "--state-dir", state, ref], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    p.wait(timeout=60)
    os.close(master)
    check(p.returncode == 0, "pull on a terminal failed", shown[-500:])
    check(b"\r" in shown and b"[#" in shown and b"MiB" in shown, "no progress bar", shown[-500:])


@test("images: pulled once; concurrent pulls share one download and one rootfs")
def t_concurrent():
    env, s = registry()
    state = store("concurrent")
    ref = s["images"]["tiny:oci"]["ref"]
    procs = [subprocess.Popen([SBX, "pull", "--state-dir", state, ref], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        check(p.returncode == 0, "a concurrent pull failed", err)
    check(len(os.listdir(os.path.join(state, "images"))) == 1, "more than one rootfs")
    # Pulled once: with the registry gone, the tag still resolves from the store.
    rc, out, err = pull(state, ref, "--registry-mirror", "http://127.0.0.1:1")
    check(rc == 0, "a second pull went to the network", err)


@test("images: an interrupted pull leaves the store consistent; the next pull completes")
def t_interrupted():
    env, s = registry()
    state = store("interrupted")
    ref = s["images"]["tiny:oci"]["ref"]
    for delay in (0.005, 0.02, 0.05, 0.1):
        p = subprocess.Popen([SBX, "pull", "--state-dir", state, ref], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        tags = images(state)
        check(len(tags) <= 1, "more than one tag", tags)
        if tags:  # tagged only once complete: the rootfs is all there
            check_tree(inspect(state, ref)["rootfs"], s["images"]["tiny:oci"])
    rc, out, err = pull(state, ref)
    check(rc == 0, "pull after interruptions", out, err)
    check_tree(inspect(state, ref)["rootfs"], s["images"]["tiny:oci"])


@test("images: docker.io names come from a registry mirror (flag and config file)")
def t_mirror():
    env, s = registry()
    state = store("mirror")
    mirror = env["REGISTRY_URL"]
    rc, out, err = pull(state, "sandboxd/tiny:oci", "--registry-mirror", mirror)
    check(rc == 0, "pull through --registry-mirror", out, err)
    check(inspect(state, "docker.io/sandboxd/tiny:oci")["digest"] ==
          s["images"]["tiny:oci"]["digest"], "wrong image from the mirror")
    cfg = os.path.join(WORK, "mirror-config.json")
    with open(cfg, "w") as f:
        json.dump({"registry_mirrors": [mirror]}, f)
    rc, out, err = pull(state, "sandboxd/tiny:v2s2", "--config", cfg)
    check(rc == 0, "pull through the config's registry_mirrors", out, err)


@test("images: offline sources: an OCI layout directory and a docker save tarball")
def t_offline():
    env, s = registry()
    if not shutil.which("skopeo"):
        skip("skopeo is not installed")
    state = store("offline")
    src = "docker://" + s["images"]["tiny:oci"]["ref"]
    layout = os.path.join(WORK, "layout")
    archive = os.path.join(WORK, "saved.tar")
    shutil.rmtree(layout, ignore_errors=True)
    if os.path.exists(archive):
        os.unlink(archive)
    for dst in ("oci:%s:tiny" % layout, "docker-archive:%s:offline/tiny:saved" % archive):
        p = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", src, dst],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "skopeo copy to " + dst, p.stderr)
    rc, out, err = pull(state, "offline/tiny:layout", "--oci-layout", layout)
    check(rc == 0, "import of an OCI layout", out, err)
    check_tree(inspect(state, "offline/tiny:layout")["rootfs"], s["images"]["tiny:oci"])
    rc, out, err = ctl("pull", "--state-dir", state, "--docker-archive", archive)
    check(rc == 0, "import of a docker save tarball", out, err)
    check_tree(inspect(state, "offline/tiny:saved")["rootfs"], s["images"]["tiny:oci"])


@test("images: a job runs on a pulled image with its Env and WorkingDir; rm + gc free it")
def t_run_and_gc():
    env, s = registry()
    state = store("run")
    ref = s["images"]["tiny:oci"]["ref"]
    check(pull(state, ref)[0] == 0, "pull failed")
    r = run("/bin/sh", "-c", "/bin/sh /opt/tiny/hello.sh; pwd", probes=False,
            extra=["--image", ref, "--state-dir", state])
    check(r.get("status") == "ok", "the job failed", r)
    check(r.stdout.startswith(s["images"]["tiny:oci"]["expect_output_prefix"]), "output", r.stdout)
    check(r.stdout.strip().endswith("/opt/tiny"), "WorkingDir not the cwd", r.stdout)
    rc, out, err = ctl("run", "--state-dir", state, "--image", "never/pulled:1", "--", "/bin/true")
    check(rc == 2, "run --image of an unknown image", rc, err)
    check(ctl("rm", "--state-dir", state, ref)[0] == 0, "rm failed")
    rc, out, err = ctl("gc", "--state-dir", state)
    check(rc == 0 and "freed" in out, "gc failed", out, err)
    check(not os.listdir(os.path.join(state, "images")), "gc left a rootfs")
    check(not os.listdir(os.path.join(state, "blobs", "sha256")), "gc left blobs")


@test("images: --state-dir after the subcommand for check too; an unknown image is a clear error")
def t_state_dir_everywhere():
    state = store("check")
    rc, out, err = ctl("check", "--state-dir", state)
    check(rc == 0 and "image store          ok" in out and state in out, "check --state-dir",
          out, err)
    for cmd in ("inspect", "rm"):
        rc, out, err = ctl(cmd, "--state-dir", state, "never/pulled:1")
        check(rc == 2 and len(err.strip().splitlines()) == 1, "%s of an unknown image" % cmd, rc, err)


def profile_dir(name, images):
    """A profile dir whose languages/ has one profile per {language: image reference}."""
    d = os.path.join(WORK, "profiles-" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "languages"))
    for lang, ref in images.items():
        with open(os.path.join(d, "languages", lang + ".json"), "w") as f:
            json.dump({"name": lang, "version": "1", "image": ref, "source": "main.sh",
                       "compile": None, "run": ["/bin/sh", "{source}"], "host": ["sh"]}, f)
    return d


def pull_all(state, profiles, *extra):
    rc, out, err = ctl("pull", "--all", "--state-dir", state, "--profile-dir", profiles, *extra)
    return rc, out.splitlines(), err


@test("images: pull --all pulls each language's image once, in name order; then all present")
def t_pull_all():
    env, s = registry()
    state = store("pull-all")
    oci, v2s2 = s["images"]["tiny:oci"], s["images"]["tiny:v2s2"]
    # gamma shares alpha's image (pulled once); beta's docker.io name needs the mirror option.
    profiles = profile_dir("ok", {"gamma": oci["ref"], "beta": "sandboxd/tiny:v2s2",
                                  "alpha": oci["ref"]})
    mirror = ("--registry-mirror", env["REGISTRY_URL"])
    rc, lines, err = pull_all(state, profiles, *mirror)
    check(rc == 0, "pull --all failed", lines, err)
    check(lines == ["pulled %s (%s)" % (oci["ref"], oci["digest"]),
                    "pulled sandboxd/tiny:v2s2 (%s)" % v2s2["digest"]],
          "one line per distinct image, in name order", lines, err)
    check(inspect(state, oci["ref"])["digest"] == oci["digest"], "alpha's image not in the store")
    check(inspect(state, "sandboxd/tiny:v2s2")["digest"] == v2s2["digest"],
          "beta's image not in the store")
    check_tree(inspect(state, oci["ref"])["rootfs"], oci)
    rc, lines, err = pull_all(state, profiles, *mirror)
    check(rc == 0 and lines == ["present " + oci["ref"], "present sandboxd/tiny:v2s2"],
          "the second pull --all: every image present", rc, lines, err)
    rc, out, err = ctl("pull", "--all", "--state-dir", state, "--profile-dir", profiles,
                       oci["ref"])
    check(rc == 2 and out == "" and "--all" in err, "pull --all with an IMAGE: usage error",
          rc, out, err)


@test("images: pull --all with one image missing: a failed line, exit 1, the others pulled")
def t_pull_all_failure():
    env, s = registry()
    state = store("pull-all-fail")
    oci, v2s2 = s["images"]["tiny:oci"], s["images"]["tiny:v2s2"]
    missing = env["REGISTRY_HOST"] + "/sandboxd/tiny:no-such-tag"
    profiles = profile_dir("fail", {"alpha": oci["ref"], "beta": missing, "gamma": v2s2["ref"]})
    rc, lines, err = pull_all(state, profiles)
    check(rc == 1, "pull --all with a missing image: expected exit 1", rc, lines, err)
    check(len(lines) == 3 and lines[0] == "pulled %s (%s)" % (oci["ref"], oci["digest"]) and
          lines[2] == "pulled %s (%s)" % (v2s2["ref"], v2s2["digest"]),
          "the images before and after the missing one are pulled", lines, err)
    check(lines[1].startswith("failed %s: " % missing) and
          "unknown" in lines[1][len("failed %s: " % missing):].lower(),
          "the missing image's line names it and why", lines)
    check(sorted(images(state)) == sorted([oci["ref"], v2s2["ref"]]),
          "the store has exactly the two images", images(state))
    rc, lines, err = pull_all(state, profiles)
    check(rc == 1 and lines == ["present " + oci["ref"], lines[1], "present " + v2s2["ref"]]
          and lines[1].startswith("failed " + missing), "the second run", rc, lines, err)
