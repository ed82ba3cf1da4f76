#!/usr/bin/python3
"""Black-box tests of `mcsqueal tail`: a throwaway mariadbd, the tailer as a
separate process, and an independent Kafka consumer (kafka-python) that
decodes every bus message. A workload driver records, for every committed
transaction, its GTID (@@last_gtid after COMMIT) and the keys it annotated.

Tests (select with MCSQ_TAIL_TEST=name[,name...]; a name may be a prefix):

  1. messages_match_workload  300 random transactions (1-3 statements,
     1-5 keys, duplicates, rollbacks, unkeyed ones, own- and other-region
     @marker): exactly one txns entry per committed keyed transaction with the
     same gtid and de-duplicated keys/markers, in commit order, one
     partition, message key = source; graceful stop writes the last GTID
     and the end of the last transaction to the checkpoint (embedded bus).
  2. crash_safety             3000 transactions while the tailer is killed
     with SIGKILL 20 times: every transaction published (at least once), the
     checkpoint never lags more than checkpoint_interval_ms (+ slack) behind
     what was read, and duplicates are bounded by the transactions read in
     the last checkpoint interval before each kill.
  3. fault_bus_stopped        `mcsqueal bus` stopped (SIGSTOP) ~5 s during a
     workload: the tailer keeps running; nothing lost.
     fault_mariadb_restart    mariadbd restarted during a workload: the
     tailer reconnects (log says so); nothing lost.
     fault_binlog_purged_stop checkpoint purged, on_purged = stop: exit 1,
     "purged" in the log, checkpoint unchanged.
     fault_binlog_purged_earliest  on_purged = earliest: keeps running, logs
     the loss, publishes what comes next.
  4. large_transaction        one transaction of 2,000,000 distinct keys:
     every key exactly once, messages <= batch_max_keys, peak RSS (VmHWM) of
     the tailer < 64 MB.
  5. startup_errors           unknown key (exit 2, FILE:LINE), unreachable
     server (exit 1 quickly, clear message), missing REPLICATION SLAVE
     (exit 2), --help (exit 0).
  6. rotation                 FLUSH BINARY LOGS during a workload: everything
     published, "pos" names the file and offset where each transaction starts.
  7. state_files_private      under umask 022, state_dir is created 0700 and
     the checkpoint, the lock and bus.bootstrap 0600; a state_dir that is
     open to others is left as it is, with a warning naming it and the chmod.

Usage: test_tail.py MCSQUEAL_BINARY
Exit 0 when all pass, 1 otherwise, 77 (skip) when mariadbd is not installed.
MCSQ_TEST_KEEP=1 keeps the temporary directories (their paths are printed).
Every process started here is killed, and every directory removed, on exit
(also on failure and on SIGTERM/SIGINT); children also die with this process
(PR_SET_PDEATHSIG through setpriv).
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

MCSQUEAL = None

IMPORT_ERROR = None
try:
    import pymysql  # python3-pymysql
    from kafka import KafkaConsumer, TopicPartition  # python3-kafka
except ImportError as e:  # reported as a failure, not a skip
    IMPORT_ERROR = e

PASSWORD = "tail-test-pw"
REGION = "itest"
OTHER_REGION = "elsewhere"
CHECKPOINT_MS = 200
TOPIC_WAIT = 15.0

# ---------------------------------------------------------------- harness

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (annotation, check, free_port, read_text, spawn, tail_text,  # noqa: E402
                     wait_until)

SEED = harness.env_seed("MCSQ_TAIL_SEED")


def gtid_seq(gtid):
    """Sequence number of a MariaDB GTID "D-S-N" (domain 0, server 1 here)."""
    return int(gtid.rsplit("-", 1)[1])


# ---------------------------------------------------------------- mariadbd


SHARED = harness.SharedMariaDB(
    "mcsq-tail-db-", PASSWORD,
    extra=["CREATE USER 'noprivs'@'127.0.0.1' IDENTIFIED BY '%s'" % PASSWORD,
           "GRANT SELECT ON app.* TO 'noprivs'@'127.0.0.1'"])


def server():
    """The shared server, installed on first use; restarted if a test left it down."""
    return SHARED.get()


# ---------------------------------------------------------------- workload


class Txn:
    __slots__ = ("gtid", "keys", "markers", "file", "end_pos")

    def __init__(self, gtid, keys, markers, file=None, end_pos=None):
        self.gtid, self.keys, self.markers, self.file, self.end_pos = (gtid, keys, markers,
                                                                      file, end_pos)


class Workload(harness.Workload):
    """Runs transactions on its own connection and records what committed.
    The lock is held for a whole transaction, so another thread can act on
    the server (restart, FLUSH) between transactions."""

    def __init__(self, srv, table, track_pos=False):
        super().__init__(srv, table)
        self.track_pos = track_pos
        self.committed = []  # Txn, in commit order

    def close(self):
        # only the connection: the workload threads here do not watch
        # `stopping`, a failed test's thread ends on the closed connection
        self.close_connection()

    def ping(self):
        """One more try half a second later (a restarted server)."""
        for attempt in range(2):
            try:
                self.conn.ping(reconnect=True)
                break
            except pymysql.err.OperationalError:
                if attempt:
                    raise
                time.sleep(0.5)

    def run(self, statements, keys, markers=(), commit=True):
        """One transaction; keys/markers are what the tailer must publish."""
        with self.lock:
            cur = self.transaction(statements, keys, commit)
            if cur is None:
                return None
            txn = Txn(cur.fetchone()[0], list(keys), list(markers))
            if self.track_pos:
                cur.execute("SHOW MASTER STATUS")
                row = cur.fetchone()
                txn.file, txn.end_pos = row[0], int(row[1])
            self.committed.append(txn)
            return txn

    def simple(self, prefix, i, nkeys=1):
        keys = ["%s:%d:%d" % (prefix, i, j) for j in range(nkeys)]
        return self.run([self.insert(annotation(keys), i)], keys)

    def keyed(self):
        return [t for t in self.committed if t.keys]


# ---------------------------------------------------------------- bus


class Bus:
    """A standalone `mcsqueal bus`."""

    def __init__(self, ctx, topic):
        self.cfg = ctx.write("bus.ini", "[mcsqueal]\nregion = %s\nstate_dir = %s/bus-state\n"
                             "[bus]\ntopic = %s\n[metrics]\nlisten =\n" % (REGION, ctx.dir, topic))
        self.address_file = os.path.join(ctx.dir, "bus.address")
        self.log = os.path.join(ctx.dir, "bus.log")
        ctx.logs.append(self.log)
        self.proc = spawn([MCSQUEAL, "bus", "--config", self.cfg, "--bootstrap-file",
                           self.address_file], self.log)
        wait_until(lambda: os.path.exists(self.address_file) or self.proc.poll() is not None,
                   15, what="the bus address file")
        check(self.proc.poll() is None, "mcsqueal bus exited %s:\n%s" % (self.proc.returncode,
                                                                        tail_text(self.log)))
        self.address = read_text(self.address_file).strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=20)


class Reader:
    """Independent consumer: reads the whole topic from offset 0 in a thread
    (the embedded bus keeps only the last 5 MiB per partition, so it must
    keep up), decodes every message, and notes offset gaps."""

    def __init__(self, bootstrap, topic, on_entry=None):
        self.topic = topic
        self.lock = threading.Lock()
        self.messages = []  # (partition, offset, key, decoded value)
        self.errors = []
        self.on_entry = on_entry  # called per message instead of keeping it when set
        self.stats = {"messages": 0, "entries": 0, "keys": 0, "max_bytes": 0}
        self.next_offset = {}
        self.stopping = False
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                      enable_auto_commit=False, auto_offset_reset="earliest",
                                      max_partition_fetch_bytes=4 * 1024 * 1024,
                                      fetch_max_bytes=16 * 1024 * 1024,
                                      client_id="mcsq-test-tail-reader")
        parts = wait_until(lambda: self.consumer.partitions_for_topic(topic), TOPIC_WAIT,
                           step=0.2, what="topic %s on the bus" % topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self):
        try:
            while not self.stopping:
                batch = self.consumer.poll(timeout_ms=100, max_records=1000)
                for tp, records in batch.items():
                    for m in records:
                        self._take(tp.partition, m)
        except Exception as e:  # noqa: B902
            with self.lock:
                self.errors.append("consumer thread died: %r" % e)

    def _take(self, partition, m):
        expect = self.next_offset.get(partition, 0)
        if m.offset != expect:
            self.errors.append("partition %d: offset %d follows %d: messages lost on the bus "
                               "(the reader fell behind its 5 MiB retention?)" %
                               (partition, m.offset, expect - 1))
        self.next_offset[partition] = m.offset + 1
        self.stats["max_bytes"] = max(self.stats["max_bytes"], len(m.value))
        try:
            value = json.loads(m.value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            with self.lock:
                self.errors.append("offset %d: undecodable message (%s): %r" %
                                   (m.offset, e, m.value[:200]))
            return
        with self.lock:
            self.stats["messages"] += 1
            for t in value.get("txns", []):
                self.stats["entries"] += 1
                self.stats["keys"] += len(t.get("keys", []))
            if self.on_entry is not None:
                self.on_entry(partition, m.offset, m.key, value)
            else:
                self.messages.append((partition, m.offset, m.key, value))

    def entries(self):
        """[(partition, offset, key, message, txn entry)] in bus order."""
        with self.lock:
            msgs = list(self.messages)
        return [(p, o, k, v, t) for p, o, k, v in msgs for t in v.get("txns", [])]

    def gtids(self):
        return {e[4].get("gtid") for e in self.entries()}

    def wait_gtids(self, want, timeout=60):
        want = set(want)
        try:
            wait_until(lambda: want <= self.gtids() or self.errors, timeout, step=0.1,
                       what="the bus to carry %d transactions" % len(want))
        except AssertionError:
            missing = sorted(want - self.gtids(), key=gtid_seq)
            raise AssertionError("%d of %d committed transactions never reached the bus "
                                 "within %d s, e.g. %s" % (len(missing), len(want), timeout,
                                                           missing[:10]))
        check(not self.errors, "consumer: %s" % self.errors[:5])

    def settle(self, quiet=1.0, timeout=20):
        """Waits until no new message arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = self.stats["messages"]
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)

    def close(self):
        self.stopping = True
        self.thread.join(10)
        try:
            self.consumer.close()
        except Exception:
            pass


# ---------------------------------------------------------------- tailer


class Tailer(harness.Proc):
    """`mcsqueal tail` with its log tail-TAG.log, which the test context lists."""

    def __init__(self, ctx, cfg, tag):
        self.started = time.time()
        super().__init__(MCSQUEAL, ctx.dir, ["tail", "--config", cfg], "tail-%s" % tag)
        ctx.logs.append(self.log)

    def wait_streaming(self, timeout=30):
        self.wait_log("binlog: streaming from", timeout)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class Ctx(harness.Ctx):
    """Per-test directory, processes and logs (dumped on failure)."""

    def __init__(self, name):
        super().__init__(name, "mcsq-tail-%s-" % name, PASSWORD, REGION, SHARED)

    def tail_config(self, srv, name="db-itest-1", brokers="embedded", server_id=4242,
                    start="end", mcsqueal="", mysql="", bus="", file="tail.ini", port=None,
                    user="mcsqueal"):
        return self.write(file, """\
[mcsqueal]
name = {name}
region = {region}
state_dir = {state}
checkpoint_interval_ms = {ckpt}
log_level = info
{mcsqueal}
{mysql_section}{mysql}
[bus]
brokers = {brokers}
topic = mcsqueal.{region}.{test}
linger_ms = 5
{bus}
[metrics]
listen =
""".format(name=name, region=REGION, state=self.state_dir, ckpt=CHECKPOINT_MS,
           mcsqueal=mcsqueal, mysql=mysql, brokers=brokers, test=self.name, bus=bus,
           mysql_section=harness.mysql_section(port or srv.port, self.password_file, server_id,
                                               start, user, more=harness.QUICK_RECONNECT)))

    def checkpoint(self):
        text = read_text(os.path.join(self.state_dir, "checkpoint"))
        out = {}
        for line in text.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
        return out


# ---------------------------------------------------------------- checks


def check_envelope(entries, source):
    """Message key, envelope fields, one partition."""
    parts = {p for p, _, _, _, _ in entries}
    check(len(parts) <= 1, "one source's messages spread over partitions %s" % sorted(parts))
    for p, o, k, v, t in entries:
        check(k == source.encode(), "offset %d: message key %r, expected %r" % (o, k, source))
        check(v.get("v") == 1 and v.get("source") == source and v.get("region") == REGION,
              "offset %d: envelope %r" % (o, {x: v.get(x) for x in ("v", "source", "region")}))
        for field in ("gtid", "pos", "commit_us", "read_us", "keys"):
            check(field in t, "offset %d: txns entry without %s: %r" % (o, field, t))
        check(re.match(r"^binlog\.\d{6}:\d+$", t["pos"]), "offset %d: pos %r" % (o, t["pos"]))
        check(isinstance(t["commit_us"], int) and isinstance(t["read_us"], int),
              "offset %d: commit_us/read_us not integers: %r" % (o, t))
        check(t["commit_us"] - 1000000 <= t["read_us"] <= t["commit_us"] + 120 * 1000000,
              "offset %d: read_us %d vs commit_us %d" % (o, t["read_us"], t["commit_us"]))
        check(abs(t["read_us"] / 1e6 - time.time()) < 3600, "offset %d: read_us %d is not now"
              % (o, t["read_us"]))
        check("markers" not in t or t["markers"], "offset %d: empty markers list" % o)


def check_at_least_once(committed, entries, source):
    """Every committed keyed transaction on the bus with exactly its keys;
    nothing else. Returns the number of duplicate entries."""
    check_envelope(entries, source)
    want = {t.gtid: t for t in committed if t.keys}
    committed_gtids = {t.gtid for t in committed}
    seen = {}
    for p, o, k, v, t in entries:
        g = t["gtid"]
        check(g in committed_gtids, "offset %d: gtid %s was not committed by the workload" % (o, g))
        check(g in want, "offset %d: transaction %s has no keys but was published" % (o, g))
        exp = want[g]
        check(t["keys"] == exp.keys, "offset %d: %s keys %s, expected %s" % (o, g, t["keys"],
                                                                             exp.keys))
        check(t.get("markers", []) == exp.markers,
              "offset %d: %s markers %s, expected %s" % (o, g, t.get("markers"), exp.markers))
        seen[g] = seen.get(g, 0) + 1
    missing = [g for g in want if g not in seen]
    check(not missing, "%d committed transactions were never published, e.g. %s" %
          (len(missing), missing[:10]))
    return sum(seen.values()) - len(seen)


def check_exactly_once_in_order(committed, entries, source):
    dups = check_at_least_once(committed, entries, source)
    check(dups == 0, "%d duplicate txns entries without any restart" % dups)
    got = [t["gtid"] for _, _, _, _, t in entries]
    want = [t.gtid for t in committed if t.keys]
    check(got == want, "txns entries not in commit order: first difference at %s" %
          next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got),
                                                                             len(want))))


# ---------------------------------------------------------------- tests


def bus_setup(ctx, table, server_id, track_pos=False, bus_config="", on_entry=None):
    """The shared server, a workload on app.<table>, a standalone `mcsqueal
    bus`, a tailer (tag 1) publishing to it, streaming, and a Reader of the
    topic, all closed with the test. Returns (server, workload, bus, tailer,
    reader)."""
    srv = server()
    wl = Workload(srv, table, track_pos=track_pos)
    ctx.closers.append(wl.close)
    bus = Bus(ctx, ctx.topic())
    ctx.closers.append(bus.stop)
    cfg = ctx.tail_config(srv, brokers=bus.address, server_id=server_id, bus=bus_config)
    tailer = Tailer(ctx, cfg, "1")
    ctx.closers.append(tailer.stop)
    tailer.wait_streaming()
    reader = Reader(bus.address, ctx.topic(), on_entry=on_entry)
    ctx.closers.append(reader.close)
    return srv, wl, bus, tailer, reader


def random_txn(rng, wl, i, rows):
    """Statements and expected keys/markers of one random transaction."""
    statements, keys, markers = [], [], set()
    for s in range(rng.randint(1, 3)):
        tokens = []
        for j in range(rng.randint(1, 5)):
            r = rng.random()
            if r < 0.15 and keys + tokens:
                tokens.append(rng.choice(keys + tokens))  # duplicate in the transaction
            elif r < 0.35:
                tokens.append("user:%d" % rng.randint(0, 30))  # shared between transactions
            elif r < 0.40:
                tokens.append('q"%d\\%d:naïve' % (i, j))  # JSON escaping, UTF-8
            else:
                tokens.append("w:%d:%d:%d" % (i, s, j))
        comment_keys = list(tokens)
        m = rng.random()
        if m < 0.15:
            tokens.insert(rng.randint(0, len(tokens)), "@marker=" + REGION)
            markers.update(comment_keys)
        elif m < 0.27:
            tokens.insert(rng.randint(0, len(tokens)), "@marker=" + OTHER_REGION)
        for k in comment_keys:
            if k not in keys:
                keys.append(k)
        c = annotation(tokens)
        kind = rng.random()
        if kind < 0.4:
            statements.append(wl.insert(c, i))
        else:
            statements.append(wl.update(c, rng.choice(rows), front=kind < 0.6))
    return statements, keys, [k for k in keys if k in markers]


def test_messages_match_workload(ctx):
    srv = server()
    rng = random.Random(SEED)
    wl = Workload(srv, "t_match", track_pos=True)
    ctx.closers.append(wl.close)
    cfg = ctx.tail_config(srv, server_id=4301)
    tailer = Tailer(ctx, cfg, "1")
    ctx.closers.append(tailer.stop)
    tailer.wait_streaming()
    bootstrap_file = os.path.join(ctx.state_dir, "bus.bootstrap")
    # the embedded bus starts on its own thread while the reader connects:
    # its address may be written after the reader streams
    wait_until(lambda: os.path.exists(bootstrap_file), 30,
               what="%s with bus.brokers = embedded" % bootstrap_file)
    reader = Reader(read_text(bootstrap_file).strip(), ctx.topic())
    ctx.closers.append(reader.close)

    rows = list(range(1, 21))
    kinds = {"keyed": 0, "unkeyed": 0, "rolled back": 0, "marker": 0}
    for i in range(300):
        r = rng.random()
        if r < 0.08:
            keys = ["rb:%d:%d" % (i, j) for j in range(rng.randint(1, 5))]
            wl.run([wl.insert(annotation(keys), i)], keys, commit=False)
            kinds["rolled back"] += 1
        elif r < 0.14:
            plain = rng.choice(["", "/* just a comment */", "/* mcsqueal:*/",
                                "-- mcsqueal: line:%d\n" % i])
            wl.run([wl.update(plain, rng.choice(rows))], [])
            kinds["unkeyed"] += 1
        else:
            statements, keys, markers = random_txn(rng, wl, i, rows)
            wl.run(statements, keys, markers)
            kinds["keyed"] += 1
            kinds["marker"] += 1 if markers else 0
    print("  workload: %s (seed %d)" % (kinds, SEED))

    reader.wait_gtids({t.gtid for t in wl.keyed()})
    reader.settle(quiet=0.5)
    entries = reader.entries()
    check_exactly_once_in_order(wl.committed, entries, "db-itest-1")
    rb = {k for keys in wl.rolled_back for k in keys}
    leaked = [t["gtid"] for *_, t in entries if rb & set(t["keys"])]
    check(not leaked, "keys of rolled-back transactions published in %s" % leaked[:5])
    print("  %d messages, %d txns entries" % (len({(p, o) for p, o, *_ in entries}), len(entries)))

    end_file, end_pos = wl.committed[-1].file, wl.committed[-1].end_pos
    tailer.stop_ok()
    check(not os.path.exists(bootstrap_file), "%s left behind by a graceful stop" % bootstrap_file)
    ck = ctx.checkpoint()
    last = wl.committed[-1].gtid
    check(ck.get("gtid") == last, "checkpoint gtid %r, expected the last GTID %r" %
          (ck.get("gtid"), last))
    check((ck.get("file"), ck.get("pos")) == (end_file, str(end_pos)),
          "checkpoint at %s:%s, expected the end of the last transaction %s:%d" %
          (ck.get("file"), ck.get("pos"), end_file, end_pos))


def test_crash_safety(ctx):
    srv = server()
    rng = random.Random(SEED + 2)
    wl = Workload(srv, "t_crash")
    ctx.closers.append(wl.close)
    bus = Bus(ctx, ctx.topic())
    ctx.closers.append(bus.stop)
    # start at the workload's beginning: a run killed before its first
    # checkpoint must not restart at the server's end
    cfg = ctx.tail_config(srv, brokers=bus.address, server_id=4302,
                          start="gtid:" + srv.gtid_pos())
    reader = Reader(bus.address, ctx.topic())
    ctx.closers.append(reader.close)

    ntxns = 3000
    KILLS = 20

    def workload():
        for i in range(ntxns):
            wl.simple("c", i, 1 + i % 3)
            time.sleep(0.006)

    runs = []  # [start, kill time or None, checkpoint seq after the kill]
    tailer = Tailer(ctx, cfg, "0")
    tailer.wait_streaming()
    t_wl = wl.in_thread(workload)
    kills_during_workload = 0
    phase_t0, phase_n0 = time.monotonic(), len(wl.committed)
    for n in range(KILLS):
        time.sleep(rng.uniform(0.1, 1.9))
        kill_t = tailer.kill9()
        kills_during_workload += t_wl.is_alive()
        ck = ctx.checkpoint().get("gtid")
        runs.append((tailer.started, kill_t, gtid_seq(ck) if ck else None, tailer.log))
        tailer = Tailer(ctx, cfg, str(n + 1))
    phase_s, phase_txns = time.monotonic() - phase_t0, len(wl.committed) - phase_n0
    ctx.closers.append(tailer.stop)
    wl.join(t_wl)
    reader.wait_gtids({t.gtid for t in wl.keyed()}, timeout=90)
    reader.settle(quiet=1.0)
    check(tailer.alive(), "tailer exited %s:\n%s" % (tailer.proc.returncode,
                                                     tail_text(tailer.log)))
    entries = reader.entries()
    dups = check_at_least_once(wl.committed, entries, "db-itest-1")

    # Attribute every entry to the run that read it (read_us) and check that
    # each killed run's checkpoint covered what it read more than one
    # checkpoint interval (+ slack for acks and scheduling) before the kill.
    slack = 0.8
    window = CHECKPOINT_MS / 1000.0 + slack
    bound, late, oldest = 0, [], 0.0
    for start, kill_t, ck_seq, log in runs:
        mine = [t for *_, t in entries if start - 0.05 <= t["read_us"] / 1e6 <= kill_t + 0.05]
        bound += sum(1 for t in mine if t["read_us"] / 1e6 >= kill_t - window)
        behind = [t for t in mine if ck_seq is None or gtid_seq(t["gtid"]) > ck_seq]
        if behind:
            oldest = max(oldest, kill_t - min(t["read_us"] for t in behind) / 1e6)
        stale = [t["gtid"] for t in behind if t["read_us"] / 1e6 < kill_t - window]
        if stale:
            late.append("run %s killed at %.3f: checkpoint seq %s, but %d transactions it read "
                        "more than %.1f s before the kill are past it (e.g. %s)" %
                        (os.path.basename(log), kill_t, ck_seq, len(stale), window, stale[:3]))
    per_interval = phase_txns / phase_s * CHECKPOINT_MS / 1000.0
    print("  %d transactions, %d kills (%d during the workload), %d duplicate entries (limit: "
          "%d, the transactions of %d checkpoint intervals at %.0f/s); oldest unsaved read at a "
          "kill %.2f s; transactions read in the last %.1f s before each kill: %d" %
          (len(wl.committed), len(runs), kills_during_workload, dups, KILLS * per_interval,
           KILLS, phase_txns / phase_s, oldest, window, bound))
    check(kills_during_workload >= KILLS // 2, "only %d kills happened during the workload: the "
          "test did not test much" % kills_during_workload)
    check(not late, "the checkpoint lagged behind what was read and acknowledged:\n  " +
          "\n  ".join(late))
    check(dups <= bound, "%d duplicates, more than the %d transactions read in the last %.1f s "
          "before the kills" % (dups, bound, window))
    check(dups <= KILLS * per_interval, "%d duplicates, more than the transactions of %d "
          "checkpoint intervals (%d)" % (dups, KILLS, KILLS * per_interval))
    tailer.stop_ok()
    check(ctx.checkpoint().get("gtid") == wl.committed[-1].gtid,
          "checkpoint %r after the graceful stop, expected %s" % (ctx.checkpoint(),
                                                                  wl.committed[-1].gtid))


def test_fault_bus_stopped(ctx):
    srv, wl, bus, tailer, reader = bus_setup(ctx, "t_busstop", 4303)

    def workload():
        for i in range(900):
            wl.simple("b", i, 2)
            time.sleep(0.01)

    t = wl.in_thread(workload)
    time.sleep(1.5)
    before = len(wl.committed)
    bus.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.5)  # acknowledgements already received are written by then
        ck_stopped = ctx.checkpoint()
        time.sleep(4.5)
        ck_later = ctx.checkpoint()
        check(tailer.alive(), "tailer exited %s while the bus was stopped:\n%s" %
              (tailer.proc.returncode, tail_text(tailer.log)))
    finally:
        bus.proc.send_signal(signal.SIGCONT)
    during = len(wl.committed) - before
    check(ck_stopped == ck_later, "the checkpoint moved while the bus could not acknowledge "
          "anything: %r -> %r" % (ck_stopped, ck_later))
    wl.join(t)
    reader.wait_gtids({x.gtid for x in wl.keyed()}, timeout=90)
    reader.settle(quiet=1.0)
    check(tailer.alive(), "tailer exited %s after the bus came back:\n%s" %
          (tailer.proc.returncode, tail_text(tailer.log)))
    dups = check_at_least_once(wl.committed, reader.entries(), "db-itest-1")
    print("  %d transactions (%d while the bus was stopped), %d duplicates" %
          (len(wl.committed), during, dups))
    check(during > 100, "the workload hardly ran while the bus was stopped (%d)" % during)
    tailer.stop_ok()


def test_fault_mariadb_restart(ctx):
    srv, wl, bus, tailer, reader = bus_setup(ctx, "t_restart", 4304)
    done = threading.Event()

    def workload():
        i = 0
        while not done.is_set() or i < 400:
            wl.simple("r", i, 2)
            i += 1
            time.sleep(0.005)

    t = wl.in_thread(workload)
    time.sleep(1.0)
    with wl.lock:  # between two transactions
        before = len(wl.committed)
        srv.stop()
        time.sleep(0.5)
        srv.start()
    done.set()
    wl.join(t)
    check(len(wl.committed) > before + 50, "no workload after the restart")
    reader.wait_gtids({x.gtid for x in wl.keyed()}, timeout=60)
    reader.settle(quiet=0.5)
    check(tailer.alive(), "tailer exited %s after the server restart:\n%s" %
          (tailer.proc.returncode, tail_text(tailer.log)))
    log = tailer.text()
    check("reconnect" in log, "the tailer's log does not mention reconnecting:\n%s" %
          tail_text(tailer.log))
    dups = check_at_least_once(wl.committed, reader.entries(), "db-itest-1")
    print("  %d transactions (%d before the restart), %d duplicates" %
          (len(wl.committed), before, dups))
    tailer.stop_ok()


def purge_all_but_newest(srv):
    for _ in range(3):
        srv.sql("FLUSH BINARY LOGS")
    newest = srv.master_status()[0]
    # the newest file must become the oldest; the binlog checkpoint may hold
    # older files back for a moment (innodb_flush_log_at_trx_commit = 2)
    def purged():
        srv.sql("PURGE BINARY LOGS TO '%s'" % newest)
        return [r[0] for r in srv.sql("SHOW BINARY LOGS")] == [newest]
    wait_until(purged, 20, step=0.3, what="PURGE BINARY LOGS TO %s" % newest)
    return newest


class PurgedSetup:
    """A tailer that published and stopped, then the server purged every
    binlog up to a new one: its checkpoint is gone from the server."""

    def __init__(self, ctx, server_id):
        self.ctx = ctx
        self.server_id = server_id
        self.srv, self.wl, self.bus, tailer, self.reader = bus_setup(ctx, "t_" + ctx.name,
                                                                     server_id)
        for i in range(5):
            self.wl.simple("p1", i)
        self.reader.wait_gtids({x.gtid for x in self.wl.keyed()})
        tailer.stop_ok()
        self.ck = ctx.checkpoint()
        check(self.ck.get("gtid") == self.wl.committed[-1].gtid, "checkpoint %r" % self.ck)
        self.lost = [self.wl.simple("p2", i) for i in range(5)]  # never read: purged below
        newest = purge_all_but_newest(self.srv)
        print("  checkpoint %s:%s (gtid %s) purged; oldest binlog now %s" %
              (self.ck.get("file"), self.ck.get("pos"), self.ck.get("gtid"), newest))

    def config(self, on_purged):
        return self.ctx.tail_config(self.srv, brokers=self.bus.address, server_id=self.server_id,
                                    mysql="on_purged = %s" % on_purged,
                                    file="tail-%s.ini" % on_purged)


def test_fault_binlog_purged_stop(ctx):
    ps = PurgedSetup(ctx, 4305)
    t0 = time.monotonic()
    tailer = Tailer(ctx, ps.config("stop"), "2")
    ctx.closers.append(tailer.stop)
    rc = tailer.wait_exit(30)
    took = time.monotonic() - t0
    check(rc == 1, "on_purged = stop: exit %s, expected 1:\n%s" % (rc, tail_text(tailer.log)))
    check("purged" in tailer.text(), "exit 1 without mentioning \"purged\":\n%s" %
          tail_text(tailer.log))
    print("  on_purged = stop: exit 1 after %.1f s: %s" %
          (took, next((l for l in tailer.text().splitlines() if "purged" in l), "")[:160]))
    check(ctx.checkpoint() == ps.ck, "the checkpoint moved: %r -> %r" % (ps.ck, ctx.checkpoint()))


def test_fault_binlog_purged_earliest(ctx):
    ps = PurgedSetup(ctx, 4308)
    tailer = Tailer(ctx, ps.config("earliest"), "2")
    ctx.closers.append(tailer.stop)
    wait_until(lambda: "binlog: streaming from" in tailer.text() or not tailer.alive(), 30,
               what="the tailer to stream or exit")
    time.sleep(1.0)
    check(tailer.alive(), "on_purged = earliest: the tailer exited %s instead of going on from "
          "the oldest binlog:\n%s" % (tailer.proc.returncode, tail_text(tailer.log, 6)))
    log = tailer.text()
    check("purged" in log and ("LOST" in log or "lost" in log),
          "on_purged = earliest: the loss is not logged:\n%s" % tail_text(tailer.log))
    after = [ps.wl.simple("p3", i) for i in range(5)]
    ps.reader.wait_gtids({x.gtid for x in after})
    ps.reader.settle(quiet=0.5)
    check(not ps.reader.gtids() & {x.gtid for x in ps.lost}, "purged transactions published?")
    tailer.stop_ok()
    check(ctx.checkpoint().get("gtid") == after[-1].gtid, "checkpoint %r, expected gtid %s" %
          (ctx.checkpoint(), after[-1].gtid))


BIG_STATEMENTS = 2000
BIG_KEYS_PER = 1000
BATCH_MAX_KEYS = 20000
RSS_LIMIT_KB = 64 * 1024


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_large_transaction(ctx):
    total = BIG_STATEMENTS * BIG_KEYS_PER
    counts = bytearray(total)
    acc = {"keys": 0, "bad": [], "after": [], "over": [], "gtids": set(), "too_many": 0}

    def on_message(partition, offset, key, value):
        n = 0
        for t in value.get("txns", []):
            acc["gtids"].add(t.get("gtid"))
            for k in t.get("keys", []):
                n += 1
                if k.startswith("big:") and len(k) == 11 and k[4:].isdigit():
                    i = int(k[4:])
                    if counts[i] < 255:
                        counts[i] += 1
                elif k.startswith("after-big:"):
                    acc["after"].append(k)
                else:
                    acc["bad"].append(k)
        acc["keys"] += n
        if n > BATCH_MAX_KEYS:
            acc["over"].append((offset, n))

    # gzip: the embedded bus keeps 5 MiB per partition and the reader must stay within it
    srv, wl, bus, tailer, reader = bus_setup(
        ctx, "t_big", 4306, on_entry=on_message,
        bus_config="batch_max_keys = %d\nkafka.compression.type = gzip" % BATCH_MAX_KEYS)

    hwm = {"kb": 0}
    polling = threading.Event()

    def poll_rss():
        while not polling.is_set():
            hwm["kb"] = max(hwm["kb"], vm_hwm_kb(tailer.pid))
            time.sleep(0.05)

    rss_thread = threading.Thread(target=poll_rss, daemon=True)
    rss_thread.start()

    t0 = time.monotonic()
    cur = wl.conn.cursor()
    with wl.lock:
        cur.execute("BEGIN")
        for s in range(BIG_STATEMENTS):
            base = s * BIG_KEYS_PER
            comment = "/* mcsqueal: %s */" % " ".join(["big:%07d" % n for n in
                                                       range(base, base + BIG_KEYS_PER)])
            cur.execute(wl.insert(comment, s) if s % 2 == 0 else wl.update(comment, 1 + s % 20))
        cur.execute("COMMIT")
        cur.execute("SELECT @@last_gtid")
        gtid = cur.fetchone()[0]
    t_sql = time.monotonic() - t0
    marker = wl.simple("after-big", 0)  # its arrival means the big one is complete

    wait_until(lambda: marker.gtid in acc["gtids"] or reader.errors, 180, step=0.2,
               what="the large transaction on the bus")
    reader.settle(quiet=1.0)
    t_pub = time.monotonic() - t0
    hwm["kb"] = max(hwm["kb"], vm_hwm_kb(tailer.pid))  # final poll, before stopping it
    polling.set()
    rss_thread.join()
    check(not reader.errors, "consumer: %s" % reader.errors[:5])
    check(tailer.alive(), "tailer exited %s:\n%s" % (tailer.proc.returncode,
                                                     tail_text(tailer.log)))
    distinct = total - counts.count(0)
    repeated = sum(1 for c in counts if c > 1)
    print("  SQL %.1f s, on the bus after %.1f s: %d messages, %d keys (%d distinct), peak RSS "
          "%d kB" % (t_sql, t_pub, reader.stats["messages"], acc["keys"], distinct, hwm["kb"]))
    check(not acc["bad"], "unexpected keys: %s" % acc["bad"][:5])
    check(acc["after"] == ["after-big:0:0"], "the transaction after the big one: %s" %
          acc["after"])
    check(acc["gtids"] <= {gtid, marker.gtid}, "unexpected gtids %s" %
          (acc["gtids"] - {gtid, marker.gtid}))
    check(distinct == total, "%d of %d keys never published" % (total - distinct, total))
    check(repeated == 0 and acc["keys"] == total + 1,
          "%d keys published more than once (%d keys in all, expected %d + 1)" %
          (repeated, acc["keys"], total))
    check(not acc["over"], "messages over batch_max_keys = %d: %s" % (BATCH_MAX_KEYS,
                                                                     acc["over"][:5]))
    check(reader.stats["max_bytes"] <= 900 * 1024, "a message of %d bytes, over the default "
          "batch_max_bytes (900k)" % reader.stats["max_bytes"])
    check(hwm["kb"] > 0, "could not read VmHWM of the tailer")
    check(hwm["kb"] < RSS_LIMIT_KB, "tailer peak RSS %d kB >= %d kB" % (hwm["kb"], RSS_LIMIT_KB))
    tailer.stop_ok()
    left = [n for n in os.listdir(ctx.state_dir) if n.startswith("spill")]
    check(not left, "spill files left in state_dir: %s" % left)


def test_startup_errors(ctx):
    r = subprocess.run([MCSQUEAL, "tail", "--help"], capture_output=True, text=True, timeout=20)
    check(r.returncode == 0, "--help: exit %d" % r.returncode)
    check("Usage: mcsqueal tail" in r.stdout, "--help printed %r" % r.stdout[:200])

    cfg = ctx.write("unknown.ini", "[mcsqueal]\nregion = %s\nstate_dir = %s\n[mysql]\n"
                    "port = 3306\nno_such_key = 1\n" % (REGION, ctx.state_dir))
    t0 = time.monotonic()
    r = subprocess.run([MCSQUEAL, "tail", "--config", cfg], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2, "unknown key: exit %d, expected 2: %s" % (r.returncode, r.stderr))
    check("%s:6:" % cfg in r.stderr and "no_such_key" in r.stderr,
          "unknown key: stderr lacks %s:6: and the key: %r" % (cfg, r.stderr))

    port = free_port()  # nothing listens there
    cfg = ctx.tail_config(None, port=port, file="unreachable.ini")
    t0 = time.monotonic()
    r = subprocess.run([MCSQUEAL, "tail", "--config", cfg], capture_output=True, text=True,
                       timeout=60)
    took = time.monotonic() - t0
    print("  unreachable: exit %d after %.1f s: %s" % (r.returncode, took,
                                                       r.stderr.strip().splitlines()[-1:]))
    check(r.returncode == 1, "unreachable server: exit %d, expected 1: %s" % (r.returncode,
                                                                             r.stderr))
    check(took < 10, "unreachable server: took %.1f s to fail" % took)
    check("127.0.0.1:%d" % port in r.stderr and "connect" in r.stderr,
          "unreachable server: unclear message %r" % r.stderr)
    check(not os.path.exists(os.path.join(ctx.state_dir, "bus.bootstrap")),
          "bus.bootstrap left behind by a failed start")

    srv = server()
    cfg = ctx.tail_config(srv, user="noprivs", file="noprivs.ini")
    r = subprocess.run([MCSQUEAL, "tail", "--config", cfg], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 2, "user without REPLICATION SLAVE: exit %d, expected 2: %s" %
          (r.returncode, r.stderr))
    check("REPLICATION SLAVE" in r.stderr, "missing privilege not named: %r" % r.stderr)

    # the embedded bus cannot publish its address (it starts while the reader
    # connects): a clear error, exit 1, nothing else garbled on the way out
    bootstrap = os.path.join(ctx.state_dir, "bus.bootstrap")
    os.makedirs(bootstrap)
    cfg = ctx.tail_config(srv, file="nobootstrap.ini")
    r = subprocess.run([MCSQUEAL, "tail", "--config", cfg], capture_output=True, text=True,
                       timeout=60, errors="replace")
    os.rmdir(bootstrap)
    check(r.returncode == 1, "bootstrap file unwritable: exit %d, expected 1: %s" %
          (r.returncode, r.stderr))
    check(bootstrap in r.stderr and "Is a directory" in r.stderr,
          "bootstrap file unwritable: unclear message %r" % r.stderr)
    bus_lines = [line for line in r.stderr.splitlines() if "embedded bus:" in line]
    check(len(bus_lines) == 1 and "\ufffd" not in r.stderr,
          "bootstrap file unwritable: one error expected, got %r" % bus_lines)


def test_rotation(ctx):
    srv, wl, bus, tailer, reader = bus_setup(ctx, "t_rotate", 4307, track_pos=True)
    flushes = 0

    def workload():
        nonlocal flushes
        for i in range(240):
            wl.simple("rot", i, 1 + i % 4)
            if i % 60 == 30:
                with wl.lock:
                    wl.conn.cursor().execute("FLUSH BINARY LOGS")
                    flushes += 1
            time.sleep(0.002)

    t = wl.in_thread(workload)
    wl.join(t)
    reader.wait_gtids({x.gtid for x in wl.keyed()})
    reader.settle(quiet=0.5)
    entries = reader.entries()
    check_exactly_once_in_order(wl.committed, entries, "db-itest-1")
    by_gtid = {e[4]["gtid"]: e[4] for e in entries}
    # the server's own listing: what starts at each position of each file
    events = {}
    for f in sorted({x.file for x in wl.committed}):
        for row in srv.sql("SHOW BINLOG EVENTS IN '%s'" % f):
            events[(f, int(row[1]))] = (row[2], row[5])
    files = set()
    for txn in wl.committed:
        pos = by_gtid[txn.gtid]["pos"]
        f, off = pos.rsplit(":", 1)
        files.add(f)
        check(f == txn.file, "%s: pos %s, but it committed in %s (ending at %d)" %
              (txn.gtid, pos, txn.file, txn.end_pos))
        ev = events.get((f, int(off)))
        check(ev is not None and ev[0] == "Gtid" and ev[1].endswith("GTID " + txn.gtid),
              "%s: pos %s is not where its GTID event starts (SHOW BINLOG EVENTS there: %r)" %
              (txn.gtid, pos, ev))
    print("  %d transactions over %d files (%d FLUSH BINARY LOGS)" % (len(wl.committed),
                                                                     len(files), flushes))
    check(len(files) == flushes + 1, "pos names %d files: %s" % (len(files), sorted(files)))
    tailer.stop_ok()
    ck = ctx.checkpoint()
    last = wl.committed[-1]
    check((ck.get("file"), ck.get("pos"), ck.get("gtid")) == (last.file, str(last.end_pos),
                                                              last.gtid),
          "checkpoint %r, expected %s:%d %s" % (ck, last.file, last.end_pos, last.gtid))


def file_mode(path):
    return os.stat(path).st_mode & 0o7777


def test_state_files_private(ctx):
    srv = server()
    wl = Workload(srv, "t_private")
    ctx.closers.append(wl.close)
    cfg = ctx.tail_config(srv, server_id=4308)
    old_umask = os.umask(0o022)  # the tailer inherits it
    try:
        tailer = Tailer(ctx, cfg, "1")
    finally:
        os.umask(old_umask)
    ctx.closers.append(tailer.stop)
    tailer.wait_streaming()
    wl.run([wl.insert(annotation(["private:1"]), 1)], ["private:1"])
    checkpoint = os.path.join(ctx.state_dir, "checkpoint")
    wait_until(lambda: os.path.exists(checkpoint), 30, what="a checkpoint")
    modes = {name: file_mode(os.path.join(ctx.state_dir, name))
             for name in ("checkpoint", "tail.lock", "bus.bootstrap")}
    modes["state_dir"] = file_mode(ctx.state_dir)
    tailer.stop_ok()
    want = {"state_dir": 0o700, "checkpoint": 0o600, "tail.lock": 0o600, "bus.bootstrap": 0o600}
    check(modes == want, "modes %s, expected %s" % ({k: oct(v) for k, v in modes.items()},
                                                    {k: oct(v) for k, v in want.items()}))
    check("open to other users" not in tailer.text(), "a warning about a private state_dir")

    os.chmod(ctx.state_dir, 0o755)  # as an earlier release created it
    tailer = Tailer(ctx, cfg, "2")
    ctx.closers.append(tailer.stop)
    tailer.wait_log("chmod 700 %s" % ctx.state_dir)
    line = [x for x in tailer.text().splitlines() if "chmod 700" in x][0]
    check(" warn " in line and "state_dir %s is open to other users" % ctx.state_dir in line,
          "unclear warning: %r" % line)
    tailer.wait_streaming()
    tailer.stop_ok()
    check(file_mode(ctx.state_dir) == 0o755, "an existing state_dir's mode was changed")


TESTS = [
    ("messages_match_workload", test_messages_match_workload),
    ("crash_safety", test_crash_safety),
    ("fault_bus_stopped", test_fault_bus_stopped),
    ("fault_mariadb_restart", test_fault_mariadb_restart),
    ("fault_binlog_purged_stop", test_fault_binlog_purged_stop),
    ("fault_binlog_purged_earliest", test_fault_binlog_purged_earliest),
    ("large_transaction", test_large_transaction),
    ("startup_errors", test_startup_errors),
    ("rotation", test_rotation),
    ("state_files_private", test_state_files_private),
]


def main():
    global MCSQUEAL
    MCSQUEAL = harness.binary_argument(__doc__)
    return harness.run_tests(TESTS, "MCSQ_TAIL_TEST", Ctx, SHARED,
                             needs=dict(modules=[("python3-kafka and python3-pymysql",
                                                  IMPORT_ERROR)],
                                        tools=("mariadb-install-db",)),
                             intro="seed %d (MCSQ_TAIL_SEED)" % SEED)


if __name__ == "__main__":
    sys.exit(main())
