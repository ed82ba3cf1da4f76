#!/usr/bin/env python3
"""`mcsqueal placement` against the real clients' vectors.

For every file of tests/fixtures/placement (where a Debian 12 memcached client
put each key), writes a configuration with the file's pool (placement,
prefix, ketama_points, servers with weights), runs `mcsqueal placement` on
the file's keys and checks that each line names the client's server. Also
the `*` of placement = all, the proxy's address, --pool, --help and the
errors. Usage: test_cmd_placement.py MCSQUEAL SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile


def load_vectors(path):
    v = {"placement": None, "prefix": "", "options": {}, "servers": [], "keys": []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#") or "\t" not in line:
                continue
            kind, rest = line.split("\t", 1)
            if kind == "placement":
                v["placement"] = rest
            elif kind == "prefix":
                v["prefix"] = rest
            elif kind == "option":
                name, value = rest.split("\t")
                v["options"][name] = value
            elif kind == "server":
                v["servers"].append(rest)
            elif kind == "key":
                key, _index, server = rest.split("\t")
                v["keys"].append((key, server))
    return v


def run(mcsqueal, *args):
    return subprocess.run([mcsqueal, "placement", *args], capture_output=True, text=True,
                          timeout=60)


def check_file(mcsqueal, tmp, path):
    v = load_vectors(path)
    if v["options"].get("hash_with_prefix") == "1":
        return 0  # hash_with_prefix / hash_namespace: a client option, not a pool setting
    lines = ["[pool p]", "servers = " + " ".join(v["servers"]), "placement = " + v["placement"]]
    if v["prefix"]:
        lines.append("prefix = " + v["prefix"])
    if "ketama_points" in v["options"]:
        lines.append("ketama_points = " + v["options"]["ketama_points"])
    cfg = os.path.join(tmp, "p.ini")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    keys = [k for k, _ in v["keys"]]
    r = run(mcsqueal, "--config", cfg, "--", *keys)
    if r.returncode != 0:
        sys.exit(f"{path}: exit {r.returncode}: {r.stderr}")
    got = r.stdout.splitlines()
    if len(got) != len(keys):
        sys.exit(f"{path}: {len(got)} lines for {len(keys)} keys")
    bad = [(line, want) for line, (key, want) in zip(got, v["keys"])
           if line != f"p\t{key}\t{want}"]
    if bad:
        sys.exit(f"{path}: {len(bad)} keys elsewhere than the client put them, e.g. {bad[0]}")
    return len(keys)


def expect_fail(mcsqueal, args, needle):
    r = run(mcsqueal, *args)
    if r.returncode != 2 or needle not in r.stderr:
        sys.exit(f"{args}: exit {r.returncode}, stderr {r.stderr!r}; wanted 2 and {needle!r}")


def main():
    mcsqueal, src = sys.argv[1], sys.argv[2]
    fixtures = os.path.join(src, "tests", "fixtures", "placement")
    with tempfile.TemporaryDirectory() as tmp:
        total = 0
        for name in sorted(os.listdir(fixtures)):
            if name.endswith(".tsv"):
                total += check_file(mcsqueal, tmp, os.path.join(fixtures, name))
        if total < 5000:
            sys.exit(f"only {total} keys checked")
        cfg = os.path.join(tmp, "modes.ini")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("[pool every]\nservers = 10.0.0.1:11211 10.0.0.2:11211\nplacement = all\n"
                    "[pool tw]\nservers = [::1]:22121 10.0.0.9:22121\nplacement = proxy\n")
        r = run(mcsqueal, "--config", cfg, "k1", "k2")
        want = "every\tk1\t*\nevery\tk2\t*\ntw\tk1\t[::1]:22121\ntw\tk2\t[::1]:22121\n"
        if r.returncode != 0 or r.stdout != want:
            sys.exit(f"all/proxy: exit {r.returncode}, {r.stdout!r}")
        r = run(mcsqueal, "-c", cfg, "--pool", "tw", "k1")
        if r.stdout != "tw\tk1\t[::1]:22121\n":
            sys.exit(f"--pool: {r.stdout!r}")
        r = run(mcsqueal, "--help")
        if r.returncode != 0 or "POOL<TAB>KEY<TAB>HOST:PORT" not in r.stdout:
            sys.exit("--help")
        expect_fail(mcsqueal, ["-c", cfg, "--pool", "nope", "k"], "has no [pool nope]")
        expect_fail(mcsqueal, ["-c", cfg], "expected at least one KEY")
        expect_fail(mcsqueal, ["-c", cfg, "bad key"], "is not a memcached key")
        expect_fail(mcsqueal, ["-c", os.path.join(tmp, "missing.ini"), "k"], "missing.ini")
        expect_fail(mcsqueal, ["--bogus"], "unknown option")
    print(f"ok: {total} keys agree with the clients")


if __name__ == "__main__":
    main()
