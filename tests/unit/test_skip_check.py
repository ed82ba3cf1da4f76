#!/usr/bin/python3
"""Checks the skip rule of tests/integration/skips.py: README's "Skipped
tests" list parses (every entry with its reason); a test may skip freely
without CI and only with a listed id under CI; and the check scripts/test runs
after each ctest run finds every kind of skip in a ctest JUnit report
(Skipped, Disabled, cmocka "[  SKIPPED ]", unittest "skipped=N") and fails
under CI unless each comes with an allowed "SKIP [id]" line.

Usage: test_skip_check.py SOURCE_DIR"""

import contextlib
import io
import os
import sys
import tempfile
import unittest
from xml.sax.saxutils import escape

SRC = None
skips = None


def junit(*cases):
    """A ctest JUnit report of (name, status, output, skipped) cases."""
    body = ""
    for name, status, out, skipped in cases:
        body += '<testcase name="%s" classname="%s" time="0" status="%s">' % (name, name, status)
        if skipped:
            body += '<skipped message="SKIP_RETURN_CODE=77"/>'
        body += "<system-out>%s</system-out></testcase>\n" % escape(out)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite tests="%d">\n%s</testsuite>\n' % (
        len(cases), body)


class Env:
    """Sets CI and MCSQ_ALLOWED_SKIPS for a block, then restores them."""

    def __init__(self, ci, allowed="pclmul"):
        self.new = {"CI": ci, "MCSQ_ALLOWED_SKIPS": allowed}

    def __enter__(self):
        self.old = {k: os.environ.get(k) for k in self.new}
        for k, v in self.new.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class TestSkipCheck(unittest.TestCase):
    def check(self, report, ci):
        with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
            f.write(report)
        out = io.StringIO()
        try:
            with Env(ci), contextlib.redirect_stdout(out):
                rc = skips.check([f.name])
        finally:
            os.unlink(f.name)
        return rc, out.getvalue()

    def test_readme_lists_reasons(self):
        ids = skips.readme_allowed(os.path.join(SRC, "README.md"))
        self.assertIn("pclmul", ids)
        for bad in ("peer-fixtures", "openssl", "mariadbd", "memcached", "kafka-clients"):
            self.assertNotIn(bad, ids)  # scripts/deps installs what these need

    def test_may_skip(self):
        for ci, allowed in ((None, True), ("", True), ("false", True), ("0", True),
                            ("true", False), ("1", False)):
            with Env(ci), contextlib.redirect_stdout(io.StringIO()) as out:
                self.assertEqual(skips.may_skip("peer-fixtures", "absent"), allowed, ci)
                self.assertTrue(skips.may_skip("pclmul", "no PCLMULQDQ"))
            self.assertIn("SKIP [pclmul]: no PCLMULQDQ", out.getvalue())
            with Env(ci), contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(skips.exit_code("openssl", "absent"), 77 if allowed else 1)

    def test_every_kind_of_skip_fails_under_ci(self):
        cases = [
            ("exit77", "notrun", "SKIP [peer-fixtures]: not found\n", True),
            ("bare77", "notrun", "skipping\n", True),
            ("disabled", "disabled", "Disabled", False),
            ("cmocka", "run", "[  SKIPPED ] test_x\n[  SKIPPED ] 1 test(s), listed below:\n"
             "[  SKIPPED ] test_x\n", False),
            ("unittest", "run", "Ran 3 tests\nOK (skipped=1)\n", False),
        ]
        for case in cases:
            rc, out = self.check(junit(case), "true")
            self.assertEqual(rc, 1, "%s: %s" % (case[0], out))
            self.assertIn(case[0], out)
            rc, out = self.check(junit(case), None)
            self.assertEqual(rc, 0, out)
            self.assertIn("skipped: %s" % case[0], out)

    def test_allowed_skips_pass_under_ci(self):
        report = junit(
            ("crc", "run", "SKIP [pclmul]: no PCLMULQDQ\n[  SKIPPED ] test_fold\n"
             "[  SKIPPED ] 1 test(s), listed below:\n[  SKIPPED ] test_fold\n", False),
            ("exit77", "notrun", "SKIP [pclmul]: no PCLMULQDQ\n", True),
            ("plain", "run", "[==========] 3 test(s) run.\n[  PASSED  ] 3 test(s).\n", False))
        rc, out = self.check(report, "true")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("plain", out)

    def test_more_skips_than_allowed_lines_fail(self):
        out = ("SKIP [pclmul]: no PCLMULQDQ\n[  SKIPPED ] a\n[  SKIPPED ] b\n"
               "[  SKIPPED ] 2 test(s), listed below:\n[  SKIPPED ] a\n[  SKIPPED ] b\n")
        rc, text = self.check(junit(("two", "run", out, False)), "true")
        self.assertEqual(rc, 1, text)
        rc, text = self.check(junit(("py", "run", "SKIP [pclmul]: x\nOK (skipped=2)\n", False)),
                              "true")
        self.assertEqual(rc, 1, text)

    def test_unreadable_report_fails_under_ci(self):
        rc, out = self.check("<testsuite", "true")
        self.assertEqual(rc, 1, out)


def main():
    global SRC, skips
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    SRC = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    import skips as module
    skips = module
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
