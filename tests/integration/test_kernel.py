"""test_kernel.py - attack catalogue C (T21-T36): the kernel attack surface reachable by syscalls.

Each test runs /probe/attack tNN in the jail (tests/probe/attack.c), which tries the attacks and
prints what the kernel answered; the test compares that with the safe outcome the catalogue
(docker-profile.md §9 C) requires: seccomp EPERM/ENOSYS, a KILL for the foreign ABIs, empty masked
files. Where an attack could touch the host (clock, hostname, modules), the host is also checked.
"""

import json
import os
import socket
import subprocess
import time

from harness import PROBE_DIR, attack, check, expect, probe, test

EPERM = ("EPERM",)


def native_abi():
    """Whether this kernel itself runs int 0x80 and x32 syscalls (attack abi is harmless)."""
    p = subprocess.run([os.path.join(PROBE_DIR, "attack"), "abi"], stdout=subprocess.PIPE,
                       timeout=30)
    return json.loads(p.stdout)


@test("T21 mount family")
def t21():
    obs = attack("t21")
    expect(obs, {k: EPERM for k in (
        "mount", "mount_remount_rw", "mount_bind_proc", "umount2", "umount2_proc", "umount",
        "fsopen", "fsopen_tmpfs", "fspick", "fsconfig", "fsmount", "open_tree", "move_mount",
        "mount_setattr", "pivot_root")},
        "the mount family must be denied (seccomp, no CAP_SYS_ADMIN)")


@test("T22 new namespaces")
def t22():
    obs = attack("t22")
    want = {"unshare_" + n: EPERM for n in
            ("user_mnt", "user", "mnt", "net", "pid", "ipc", "uts", "cgroup", "time")}
    want.update({"clone_user": EPERM, "clone_net": EPERM,
                 "clone3_user": ("ENOSYS",), "clone3_plain": ("ENOSYS",),
                 "clone_plain": ("OK",)})  # plain fork must keep working (glibc falls back)
    expect(obs, want, "namespace creation must be impossible (seccomp rules 17/18/20)")


@test("T23 setns")
def t23():
    obs = attack("t23")
    want = {"setns_" + n: EPERM for n in ("net", "mnt", "pid", "user", "uts", "ipc", "cgroup")}
    want["setns_time"] = ("EPERM", "ENOENT")  # ENOENT: kernel without time namespaces
    # pid 1 is the sandbox's root-owned, non-dumpable reaper: its ns links are not ours to open.
    want["open_pid1_ns_mnt"] = ("EACCES", "EPERM")
    want["open_pid1_ns_net"] = ("EACCES", "EPERM")
    if obs.get("pidfd_open_self") == "OK":
        want["setns_pidfd"] = EPERM
    expect(obs, want, "setns must be denied")


@test("T24 ptrace")
def t24():
    # The runner's own pid is a host pid: inside the job's pid ns it must not exist.
    obs = attack("t24", os.getpid())
    expect(obs, {
        "attach_pid1": EPERM, "seize_pid1": EPERM, "vm_readv_pid1": ("EPERM", "ESRCH"),
        "kcmp_pid1": EPERM, "mem_pid1": ("EACCES", "EPERM"),
        "attach_host": ("ESRCH",), "vm_readv_host": ("ESRCH",),
        # Docker >= 4.8 allows tracing a sibling of the same job: acceptable, either way.
        "attach_sibling": ("OK", "EPERM"), "vm_readv_sibling": ("OK", "EPERM"),
    }, "ptrace must stay inside the job (pid ns; the reaper is non-dumpable)")


@test("T25 bpf")
def t25():
    expect(attack("t25"), {"map_create": EPERM, "prog_load": EPERM}, "bpf must be denied")


@test("T26 keyrings")
def t26():
    expect(attack("t26"), {k: EPERM for k in
                           ("add_key", "keyctl_join", "keyctl_get_id", "request_key")},
           "keyring syscalls must be denied (keyrings are not namespaced, CVE-2016-0728)")


@test("T27 perf_event_open")
def t27():
    expect(attack("t27"), {k: EPERM for k in ("hw_cycles", "sw_cpu_clock", "tracepoint")},
           "perf_event_open must be denied")


@test("T28 kexec reboot swap")
def t28():
    expect(attack("t28"), {k: EPERM for k in (
        "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "iopl",
        "ioperm", "vhangup", "quotactl")}, "machine-level syscalls must be denied")


@test("T29 kernel modules")
def t29():
    before = _read("/proc/modules")
    obs = attack("t29")
    expect(obs, {k: EPERM for k in ("init_module", "finit_module", "delete_module")},
           "module syscalls must be denied")
    check(obs.get("modules_before") == obs.get("modules_after"),
          "/proc/modules changed inside the job", obs)
    check(_read("/proc/modules") == before, "host /proc/modules changed")


@test("T30 userfaultfd")
def t30():
    expect(attack("t30"), {"userfaultfd": EPERM, "dev_userfaultfd": ("ENOENT",)},
           "userfaultfd must be unreachable")


@test("T31 io_uring")
def t31():
    expect(attack("t31"), {k: EPERM for k in
                           ("io_uring_setup", "io_uring_enter", "io_uring_register")},
           "io_uring must be denied")


@test("T32 open_by_handle_at")
def t32():
    obs = attack("t32")
    want = {"open_by_handle_at_guess": EPERM}
    if obs.get("name_to_handle_at") == "OK":  # allowed by Docker (info only)
        want["open_by_handle_at"] = EPERM
    expect(obs, want, "open_by_handle_at must be denied (Shocker)")


@test("T33 clock changes")
def t33():
    host_before = time.time()
    obs = attack("t33")
    want = {"settimeofday": EPERM, "clock_settime": EPERM, "adjtimex_setoffset": EPERM,
            "clock_adjtime": EPERM, "adjtimex_read": ("OK",),
            "timens_offsets_open": ("OK", "EACCES", "EPERM", "EROFS", "ENOENT")}
    if obs.get("timens_offsets_open") == "OK":
        want["timens_offsets_write"] = ("EPERM", "EACCES")
    expect(obs, want, "the clocks must not be settable")
    host_after = time.time()
    check(host_before - 5 <= obs["realtime_s"] <= host_after + 5,
          "the job's CLOCK_REALTIME differs from the host's", obs["realtime_s"], host_after)


@test("T34 hostname")
def t34():
    host = socket.gethostname()
    obs = attack("t34")
    expect(obs, {"sethostname": EPERM, "setdomainname": EPERM,
                 "etc_hostname": ("EROFS", "ENOENT", "EACCES"),
                 "proc_hostname": ("EROFS", "EACCES"),
                 "nodename": ("sandbox",), "nodename_after": ("sandbox",)},
           "the hostname must not be settable")
    check(socket.gethostname() == host, "host hostname changed")


@test("T35 personality and foreign ABIs")
def t35():
    native = native_abi()
    obs = attack("t35")
    want = {"addr_no_randomize": EPERM, "read_implies_exec": EPERM,
            "per_linux": ("OK",), "query": ("OK",),
            "x32": ("killed:SIGSYS",)}  # seccomp sees the x32 bit even where the kernel lacks x32
    if native.get("int80") == "OK":
        want["int80"] = ("killed:SIGSYS",)
    else:  # no ia32 emulation: int 0x80 faults before any syscall entry
        want["int80"] = ("killed:SIGSYS", "killed:SIGSEGV")
    expect(obs, want, "personality must be filtered and the 32-bit/x32 ABIs killed")


MASKED_FILES = ("kcore", "keys", "timer_list", "sched_debug", "interrupts", "latency_stats",
                "timer_stats")
MASKED_DIRS = ("acpi", "asound", "scsi")


@test("T36 kernel info leaks")
def t36():
    obs = attack("t36")
    bad = []
    for name in MASKED_FILES:
        o = obs["masked"][name]
        if not os.path.exists("/proc/" + name):
            continue  # absent on this kernel: nothing to mask
        st, rd = o.get("stat"), o.get("read")
        if not (isinstance(st, dict) and st.get("type") == "chr" and st.get("rdev") == "1:3"):
            bad.append("/proc/%s is not masked by /dev/null: %r" % (name, st))
        if not (isinstance(rd, dict) and rd.get("bytes") == 0) and rd not in ("EACCES", "EPERM"):
            bad.append("/proc/%s readable: %r" % (name, rd))
    for name in MASKED_DIRS:
        if os.path.exists("/proc/" + name) and obs["masked"][name] != []:
            bad.append("/proc/%s is not an empty mask: %r" % (name, obs["masked"][name]))
    ks = obs.get("kallsyms")
    if isinstance(ks, dict):
        addrs = [l.split()[0] for l in ks["head"].splitlines() if l.split()]
        if any(a.strip("0") for a in addrs[:-1]):  # the last line may be cut
            bad.append("/proc/kallsyms shows kernel addresses: %r" % addrs[:3])
    check(not bad, "kernel information must be masked", *bad)
    expect(obs, {"syslog_size": EPERM, "syslog_read_all": EPERM, "dev_kmsg": ("ENOENT",),
                 "sys": ("ENOENT",), "sys_firmware": ("ENOENT",), "powercap": ("ENOENT",)},
           "dmesg, /dev/kmsg and /sys must be unreachable")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return "error %d" % e.errno
