"""test_selftest.py - every language profile's self-test (a program that reads stdin and args
and prints OK), through POST /api/v1/execute, on whatever rootfs the language has here. A
language with no rootfs on this machine is skipped with the reason."""

import glob
import json
import os

from harness import ROOT, check, shared, skip, test


def profiles():
    for path in sorted(glob.glob(os.path.join(ROOT, "profiles", "languages", "*.json"))):
        with open(path) as f:
            yield json.load(f)


def self_test(prof):
    def run():
        st = prof.get("self_test")
        check(st, "profiles/languages: %s has no self_test" % prof["name"])
        s = shared()
        langs = {l["name"]: l for l in s.expect(s.get("/api/v1/languages"), 200).json["languages"]}
        lang = langs.get(prof["name"])
        check(lang, "%s is not in /api/v1/languages" % prof["name"], list(langs))
        if not lang["ready"]:
            host = prof.get("host")
            skip("%s has no rootfs here: image %s is not pulled, and %s"
                 % (prof["name"], prof["image"],
                    "the host lacks " + " ".join(host) if host else "the profile has no host fallback"))
        a = s.execute({"language": prof["name"], "code": st["code"], "stdin": st["stdin"],
                       "args": st["args"]}, timeout=120)
        check(a["status"] == "ok" and a["stdout"].strip() == st["expected_output"],
              "%s self-test on %s" % (prof["name"], lang["rootfs"]), a)

    return run


for _p in profiles():
    test("self-test %s" % _p["name"])(self_test(_p))
