"""test_network.py - attack catalogue T17-T20 (docker-profile.md section 9 B): the network.

The jail has an empty network namespace (only lo), so every attack here fails at once without a
packet leaving the machine; `probe net` itself refuses to run anywhere else. The tests assert the
errno each attempt must meet and that failures are immediate.
"""

import os
import socket

from harness import check, probe, test

LIMITS = dict(memory="64M", cpu_time="2s", wall_time="8s", pids=32)
ALLOWED_FAMILIES = {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK}
SIGSYS = 31


def net(what, *args, **kw):
    for k, v in LIMITS.items():
        kw.setdefault(k, v)
    r = probe("probe", "net", what, *args, **kw)
    check(r.get("status") == "ok" and r.rc == 0, "probe net %s did not end ok" % what, r)
    return r.probe_json()


def fails_fast(o, key, errnos, ms=500):
    got = o.get(key, {})
    check(got.get("errno") in errnos, "%s: %s, expected %s" % (key, got.get("errno"),
                                                              "/".join(errnos)), o)
    check(got.get("ms", 1e9) < ms, "%s took %s ms" % (key, got.get("ms")))


@test("T17 egress to the Internet: ENETUNREACH at once")
def t17_egress():
    o = net("egress")
    fails_fast(o, "tcp_1.1.1.1:443", ("ENETUNREACH",))
    fails_fast(o, "tcp_[2606:4700:4700::1111]:443", ("ENETUNREACH", "EADDRNOTAVAIL"))
    fails_fast(o, "udp_8.8.8.8:53", ("ENETUNREACH",))


@test("T17 DNS: lookups fail fast, localhost resolves, resolv.conf has no outside server")
def t17_dns():
    o = net("egress")
    dns = o["dns_example.com"]
    check(dns["rc"] in ("EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"),
          "example.com: %s" % dns["rc"], o)
    check(dns["ms"] < 2000, "example.com lookup took %d ms" % dns["ms"])
    check(o["dns_localhost"]["rc"] == "OK" and o["dns_localhost"]["addr"] == "127.0.0.1",
          "localhost does not resolve to 127.0.0.1 (generated /etc/hosts)", o["dns_localhost"])
    for line in o["resolv_conf"].splitlines():
        words = line.split()
        if words and words[0] == "nameserver":
            check(len(words) > 1 and words[1].startswith("127."),
                  "resolv.conf names an outside server: %r" % line)


@test("T18 host loopback services and metadata: refused or unreachable")
def t18_loopback():
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    abstract = "sbx-test-%d" % os.getpid()
    usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    usock.bind("\0" + abstract)
    usock.listen(8)
    usock.setblocking(False)
    try:
        o = net("loopback", str(port), "@" + abstract)
        for p in (22, 80, 2375, 5432, 6379, 8080, port):
            fails_fast(o, "tcp_127.0.0.1:%d" % p, ("ECONNREFUSED",))
        fails_fast(o, "tcp_[::1]:22", ("ECONNREFUSED", "ENETUNREACH", "EADDRNOTAVAIL"))
        fails_fast(o, "tcp_169.254.169.254:80", ("ENETUNREACH",))
        fails_fast(o, "unix_@" + abstract, ("ECONNREFUSED",))
        fails_fast(o, "unix_@/containerd-shim/x.sock", ("ECONNREFUSED",))
        check(o["self_loopback"]["errno"] == "OK", "the job's own loopback does not work",
              o["self_loopback"])
        for s in (lsock, usock):
            try:
                s.accept()
                check(False, "a host listener got a connection from the job")
            except BlockingIOError:
                pass
    finally:
        lsock.close()
        usock.close()


@test("T19 raw and packet sockets: EPERM")
def t19_raw():
    o = net("raw")
    for k in ("inet_raw_icmp", "inet_raw_raw", "inet6_raw_icmpv6", "packet_raw", "packet_dgram",
              "inet_packet_legacy"):
        check(o[k] == "EPERM", "%s: %s, expected EPERM" % (k, o[k]), o)


def modules():
    try:
        with open("/proc/modules") as f:
            return sorted(l.split()[0] for l in f)
    except OSError:
        return None


@test("T20 exotic address families: EPERM outside the allowlist, no module loaded")
def t20_families():
    before = modules()
    o = net("families")
    for fam, res in o["families"].items():
        fam = int(fam)
        if fam in ALLOWED_FAMILIES:
            check(res == "OK", "allowed family %d does not work: %s" % (fam, res))
        else:
            check(res == "EPERM", "family %d: %s, expected EPERM only" % (fam, res))
    for proto, res in o["netlink"].items():
        want = "OK" if proto == "0" else "EPERM"
        check(res == want, "netlink protocol %s: %s, expected %s (route only)" % (proto, res, want))
    for k in ("alg_seqpacket", "vsock_stream"):
        check(o[k] == "EPERM", "%s: %s, expected EPERM" % (k, o[k]))
    for k in ("dccp", "sctp"):
        check(o[k] != "OK", "%s socket created" % k)
    check(modules() == before, "kernel modules changed", before, modules())


@test("T20 socket through the 32-bit and x32 ABIs: killed by seccomp")
def t20_abi():
    o = net("abi")
    for k in ("socketcall_int80", "socket_int80", "socket_x32"):
        check(o[k]["signal"] == SIGSYS, "%s: %r, expected death by SIGSYS" % (k, o[k]), o)
