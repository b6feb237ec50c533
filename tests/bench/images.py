#!/usr/bin/env python3
"""images.py - make bench, part 2: pulling and unpacking images.

Builds a realistic image (the host's python3 standard library as a ~50 MB layer plus a small
one), serves it from a loopback registry (tests/registry/registry), and times, paired and
interleaved in one process:
  1. sandboxctl pull (fresh store)  vs  skopeo copy docker:// -> oci: + umoci unpack
  2. unpack alone: sandboxctl pull --oci-layout (blobs already local)  vs  GNU tar -xzf of the
     same layers in order
Prints medians and ratios against the targets (pull <= 1.0x, unpack <= 1.2x). Exit 0 unless
something fails to run; no assertion on time.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SBX = os.path.join(ROOT, "build", "sandboxctl")
WORK = os.path.join(ROOT, "tests", ".work", "bench-images")
ROUNDS = 5


def sh(*args, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit("bench: %s failed: %s" % (" ".join(args[:3]), p.stderr[-800:]))
    return p.stdout


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def tar_of(paths):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for src, arc in paths:
            t.add(src, arcname=arc, filter=lambda i: None if "__pycache__" in i.name else i)
    return buf.getvalue()


def build_layout(layout):
    """An OCI layout: python3's stdlib as one gzip layer, a small second layer."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    lib = "/usr/lib/python3.11" if os.path.isdir("/usr/lib/python3.11") else "/usr/share/doc"
    layers = [tar_of([(lib, lib.lstrip("/"))]), tar_of([("/etc/os-release", "etc/os-release")])]
    descs, diff_ids = [], []
    for raw in layers:
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": blob(layout, gz), "size": len(gz)})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {"Env": ["PATH=/usr/bin:/bin"]}}).encode()
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": blob(layout, config), "size": len(config)},
                           "layers": descs}).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": blob(layout, manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return [os.path.join(layout, "blobs", "sha256", d["digest"][7:]) for d in descs], \
        sum(len(raw) for raw in layers)


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    return path


def main():
    for tool in ("skopeo", "umoci", "docker-registry"):
        if not shutil.which(tool):
            print("bench images: skipped: %s is not installed (apt-get install %s)" % (tool, tool))
            return 0
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    layout = os.path.join(WORK, "layout")
    layer_files, raw_bytes = build_layout(layout)
    reg = os.path.join(WORK, "registry")
    sh(os.path.join(ROOT, "tests", "registry", "registry"), reg, timeout=120)
    try:
        env = dict(l.strip().split("=", 1) for l in open(os.path.join(reg, "env")))
        ref = env["REGISTRY_HOST"] + "/bench/python-stdlib:1"
        sh("skopeo", "copy", "--dest-tls-verify=false", "oci:%s:bench" % layout,
           "docker://" + ref, timeout=300)
        return compare(layout, layer_files, raw_bytes, ref)
    finally:
        subprocess.run([os.path.join(ROOT, "tests", "registry", "registry"), "--stop", reg],
                       capture_output=True)
        shutil.rmtree(WORK, ignore_errors=True)


def compare(layout, layer_files, raw_bytes, ref):
    state, oci, bundle, tardir = (os.path.join(WORK, n) for n in ("state", "oci", "bundle", "tar"))
    ours_pull, peer_pull, ours_unpack, tar_unpack = [], [], [], []
    for _ in range(ROUNDS):
        ours_pull.append(timed(lambda: sh(SBX, "pull", "--state-dir", fresh(state), ref)))
        peer_pull.append(timed(lambda: (
            sh("skopeo", "copy", "--src-tls-verify=false", "docker://" + ref,
               "oci:%s:bench" % fresh(oci)),
            sh("umoci", "unpack", "--image", "%s:bench" % oci, fresh(bundle)))))
        ours_unpack.append(timed(lambda: sh(SBX, "pull", "--state-dir", fresh(state),
                                            "--oci-layout", layout, "bench/local:1")))
        os.makedirs(fresh(tardir))
        tar_unpack.append(timed(lambda: [sh("tar", "-xzf", f, "-C", tardir)
                                         for f in layer_files]))
    rows = [("pull + unpack", ours_pull, peer_pull, "skopeo copy + umoci unpack", 1.0),
            ("unpack (local layers)", ours_unpack, tar_unpack, "GNU tar -xzf", 1.2)]
    print("sandboxd bench: images (%.1f MiB unpacked, %d layers, %d rounds, medians)"
          % (raw_bytes / 1048576, len(layer_files), ROUNDS))
    for what, ours, peer, peer_name, target in rows:
        a, b = statistics.median(ours), statistics.median(peer)
        print("  %-22s sandboxctl %7.0f ms   %-26s %7.0f ms   %.2fx  target <= %.1fx  %s"
              % (what, a * 1000, peer_name, b * 1000, a / b, target,
                 "met" if a / b <= target else "NOT MET"))
    print("  (sandboxctl's unpack also verifies every blob digest and diff_id; tar verifies none)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
