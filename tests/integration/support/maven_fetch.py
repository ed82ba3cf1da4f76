"""Jars from Maven, kept outside the repository: runs `mvn` once in a
temporary directory on a given pom.xml (and sources, when the goals build
them) and moves the jars it copied into a cache directory, which a
`complete` marker then tells ready. The Kafka broker jars
(kafka_cluster.fetch) and the Debezium peer benchmark's driver
(tests/bench/debezium/fetch) are fetched this way; scripts/deps runs both.
Only the standard library is needed here."""

import os
import shutil
import subprocess
import sys
import tempfile


def cache_base():
    """~/.cache/mcsqueal (XDG_CACHE_HOME respected)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mcsqueal")


def complete(cache):
    return os.path.exists(os.path.join(cache, "complete"))


def fetch(label, cache, pom, marker, goals=(), files=None, quiet=False):
    """Unless cache is complete: writes pom (the text of a pom.xml) and files
    ({relative path: text}) into a temporary directory, runs
    `mvn -q -B GOALS dependency:copy-dependencies` there (runtime scope, into
    its libs/), moves libs/ to cache/libs and writes marker into
    cache/complete. Returns 0 or mvn's exit code."""
    if complete(cache):
        return 0
    mvn = shutil.which("mvn")
    if mvn is None:
        print("%s: mvn not found (scripts/deps installs maven)" % label, file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="mcsq-%s-fetch-" % label)
    try:
        with open(os.path.join(work, "pom.xml"), "w") as f:
            f.write(pom)
        for rel, text in (files or {}).items():
            path = os.path.join(work, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        staging = os.path.join(work, "libs")
        if not quiet:
            print("%s: fetching jars into %s" % (label, os.path.join(cache, "libs")), file=sys.stderr)
        r = subprocess.run([mvn, "-q", "-B"] + list(goals) +
                           ["dependency:copy-dependencies", "-DoutputDirectory=" + staging,
                            "-DincludeScope=runtime"],
                           cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print("%s: mvn failed (%d):\n%s" % (label, r.returncode, r.stdout[-4000:]),
                  file=sys.stderr)
            return r.returncode
        os.makedirs(cache, exist_ok=True)
        shutil.rmtree(os.path.join(cache, "libs"), ignore_errors=True)
        shutil.move(staging, os.path.join(cache, "libs"))
        with open(os.path.join(cache, "complete"), "w") as f:
            f.write(marker + "\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
