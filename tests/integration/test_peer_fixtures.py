#!/usr/bin/python3
"""Runs `mcsqueal scan` over the real peer binlogs in
../shared/fixtures/peer-binlogs/ (MySQL 5.x-9.x and MariaDB files from the
test suites of rust_mysql_common and mysql-cdc-rs) and checks the decoder
against them:

  1. every good file decodes (exit 0) into lines that honour the scan contract;
  2. the deliberately broken files fail cleanly (exit 1, file and offset named,
     nothing reported past the damage), in both output modes;
  3. each mysql-cdc-rs binlog agrees with its dump.txt (`mysqlbinlog -vv
     --hexdump`): event positions, end positions, type codes, GTIDs, Query and
     Rows_query statements, MySQL 8 commit timestamps and transaction lengths
     (show.txt, `SHOW BINLOG EVENTS`, where dump.txt holds no events);
  4. special files: zstd Transaction_payload, tagged GTIDs, MariaDB GTIDs and
     Annotate_rows, the Incident event;
  5. several files in one command read as one stream;
  6. CRC32 checksums are verified.

Usage: test_peer_fixtures.py MCSQUEAL_BINARY [FIXTURES_DIR]
The environment variable MCSQ_PEER_FIXTURES, when set, overrides FIXTURES_DIR,
which defaults to ${MCSQ_SOURCE_DIR}/../shared/fixtures/peer-binlogs.
Exits 77 (ctest SKIP_RETURN_CODE) when the fixtures folder is absent, 1 under
CI (skips.py). Standard library only; never writes into the fixtures folder or the repository.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import skips

MCSQUEAL = None   # path of the mcsqueal binary (set in main)
FIXTURES = None   # path of the peer-binlogs folder (set in main)

BROKEN = (
    "binlog_truncated_event.000001",
    "binlog_truncated_prev_gtid_event.000001",
    "corrupt-relay-bin.000624",
    "ver_5_1-wl2325_r.001",
    "ver_5_1-wl2325_s.001",
)
BINLOG_MAGIC = b"\xfebin"
HEADER_LEN = 19  # v4 event header

# Event type codes (MySQL/MariaDB binlog, v4).
QUERY, XID, INCIDENT, ROWS_QUERY, GTID, TRANSACTION_PAYLOAD = 2, 16, 26, 29, 33, 40
ANNOTATE_ROWS, MARIADB_GTID = 160, 162
ROWS_EVENT_CODES = {23, 24, 25, 30, 31, 32, 39}  # v1 and v2 write/update/delete, partial update

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
MYSQL_GTID_RE = re.compile(r"^%s:\d+$" % UUID)
TAGGED_GTID_RE = re.compile(r"^(%s):([A-Za-z_][A-Za-z0-9_]{0,31}):(\d+)$" % UUID)
MARIADB_GTID_RE = re.compile(r"^\d+-\d+-\d+$")
POS_RE = re.compile(r"^(.+):(\d+)$")
OFFSET_RE = re.compile(r"offset (\d+)")

TXN_FIELDS = ("pos", "commit_us", "read_us", "keys", "file", "end_pos")
EVENT_FIELDS = ("file", "pos", "end_pos", "type", "type_code")


# --------------------------------------------------------------------------
# running the binary

class Run:
    """One finished `mcsqueal` run."""

    def __init__(self, args, proc, t0_us, t1_us):
        self.args = args
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.t0_us = t0_us
        self.t1_us = t1_us

    @property
    def lines(self):
        return self.stdout.splitlines()

    def describe(self):
        return "mcsqueal %s -> rc=%s\nstderr: %s" % (
            " ".join(self.args), self.rc, self.stderr.strip()[:2000])


def mcsqueal(*args, timeout=120):
    t0 = time.time()
    proc = subprocess.run([MCSQUEAL] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout,
                          universal_newlines=True, errors="surrogateescape")
    t1 = time.time()
    return Run(list(args), proc, int(t0 * 1e6), int(t1 * 1e6))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def rmc(name):
    return os.path.join(FIXTURES, "rust_mysql_common", name)


def cdc(rel):
    return os.path.join(FIXTURES, "mysql-cdc-rs", rel)


def cdc_binlog(folder):
    """The binlog of a mysql-cdc-rs folder: log.bin or binlog.NNNNNN."""
    names = sorted(n for n in os.listdir(folder)
                   if n == "log.bin" or re.match(r"^binlog\.\d+$", n))
    return os.path.join(folder, names[0]) if names else None


def cdc_folders():
    out = []
    for ver in ("5.7", "8.0"):
        base = cdc(ver)
        if os.path.isdir(base):
            out += [os.path.join(base, d) for d in sorted(os.listdir(base))
                    if os.path.isdir(os.path.join(base, d))]
    return out


def good_rmc_files():
    base = os.path.join(FIXTURES, "rust_mysql_common")
    out = []
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        if name in BROKEN or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            if f.read(4) == BINLOG_MAGIC:
                out.append(path)
    return out


# --------------------------------------------------------------------------
# output contract checks (shared by the tests)

class Checks(unittest.TestCase):

    def parse_json_lines(self, run):
        out = []
        for i, line in enumerate(run.lines):
            try:
                obj = json.loads(line)
            except ValueError as e:
                self.fail("stdout line %d is not JSON (%s): %r" % (i + 1, e, line[:300]))
            self.assertIsInstance(obj, dict, "stdout line %d is not a JSON object" % (i + 1))
            out.append(obj)
        return out

    def check_txns(self, run, basenames):
        """Scan output: one transaction per line, with the contract fields."""
        txns = self.parse_json_lines(run)
        for i, t in enumerate(txns):
            where = "transaction line %d %r" % (i + 1, t)
            for k in TXN_FIELDS:
                self.assertIn(k, t, "%s: field %r missing" % (where, k))
            self.assertIsInstance(t["pos"], str, where)
            m = POS_RE.match(t["pos"])
            self.assertIsNotNone(m, "%s: pos is not \"file:offset\"" % where)
            self.assertIn(m.group(1), basenames, "%s: pos names an unknown file" % where)
            self.assertIsInstance(t["file"], str, where)
            self.assertIn(t["file"], basenames, "%s: unknown file" % where)
            self.assertTrue(is_int(t["commit_us"]) and t["commit_us"] > 0,
                            "%s: commit_us must be a positive int" % where)
            self.assertTrue(is_int(t["read_us"]), "%s: read_us must be an int" % where)
            self.assertTrue(run.t0_us - 5000000 <= t["read_us"] <= run.t1_us + 5000000,
                            "%s: read_us is not the time of reading (%d..%d)"
                            % (where, run.t0_us, run.t1_us))
            self.assertIsInstance(t["keys"], list, where)
            for key in t["keys"]:
                self.assertIsInstance(key, str, where)
            if "markers" in t:
                self.assertIsInstance(t["markers"], list, where)
                self.assertTrue(set(t["markers"]) <= set(t["keys"]), where)
            if "gtid" in t:
                self.assertIsInstance(t["gtid"], str, "%s: gtid must be a string" % where)
                self.assertTrue(t["gtid"], "%s: gtid present but empty" % where)
            self.assertTrue(is_int(t["end_pos"]), "%s: end_pos must be an int" % where)
            if m.group(1) == t["file"]:
                self.assertGreater(t["end_pos"], int(m.group(2)),
                                   "%s: end_pos not after pos" % where)
        return txns

    def check_events(self, run, basenames):
        """--events output: one event per line."""
        events = self.parse_json_lines(run)
        for i, e in enumerate(events):
            where = "event line %d %r" % (i + 1, e)
            for k in EVENT_FIELDS:
                self.assertIn(k, e, "%s: field %r missing" % (where, k))
            self.assertIn(e["file"], basenames, where)
            self.assertTrue(is_int(e["pos"]) and is_int(e["end_pos"]), where)
            self.assertTrue(is_int(e["type_code"]), where)
            self.assertIsInstance(e["type"], str, where)
            self.assertGreater(e["end_pos"], e["pos"], where)
            if "inner" in e:
                self.assertIs(e["inner"], True, "%s: inner must be true when present" % where)
            if "gtid" in e:
                self.assertIsInstance(e["gtid"], str, where)
            if "text" in e:
                self.assertIsInstance(e["text"], str, where)
        return events

    def check_layout(self, events, txns, size):
        """Top-level events tile the file; transactions start and end on event
        boundaries; an event decoded as Xid has a Xid's size."""
        top = [e for e in events if not e.get("inner")]
        self.assertTrue(top, "no events decoded")
        self.assertEqual(top[0]["pos"], 4, "first event is not at offset 4")
        for a, b in zip(top, top[1:]):
            self.assertEqual(a["end_pos"], b["pos"],
                             "gap or overlap between events at %d and %d" % (a["pos"], b["pos"]))
        self.assertEqual(top[-1]["end_pos"], size, "last event does not end at the file size")
        starts = {e["pos"] for e in top}
        ends = {e["end_pos"] for e in top}
        for t in txns:
            off = int(POS_RE.match(t["pos"]).group(2))
            self.assertIn(off, starts, "transaction %r starts inside an event" % t)
            self.assertIn(t["end_pos"], ends, "transaction %r ends inside an event" % t)
        for e in top:
            if e["type_code"] == XID:
                self.assertIn(e["end_pos"] - e["pos"], (HEADER_LEN + 8, HEADER_LEN + 8 + 4),
                              "event at %d decoded as Xid but is %d bytes (a Xid event is 27,"
                              " or 31 with CRC32)" % (e["pos"], e["end_pos"] - e["pos"]))

    def check_failure(self, run, name):
        """A clean failure on damaged input; returns the offset named."""
        self.assertGreaterEqual(run.rc, 0, "killed by signal %d (crash)\n%s"
                                % (-run.rc, run.describe()))
        self.assertEqual(run.rc, 1, "expected exit 1 for damaged input\n%s" % run.describe())
        self.assertIn(name, run.stderr, "stderr does not name the file\n%s" % run.describe())
        self.assertIn("offset", run.stderr, "stderr does not name the offset\n%s" % run.describe())
        for bad in ("Sanitizer", "Segmentation", "core dumped", "Assertion"):
            self.assertNotIn(bad, run.stderr, run.describe())
        m = OFFSET_RE.search(run.stderr)
        self.assertIsNotNone(m, "no \"offset N\" in stderr\n%s" % run.describe())
        return int(m.group(1))


# --------------------------------------------------------------------------
# dump.txt (mysqlbinlog -vv --hexdump) and show.txt (SHOW BINLOG EVENTS)

def read_text(path):
    """dump.txt / show.txt are UTF-8 or UTF-16LE with BOM and CRLF."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8", errors="replace")
    return text.lstrip("\ufeff").replace("\r\n", "\n")


AT_RE = re.compile(r"^# at (\d+)$")
HDR_RE = re.compile(r"^#\d{6}\s+\d{1,2}:\d{2}:\d{2} server id \d+\s+end_log_pos (\d+)")
GTID_NEXT_RE = re.compile(r"^SET @@SESSION\.GTID_NEXT= '([^']*)'")
DELIM = "/*!*/;"


class DumpEvent:
    def __init__(self, pos, end_pos, type_code):
        self.pos = pos               # from the first hexdump line
        self.end_pos = end_pos       # end_log_pos of the header line
        self.type_code = type_code   # from the first hexdump line
        self.desc = None             # the "# \t<Type> ..." line
        self.statement = None        # Query: statement body
        self.rows_query = None       # Rows_query: list of lines
        self.gtid = None
        self.commit_ts = None        # MySQL 8 GTID: immediate_commit_timestamp
        self.txn_length = None       # MySQL 8 GTID: transaction_length


def parse_dump(text):
    """A `mysqlbinlog -vv --hexdump` listing: returns (positions, events).

    positions: the offsets of the "# at N" lines, in order. events: one per
    event header ("#YYMMDD hh:mm:ss server id .. end_log_pos N"), keyed by the
    offset of its hexdump. The two are matched by offset, not by adjacency:
    mysqlbinlog prints Intvar/Rand/User_var events together with the Query
    they belong to, after a second "# at" line."""
    lines = text.split("\n")
    positions = [int(m.group(1)) for m in map(AT_RE.match, lines) if m]
    chunks, cur = [], None
    for line in lines:
        if HDR_RE.match(line):
            cur = [line]
            chunks.append(cur)
        elif AT_RE.match(line):
            cur = None
        elif cur is not None:
            cur.append(line)
    events = []
    for chunk in chunks:
        end_pos = int(HDR_RE.match(chunk[0]).group(1))
        pos = type_code = None
        body = chunk[1:]
        for i, line in enumerate(body):
            if line.startswith("# Position") and i + 1 < len(body):
                tok = body[i + 1][1:].split()
                if len(tok) > 5:
                    pos, type_code = int(tok[0], 16), int(tok[5], 16)
                break
        if pos is None:
            continue  # not a hexdump listing; the test reports missing events
        ev = DumpEvent(pos, end_pos, type_code)
        events.append(ev)
        desc_at = None
        for i, line in enumerate(body):
            if line.startswith("# \t"):
                desc_at, ev.desc = i, line[3:]
                break
        for line in body:
            m = GTID_NEXT_RE.match(line)
            if m and m.group(1) not in ("ANONYMOUS", "AUTOMATIC"):
                ev.gtid = m.group(1)
        if ev.desc is not None:
            m = re.search(r"immediate_commit_timestamp=(\d+)", ev.desc)
            if m:
                ev.commit_ts = int(m.group(1))
            m = re.search(r"transaction_length=(\d+)", ev.desc)
            if m:
                ev.txn_length = int(m.group(1))
        if desc_at is not None and type_code == QUERY:
            # use/SET lines end in /*!*/; the statement body follows them and
            # ends at a line that is just /*!*/;
            rest = body[desc_at + 1:]
            if DELIM in rest:
                rest = rest[:rest.index(DELIM)]
                start = 0
                for i, line in enumerate(rest):
                    if line.endswith(DELIM):
                        start = i + 1
                ev.statement = "\n".join(rest[start:])
        if desc_at is not None and type_code == ROWS_QUERY:
            rq = []
            for line in body[desc_at + 1:]:
                if not line.startswith("# "):
                    break
                rq.append(line[2:])
            ev.rows_query = rq
    return positions, events


SHOW_ROW_RE = re.compile(r"^\| (\S+)\s*\|\s*(\d+) \| (\S+)\s*\|\s*(\d+) \|\s*(\d+) \| ?(.*)$")


def parse_show(text):
    """Rows of a mysql-client `SHOW BINLOG EVENTS` table: dicts with pos,
    type, end_pos, info (multi-line cells joined)."""
    rows, cur = [], None
    for line in text.split("\n"):
        m = SHOW_ROW_RE.match(line)
        if m:
            cur = {"pos": int(m.group(2)), "type": m.group(3),
                   "end_pos": int(m.group(5)), "info": [m.group(6)]}
            rows.append(cur)
        elif line.startswith("+") or line.startswith("mysql>"):
            cur = None
        elif cur is not None:
            cur["info"].append(line)
    for r in rows:
        info = "\n".join(r["info"]).rstrip()
        if info.endswith("|"):
            info = info[:-1].rstrip()
        r["info"] = info
    return rows


def normalize_ws(s):
    return " ".join(s.split())


# --------------------------------------------------------------------------
# 1. good files

class TestGoodFiles(Checks):

    def test_good_files_decode(self):
        files = good_rmc_files()
        files += [b for b in (cdc_binlog(d) for d in cdc_folders()) if b]
        self.assertGreater(len(files), 30, "fewer good fixture files than expected")
        for path in files:
            rel = os.path.relpath(path, FIXTURES)
            with self.subTest(file=rel):
                name = os.path.basename(path)
                run = mcsqueal("scan", path)
                self.assertEqual(run.rc, 0, run.describe())
                txns = self.check_txns(run, {name})
                for t in txns:
                    self.assertEqual(t["file"], name)
                evrun = mcsqueal("scan", "--events", path)
                self.assertEqual(evrun.rc, 0, evrun.describe())
                events = self.check_events(evrun, {name})
                self.check_layout(events, txns, os.path.getsize(path))


# --------------------------------------------------------------------------
# 2. broken files

class TestBrokenFiles(Checks):

    def test_broken_files_fail_cleanly(self):
        for name in BROKEN:
            path = rmc(name)
            for mode in ("scan", "scan --events"):
                with self.subTest(file=name, mode=mode):
                    self.assertTrue(os.path.isfile(path), "fixture missing: %s" % path)
                    events_mode = mode.endswith("--events")
                    run = mcsqueal(*(mode.split() + [path]))
                    offset = self.check_failure(run, name)
                    self.assertLessEqual(offset, os.path.getsize(path))
                    if events_mode:
                        items = self.check_events(run, {name})
                        for e in items:
                            self.assertLessEqual(e["end_pos"], offset,
                                                 "event %r reported past the damage at %d"
                                                 % (e, offset))
                    else:
                        items = self.check_txns(run, {name})
                        for t in items:
                            self.assertLessEqual(t["end_pos"], offset,
                                                 "transaction %r reported past the damage"
                                                 " at %d" % (t, offset))
                    if name.startswith("corrupt-relay-bin"):
                        # 240 transactions precede the damaged Query event.
                        self.assertGreater(len(items), 0,
                                           "nothing printed before the damage\n%s"
                                           % run.describe())
                        if not events_mode:
                            self.assertTrue(all(t["end_pos"] < offset for t in items))

    def test_renumbered_dev_build_no_phantom_commits(self):
        """Regression: ver_5_1-wl2325_{r,s}.001 come from a pre-GA 5.2.2
        build whose event types 16..19 are Table_map/Write/Update/Delete_rows
        (its FDE gives type 16 a 6-byte post-header; the released Xid has
        none) and whose Xid is type 20. Decoding them with the released
        numbering once reported Table_map events as commits (phantom
        transactions) and dropped the real ones. Such a stream must be
        refused at its Format_description event, before any transaction."""
        for name in ("ver_5_1-wl2325_r.001", "ver_5_1-wl2325_s.001"):
            with self.subTest(file=name):
                run = mcsqueal("scan", rmc(name))
                self.assertEqual(run.rc, 1, run.describe())
                self.assertEqual(run.stdout.strip(), "", "no transaction may be reported")
                self.assertIn("offset 4:", run.stderr)
                self.assertIn("non-standard event numbering", run.stderr)


# --------------------------------------------------------------------------
# 3. mysql-cdc-rs: decoder vs mysqlbinlog

class TestAgainstMysqlbinlog(Checks):

    def decode(self, binlog):
        name = os.path.basename(binlog)
        evrun = mcsqueal("scan", "--events", binlog)
        self.assertEqual(evrun.rc, 0, evrun.describe())
        events = self.check_events(evrun, {name})
        run = mcsqueal("scan", binlog)
        self.assertEqual(run.rc, 0, run.describe())
        txns = self.check_txns(run, {name})
        return [e for e in events if not e.get("inner")], txns

    def compare_dump(self, rel, positions, dump, top, txns):
        """Returns how many Query statements were compared."""
        by_pos = {e["pos"]: e for e in top}
        last_end = top[-1]["end_pos"] if top else None
        self.assertTrue(positions, "%s: no \"# at\" line in dump.txt" % rel)
        self.assertEqual(len({d.pos for d in dump}), len(dump),
                         "%s: dump.txt lists an event twice" % rel)
        for d in dump:
            self.assertIn(d.pos, positions, "%s: dump.txt event at %d has no \"# at\" line"
                          % (rel, d.pos))
        # positions: every "# at" is an event, except possibly one after the last event
        listed = {d.pos for d in dump}
        for p in positions:
            if p not in listed:
                self.assertTrue(p == positions[-1] and p == last_end,
                                "%s: dump.txt \"# at %d\" has no event" % (rel, p))
        self.assertEqual(sorted(listed), sorted(by_pos),
                         "%s: top-level event positions differ (dump.txt vs mcsqueal --events)"
                         % rel)
        for d in dump:
            e = by_pos.get(d.pos)
            if e is None:
                continue
            self.assertEqual(e["end_pos"], d.end_pos,
                             "%s: event at %d: end_pos %d, mysqlbinlog end_log_pos %d"
                             % (rel, d.pos, e["end_pos"], d.end_pos))
            self.assertEqual(e["type_code"], d.type_code,
                             "%s: event at %d: type_code %d, mysqlbinlog 0x%02x"
                             % (rel, d.pos, e["type_code"], d.type_code))
        # GTIDs in order
        self.assertEqual([e["gtid"] for e in top if "gtid" in e],
                         [d.gtid for d in dump if d.gtid],
                         "%s: GTIDs differ (mcsqueal vs dump.txt)" % rel)
        for g in (e["gtid"] for e in top if "gtid" in e):
            self.assertRegex(g, MYSQL_GTID_RE)
        # Query statements
        queries = [d for d in dump if d.type_code == QUERY]
        for d in queries:
            self.assertIsNotNone(d.statement, "%s: Query at %d: no statement parsed" % (rel, d.pos))
            e = by_pos.get(d.pos, {})
            self.assertEqual(e.get("type_code"), QUERY, "%s: no Query event at %d" % (rel, d.pos))
            self.assertEqual(e.get("text"), d.statement,
                             "%s: Query at %d: statement text differs" % (rel, d.pos))
        # Rows_query statements (mysqlbinlog drops empty lines, prefixes "# ")
        for d in (d for d in dump if d.type_code == ROWS_QUERY):
            e = by_pos.get(d.pos, {})
            self.assertEqual(e.get("type_code"), ROWS_QUERY,
                             "%s: no Rows_query event at %d" % (rel, d.pos))
            self.assertIn("text", e, "%s: Rows_query at %d has no text" % (rel, d.pos))
            self.assertEqual([l for l in e["text"].split("\n") if l], d.rows_query,
                             "%s: Rows_query at %d: text differs" % (rel, d.pos))
        # MySQL 8: commit_us is the GTID event's immediate_commit_timestamp and
        # the transaction spans transaction_length bytes
        txn_at = {int(POS_RE.match(t["pos"]).group(2)): t for t in txns}
        for d in dump:
            if d.commit_ts is None:
                continue
            t = txn_at.get(d.pos)
            self.assertIsNotNone(t, "%s: no transaction starts at the GTID event at %d"
                                 % (rel, d.pos))
            self.assertEqual(t["commit_us"], d.commit_ts,
                             "%s: transaction at %d: commit_us vs immediate_commit_timestamp"
                             % (rel, d.pos))
            if d.txn_length is not None:
                self.assertEqual(t["end_pos"] - d.pos, d.txn_length,
                                 "%s: transaction at %d: length vs transaction_length"
                                 % (rel, d.pos))
        return len(queries)

    def compare_show(self, rel, show, top, size):
        by_pos = {e["pos"]: e for e in top}
        # 8.0/19_30_*: SHOW BINLOG EVENTS ran after the file was copied and
        # lists a Stop event at 1275, the copy's size; such rows are not in the file.
        show = [r for r in show if r["pos"] < size]
        self.assertEqual(sorted(r["pos"] for r in show), sorted(by_pos),
                         "%s: event positions differ (show.txt vs mcsqueal --events)" % rel)
        for r in show:
            e = by_pos.get(r["pos"])
            if e is None:
                continue
            self.assertEqual(e["end_pos"], r["end_pos"],
                             "%s: event at %d: end_pos vs End_log_pos" % (rel, r["pos"]))
            m = GTID_NEXT_RE.match(r["info"])
            if m and m.group(1) not in ("ANONYMOUS", "AUTOMATIC"):
                self.assertEqual(e.get("gtid"), m.group(1), "%s: GTID at %d" % (rel, r["pos"]))
            if r["type"] == "Query":
                info = re.sub(r"^use `[^`]*`; ", "", r["info"])
                info = re.sub(r" /\* xid=\d+ \*/$", "", info)  # added by SHOW for DDL
                self.assertEqual(e.get("type_code"), QUERY, "%s: event at %d" % (rel, r["pos"]))
                self.assertEqual(normalize_ws(e.get("text", "")), normalize_ws(info),
                                 "%s: Query at %d: statement differs (whitespace-normalised)"
                                 % (rel, r["pos"]))

    def test_cdc_folders_match_mysqlbinlog(self):
        folders = cdc_folders()
        self.assertGreaterEqual(len(folders), 16)
        compared = {"queries": 0}
        for folder in folders:
            rel = os.path.relpath(folder, os.path.join(FIXTURES, "mysql-cdc-rs"))
            binlog = cdc_binlog(folder)
            positions, dump = parse_dump(read_text(os.path.join(folder, "dump.txt")))
            show_path = os.path.join(folder, "show.txt")
            show = parse_show(read_text(show_path)) if os.path.exists(show_path) else None
            if dump or show is None:
                with self.subTest(folder=rel, source="dump.txt"):
                    self.assertIsNotNone(binlog, "%s: no binlog file" % rel)
                    top, txns = self.decode(binlog)
                    compared["queries"] += self.compare_dump(rel, positions, dump, top, txns)
                    if rel == "5.7/29_row_query":
                        rq = [d for d in dump if d.type_code == ROWS_QUERY]
                        self.assertTrue(rq, "%s: no Rows_query parsed from dump.txt" % rel)
                        self.assertTrue(all(d.rows_query for d in rq))
            if show is not None:
                # 8.0/02_query_bigger: dump.txt holds only the mysqlbinlog command
                # line; there SHOW BINLOG EVENTS output is the only reference.
                with self.subTest(folder=rel, source="show.txt"):
                    self.assertIsNotNone(binlog, "%s: no binlog file" % rel)
                    self.assertTrue(show, "%s: no rows parsed from show.txt" % rel)
                    top, _ = self.decode(binlog)
                    self.compare_show(rel, show, top, os.path.getsize(binlog))
        with self.subTest(check="dump.txt Query statements were compared"):
            self.assertGreater(compared["queries"], 20)


# --------------------------------------------------------------------------
# 4. special files

class TestSpecialFiles(Checks):

    def scan_both(self, name):
        path = rmc(name)
        evrun = mcsqueal("scan", "--events", path)
        self.assertEqual(evrun.rc, 0, evrun.describe())
        run = mcsqueal("scan", path)
        self.assertEqual(run.rc, 0, run.describe())
        return self.check_events(evrun, {name}), self.check_txns(run, {name}), run

    def test_transaction_compression(self):
        with self.subTest(file="transaction_compression.000001"):
            events, txns, _ = self.scan_both("transaction_compression.000001")
            payloads = [e for e in events if e["type_code"] == TRANSACTION_PAYLOAD
                        and not e.get("inner")]
            self.assertEqual(len(payloads), 1, "expected one Transaction_payload event")
            inner = [e for e in events if e.get("inner")]
            self.assertTrue(inner, "no inner events decoded from the zstd payload")
            for e in inner:
                self.assertEqual((e["pos"], e["end_pos"]),
                                 (payloads[0]["pos"], payloads[0]["end_pos"]),
                                 "inner event %r does not carry its payload's position" % e)
            codes = [e["type_code"] for e in inner]
            begins = [e for e in inner if e["type_code"] == QUERY
                      and e.get("text", "").strip().upper().startswith("BEGIN")]
            self.assertTrue(begins or ROWS_EVENT_CODES & set(codes),
                            "no BEGIN Query nor rows event inside the payload: %r" % inner)
            self.assertIn(XID, codes, "no Xid inside the payload: %r" % inner)
            self.assertEqual(len(txns), 1, "expected exactly one transaction: %r" % txns)
            self.assertEqual(txns[0]["end_pos"], payloads[0]["end_pos"])

    def test_tagged_gtid(self):
        name = "binlog_transaction_with_GTID_TAG.000001"
        with self.subTest(file=name):
            events, txns, _ = self.scan_both(name)
            gtids = [e["gtid"] for e in events if "gtid" in e]
            self.assertTrue(gtids, "no GTID event decoded")
            with open(rmc(name), "rb") as f:
                raw = f.read()
            for g in gtids:
                m = TAGGED_GTID_RE.match(g)
                self.assertIsNotNone(m, "GTID %r is not uuid:tag:gno" % g)
                self.assertIn(m.group(2).encode(), raw, "tag %r not in the file" % m.group(2))
            self.assertEqual(len(txns), 1)
            self.assertIn(txns[0].get("gtid"), gtids, "transaction lacks its tagged GTID")

    def test_mariadb(self):
        name = "mariadb-bin.000001"
        with self.subTest(file=name):
            events, txns, _ = self.scan_both(name)
            gtids = [e["gtid"] for e in events if e["type_code"] == MARIADB_GTID]
            self.assertTrue(gtids, "no MariaDB GTID event decoded")
            for g in gtids:
                self.assertRegex(g, MARIADB_GTID_RE)
            self.assertTrue(txns)
            self.assertEqual([t.get("gtid") for t in txns], gtids,
                             "transactions do not carry the MariaDB GTIDs in order")
            annotate = [e for e in events if e["type_code"] == ANNOTATE_ROWS]
            self.assertTrue(annotate, "no Annotate_rows event decoded")
            for e in annotate:
                self.assertTrue(e.get("text", "").strip(),
                                "Annotate_rows at %d has no text" % e["pos"])

    def test_incident(self):
        name = "bug40482-bin.000001"
        with self.subTest(file=name):
            events, _, run = self.scan_both(name)
            self.assertIn(INCIDENT, [e["type_code"] for e in events], "no Incident event listed")
            self.assertRegex(run.stderr, r"(?i)incident",
                             "no warning about the incident\n%s" % run.describe())
            self.assertIn(name, run.stderr, "warning does not name the file\n%s" % run.describe())


# --------------------------------------------------------------------------
# 5. several files in one command

class TestSeveralFiles(Checks):

    def test_concatenation(self):
        paths = [cdc("5.7/16_xid/log.bin"), cdc("8.0/02_query_bigger/binlog.000733"),
                 cdc("8.0/31_update_rows_v2/binlog.000001")]
        names = {os.path.basename(p) for p in paths}
        for mode in ("scan", "scan --events"):
            with self.subTest(mode=mode):
                args = mode.split()
                together = mcsqueal(*(args + paths))
                self.assertEqual(together.rc, 0, together.describe())
                alone = [mcsqueal(*(args + [p])) for p in paths]
                for r in alone:
                    self.assertEqual(r.rc, 0, r.describe())
                if mode == "scan":
                    got = self.check_txns(together, names)
                    want = [t for r in alone for t in self.check_txns(r, names)]
                    for t in got + want:
                        del t["read_us"]  # the one field that depends on the run
                else:
                    got = self.check_events(together, names)
                    want = [e for r in alone for e in self.check_events(r, names)]
                self.assertTrue(want)
                self.assertEqual(got, want, "output of one command over several files is"
                                 " not the concatenation of the single-file outputs")


# --------------------------------------------------------------------------
# 6. CRC32 verification

class TestChecksum(Checks):

    def test_flipped_byte_fails_crc(self):
        src = cdc("8.0/02_query/binlog.000001")
        name = os.path.basename(src)
        tmp = tempfile.mkdtemp(prefix="mcsq-peer-crc-")
        try:
            path = os.path.join(tmp, name)
            shutil.copyfile(src, path)
            os.chmod(path, 0o644)
            evrun = mcsqueal("scan", "--events", path)
            self.assertEqual(evrun.rc, 0, evrun.describe())
            events = self.check_events(evrun, {name})
            q = [e for e in events if e["type_code"] == QUERY and len(e.get("text", "")) > 4]
            self.assertTrue(q, "no Query event with text in %s" % name)
            q = q[0]
            with open(path, "rb") as f:
                data = bytearray(f.read())
            stmt = q["text"].encode()
            at = data.find(stmt, q["pos"], q["end_pos"])
            self.assertGreaterEqual(at, 0, "statement text not found inside the Query event")
            flip = at + len(stmt) // 2
            while not chr(data[flip]).isalpha():  # keep the text valid: change a letter's case
                flip += 1
            data[flip] ^= 0x20
            with open(path, "wb") as f:
                f.write(data)
            for mode in ("scan", "scan --events"):
                with self.subTest(mode=mode, flipped_offset=flip, verify=True):
                    run = mcsqueal(*(mode.split() + [path]))
                    self.check_failure(run, name)
                    self.assertRegex(run.stderr, r"(?i)crc32|checksum",
                                     "failure does not name the checksum\n%s" % run.describe())
            with self.subTest(verify=False):
                run = mcsqueal("scan", "--events", "--no-verify-checksum", path)
                self.assertEqual(run.rc, 0, run.describe())
                after = [e for e in self.check_events(run, {name}) if e["pos"] == q["pos"]]
                self.assertEqual(len(after), 1)
                self.assertNotEqual(after[0].get("text"), q["text"],
                                    "the flipped byte does not show in the decoded text")
                self.assertEqual(after[0].get("text", "").lower(), q["text"].lower())
                run = mcsqueal("scan", "--no-verify-checksum", path)
                self.assertEqual(run.rc, 0, run.describe())
                self.assertEqual(len(self.check_txns(run, {name})), 1)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# runner: per-subtest results and the "N passed, M failed" summary

# --------------------------------------------------------------------------
# 7. large inputs built from real events

def grow_binlog(src, dst, target_bytes):
    """Writes dst: src's first events up to and including its first GTID
    event's predecessors (Format_description, Previous_gtids), then src's
    remaining events repeated until dst reaches target_bytes. Every event
    keeps its own valid checksum, so dst is a well-formed binlog."""
    with open(src, "rb") as f:
        data = f.read()
    off, events = 4, []
    while off + HEADER_LEN <= len(data):
        size = int.from_bytes(data[off + 9:off + 13], "little")
        events.append((data[off + 4], data[off:off + size]))
        off += size
    head = [e for t, e in events[:2]]
    body = b"".join(e for t, e in events[2:] if t not in (3, 4))  # no Stop, Rotate
    copies = max(1, target_bytes // len(body))
    with open(dst, "wb") as f:
        f.write(BINLOG_MAGIC + b"".join(head) + body * copies)
    return copies


def peak_rss_kib(cmd):
    """Peak RSS of cmd's own address space: VmHWM from /proc, polled until
    it exits (ru_maxrss would include the forking parent's pages)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:") and "mcsqueal" in open(
                            "/proc/%d/cmdline" % proc.pid).read():
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.005)
    proc.wait()
    return peak


class TestLargeInput(Checks):

    def test_truncated_while_reading(self):
        """A binlog file that shrinks while mcsqueal scan reads it (mapped
        windows raise SIGBUS then) ends the scan with a clear message and
        exit 1, not a crash."""
        src = cdc("8.0/02_query/binlog.000001")
        with tempfile.TemporaryDirectory() as tmp:
            big = os.path.join(tmp, "binlog.000001")
            grow_binlog(src, big, 40 << 20)
            proc = subprocess.Popen([MCSQUEAL, "scan", big], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            time.sleep(1.0)  # the scan blocks on the full pipe early in the file
            os.truncate(big, 1 << 20)
            out, err = proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 1, err.decode(errors="replace"))
            self.assertIn(b"shrank while it was being read", err)

    def test_memory_is_flat(self):
        """Peak RSS of a scan of a 160 MiB file stays within a few MiB of
        that of a 16 MiB file (mapped windows, bounded buffers)."""
        src = cdc("8.0/02_query/binlog.000001")
        rss = {}
        with tempfile.TemporaryDirectory() as tmp:
            for mib in (16, 160):
                path = os.path.join(tmp, "binlog.%06d" % mib)
                grow_binlog(src, path, mib << 20)
                rss[mib] = peak_rss_kib([MCSQUEAL, "scan", path])
                os.unlink(path)
        self.assertGreater(rss[16], 0, "no VmHWM sample was read")
        self.assertLess(rss[160], rss[16] + 8 * 1024,
                        "peak RSS %d KiB for 160 MiB vs %d KiB for 16 MiB" % (rss[160], rss[16]))


class CountingResult(unittest.TextTestResult):

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_pass = 0
        self.n_fail = 0
        self.with_subtests = set()

    def _line(self, status, what):
        self.stream.write("%s: %s\n" % (status, what))
        self.stream.flush()

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        self.with_subtests.add(test.id())
        if err is None:
            self.n_pass += 1
            self._line("ok  ", subtest)
        else:
            self.n_fail += 1
            self._line("FAIL", subtest)

    def addSuccess(self, test):
        super().addSuccess(test)
        if test.id() not in self.with_subtests:
            self.n_pass += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.n_fail += 1

    def addError(self, test, err):
        super().addError(test, err)
        self.n_fail += 1


def main(argv):
    global MCSQUEAL, FIXTURES
    if len(argv) < 2:
        sys.stderr.write("usage: %s MCSQUEAL_BINARY [FIXTURES_DIR]\n" % argv[0])
        return 2
    MCSQUEAL = os.path.abspath(argv[1])
    if os.environ.get("MCSQ_PEER_FIXTURES"):
        FIXTURES = os.environ["MCSQ_PEER_FIXTURES"]
    elif len(argv) > 2:
        FIXTURES = argv[2]
    else:
        src = os.environ.get("MCSQ_SOURCE_DIR",
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        FIXTURES = os.path.join(src, "..", "shared", "fixtures", "peer-binlogs")
    FIXTURES = os.path.abspath(FIXTURES)
    if not os.path.isdir(FIXTURES):
        return skips.exit_code("peer-fixtures", "peer binlog fixtures not found at %s "
                               "(set MCSQ_PEER_FIXTURES to their folder)" % FIXTURES)
    if not os.access(MCSQUEAL, os.X_OK):
        sys.stderr.write("mcsqueal binary not found or not executable: %s\n" % MCSQUEAL)
        return 1
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for cls in (TestGoodFiles, TestBrokenFiles, TestAgainstMysqlbinlog, TestSpecialFiles,
                TestSeveralFiles, TestChecksum, TestLargeInput):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=1, resultclass=CountingResult)
    result = runner.run(suite)
    sys.stdout.write("%d passed, %d failed\n" % (result.n_pass, result.n_fail))
    sys.stdout.flush()
    return 0 if result.n_fail == 0 and result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
