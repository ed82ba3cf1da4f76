"""Skipped tests: how a test says it skips, and the check that a CI run has
no skip README does not allow.

A test that cannot run here prints one line "SKIP [id]: reason" (may_skip,
exit_code, skip_test below; tests/skip.h for the C tests) and skips: exit 77
(ctest's SKIP_RETURN_CODE), cmocka's skip() or unittest's skipTest. Under CI
(the CI environment variable set to anything but empty, 0 or false) a skip
whose id is not in MCSQ_ALLOWED_SKIPS fails the test instead, with its reason.

scripts/test fills MCSQ_ALLOWED_SKIPS from README's "Skipped tests" list
(`skips.py allowed README.md`) and, after each ctest run, checks its JUnit
report (`skips.py check REPORT.xml`): every skip ctest saw (Not Run, Skipped,
Disabled), every cmocka "[  SKIPPED ]" test and every unittest skip must come
with an allowed "SKIP [id]" line, else the run fails under CI; without CI the
check only lists the skips.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

SKIP = 77  # the exit code ctest counts as skipped (SKIP_RETURN_CODE)

MARKER = re.compile(r"^SKIP \[([A-Za-z0-9_.-]+)\]: (.*)$", re.M)
CMOCKA_SKIPPED = re.compile(r"^\[  SKIPPED \] (\S+)\s*$", re.M)
CMOCKA_SUMMARY = re.compile(r"^\[  SKIPPED \] \d+ test\(s\), listed below:", re.M)
UNITTEST_SKIPPED = re.compile(r"\bskipped=(\d+)")
README_SECTION = "### Skipped tests"
README_ENTRY = re.compile(r"^- `([A-Za-z0-9_.-]+)`: (\S.*)$")
HINT = ("scripts/deps installs what the tests need; README's \"Skipped tests\" "
        "lists the skips CI allows, each with its reason")


def under_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def allowed_ids():
    return set(os.environ.get("MCSQ_ALLOWED_SKIPS", "").replace(",", " ").split())


def may_skip(skip_id, reason):
    """Prints why the test skips; returns whether it may (False: under CI
    and not allowed, the test must fail)."""
    if under_ci() and skip_id not in allowed_ids():
        print("FAIL: a skip under CI=true that README does not allow: [%s] %s (%s)" %
              (skip_id, reason, HINT), flush=True)
        return False
    print("SKIP [%s]: %s" % (skip_id, reason), flush=True)
    return True


def exit_code(skip_id, reason):
    """The exit code of a test program that cannot run: SKIP, or 1."""
    return SKIP if may_skip(skip_id, reason) else 1


def skip_test(case, skip_id, reason):
    """Skips a unittest.TestCase method, or fails it under CI."""
    if may_skip(skip_id, reason):
        case.skipTest(reason)
    case.fail("skip not allowed under CI: [%s] %s" % (skip_id, reason))


# ---------------------------------------------------------------- scripts/test


def readme_allowed(path):
    """The ids README's "Skipped tests" section lists, each with a reason."""
    ids, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                inside = line.strip() == README_SECTION
                continue
            m = README_ENTRY.match(line) if inside else None
            if m:
                ids.append(m.group(1))
    return ids


def test_skips(case):
    """(skip events, marker ids) of one JUnit testcase element."""
    out = "".join(e.text or "" for e in case.iter() if e.tag in ("system-out", "system-err"))
    events = 0
    if case.get("status") in ("notrun", "disabled") or case.find("skipped") is not None:
        events += 1
    cmocka = set(CMOCKA_SKIPPED.findall(CMOCKA_SUMMARY.sub("", out)))
    events = max(events, len(cmocka), sum(int(n) for n in UNITTEST_SKIPPED.findall(out)))
    return events, MARKER.findall(out)


def check(reports):
    """Lists the skips of the ctest JUnit reports; returns 1 when one is not
    allowed under CI, else 0."""
    ci, allowed = under_ci(), allowed_ids()
    bad, seen = [], []
    for path in reports:
        try:
            cases = ET.parse(path).getroot().iter("testcase")
        except (OSError, ET.ParseError) as e:
            bad.append("cannot read the ctest report %s: %s" % (path, e))
            continue
        for case in cases:
            name = case.get("name")
            events, markers = test_skips(case)
            if events == 0 and not markers:
                continue
            ok = [(i, r) for i, r in markers if i in allowed]
            for i, r in markers:
                seen.append("%s: [%s] %s" % (name, i, r))
                if i not in allowed:
                    bad.append("%s skipped: [%s] %s" % (name, i, r))
            if events > len(markers):
                seen.append("%s: %d skip(s) without a \"SKIP [id]\" line" %
                            (name, events - len(markers)))
            if events > len(ok) and len(markers) == len(ok):
                bad.append("%s: %d skip(s), %d with a reason README allows (status %s)" %
                           (name, events, len(ok), case.get("status")))
    for s in seen:
        print("skipped: %s" % s)
    if bad and ci:
        print("FAIL: under CI=true a skipped test fails the run (%s):" % HINT)
        for b in bad:
            print("  %s" % b)
        return 1
    if bad:
        print("(%d skip(s) that would fail the run under CI=true)" % len(bad))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "allowed":
        print(" ".join(readme_allowed(argv[2])))
        return 0
    if len(argv) >= 3 and argv[1] == "check":
        return check(argv[2:])
    print("usage: %s allowed README.md | check CTEST_JUNIT.xml..." % argv[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
