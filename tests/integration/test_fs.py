"""test_fs.py - attack catalogue D (T37-T47): filesystem, devices, /proc and /sys.

The jail-side observations come from /probe/attack tNN (tests/probe/attack.c); the host side is
checked here: host files and mounts must be exactly as before, whatever the job or a hostile
rootfs tried.
"""

import os
import shutil
import subprocess
import time

from harness import JOB_UID, PROBE_DIR, ROOT, attack, check, expect, probe, run, test

WORK = os.path.join(ROOT, "tests", ".work")
PROC_MAGIC = "0x9fa0"
TMPFS_MAGIC = "0x1021994"
DEV_NODES = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9",
             "tty": "5:0"}
DEV_ALLOWED = set(DEV_NODES) | {"ptmx", "pts", "shm", "fd", "stdin", "stdout", "stderr",
                                "mqueue", "core"}
def _host_only_top():
    """A top-level name of the host's / that no jail root has (the jail's own names, the host
    entries the host rootfs binds, and what the tests bind are excluded), e.g. "root" or "var":
    seeing it in a jail would mean the jail root is the host's."""
    jail = {"proc", "dev", "tmp", "sys", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32",
            "etc", "probe", "data", "data.alt", "opt", "work"}
    for name in sorted(os.listdir("/")):
        if name not in jail and not name.startswith(".") and os.path.isdir("/" + name):
            return name
    raise RuntimeError("the host's / has no directory a jail lacks")


HOST_TOP = _host_only_top()


def read_host(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        return "error %d" % e.errno


@test("T37 /proc/sys and sysrq")
def t37():
    core = read_host("/proc/sys/kernel/core_pattern")
    obs = attack("t37")
    safe = ("EROFS", "EACCES", "EPERM", "ENOENT")
    expect(obs["open_write"], {k: safe for k in obs["open_write"]},
           "/proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus must not be writable")
    bad = ["%s is mounted %r" % (p, fl) for p, fl in obs["mount"].items()
           if os.path.exists(p) and not (isinstance(fl, dict) and fl.get("ro"))]
    check(not bad, "Docker's read-only /proc paths must be read-only mounts", *bad)
    check(read_host("/proc/sys/kernel/core_pattern") == core, "host core_pattern changed")


@test("T38 /sys and cgroupfs")
def t38():
    obs = attack("t38")
    gone = ("ENOENT", "EROFS", "EACCES")
    expect(obs, {"sys": ("ENOENT",), "uevent_helper": gone, "release_agent": gone,
                 "cgroup_procs": gone, "mount_cgroup": ("EPERM",), "mount_sysfs": ("EPERM",)},
           "/sys and cgroupfs must be unreachable (CVE-2022-0492 class)")
    cg = obs["proc_self_cgroup"]
    check(isinstance(cg, dict) and "sandboxd" not in cg["head"],
          "/proc/self/cgroup shows host cgroup paths (no private cgroup namespace)", cg)


@test("T39 mknod")
def t39():
    obs = attack("t39")
    bad = []
    for name in ("dev_sda", "tmp_mem", "tmp_null", "shm_kmsg", "tmp_blk"):
        o = obs[name]
        if o["mknod"] not in ("EPERM", "EROFS", "EACCES"):
            bad.append("%s: mknod %s, then open %s" % (name, o["mknod"], o.get("open")))
    check(not bad, "device nodes must not be creatable (no CAP_MKNOD)", *bad)


@test("T40 /dev inventory")
def t40():
    obs = attack("t40")
    dev = obs["dev"]
    check(isinstance(dev, dict), "/dev unreadable", dev)
    extra = sorted(set(dev) - DEV_ALLOWED)
    check(not extra, "unexpected entries in /dev", extra)
    missing = sorted({"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"}
                     - set(dev))
    check(not missing, "missing entries in /dev", missing)
    bad = ["/dev/%s = %r" % (n, dev[n]) for n, rdev in DEV_NODES.items()
           if dev[n].get("type") != "chr" or dev[n].get("rdev") != rdev]
    check(not bad, "wrong device nodes", *bad)
    check(obs["ptmx_link"] == "pts/ptmx", "/dev/ptmx is not a link to pts/ptmx", obs["ptmx_link"])
    pts = obs["pts"]
    check(isinstance(pts, dict) and set(pts) <= {"ptmx"},
          "/dev/pts is not a new instance (host ptys visible)", pts)
    opens = {k: v for k, v in obs["open"].items() if k not in ("/dev/ptmx", "/dev/null")}
    expect(opens, {k: ("ENOENT",) for k in opens}, "dangerous devices must not exist")
    expect(obs, {"create_in_dev": ("EROFS", "EACCES")}, "/dev must be read-only")
    check(obs["dev_mount"].get("ro"), "/dev is not mounted read-only", obs["dev_mount"])
    check(obs["shm_mount"].get("nodev") and obs["shm_mount"].get("nosuid"),
          "/dev/shm must be nosuid,nodev", obs["shm_mount"])


@test("T41 chroot escape")
def t41():
    obs = attack("t41")
    expect(obs, {"chroot": ("EPERM",), "chroot_escape": ("EPERM",), "dotdot_is_root": (True,)},
           "chroot must be denied and / must be the jail root")
    check(HOST_TOP not in obs["root"], "the host's /%s is visible in the jail root" % HOST_TOP,
          obs["root"])
    leaked = [m for m in obs["mountpoints"] if m.startswith(ROOT) or m.startswith("/sys")]
    check(not leaked, "host mounts visible in the jail (old root not detached?)", leaked)


@test("T42 setuid binaries")
def t42():
    obs = attack("t42")
    check(obs["nnp"] == 1, "no_new_privs is not set", obs["nnp"])
    check(obs["uid"] == JOB_UID and obs["euid"] == JOB_UID, "job uid", obs["uid"], obs["euid"])
    ran = obs["setuid_exec"]
    check(ran, "no setuid-root program found in the rootfs to try", obs)
    bad = []
    for prog, st in ran.items():
        if not isinstance(st, dict):
            bad.append("%s: %r" % (prog, st))
            continue
        uids = st.get("Uid", "").split()
        if uids != [str(JOB_UID)] * 4 or st.get("CapEff") != "0" * 16:
            bad.append("%s ran with Uid %s CapEff %s" % (prog, uids, st.get("CapEff")))
    check(not bad, "a setuid-root program gained privileges (NNP/nosuid ignored)", *bad)
    check(not obs["suid_copy_has_bit"] or obs["suid_copy_owned_by_us"],
          "a setuid copy in /tmp is not owned by the job", obs)
    check(obs["mounts"]["/tmp"].get("nosuid"), "/tmp is not nosuid", obs["mounts"]["/tmp"])


@test("T43 capability audit")
def t43():
    obs = attack("t43")
    st = obs["status"]
    want = {k: ("0" * 16,) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    want.update({"NoNewPrivs": ("1",), "Seccomp": ("2",), "Groups": ("",),
                 "Uid": ("\t".join([str(JOB_UID)] * 4),),
                 "Gid": ("\t".join([str(JOB_UID)] * 4),)})
    expect(st, want, "the job must have no capabilities, NNP, seccomp and the job uid only")
    expect(obs, {"bounding_caps": (0,), "setuid0": ("EPERM",), "setgroups0": ("EPERM",),
                 "capset_raise": ("EPERM",)}, "no way back to privileges")


@test("T44 /proc/*/exe")
def t44():
    obs = attack("t44")
    me = str(obs["self"])
    bad = ["/proc/%s/exe -> %s" % (pid, t) for pid, t in obs["exe"].items()
           if t not in ("EACCES", "EPERM", "ENOENT") and t != "/probe/attack"]
    check(not bad, "a binary outside the job is reachable through /proc (CVE-2019-5736)", *bad)
    check(obs["exe"].get(me) == "/probe/attack", "own exe", obs["exe"])
    deny = ("EACCES", "EPERM")
    expect(obs, {"self_exe_write": ("ETXTBSY", "EROFS", "EACCES"), "pid1_exe_read": deny,
                 "pid1_exe_path": deny, "pid1_root": deny, "pid1_cwd": deny,
                 "pid1_fd": deny, "pid1_map_files": deny},
           "pid 1 (the sandbox's reaper) must be non-dumpable and its exe unreachable")


def cwd_ok(obs):
    return (not obs["cwd"].startswith("(unreachable)") and obs["cwd"] == obs["cwd_link"]
            and obs["root_link"] == "/")


def check_cwd_attack(cwd, **kw):
    """--cwd CWD must be refused, or give a job whose cwd is inside its root."""
    r = probe("attack", "t45", cwd=cwd, **kw)
    if r.get("status") != "ok":
        check(r.rc != 0 and r.get("status") in (None, "internal_error", "runtime_error"),
              "--cwd %s: neither refused nor run" % cwd, r)
        return
    obs = r.probe_json()
    check(cwd_ok(obs), "--cwd %s gave the job a cwd outside its root" % cwd, obs)
    check(obs["fds"] == [0, 1, 2], "--cwd %s: fds leaked" % cwd, obs["links"])


@test("T45 leaked fds and cwd")
def t45():
    obs = attack("t45")
    check(obs["fds"] == [0, 1, 2], "fds other than 0, 1, 2 are open in the job", obs["links"])
    check(cwd_ok(obs), "cwd outside the jail root", obs)
    # CVE-2024-21626: a requested cwd naming an fd or another process's cwd.
    for cwd in ("/proc/self/fd/3", "/proc/self/fd/7", "/proc/1/cwd", "/proc/self/root/../..",
                "../../..", "/dev/fd/3", "/dev/fd/4", "/dev/stdin", "/"):
        check_cwd_attack(cwd)
    # ... and naming a host directory fd that sandboxctl's caller leaked to it.
    host_dir = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for cwd in ("/dev/fd/%d" % host_dir, "/proc/self/fd/%d" % host_dir):
            check_cwd_attack(cwd, popen_kw={"pass_fds": (host_dir,)})
    finally:
        os.close(host_dir)


# ---- T46: a hostile rootfs ------------------------------------------------------------------

def t46_base(top):
    """A small rootfs: the static attack probe, the usual mount points, a data dir."""
    rootfs = os.path.join(top, "rootfs")
    os.makedirs(rootfs, mode=0o755)
    os.chmod(rootfs, 0o755)  # the sandbox refuses group/world-writable rootfs dirs (umask 002)
    for d in ("bin", "tmp", "proc", "dev", "etc", "probe", "opt/probe", "data"):
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy(os.path.join(PROBE_DIR, "attack"), os.path.join(rootfs, "bin", "attack"))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("sandbox:x:%d:%d::/tmp:/bin/false\n" % (JOB_UID, JOB_UID))
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("sandbox:x:%d:\n" % JOB_UID)
    open(os.path.join(rootfs, "data", "real-file"), "w").close()
    return rootfs


def t46_victim(top):
    """A host directory the hostile rootfs points at; the jail must never show or touch it."""
    victim = os.path.join(top, "victim")
    os.makedirs(victim)
    with open(os.path.join(victim, "canary"), "w") as f:
        f.write("canary\n")
    return victim


def replace(rootfs, rel, target=None, file=False):
    path = os.path.join(rootfs, rel)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
    if file:
        open(path, "w").close()
    else:
        os.symlink(target, path)


def t46_variants(victim):
    """(name, path in the rootfs, symlink target or None for a plain file, bind to add)."""
    up = "../" * 16 + victim.lstrip("/")
    canary = os.path.join(victim, "canary")
    probe_bind = PROBE_DIR + ":/probe"
    return [
        ("tmp -> /", "tmp", "/", None),
        ("tmp -> victim", "tmp", victim, None),
        ("tmp -> ../../victim", "tmp", up, None),
        ("proc -> victim", "proc", victim, None),
        ("proc -> /", "proc", "/", None),
        ("dev -> victim", "dev", victim, None),
        ("dev -> ../../victim", "dev", up, None),
        ("etc -> victim", "etc", victim, None),
        ("data -> victim", "data", victim, None),
        ("data -> ../../victim", "data", up, None),
        ("dev/null -> canary", "dev/null", canary, None),
        ("etc/hosts -> canary", "etc/hosts", canary, None),
        ("etc/passwd -> canary", "etc/passwd", canary, None),
        ("bind onto probe -> victim", "probe", victim, probe_bind),
        ("bind onto opt/probe -> victim", "opt/probe", victim, PROBE_DIR + ":/opt/probe"),
        ("tmp is a file", "tmp", None, None),
        ("dev is a file", "dev", None, None),
    ]


SIGNIFICANT = ("/", "/etc", "/tmp", "/proc", "/dev", "/dev/shm", "/sys")
LISTED = ("/data", "/data.alt", "/probe", "/opt/probe", "/etc")


def host_state(top, victim):
    def snap(path):
        st = os.lstat(path)
        return (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns)
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(top) or mp in SIGNIFICANT:
                mounts.append((mp, line.split(" - ")[1].split()[0]))
    return {
        "victim": snap(victim),
        "victim_files": sorted(os.listdir(victim)),
        "canary": read_host(os.path.join(victim, "canary")),
        "canary_stat": snap(os.path.join(victim, "canary")),
        "root": (snap("/")[:2], sorted(os.listdir("/"))),
        "tmp": snap("/tmp")[:2],
        "mounts": sorted(mounts),
        "markers": [p for p in ("/tmp/sbx-t46-marker", "/dev/shm/sbx-t46-marker")
                    if os.path.lexists(p)],
    }


def t46_run(rootfs, binds=()):
    return run("/bin/attack", "t46", *LISTED, rootfs=rootfs, probes=False, binds=binds,
               wall_time="10s")


def t46_escape(r):
    """Why a run that went ahead is not inside its rootfs, or None. A real /proc and the jail's
    /dev/null (CVE-2019-16884, CVE-2025-31133), no host root, no victim contents."""
    try:
        obs = r.probe_json()
    except AssertionError as e:
        return str(e)
    null = obs.get("dev_null")
    if obs.get("proc_fs") != PROC_MAGIC:
        return "/proc is not procfs: %s" % obs.get("proc_fs")
    if not (isinstance(null, dict) and null.get("rdev") == "1:3"):
        return "/dev/null is %r" % null
    if HOST_TOP in obs.get("root", []):
        return "the host root is the jail root: %r" % obs.get("root")
    seen = [p for p, l in obs.get("list", {}).items() if isinstance(l, list) and "canary" in l]
    return "the host victim dir is visible at %s" % seen if seen else None


def t46_fresh(top):
    rootfs = os.path.join(top, "rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    return t46_base(top)


def t46_cleanup(top):
    for p in ("/tmp/sbx-t46-marker", "/dev/shm/sbx-t46-marker"):
        if os.path.lexists(p):
            os.unlink(p)
    shutil.rmtree(top, ignore_errors=True)


@test("T46 symlinks at mount setup")
def t46():
    top = os.path.join(WORK, "t46-%d" % os.getpid())
    shutil.rmtree(top, ignore_errors=True)
    try:
        victim = t46_victim(top)
        r = t46_run(t46_fresh(top))
        check(r.get("status") == "ok" and not t46_escape(r),
              "control: a plain directory rootfs does not run cleanly", r)
        bad = []
        for name, rel, target, bind in t46_variants(victim):
            rootfs = t46_fresh(top)
            replace(rootfs, rel, target, file=target is None)
            before = host_state(top, victim)
            r = t46_run(rootfs, binds=(bind,) if bind else ())
            after = host_state(top, victim)
            if after != before:
                bad.append("%s: the host changed: %r -> %r" % (name, before, after))
            elif r.get("status") == "ok" and t46_escape(r):
                bad.append("%s: %s" % (name, t46_escape(r)))
            elif r.get("status") not in ("ok", "internal_error", None):
                bad.append("%s: status %s (%s)" % (name, r.get("status"), r.get("message")))
        check(not bad, "a hostile rootfs must fail closed or stay inside", *bad)
    finally:
        t46_cleanup(top)


@test("T46 symlink swap race at mount setup")
def t46_race():
    """CVE-2021-30465 style: while sandboxctl plans and mounts, a directory of the rootfs is
    swapped with a symlink to a host directory (RENAME_EXCHANGE, tens of thousands of times a
    second). No run may ever show the host directory."""
    top = os.path.join(WORK, "t46r-%d" % os.getpid())
    shutil.rmtree(top, ignore_errors=True)
    try:
        victim = t46_victim(top)
        rootfs = t46_fresh(top)
        os.symlink(victim, os.path.join(rootfs, "data.alt"))
        swapper = subprocess.Popen([os.path.join(PROBE_DIR, "attack"), "swap", rootfs, "data",
                                    "data.alt", "3000"], stdout=subprocess.DEVNULL)
        outcomes, escapes = {}, []
        try:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and swapper.poll() is None:
                r = t46_run(rootfs)
                why = t46_escape(r) if r.get("status") == "ok" else None
                if why:
                    escapes.append(why)
                outcomes[r.get("status")] = outcomes.get(r.get("status"), 0) + 1
        finally:
            swapper.kill()
            swapper.wait()
        check(not escapes, "a mount followed a swapped-in symlink out of the rootfs "
              "(%d of %d runs; outcomes %r)" % (len(escapes), sum(outcomes.values()), outcomes),
              *sorted(set(escapes)))
        check(outcomes.get("ok"), "no run completed during the race", outcomes)
    finally:
        t46_cleanup(top)


@test("T47 hardlinks")
def t47():
    nlink = os.stat("/usr/bin/su").st_nlink if os.path.exists("/usr/bin/su") else None
    obs = attack("t47")
    cross = ("EXDEV", "EPERM")
    expect(obs, {"shadow": cross + ("ENOENT", "EACCES"), "passwd": cross, "su": cross,
                 "probe": cross, "probe_follow": cross, "in_rootfs": ("EROFS", "EPERM", "EACCES"),
                 "tmp_to_shm": ("EXDEV",)},
           "files of other mounts must not be hardlinked into writable ones")
    for p in ("/tmp/sbx-shadow", "/tmp/sbx-passwd", "/tmp/sbx-su"):
        check(not os.path.lexists(p), "a link appeared on the host", p)
    if nlink is not None:
        check(os.stat("/usr/bin/su").st_nlink == nlink, "host /usr/bin/su gained a link")
