"""test_pull.py - images pulled on first use: a language whose image is absent (and that has no
host fallback) is pulled by its first job through the real pull path, from a loopback registry
standing in for Docker Hub (registry_mirrors); a pull that fails fails its jobs with the reason.
"""

import json
import os
import shutil
import subprocess
import tempfile

from harness import ROOT, Service, check, skip, test

REG = os.path.join(ROOT, "tests", "registry")


def env_of(d):
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v.strip("'\"")
    return env


def profiles(dst):
    """The real security profile, and two languages: one on a tiny busybox image the registry
    has, one on an image nobody has."""
    shutil.copytree(os.path.join(ROOT, "profiles", "security"), os.path.join(dst, "security"))
    os.mkdir(os.path.join(dst, "languages"))
    for name, image in (("tinysh", "sandboxd/tiny:oci"), ("ghost", "sandboxd/no-such:1")):
        with open(os.path.join(dst, "languages", name + ".json"), "w") as f:
            json.dump({"name": name, "version": "1", "image": image, "source": "main.sh",
                       "run": ["sh", "{source}", "{args}"]}, f)


@test("pull on first use: the first job pulls the image, later ones run on it; a failed pull fails its jobs")
def t_pull_on_first_use():
    if not shutil.which("docker-registry"):
        skip("docker-registry is not installed (make deps installs it)")
    work = tempfile.mkdtemp(prefix="sandboxd-test-pull-", dir="/tmp")
    reg = os.path.join(work, "registry")
    try:
        p = subprocess.run([os.path.join(REG, "registry"), reg], capture_output=True, text=True,
                           timeout=120)
        check(p.returncode == 0, "the registry did not start", p.stderr[-1500:])
        p = subprocess.run([os.path.join(REG, "make-images"), "-q", reg], capture_output=True,
                           text=True, timeout=600)
        check(p.returncode == 0, "make-images failed", p.stderr[-1500:])
        profiles(os.path.join(work, "profiles"))
        cfg = {"host_fallback": False, "rate_limit": {"per_second": 0, "burst": 1},
               "registry_mirrors": [env_of(reg)["REGISTRY_URL"]],
               "profile_dir": os.path.join(work, "profiles")}
        with Service(cfg, name="pull") as s:
            langs = {l["name"]: l for l in s.get("/api/v1/languages").json["languages"]}
            check(langs["tinysh"]["rootfs"] == "pull" and not langs["tinysh"]["ready"],
                  "before the first job: to be pulled", langs)
            a = s.execute({"language": "tinysh", "code": 'echo "hi $1 $GREETING"; cat /opt/tiny/keep.txt',
                           "args": ["there"]}, timeout=120)
            check(a["status"] == "ok" and a["stdout"].startswith("hi there sandboxd\n"),
                  "the first job runs on the pulled image, with the image's Env", a)
            b = s.execute({"language": "tinysh", "code": "echo again"})
            check(b["status"] == "ok" and b["stdout"] == "again\n", "the second job", b)
            check(s.stderr_text().count("event=pull_start") == 1, "pulled once",
                  s.stderr_tail())
            langs = {l["name"]: l for l in s.get("/api/v1/languages").json["languages"]}
            check(langs["tinysh"]["rootfs"] == "image" and langs["tinysh"]["ready"],
                  "after the pull: on its image", langs)
            r = s.req("POST", "/api/v1/execute", {"language": "ghost", "code": "echo x"},
                      timeout=120)
            check(r.status == 503 and r.error.get("code") == "image_unavailable" and
                  "sandboxd/no-such:1" in r.error.get("message", ""),
                  "a failed pull refuses with the reason", r)
            jobs = s.get("/api/v1/jobs?language=ghost").json["jobs"]
            check(jobs and jobs[0]["status"] == "failed" and
                  "could not be pulled" in (jobs[0]["error"] or ""), "recorded as failed", jobs)
    finally:
        subprocess.run([os.path.join(REG, "registry"), "--stop", reg], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
