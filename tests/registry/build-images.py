#!/usr/bin/env python3
# build-images.py - the test images of tests/registry/make-images, as an OCI image layout.
#
# Usage: build-images.py OUT BUSYBOX ARCH STUB_ARCH
#   OUT        new directory: OUT/layout (an OCI image layout: oci-layout, index.json,
#              blobs/sha256/*), OUT/plan.json (what make-images pushes where, and what each
#              image should unpack to) and OUT/corrupt/HEX (a damaged copy of one blob)
#   BUSYBOX    a static busybox binary, copied in as /bin/busybox
#   ARCH       the GOARCH of the real image (this host's); STUB_ARCH: the stub's
#
# Python standard library only. Deterministic: fixed mtimes (2024-01-01), uid/gid 0, no user
# or group names, sorted entries, gzip with mtime 0, canonical JSON; the same inputs give the
# same digests (with the same zlib).
import gzip, hashlib, io, json, os, sys, tarfile

MTIME = 1704067200
CREATED = "2024-01-01T00:00:00Z"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

out, busybox_path, ARCH, STUB_ARCH = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
LAYOUT = os.path.join(out, "layout")
BLOBS = os.path.join(LAYOUT, "blobs", "sha256")
os.makedirs(BLOBS)
os.makedirs(os.path.join(out, "corrupt"))
with open(busybox_path, "rb") as f:
    BUSYBOX = f.read()


def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def add_blob(data, media_type):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(BLOBS, hexd), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + hexd, "size": len(data)}


# --- layers ------------------------------------------------------------------------------
# An entry: (name, kind, payload, mode, extra); kind is file/dir/symlink/hardlink/char;
# payload is bytes for a file, an int N for "N zero bytes", the target for links.
def F(name, data, mode=0o644):
    return (name, "file", data if isinstance(data, (bytes, int)) else data.encode(), mode, None)


def D(name, mode=0o755):
    return (name, "dir", None, mode, None)


def S(name, target):
    return (name, "symlink", target, 0o777, None)


def H(name, target, mode=0o644):  # mode: the target's, as tar writes it
    return (name, "hardlink", target, mode, None)


def C(name, major, minor, mode=0o666):
    return (name, "char", None, mode, (major, minor))


class Zeros:
    def __init__(self, n):
        self.left = n

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


class Tee:
    """A file object that hashes and counts what passes through to the gzip stream."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def flush(self):
        pass


TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE}


LAYERS = {}


def add_layer(entries, sort=True):
    """A gzip tar layer blob; returns (descriptor, diff_id, uncompressed size)."""
    if id(entries) in LAYERS:  # the base layer: built once (sorted, for tiny), shared by all
        return LAYERS[id(entries)]
    key = id(entries)
    if sort:  # parents before children, as Docker writes them
        entries = sorted(entries, key=lambda e: e[0].split("/"))
        names = [e[0] for e in entries]
        for i, (name, kind, payload, _, _) in enumerate(entries):  # a valid hard link follows
            assert kind != "hardlink" or payload in names[:i], name + ": target not before it"
    tmp = os.path.join(out, "layer.tmp")
    with open(tmp, "wb") as raw:
        gz = gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0)
        tee = Tee(gz)
        with tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, kind, payload, mode, extra in entries:
                ti = tarfile.TarInfo(name)  # names are written as given: "../x", "/x" too
                ti.type, ti.mode, ti.mtime = TYPES[kind], mode, MTIME
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                src = None
                if kind == "file":
                    ti.size = payload if isinstance(payload, int) else len(payload)
                    src = Zeros(payload) if isinstance(payload, int) else io.BytesIO(payload)
                elif kind in ("symlink", "hardlink"):
                    ti.linkname = payload
                elif kind == "char":
                    ti.devmajor, ti.devminor = extra
                tar.addfile(ti, src)
        gz.close()
    with open(tmp, "rb") as f:
        data = f.read()
    os.unlink(tmp)
    LAYERS[key] = add_blob(data, OCI_LAYER_GZIP), "sha256:" + tee.h.hexdigest(), tee.n
    return LAYERS[key]


def add_image(layers, arch, config, sort=True):
    """layers: [(entries, created_by)]; returns (manifest descriptor, info). sort=False keeps
    the entries in the order given (hostile entries after benign ones)."""
    descs, diff_ids, sizes = [], [], []
    for entries, _ in layers:
        d, diff, n = add_layer(entries, sort)
        descs.append(d)
        diff_ids.append(diff)
        sizes.append(n)
    cfg = {"created": CREATED, "architecture": arch, "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created": CREATED, "created_by": by} for _, by in layers]}
    cdesc = add_blob(canon(cfg), OCI_CONFIG)
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc, "layers": descs}
    mdesc = add_blob(canon(man), OCI_MANIFEST)
    info = {"oci_manifest": mdesc["digest"], "config": cdesc["digest"],
            "layers": [{"digest": d["digest"], "size": d["size"], "diff_id": i,
                        "uncompressed_size": n} for d, i, n in zip(descs, diff_ids, sizes)]}
    return mdesc, info


def add_index(manifests):
    """manifests: [(descriptor, arch)]"""
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX,
           "manifests": [dict(d, platform={"architecture": a, "os": "linux"}) for d, a in manifests]}
    return add_blob(canon(idx), OCI_INDEX)


# --- the flattened tree a correct unpacker makes (OCI changeset rules) ----------------------
def flatten(layers):
    tree = {}

    def drop(path, self_too=True):
        for k in [k for k in tree if k.startswith(path + "/") or (self_too and k == path)]:
            del tree[k]

    for entries, _ in layers:
        for name, kind, payload, mode, extra in entries:  # whiteouts hide lower layers only
            d, _, b = ("/" + name.strip("/")).rpartition("/")
            if b == ".wh..wh..opq":
                drop(d, self_too=False)
            elif b.startswith(".wh."):
                drop(d + "/" + b[4:])
        for name, kind, payload, mode, extra in entries:
            path = "/" + name.strip("/")
            if path.rpartition("/")[2].startswith(".wh."):
                continue
            old = tree.get(path)
            if kind == "dir" and old and old["type"] == "dir":
                old["mode"] = "%04o" % mode
                continue
            drop(path)
            if kind == "file":
                data = bytes(payload) if isinstance(payload, int) else payload
                e = {"type": "file", "mode": "%04o" % mode, "size": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()}
                if len(data) <= 256:
                    e["content"] = data.decode()
            elif kind == "hardlink":
                e = dict(tree["/" + payload.strip("/")], hardlink_of="/" + payload.strip("/"))
                e.pop("content", None)
            elif kind == "symlink":
                e = {"type": "symlink", "target": payload}
            elif kind == "dir":
                e = {"type": "dir", "mode": "%04o" % mode}
            else:
                e = {"type": kind, "mode": "%04o" % mode}
            tree[path] = e
    return dict(sorted(tree.items()))


# --- tiny ------------------------------------------------------------------------------------
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
APPLETS = ["cat", "echo", "env", "false", "id", "ls", "pwd", "true"]
BASE = ([D("bin"), F("bin/busybox", BUSYBOX, 0o755), S("bin/sh", "busybox"),
         H("bin/test", "bin/busybox", 0o755)] + [S("bin/" + a, "busybox") for a in APPLETS] +
        [D("etc"), F("etc/passwd", PASSWD), F("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
         D("root", 0o700), D("tmp", 0o1777)])
FIXTURE = [D("opt"), D("opt/tiny"), F("opt/tiny/keep.txt", "keep\n"),
           F("opt/tiny/remove-me.txt", "deleted by a whiteout in the next layer\n"),
           F("opt/tiny/replace-me.txt", "old\n"), D("opt/tiny/olddir"),
           F("opt/tiny/olddir/a.txt", "a\n"), F("opt/tiny/olddir/b.txt", "b\n"),
           D("opt/tiny/olddir/sub"), F("opt/tiny/olddir/sub/deep.txt", "deep\n")]
HELLO = ('#!/bin/sh\necho "hello from tiny: $GREETING"\n'
         'echo "cwd: $(pwd) files: $(echo *) olddir: $(echo olddir/*)"\n')
CHANGES = [D("etc"), F("etc/.wh.group", b""), D("opt"), D("opt/tiny"),
           F("opt/tiny/.wh.remove-me.txt", b""), F("opt/tiny/hello.sh", HELLO, 0o755),
           D("opt/tiny/olddir"), F("opt/tiny/olddir/.wh..wh..opq", b""),
           F("opt/tiny/olddir/c.txt", "c\n"), F("opt/tiny/replace-me.txt", "new\n")]
TINY_LAYERS = [(BASE, "tests/registry: base (static busybox, /etc/passwd)"),
               (FIXTURE, "tests/registry: fixture files"),
               (CHANGES, "tests/registry: whiteouts, opaque dir, replaced file, hello.sh")]
TINY_CONFIG = {"Env": ["PATH=/bin", "GREETING=sandboxd"], "WorkingDir": "/opt/tiny",
               "Cmd": ["/bin/sh", "/opt/tiny/hello.sh"],
               "Labels": {"org.opencontainers.image.title": "sandboxd tiny test image"}}
tiny, tiny_info = add_image(TINY_LAYERS, ARCH, TINY_CONFIG)
STUB_LAYERS = [([D("opt"), D("opt/tiny"), F("opt/tiny/ARCH", "%s stub: not runnable\n" % STUB_ARCH)],
                "tests/registry: %s stub" % STUB_ARCH)]
stub, stub_info = add_image(STUB_LAYERS, STUB_ARCH, {"Cmd": ["/bin/false"]})
index = add_index([(tiny, ARCH), (stub, STUB_ARCH)])
foreign = add_index([(stub, STUB_ARCH)])

refs = [("tiny", tiny), ("tiny-stub", stub), ("tiny-index", index), ("tiny-foreign", foreign)]
TINY_TREE = flatten(TINY_LAYERS)
plan = {"arch": ARCH, "stub_arch": STUB_ARCH, "pushes": [], "images": {}}


def push(ref, repo, tag, **kw):
    plan["pushes"].append(dict({"ref": ref, "repo": repo, "tag": tag}, **kw))


tiny_common = {"layers_oci": tiny_info["layers"], "config_digest": tiny_info["config"],
               "config": TINY_CONFIG, "expect_output_prefix": "hello from tiny: sandboxd",
               "files": TINY_TREE,
               "absent": ["/etc/group", "/opt/tiny/remove-me.txt", "/opt/tiny/olddir/a.txt",
                          "/opt/tiny/olddir/b.txt", "/opt/tiny/olddir/sub",
                          "/opt/tiny/.wh.remove-me.txt", "/opt/tiny/olddir/.wh..wh..opq",
                          "/etc/.wh.group"]}
push("tiny-index", "tiny", "latest", all=True)
push("tiny-index", "tiny", "index", all=True)
push("tiny", "tiny", "oci")
push("tiny", "tiny", "v2s2", format="v2s2")
push("tiny-index", "tiny", "list-v2s2", all=True, format="v2s2")
push("tiny", "tiny", "zstd", compress="zstd")
push("tiny-stub", "tiny", "stub-" + STUB_ARCH)
push("tiny-foreign", "tiny", "foreign-only", all=True)
for tag, what in [("latest", "OCI image index: %s (tiny) + %s (stub)" % (ARCH, STUB_ARCH)),
                  ("index", "same as latest"),
                  ("oci", "OCI image manifest of the %s image, 3 gzip layers" % ARCH),
                  ("v2s2", "the %s image as Docker v2 schema 2" % ARCH),
                  ("list-v2s2", "the index as a Docker manifest list (v2s2 manifests)"),
                  ("zstd", "the %s image, OCI, layers recompressed with zstd" % ARCH)]:
    plan["images"]["tiny:" + tag] = dict(tiny_common, what=what)
plan["images"]["tiny:stub-" + STUB_ARCH] = {
    "what": "the %s stub alone: one layer, /opt/tiny/ARCH, Cmd /bin/false" % STUB_ARCH,
    "layers_oci": stub_info["layers"], "files": flatten(STUB_LAYERS)}
plan["images"]["tiny:foreign-only"] = {
    "what": "OCI index with only the %s stub: no manifest for %s (pull must fail, naming %s)"
            % (STUB_ARCH, ARCH, STUB_ARCH)}

# --- hostile images: the base layer + hostile layer(s) -----------------------------------------
UP = "../" * 8
HOSTILE = {
    "dotdot": ([[D("hostile"), F("hostile/before.txt", "benign\n"),
                 F(UP + "tmp/sandboxd-hostile-dotdot", "escaped with ../\n")]],
               "a file entry named ../../../../../../../../tmp/sandboxd-hostile-dotdot",
               ["/tmp/sandboxd-hostile-dotdot"]),
    "absolute": ([[D("hostile"), F("hostile/before.txt", "benign\n"),
                   F("/tmp/sandboxd-hostile-absolute", "escaped with an absolute name\n")]],
                 "a file entry named /tmp/sandboxd-hostile-absolute",
                 ["/tmp/sandboxd-hostile-absolute"]),
    "symlink-escape": ([[D("hostile"), S("hostile/escape", "/tmp"),
                         F("hostile/escape/sandboxd-hostile-symlink", "written through a symlink\n")]],
                       "symlink hostile/escape -> /tmp, then a file hostile/escape/sandboxd-hostile-symlink"
                       " in the same layer", ["/tmp/sandboxd-hostile-symlink"]),
    "symlink-escape-rel": ([[D("hostile"), S("hostile/escape", UP + "tmp"),
                             F("hostile/escape/sandboxd-hostile-symlink-rel", "written through a symlink\n")]],
                           "symlink hostile/escape -> ../../../../../../../../tmp, then a file through it",
                           ["/tmp/sandboxd-hostile-symlink-rel"]),
    "symlink-escape-2layers": ([[D("hostile"), S("hostile/escape", "/tmp")],
                                [D("hostile"),
                                 F("hostile/escape/sandboxd-hostile-symlink2", "written through a symlink\n")]],
                               "layer 2: symlink hostile/escape -> /tmp; layer 3: a file"
                               " hostile/escape/sandboxd-hostile-symlink2 (through the lower layer's symlink)",
                               ["/tmp/sandboxd-hostile-symlink2"]),
    "hardlink-abs": ([[D("hostile"), H("hostile/passwd", "/etc/passwd")]],
                     "hardlink hostile/passwd -> /etc/passwd (absolute): refused, or linked to the"
                     " image's own /etc/passwd, never the host's", []),
    "hardlink-dotdot": ([[D("hostile"), H("hostile/passwd", UP + "etc/passwd")]],
                        "hardlink hostile/passwd -> ../../../../../../../../etc/passwd", []),
    "chardev": ([[D("hostile"), C("hostile/mem", 1, 1)]],
                "char device hostile/mem 1:1 (/dev/mem), mode 0666", []),
    "gzip-bomb": ([[D("hostile"), F("hostile/zeros", 64 << 20)]],
                  "hostile/zeros: 64 MiB of zeros (~64 KiB gzip); past any small unpack limit", []),
    "corrupt-blob": ([[D("hostile"), F("hostile/corrupt.txt", "this layer's stored blob is damaged after the push\n")]],
                     "the top layer's blob in the registry's storage does not match its digest"
                     " (same size, bytes flipped)", []),
}
for tag, (hlayers, what, host_paths) in HOSTILE.items():
    layers = [(BASE, "tests/registry: base (static busybox, /etc/passwd)")]
    layers += [(e, "tests/registry: hostile %s" % tag) for e in hlayers]
    m, info = add_image(layers, ARCH, {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
                         sort=False)
    refs.append(("hostile-" + tag, m))
    push("hostile-" + tag, "hostile", tag)
    img = {"what": what, "layers_oci": info["layers"], "hostile_layers": info["layers"][1:],
           "expect": "refused" if tag not in ("gzip-bomb", "corrupt-blob") else
                     ("refused by unpack limits below 64 MiB" if tag == "gzip-bomb" else
                      "blob digest mismatch (EBADMSG)"),
           "must_not_exist_on_host": host_paths}
    if tag == "hardlink-abs":
        img["image_passwd_content"] = PASSWD
    if tag == "corrupt-blob":
        top = info["layers"][-1]
        hexd = top["digest"].split(":")[1]
        with open(os.path.join(BLOBS, hexd), "rb") as f:
            data = bytearray(f.read())
        for i in range(len(data) // 2, min(len(data), len(data) // 2 + 8)):
            data[i] ^= 0xFF
        with open(os.path.join(out, "corrupt", hexd), "wb") as f:
            f.write(data)
        img["corrupt_blob"] = top["digest"]
        img["corrupt_blob_served_sha256"] = "sha256:" + hashlib.sha256(data).hexdigest()
        plan["corrupt"] = top["digest"]
    plan["images"]["hostile:" + tag] = img

with open(os.path.join(LAYOUT, "oci-layout"), "wb") as f:
    f.write(canon({"imageLayoutVersion": "1.0.0"}))
with open(os.path.join(LAYOUT, "index.json"), "wb") as f:
    f.write(canon({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        dict(d, annotations={"org.opencontainers.image.ref.name": r}) for r, d in refs]}))
with open(os.path.join(out, "plan.json"), "w") as f:
    json.dump(plan, f, indent=1, sort_keys=True)
