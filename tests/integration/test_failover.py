#!/usr/bin/python3
"""Failover of the tailer's source: a MariaDB primary with a GTID replica
(log_slave_updates, its own server_id, datadir, socket, port and tmpdir),
replication set up with MASTER_USE_GTID = slave_pos, `mcsqueal tail`
publishing to a standalone `mcsqueal bus`, and an independent Kafka
consumer that decodes every bus message (test_tail.py's Bus and Reader).
A workload records, for every committed transaction, its GTID
(@@last_gtid) and the keys it annotated.

Tests (select with MCSQ_FAILOVER_TEST=name[,name...]; a name may be a prefix):

  1. failover        the tailer follows the primary under a workload and is
     killed (SIGKILL) while the workload goes on; the replica catches up;
     the primary is stopped; the replica is promoted (STOP SLAVE; RESET
     SLAVE ALL; read_only off) and written to; the tailer, pointed at it
     (config change, restart), continues from its GTID checkpoint: every
     transaction that reached the replica (those it never read from the
     primary included) and every one written after the promotion is
     published; nothing is skipped, no divergence is reported.
  2. lossy           the replica's replication is stopped before the last
     writes on the primary, which the tailer publishes; the primary is
     stopped, the replica promoted and written to. The tailer pointed at it
     (mysql.on_diverged = stop, the default) exits 1 without moving its
     checkpoint, logs the GTIDs the new primary lacks and what the operator
     can do, and scrapes show mcsqueal_source_diverged 1 meanwhile. With
     mysql.on_diverged = continue it goes on from the new primary's state:
     every transaction the new primary has after its last common GTID with
     the checkpoint is published, the writes made after the promotion
     included; mcsqueal_source_diverged is 1.
  3. moved_address_lossy  as 2, but the primary's address moves to the
     promoted replica (a virtual IP) under the running tailer: it
     reconnects there by itself, finds the lost GTIDs missing and exits 1
     instead of skipping them or retrying forever.

Usage: test_failover.py MCSQUEAL_BINARY
Exit 0 when all pass, 1 otherwise, 77 (skip) when mariadbd is not installed.
MCSQ_TEST_KEEP=1 keeps the temporary directories (their paths are printed).
"""

import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_tail  # noqa: E402  (Bus, Reader, Tailer, Ctx, the checks)
from harness import annotation, check, tail_text, wait_until  # noqa: E402

PASSWORD = test_tail.PASSWORD
REPL_PASSWORD = "failover-repl-pw"
SOURCE = "db-itest-1"

_template = None  # an installed datadir, copied for every server


def installed_server(server_id, extra_args=()):
    """A MariaDB whose datadir is a copy of one installed once (installing
    costs seconds, copying nothing)."""
    global _template
    srv = harness.MariaDB(server_id=server_id, extra_args=extra_args,
                          prefix="mcsq-failover-db%d-" % server_id)
    if _template is None:
        srv.install()
        _template = harness.mkdtemp("mcsq-failover-template-")
        shutil.rmtree(_template)
        shutil.copytree(srv.datadir, _template)
    else:
        shutil.copytree(_template, srv.datadir)
        srv.installed = True
    return srv


class Topology:
    """A primary (server_id 1) and its GTID replica (server_id 2), both with
    the database `app`, the tailer's user and a table app.t."""

    def __init__(self, ctx):
        self.primary = installed_server(1)
        self.replica = installed_server(2, ["--log-slave-updates", "--read-only"])
        ctx.closers.append(self.stop)
        self.primary.start()
        self.replica.start()
        self.primary.sql(
            "CREATE DATABASE app",
            "CREATE USER 'mcsqueal'@'127.0.0.1' IDENTIFIED BY '%s'" % PASSWORD,
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'mcsqueal'@'127.0.0.1'",
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '%s'" % REPL_PASSWORD,
            "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
            "CREATE TABLE app.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v BIGINT NOT NULL, "
            "note VARCHAR(64)) ENGINE=InnoDB")
        self.replica.sql(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', "
            "MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
            % (self.primary.port, REPL_PASSWORD),
            "START SLAVE")
        self.caught_up()

    def caught_up(self, timeout=30):
        """Waits until the replica has applied everything the primary has."""
        pos = self.primary.gtid_pos()
        r = self.replica.sql("SELECT MASTER_GTID_WAIT('%s', %d)" % (pos, timeout))[0][0]
        check(r == 0, "the replica did not reach %s within %d s (it has %s)" %
              (pos, timeout, self.replica.sql("SELECT @@global.gtid_slave_pos")[0][0]))

    def promote(self):
        """Stops the primary and makes the replica the primary."""
        self.primary.stop()
        self.replica.sql("STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0")

    def stop(self):
        for s in (self.replica, self.primary):
            try:
                s.stop()
            except Exception:
                pass


class Workload:
    """Annotated single-statement transactions on one server at a time;
    `committed` lists (gtid, keys) in commit order."""

    def __init__(self, srv):
        self.committed = []
        self.conn = None
        self.use(srv)

    def use(self, srv):
        self.close()
        self.conn = srv.connect(autocommit=False)

    def run(self, prefix, n):
        """n transactions with keys prefix:i:0 and prefix:i:1."""
        out = []
        cur = self.conn.cursor()
        for i in range(n):
            keys = ["%s:%d:%d" % (prefix, i, j) for j in range(2)]
            cur.execute("BEGIN")
            cur.execute("INSERT INTO app.t (v, note) VALUES (%d, '%s') %s" %
                        (i, prefix, annotation(keys)))
            cur.execute("COMMIT")
            cur.execute("SELECT @@last_gtid")
            txn = test_tail.Txn(cur.fetchone()[0], keys, [])
            self.committed.append(txn)
            out.append(txn)
        return out

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


class Ctx(test_tail.Ctx):
    """test_tail's context (state_dir, logs, tail_config) without its shared
    server: each test has its own topology."""

    def __init__(self, name):
        harness.Ctx.__init__(self, name, "mcsq-failover-%s-" % name, PASSWORD, test_tail.REGION)

    def config(self, srv, bus, tag, mysql="", metrics_port=None):
        cfg = self.tail_config(srv, name=SOURCE, brokers=bus.address, server_id=4401,
                               mysql=mysql, file="tail-%s.ini" % tag)
        if metrics_port is not None:
            text = harness.read_text(cfg).replace("[metrics]\nlisten =\n",
                                                  "[metrics]\nlisten = 127.0.0.1:%d\n" %
                                                  metrics_port)
            cfg = self.write("tail-%s.ini" % tag, text)
        return cfg


def setup(ctx):
    """Topology, bus, workload and a tailer (tag 1) streaming from the
    primary, and a Reader of the topic."""
    topo = Topology(ctx)
    wl = Workload(topo.primary)
    ctx.closers.append(wl.close)
    bus = test_tail.Bus(ctx, ctx.topic())
    ctx.closers.append(bus.stop)
    tailer = test_tail.Tailer(ctx, ctx.config(topo.primary, bus, "primary"), "1")
    ctx.closers.append(tailer.stop)
    tailer.wait_streaming()
    reader = test_tail.Reader(bus.address, ctx.topic())
    ctx.closers.append(reader.close)
    return topo, wl, bus, tailer, reader


def seq(gtid):
    return test_tail.gtid_seq(gtid)


def test_failover(ctx):
    topo, wl, bus, tailer, reader = setup(ctx)
    first = wl.run("a", 40)
    reader.wait_gtids({x.gtid for x in first})
    tailer.kill9()  # its checkpoint lags: the replica has to serve the rest
    unread = wl.run("b", 40)  # committed on the primary, never read there by the tailer
    topo.caught_up()
    topo.promote()
    wl.use(topo.replica)
    after = wl.run("c", 40)  # written on the new primary (server_id 2)
    check(all(x.gtid.startswith("0-2-") for x in after), "after the promotion: %s" %
          after[0].gtid)
    ck = ctx.checkpoint()
    print("  checkpoint %s; primary's last %s; new primary from %s" %
          (ck.get("gtid"), unread[-1].gtid, after[0].gtid))
    check(seq(ck.get("gtid", "0-0-0")) < seq(unread[-1].gtid), "checkpoint %r not behind" % ck)

    t2 = test_tail.Tailer(ctx, ctx.config(topo.replica, bus, "replica"), "2")
    ctx.closers.append(t2.stop)
    t2.wait_streaming()
    more = wl.run("d", 20)
    reader.wait_gtids({x.gtid for x in wl.committed})
    reader.settle(quiet=0.5)
    dups = test_tail.check_at_least_once(wl.committed, reader.entries(), SOURCE)
    log = t2.text()
    check("diverged" not in log and "lacks" not in log,
          "divergence reported on a failover that lost nothing:\n%s" % tail_text(t2.log))
    t2.stop_ok()
    check(ctx.checkpoint().get("gtid") == more[-1].gtid, "checkpoint %r, expected gtid %s" %
          (ctx.checkpoint(), more[-1].gtid))
    print("  %d transactions published (%d duplicates)" % (len(wl.committed), dups))


def diverged_metric(port):
    return harness.metric(harness.scrape(port), "mcsqueal_source_diverged")


def test_lossy(ctx):
    topo, wl, bus, tailer, reader = setup(ctx)
    common = wl.run("a", 30)
    topo.caught_up()
    topo.replica.sql("STOP SLAVE")
    lost = wl.run("lost", 5)  # the tailer publishes them; the replica never gets them
    reader.wait_gtids({x.gtid for x in wl.committed})
    tailer.stop_ok()
    ck = ctx.checkpoint()
    check(ck.get("gtid") == lost[-1].gtid, "checkpoint %r, expected %s" % (ck, lost[-1].gtid))
    topo.promote()
    wl.use(topo.replica)
    after = wl.run("c", 10)  # the new primary's own, never published yet
    print("  published up to %s; the new primary has %s, then %s..%s" %
          (lost[-1].gtid, common[-1].gtid, after[0].gtid, after[-1].gtid))

    # on_diverged = stop (the default): exit 1, the GTIDs named, the metric
    port = harness.free_port()
    t2 = test_tail.Tailer(ctx, ctx.config(topo.replica, bus, "stop", metrics_port=port), "2")
    ctx.closers.append(t2.stop)
    seen = []
    t0 = time.monotonic()

    def exited():
        v = diverged_metric(port)
        if v is not None:
            seen.append(v)
        return t2.proc.poll() is not None

    wait_until(exited, 30, step=0.1, what="the tailer to exit")
    took = time.monotonic() - t0
    log = t2.text()
    check(t2.proc.returncode == 1, "on_diverged = stop: exit %s, expected 1:\n%s" %
          (t2.proc.returncode, tail_text(t2.log)))
    line = next((ln for ln in log.splitlines() if "lacks" in ln), "")
    print("  on_diverged = stop: exit 1 after %.1f s: %s" % (took, line[:300]))
    check(lost[0].gtid in line and lost[-1].gtid in line,
          "the message does not name the lost GTIDs %s to %s:\n%s" % (lost[0].gtid,
                                                                     lost[-1].gtid, log))
    check("on_diverged" in line and "continue" in line,
          "the message does not say what the operator can do:\n%s" % line)
    check(1.0 in seen, "mcsqueal_source_diverged never scraped as 1 (scrapes: %s)" % seen[-5:])
    check(ctx.checkpoint() == ck, "the checkpoint moved: %r -> %r" % (ck, ctx.checkpoint()))

    # on_diverged = continue: from the new primary's state
    t3 = test_tail.Tailer(ctx, ctx.config(topo.replica, bus, "continue",
                                          mysql="on_diverged = continue", metrics_port=port), "3")
    ctx.closers.append(t3.stop)
    t3.wait_streaming()
    more = wl.run("d", 10)
    reader.wait_gtids({x.gtid for x in after + more})
    reader.settle(quiet=0.5)
    check(diverged_metric(port) == 1.0, "mcsqueal_source_diverged is %s with continue" %
          diverged_metric(port))
    check("lacks" in t3.text(), "continue: the loss is not logged:\n%s" % tail_text(t3.log))
    dups = test_tail.check_at_least_once(wl.committed, reader.entries(), SOURCE)
    t3.stop_ok()
    check(ctx.checkpoint().get("gtid") == more[-1].gtid, "checkpoint %r, expected gtid %s" %
          (ctx.checkpoint(), more[-1].gtid))
    print("  on_diverged = continue: %d transactions published (%d duplicates)" %
          (len(wl.committed), dups))


def test_moved_address_lossy(ctx):
    topo, wl, bus, tailer, reader = setup(ctx)
    wl.run("a", 20)
    topo.caught_up()
    topo.replica.sql("STOP SLAVE")
    lost = wl.run("lost", 3)
    reader.wait_gtids({x.gtid for x in wl.committed})
    # the primary's address moves to the replica (a virtual IP): the running
    # tailer reconnects there by itself and must neither skip nor hang
    old_port = topo.primary.port
    topo.primary.stop()
    tailer.wait_log("retrying in", 15)
    topo.replica.stop()
    topo.replica.port = old_port
    topo.replica.extra_args = ["--log-slave-updates", "--skip-slave-start"]
    topo.replica.start()
    topo.replica.sql("STOP SLAVE", "RESET SLAVE ALL")
    rc = tailer.wait_exit(30)
    log = tailer.text()
    check(rc == 1, "exit %s after the address moved to a server lacking %s..%s:\n%s" %
          (rc, lost[0].gtid, lost[-1].gtid, tail_text(tailer.log)))
    line = next((ln for ln in log.splitlines() if "lacks" in ln), "")
    check(lost[0].gtid in line and lost[-1].gtid in line,
          "the message does not name the lost GTIDs %s to %s:\n%s" % (lost[0].gtid,
                                                                     lost[-1].gtid, log))
    print("  reconnected to the moved address: exit 1: %s" % line[line.find("source"):][:160])


TESTS = [
    ("failover", test_failover),
    ("lossy", test_lossy),
    ("moved_address_lossy", test_moved_address_lossy),
]


def main():
    test_tail.MCSQUEAL = harness.binary_argument(__doc__)
    return harness.run_tests(TESTS, "MCSQ_FAILOVER_TEST", Ctx,
                             needs=dict(modules=[("python3-kafka and python3-pymysql",
                                                  test_tail.IMPORT_ERROR)],
                                        tools=("mariadb-install-db",)))


if __name__ == "__main__":
    sys.exit(main())
