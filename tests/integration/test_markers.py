#!/usr/bin/python3
"""Remote markers across two regions on one machine (docs/markers.md).

Region east: the primary mariadbd, its memcached cluster, `mcsqueal run`
beside it. Region west: a real replica mariadbd (replicating from the
primary, log_slave_updates on), a memcached cluster pool and a regional pool
(markers), `mcsqueal run` beside the replica. The west web server is
docs/examples/marker_example (the library's example program). Replication is
held back with STOP SLAVE SQL_THREAD to open the race window of the paper: a
client in west writes key k on the master, then a reader in west misses k
and refills it before the write has replicated.

  1. without markers: the reader reads the stale row from the replica; its
     fill lands after the replica applied the write and mcsqueal deleted k
     (a slow request), so after replication west's cache holds the stale
     value for good.  Asserted: stale.
  2. with markers: the writer sets k's marker first; the readers (a fast one
     and the same slow one) see the marker and read the master; once the
     replica applies the write, west's router deletes k and then clears the
     marker (markers_cleared_total, marker_age_seconds); west's cache ends
     up with the new value and no stale value remains anywhere. East's tailer
     emits the keys without markers (the marker names west), so east clears
     none. Asserted: converged.
  3. never before the keys: with west's cluster server stopped (SIGSTOP), the
     key's delete is spooled, so the marker stays (reason key_spooled) even
     after the spool replays; `mcsqueal marker check|clear` by hand.

With MCSQ_MARKERS_REGIONAL_INVALIDATE=stale (ctest: test_markers_stale) west's
regional pool has `invalidate = stale`: markers must still be deleted (a
marker marked stale would read as present), so every assertion is the same.
West's cluster pool stays in delete mode: its readers use plain `get`.

Usage: test_markers.py MCSQUEAL MARKER_EXAMPLE
Exit 0 when all pass, 1 otherwise, 77 (skip) without mariadbd or memcached.
"""

import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import skips  # noqa: E402

PASSWORD = "markers-test-pw"
APP_PASSWORD = "app-pw"
FILL_DELAY_MS = 6000
REGIONAL_INVALIDATE = os.environ.get("MCSQ_MARKERS_REGIONAL_INVALIDATE", "delete")


class World:
    def __init__(self, mcsqueal, example):
        self.mcsqueal = mcsqueal
        self.example = example
        self.dir = h.mkdtemp("mcsq-markers-")
        self.pwfile = os.path.join(self.dir, "password")
        with open(self.pwfile, "w") as f:
            f.write(PASSWORD + "\n")

    def start_databases(self):
        self.primary = h.MariaDB(1, prefix="mcsq-markers-db1-").start()
        self.primary.sql(
            "CREATE USER 'mcsqueal'@'127.0.0.1' IDENTIFIED BY '%s'" % PASSWORD,
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'mcsqueal'@'127.0.0.1'",
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-pw'",
            "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
            "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '%s'" % APP_PASSWORD,
            "CREATE DATABASE app",
            "GRANT ALL ON app.* TO 'app'@'127.0.0.1'",
            "CREATE TABLE app.users (id INT PRIMARY KEY, name VARCHAR(255)) ENGINE=InnoDB",
            "INSERT INTO app.users VALUES (1, 'v1'), (2, 'v1'), (3, 'v1'), (9, 'ready')")
        self.replica = h.MariaDB(2, ["--log-slave-updates"], "mcsq-markers-db2-").start()
        self.replica.sql(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', "
            "MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos" % self.primary.port,
            "START SLAVE")
        h.wait_until(lambda: self.row(self.replica, 9) == "ready", 30,
                     what="the replica to copy the primary")

    def start_caches(self):
        self.east_cluster = h.Memcached(self.dir, "east-cluster")
        self.west_cluster = h.Memcached(self.dir, "west-cluster")
        self.west_regional = h.Memcached(self.dir, "west-regional")

    def config(self, region, db, server_id, pools, metrics_port):
        path = os.path.join(self.dir, "%s.ini" % region)
        text = """\
[mcsqueal]
name = db-{region}
region = {region}
state_dir = {dir}/state-{region}
checkpoint_interval_ms = 100
{mysql}[bus]
brokers = embedded
linger_ms = 1
[router]
cluster = a
{pools}
[metrics]
listen = 127.0.0.1:{metrics}
[marker]
ttl_s = 120
""".format(region=region, dir=self.dir, pools=pools, metrics=metrics_port,
           mysql=h.mysql_section(db.port, self.pwfile, server_id, "begin"))
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_mcsqueal(self):
        self.east_metrics = h.free_port()
        self.west_metrics = h.free_port()
        self.east_cfg = self.config(
            "east", self.primary, 4242,
            "[pool cluster]\nservers = %s\nrole = cluster\n" % self.east_cluster.name,
            self.east_metrics)
        self.west_cfg = self.config(
            "west", self.replica, 4243,
            "[pool cluster]\nservers = %s\nrole = cluster\n"
            "[pool regional]\nservers = %s\nrole = regional\ninvalidate = %s\n"
            # a stale TTL far beyond the test's waits: a marker marked stale
            # instead of deleted would still read as present
            "stale_ttl_s = 900\n" %
            (self.west_cluster.name, self.west_regional.name, REGIONAL_INVALIDATE),
            self.west_metrics)
        self.east = h.Proc(self.mcsqueal, self.dir, ["run", "--config", self.east_cfg], "east")
        self.west = h.Proc(self.mcsqueal, self.dir, ["run", "--config", self.west_cfg], "west")
        # ready when an annotated write reaches both regions' caches
        self.primary.sql("UPDATE app.users SET name = 'ready2' WHERE id = 9 "
                         "/* mcsqueal: user:9 */")
        for port, what in ((self.east_metrics, "east"), (self.west_metrics, "west")):
            h.wait_until(lambda: (self.deletes(port) or 0) >= 1, 60,
                         what="%s's router to delete its first key" % what)

    # ---- helpers

    @staticmethod
    def row(db, id_):
        try:
            r = db.sql("SELECT name FROM app.users WHERE id = %d" % id_)
        except Exception as e:  # not replicated yet
            if "doesn't exist" in str(e):
                return None
            raise
        return r[0][0] if r else None

    def m(self, port, name, **labels):
        return h.metric(h.scrape(port), name, **labels)

    def deletes(self, port, pool="cluster"):
        return self.m(port, "mcsqueal_deletes_total", pool=pool, result="confirmed")

    def app_args(self, no_markers, delay_ms=0):
        args = [self.example, "--region", "west", "--regional", self.west_regional.name,
                "--cluster", self.west_cluster.name,
                "--master", "127.0.0.1:%d" % self.primary.port,
                "--replica", "127.0.0.1:%d" % self.replica.port, "--user", "app"]
        if no_markers:
            args.append("--no-markers")
        if delay_ms:
            args += ["--fill-delay-ms", str(delay_ms)]
        return args

    def app(self, no_markers, *cmd):
        env = dict(os.environ, MARKER_EXAMPLE_PASSWORD=APP_PASSWORD)
        r = subprocess.run(self.app_args(no_markers) + list(cmd), capture_output=True,
                           text=True, timeout=60, env=env)
        h.check(r.returncode == 0, "marker_example %s: exit %d: %s" % (cmd, r.returncode,
                                                                        r.stderr))
        return r.stdout.strip()

    def slow_reader(self, no_markers, id_, tag):
        """Starts a reader whose fill comes FILL_DELAY_MS after its read;
        returns once it has read the database."""
        env = dict(os.environ, MARKER_EXAMPLE_PASSWORD=APP_PASSWORD)
        out = os.path.join(self.dir, "%s.out" % tag)
        err = os.path.join(self.dir, "%s.err" % tag)
        with open(out, "w") as fo, open(err, "w") as fe:
            p = subprocess.Popen(self.app_args(no_markers, FILL_DELAY_MS) + ["read", str(id_)],
                                 stdout=fo, stderr=fe, env=env)
        h.wait_until(lambda: "read " in h.read_text(err) or p.poll() is not None, 30,
                     what="the slow reader to read the database")
        h.check(p.poll() is None, "the slow reader ended early: %s %s" % (h.read_text(out),
                                                                          h.read_text(err)))
        return p, out, err

    def marker_cli(self, action, key):
        r = subprocess.run([self.mcsqueal, "marker", action, key, "--config", self.west_cfg],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def hold_replication(self):
        self.replica.sql("STOP SLAVE SQL_THREAD")

    def release_replication(self):
        self.replica.sql("START SLAVE SQL_THREAD")


def test_without_markers(w):
    w.hold_replication()
    base = w.deletes(w.west_metrics)
    h.check(w.app(True, "write", "1", "v2") == "wrote", "write failed")
    h.check(w.row(w.primary, 1) == "v2" and w.row(w.replica, 1) == "v1",
            "the replica must not have the write yet")
    reader, out, err = w.slow_reader(True, 1, "reader-nomarkers")
    h.check("read replica v1" in h.read_text(err),
            "without markers a miss reads the replica: %s" % h.read_text(err))
    t0 = time.monotonic()
    w.release_replication()
    h.wait_until(lambda: w.row(w.replica, 1) == "v2", 30, what="replication of user 1")
    h.wait_until(lambda: w.deletes(w.west_metrics) > base, 30,
                 what="west's router to delete user:1 after replication")
    h.check(reader.poll() is None and time.monotonic() - t0 < FILL_DELAY_MS / 1000.0,
            "the invalidation came after the slow reader's fill; the test's timing failed")
    h.check(w.west_cluster.get("user:1") is None, "user:1 must be deleted by now")
    reader.wait(timeout=30)
    h.check(h.read_text(out).strip() == "miss replica v1", "reader: %r" % h.read_text(out))
    # replication is done and mcsqueal deleted the key, yet the slow fill left:
    stale = w.west_cluster.get("user:1")
    h.check(stale == "v1" and w.row(w.primary, 1) == "v2" and w.row(w.replica, 1) == "v2",
            "expected the stale v1 in west's cache, found %r" % stale)
    h.check(w.app(True, "read", "1") == "hit v1", "reads keep getting the stale value")
    print("  without markers: west's cache holds stale %r after replication "
          "(database has 'v2'): the failure is reproduced" % stale)


def test_with_markers(w):
    w.hold_replication()
    base_west = w.deletes(w.west_metrics)
    base_east = w.deletes(w.east_metrics)
    rc, out, _ = w.marker_cli("check", "user:2")
    h.check(rc == 3 and out == "absent", "no marker before the write: %d %r" % (rc, out))
    h.check(w.app(False, "write", "2", "v2") == "wrote", "write failed")
    rc, out, _ = w.marker_cli("check", "user:2")
    h.check(rc == 0 and out == "present", "marker set by the writer: %d %r" % (rc, out))
    t_written = time.monotonic()
    reader, rout, rerr = w.slow_reader(False, 2, "reader-markers")
    h.check("read master v2" in h.read_text(rerr),
            "with the marker a miss reads the master: %s" % h.read_text(rerr))
    # a fast reader too: reads its own write at once, before replication
    h.check(w.app(False, "read", "2") == "miss master v2", "fast reader")
    h.check(w.row(w.replica, 2) == "v1", "the replica must not have the write yet")
    time.sleep(1.0)  # the replica stays behind for a while: the marker's age shows it
    w.release_replication()
    h.wait_until(lambda: w.row(w.replica, 2) == "v2", 30, what="replication of user 2")
    h.wait_until(lambda: w.marker_cli("check", "user:2")[0] == 3, 30,
                 what="west's router to clear the marker of user:2")
    held_s = time.monotonic() - t_written
    h.check(w.deletes(w.west_metrics) > base_west, "west deleted user:2 before its marker")
    reader.wait(timeout=30)
    h.check(h.read_text(rout).strip() == "miss master v2", "reader: %r" % h.read_text(rout))
    # converged: no stale value anywhere in west
    val = w.west_cluster.get("user:2")
    h.check(val in (None, "v2"), "west's cache holds %r for user:2" % val)
    h.check(w.app(False, "read", "2") in ("hit v2", "miss replica v2"), "read after")
    h.check(w.west_cluster.get("user:2") == "v2", "west's cache converged to v2")
    m = h.scrape(w.west_metrics)
    cleared = h.metric(m, "mcsqueal_markers_cleared_total")
    age_n = h.metric(m, "mcsqueal_marker_age_seconds_count", cluster="a")
    age_sum = h.metric(m, "mcsqueal_marker_age_seconds_sum", cluster="a")
    h.check(cleared is not None and cleared >= 1, "markers_cleared_total = %r" % cleared)
    h.check(age_n is not None and age_n >= 1, "marker_age_seconds_count = %r" % age_n)
    h.check(1.0 <= age_sum / age_n <= held_s + 5,
            "marker age %.2f s should cover the replication hold (>= 1 s, <= %.1f s)" %
            (age_sum / age_n, held_s + 5))
    # east: its tailer emitted the keys without markers (the marker names west)
    h.wait_until(lambda: w.deletes(w.east_metrics) > base_east, 30,
                 what="east's router to delete user:2")
    me = h.scrape(w.east_metrics)
    h.check(h.metric(me, "mcsqueal_markers_cleared_total") == 0,
            "east cleared markers of west")
    h.check(h.metric(me, "mcsqueal_markers_not_cleared_total", reason="no_regional_pool") == 0,
            "east's messages carried markers")
    print("  with markers: readers went to the master, marker cleared %.2f s after it was "
          "set (mean age), west's cache holds %r" % (age_sum / age_n,
                                                    w.west_cluster.get("user:2")))


def test_marker_waits_for_the_keys(w):
    rc, out, err = w.marker_cli("set", "user:3")
    h.check(rc == 0, "marker set: %d %s %s" % (rc, out, err))
    base = h.metric(h.scrape(w.west_metrics), "mcsqueal_markers_not_cleared_total",
                    reason="key_spooled") or 0
    w.west_cluster.pause()
    try:
        w.primary.sql("UPDATE app.users SET name = 'v3' WHERE id = 3 "
                      "/* mcsqueal: user:3 @marker=west */")
        h.wait_until(lambda: (h.metric(h.scrape(w.west_metrics),
                                       "mcsqueal_markers_not_cleared_total",
                                       reason="key_spooled") or 0) > base, 30,
                     what="west's router to hold the marker of a spooled key")
        h.check(w.marker_cli("check", "user:3")[0] == 0,
                "the marker was cleared while the key's delete waits in the spool")
    finally:
        w.west_cluster.resume()
    h.wait_until(lambda: h.metric(h.scrape(w.west_metrics), "mcsqueal_spool_keys") == 0, 30,
                 what="the spool to replay")
    h.check(w.marker_cli("check", "user:3")[0] == 0, "marker stays until its TTL")
    rc, out, _ = w.marker_cli("clear", "user:3")
    h.check(rc == 0 and out == "cleared", "marker clear: %d %r" % (rc, out))
    rc, out, _ = w.marker_cli("check", "user:3")
    h.check(rc == 3 and out == "absent", "after clear: %d %r" % (rc, out))
    rc, _, err = w.marker_cli("check", "bad key")
    h.check(rc == 2 and "key rules" in err, "invalid key: %d %s" % (rc, err))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    if h.find_mariadbd() is None or h.find_memcached() is None:
        return skips.exit_code("mariadbd" if h.find_mariadbd() is None else "memcached",
                               "mariadbd or memcached is not installed (scripts/deps installs them)")
    w = World(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
    failed = 0
    try:
        w.start_databases()
        w.start_caches()
        w.start_mcsqueal()
    except Exception:
        traceback.print_exc()
        return 1
    for test in (test_without_markers, test_with_markers, test_marker_waits_for_the_keys):
        t0 = time.monotonic()
        print("%s ..." % test.__name__, flush=True)
        try:
            test(w)
            print("%s: ok (%.1f s)" % (test.__name__, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            traceback.print_exc()
            for p in (w.east, w.west):
                print("---- %s log (end)\n%s" % (p.tag, h.tail_text(p.log, 30)))
            print("%s: FAILED" % test.__name__, flush=True)
        finally:
            try:
                w.release_replication()
            except Exception:
                pass
    for p in (w.east, w.west):
        rc = p.stop()
        if rc != 0:
            failed += 1
            print("%s exited %d:\n%s" % (p.tag, rc, h.tail_text(p.log)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
