#!/usr/bin/python3
"""Black-box tests of the router: `mcsqueal run` (tailer + router + embedded
bus in one process) and `mcsqueal route` (router alone) against a throwaway
mariadbd and real memcached servers, with an independent application-side
memcached client in this file.

Keys are stored the way an application's libmemcached with
KETAMA_WEIGHTED = 1 would place them (docs/memcached.md); this file has its
own libketama (MD5 of "host:port-N", 40 digests x 4 points per server,
first point at or after the first four bytes, little-endian, of the key's
MD5). Every key is SET on EVERY server of every pool, so that after the
router ran, the servers a key is gone from show where the router deleted
it: each invalidated key must be gone from exactly its ketama owner in the
cluster pool (and from the one gutter server), and still be on the other
server. That checks deletion and placement at once.

Tests (select with MCSQ_ROUTE_TEST=name[,name...]; a name may be a prefix;
MCSQ_ROUTE_SEED=N repeats the random choices):

  1. end_to_end        `mcsqueal run`; a 2-server cluster pool and a 1-server
     gutter pool, 2000 keys pre-set, ~300 random transactions (1-3
     statements, 1-5 keys, duplicates, keys shared between transactions,
     JSON escapes and UTF-8, @marker and @probe directives, misses,
     rollbacks, unannotated writes and look-alike comments/strings): every key
     of every committed transaction is gone from its ketama owner in each pool
     and nothing else is deleted; mcsqueal_deletes_total{result="confirmed"}
     equals the keys sent per pool, spooled/invalid 0, mcsqueal_spool_keys 0,
     consumed = produced, one pipeline-latency sample per transaction (mean
     below 0.25 s, half within 0.1 s), one invalidation-lag sample per @probe
     transaction (mean below 1 s).
     escaped_utf8_keys keys whose JSON form has an escape (" or \) followed by
     non-ASCII UTF-8 are deleted as they are (not a mangled key).
  2. partition         one cluster server SIGSTOPped (it keeps its data) for
     5.5 s during a workload: mcsqueal_spool_keys > 0 while it is stopped, a
     spool file exists (0600, its directories 0700), the healthy servers
     keep being invalidated (within 4 s); after SIGCONT the spool is
     replayed: no stale key anywhere, spool 0, confirmed = keys sent, no
     spool file left after a graceful stop.
  3. router_kill9      `mcsqueal bus`, `mcsqueal tail` and `mcsqueal route` as
     separate processes; the router is killed with SIGKILL 20 times (half at
     random moments of its start-up, half a random moment after it got its
     partition, 6 of those while a cluster server is SIGSTOPped so that a
     batch is waiting for its timeout) and restarted each time: no committed
     key is left in memcached, untouched keys stay, no spool left at the end.
     run_kill9         `mcsqueal run` (embedded bus, dies with it) killed 20
     times during a workload and restarted: no committed key is left (the
     tailer's checkpoint must be held behind what the router deleted).
     partition_stale, router_kill9_stale, run_kill9_stale: the same with
     both pools in `invalidate = stale` mode (stale_ttl_s far beyond the
     test): an invalidated key must be marked stale (a meta `mg` answers X)
     on its owner and the gutter server, and fresh everywhere else.
  4. poison            three messages published with kcat (not JSON, "v":2,
     a number among the keys): each is a line in deadletter.jsonl with its
     partition, offset, error and payload (the file 0600 in a 0700
     state_dir), mcsqueal_bus_messages_total
     {result="poison"} is 3, and the router goes on deleting.
  5. route_startup     `mcsqueal route` (bus.brokers = embedded) started before
     `mcsqueal tail` waits for <state_dir>/bus.bootstrap, then deletes;
     `route` and `run` without [pool] sections: exit 2; --help: exit 0.

Usage: test_route.py MCSQUEAL_BINARY
Exit 0 when all pass, 1 otherwise, 77 (skip) when mariadbd or memcached is
missing. MCSQ_TEST_KEEP=1 keeps the temporary directories. Every process
started here is killed and every directory removed on exit (also on failure
and SIGTERM/SIGINT); children also die with this process (PR_SET_PDEATHSIG
through setpriv).
"""

import bisect
import hashlib
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

MCSQUEAL = None

IMPORT_ERROR = None
try:
    import pymysql  # noqa: F401 (python3-pymysql, used by the harness)
except ImportError as e:  # reported as a failure, not a skip
    IMPORT_ERROR = e

PASSWORD = "route-test-pw"
REGION = "rtest"
OTHER_REGION = "elsewhere"
CLUSTER = "c1"

# ---------------------------------------------------------------- harness

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (annotation, check, free_port, metric, read_text, scrape,  # noqa: E402
                     tail_text, wait_until)

SEED = harness.env_seed("MCSQ_ROUTE_SEED")


# ---------------------------------------------------------------- ketama


class Ketama:
    """libketama / libmemcached MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED placement
    of keys on servers written "host:port", all of weight 1."""

    def __init__(self, servers):
        self.servers = list(servers)
        points = []
        for idx, s in enumerate(self.servers):
            host, port = s.rsplit(":", 1)
            for i in range(40):
                name = "%s-%d" % (host, i) if port == "11211" else "%s:%s-%d" % (host, port, i)
                d = hashlib.md5(name.encode()).digest()
                for a in range(4):
                    points.append((struct.unpack_from("<I", d, 4 * a)[0], idx))
        points.sort()
        self.values = [v for v, _ in points]
        self.index = [i for _, i in points]

    def owner(self, key):
        h = struct.unpack_from("<I", hashlib.md5(key.encode("utf-8")).digest(), 0)[0]
        i = bisect.bisect_left(self.values, h)
        return self.index[i if i < len(self.values) else 0]


# ---------------------------------------------------------------- memcached


class Memcached(harness.Memcached):
    """The harness's throwaway memcached (64 MB, 2 threads) in the test's
    logs, with a connection kept open for many keys at a time."""

    def __init__(self, ctx, tag):
        super().__init__(ctx.dir, tag, memory_mb=64, threads=2)
        ctx.logs.append(self.log)
        self.sock = None
        self.rf = None
        # pools with invalidate = stale: an item marked stale is not "present"
        self.stale = getattr(ctx, "invalidate", "delete") == "stale"

    def _conn(self):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
            self.rf = self.sock.makefile("rb")
        return self.sock

    def close(self):
        if self.sock is not None:
            try:
                self.rf.close()
                self.sock.close()
            except OSError:
                pass
        self.sock = self.rf = None

    def _sync(self):
        self._conn().sendall(b"version\r\n")
        line = self.rf.readline()
        check(line.startswith(b"VERSION"), "memcached %s: %r" % (self.name, line))

    def set_many(self, keys, value=b"cached"):
        s = self._conn()
        chunk = []
        for k in keys:
            chunk.append(b"set %s 0 0 %d noreply\r\n%s\r\n" % (k.encode("utf-8"), len(value),
                                                                value))
            if len(chunk) >= 500:
                s.sendall(b"".join(chunk))
                chunk = []
        if chunk:
            s.sendall(b"".join(chunk))
        self._sync()

    def present(self, keys):
        """The subset of keys this server holds (with invalidate = stale: holds
        and serves as fresh to a meta reader)."""
        return self.fresh(keys) if self.stale else self.held(keys)

    def held(self, keys):
        """The subset of keys this server holds (a plain `get`: stale or not)."""
        s = self._conn()
        found = set()
        keys = list(keys)
        i = 0
        while i < len(keys):
            batch, size = [], 0
            while i < len(keys) and size < 1500:
                kb = keys[i].encode("utf-8")
                batch.append(kb)
                size += len(kb) + 1
                i += 1
            s.sendall(b"get " + b" ".join(batch) + b"\r\n")
            while True:
                line = self.rf.readline()
                if line == b"END\r\n":
                    break
                check(line.startswith(b"VALUE "), "memcached %s: get: %r" % (self.name, line))
                parts = line.split()
                self.rf.read(int(parts[3]) + 2)
                found.add(parts[1].decode("utf-8"))
        return found

    def fresh(self, keys):
        """The subset of keys this server holds not marked stale, asked with
        pipelined meta `mg <key>` (HD without the X flag), 500 at a time."""
        s = self._conn()
        keys = list(keys)
        found = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            s.sendall(b"".join(b"mg %s\r\n" % k.encode("utf-8") for k in chunk) + b"mn\r\n")
            for k in chunk:
                line = self.rf.readline()
                check(line[:2] in (b"HD", b"EN"), "memcached %s: mg: %r" % (self.name, line))
                if line.startswith(b"HD") and b" X" not in line:
                    found.add(k)
            line = self.rf.readline()
            check(line == b"MN\r\n", "memcached %s: mn: %r" % (self.name, line))
        return found

    def cas_total(self, keys):
        """The sum of the CAS values of the keys this server holds: each
        `md <key> I` gives the item a new CAS, also when it was stale already
        (a replayed invalidation), and nothing else here changes them."""
        s = self._conn()
        keys = list(keys)
        total = 0
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            s.sendall(b"".join(b"mg %s c\r\n" % k.encode("utf-8") for k in chunk) + b"mn\r\n")
            for _ in chunk:
                line = self.rf.readline()
                check(line[:2] in (b"HD", b"EN"), "memcached %s: mg: %r" % (self.name, line))
                total += sum(int(f[1:]) for f in line.split()[1:] if f.startswith(b"c"))
            line = self.rf.readline()
            check(line == b"MN\r\n", "memcached %s: mn: %r" % (self.name, line))
        return total

    def stats(self):
        self._conn().sendall(b"stats\r\n")
        out = {}
        while True:
            line = self.rf.readline()
            if line == b"END\r\n" or not line:
                break
            parts = line.decode().split()
            if len(parts) == 3:
                out[parts[1]] = parts[2]
        return out

    def deletes(self):
        st = self.stats()
        return int(st.get("delete_hits", 0)) + int(st.get("delete_misses", 0))

    def pause(self):
        """SIGSTOP (it keeps its data); the connection is closed first."""
        self.close()
        super().pause()


class Pools:
    """The cluster pool (two servers) and the gutter pool (one server) of a
    test, with application-side placement and checks."""

    def __init__(self, ctx):
        self.cluster = [Memcached(ctx, "c0"), Memcached(ctx, "c1")]
        self.gutter = [Memcached(ctx, "g0")]
        self.ring = Ketama([m.name for m in self.cluster])
        self.invalidate = getattr(ctx, "invalidate", "delete")
        self.universe = []  # every key set, for deletes() in stale mode
        ctx.closers.append(self.close)

    def all(self):
        return self.cluster + self.gutter

    def close(self):
        for m in self.all():
            m.close()

    def config(self):
        # stale: a stale TTL far beyond the test, so that no key expires by itself
        mode = ("invalidate = stale\nstale_ttl_s = 900\n" if self.invalidate == "stale"
                else "")
        return ("[pool main]\nservers = %s\nrole = cluster\n%s"
                "[pool gut]\nservers = %s\nrole = gutter\n%s" %
                (" ".join(m.name for m in self.cluster), mode,
                 " ".join(m.name for m in self.gutter), mode))

    def set_everywhere(self, keys):
        self.universe += list(keys)
        for m in self.all():
            m.set_many(keys)

    def owner(self, key):
        return self.ring.owner(key)

    def snapshot(self, keys):
        """Per server (cluster servers, then gutter), the keys it holds."""
        return [m.present(keys) for m in self.all()]

    def deletes(self):
        """A number that grows with every invalidation the servers applied:
        their delete counters; in stale mode (memcached does not count
        `md ... I` as a delete) the CAS values of the keys set here."""
        if self.invalidate == "stale":
            return sum(m.cas_total(self.universe) for m in self.all())
        return sum(m.deletes() for m in self.all())

    def verify(self, deleted, kept, what):
        """deleted: keys that must be gone from their cluster owner and the
        gutter and still be on the other cluster server; kept: keys that
        must be on every server. Returns a list of problems."""
        deleted, kept = set(deleted), set(kept)
        snap = self.snapshot(deleted | kept)
        problems = []
        placement = []
        for k in sorted(deleted):
            o = self.owner(k)
            where = [i for i in range(len(self.cluster)) if k not in snap[i]]
            if where != [o]:
                if k in snap[o]:
                    problems.append("%s: key %r (committed) is still on its owner %s" %
                                    (what, k, self.cluster[o].name))
                if where and where != [o]:
                    placement.append("%r gone from %s, owner by ketama %s" %
                                     (k, [self.cluster[i].name for i in where],
                                      self.cluster[o].name))
            if k in snap[len(self.cluster)]:
                problems.append("%s: key %r (committed) is still on the gutter server %s" %
                                (what, k, self.gutter[0].name))
        if self.invalidate == "stale":  # marked stale, not removed
            for i, m in enumerate(self.all()):
                mine = [k for k in deleted if i == len(self.cluster) or self.owner(k) == i]
                removed = set(mine) - m.held(mine)
                if removed:
                    problems.append("%s: %d keys removed from %s instead of marked stale, "
                                    "e.g. %s" % (what, len(removed), m.name, sorted(removed)[:3]))
        if placement:
            problems.append("%s: %d keys deleted somewhere else than their ketama owner "
                            "(placement differs from libketama), e.g. %s" %
                            (what, len(placement), placement[:5]))
        for k in sorted(kept):
            gone = [m.name for i, m in enumerate(self.all()) if k not in snap[i]]
            if gone:
                problems.append("%s: key %r was never invalidated but is gone from %s" %
                                (what, k, gone))
        return problems

    def wait_verified(self, deleted, kept, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            problems = self.verify(deleted, kept, what)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if problems:
            raise AssertionError("%d problems, e.g.:\n  %s" % (len(problems),
                                                              "\n  ".join(problems[:12])))


# ---------------------------------------------------------------- mariadbd


SHARED = harness.SharedMariaDB("mcsq-route-db-", PASSWORD)


def server():
    return SHARED.get()


# ---------------------------------------------------------------- workload


class Workload(harness.Workload):
    """Transactions on one connection; records the keys of what committed
    (de-duplicated per transaction, as the tailer publishes them)."""

    def __init__(self, srv, table):
        super().__init__(srv, table, note="VARCHAR(200)",
                         options="ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        self.committed = []  # key lists, in commit order
        self.gtids = []

    def run(self, statements, keys, commit=True):
        with self.lock:
            cur = self.transaction(statements, keys, commit)
            if cur is not None:
                self.gtids.append(cur.fetchone()[0])
                self.committed.append(list(keys))

    def keys(self):
        return {k for ks in self.committed for k in ks}

    def sent(self):
        """Deletes the router must do per pool: every key of every transaction."""
        return sum(len(ks) for ks in self.committed)


class Universe:
    """Pre-set keys handed out once each: a key that one transaction
    invalidates is never invalidated again, so a lost delete stays visible."""

    def __init__(self, prefix, n):
        self.keys = ["%s:%06d" % (prefix, i) for i in range(n)]
        self.next = 0
        self.lock = threading.Lock()

    def take(self, n):
        with self.lock:
            if self.next + n > len(self.keys):
                return None
            out = self.keys[self.next:self.next + n]
            self.next += n
            return out


# ---------------------------------------------------------------- processes


class Proc(harness.Proc):
    """A mcsqueal process with its log, which the test context lists."""

    def __init__(self, ctx, args, tag):
        super().__init__(MCSQUEAL, ctx.dir, args, tag)
        ctx.logs.append(self.log)


class Ctx(harness.Ctx):
    def __init__(self, name):
        super().__init__(name, "mcsq-route-%s-" % name, PASSWORD, REGION, SHARED)
        self.invalidate = "delete"  # the pools' mode: delete (the default) or stale

    def config(self, file, srv=None, pools=None, brokers="embedded", state_dir=None,
               server_id=4242, start="end", metrics_port=None, bus_extra=""):
        text = """\
[mcsqueal]
name = db-route-1
region = {region}
state_dir = {state}
checkpoint_interval_ms = 100
log_level = info
""".format(region=REGION, state=state_dir or self.state_dir)
        if srv is not None:
            text += harness.mysql_section(srv.port, self.password_file, server_id, start,
                                          more=harness.QUICK_RECONNECT)
        text += """\
[bus]
brokers = {brokers}
topic = {topic}
linger_ms = 1
{extra}
[router]
cluster = {cluster}
""".format(brokers=brokers, topic=self.topic(), extra=bus_extra, cluster=CLUSTER)
        if pools is not None:
            text += pools.config()
        text += "[metrics]\nlisten = %s\n" % ("127.0.0.1:%d" % metrics_port
                                              if metrics_port else "")
        return self.write(file, text)

    def deadletters(self, state_dir=None):
        path = os.path.join(state_dir or self.state_dir, "deadletter.jsonl")
        return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]

    def spool_files(self, state_dir=None):
        root = os.path.join(state_dir or self.state_dir, "spool")
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.join(d, f) for f in files]
        return out


def check_private(state_dir, files):
    """The state directory, its subdirectories on the way to files, and the
    files themselves are private to the user (docs/operations.md)."""
    for f in files:
        mode = os.stat(f).st_mode & 0o7777
        check(mode == 0o600, "%s: mode %o, expected 600" % (f, mode))
        d = os.path.dirname(f)
        while len(d) >= len(state_dir):
            mode = os.stat(d).st_mode & 0o7777
            check(mode == 0o700, "%s: mode %o, expected 700" % (d, mode))
            d = os.path.dirname(d)


def run_proc(ctx, cfg, tag):
    p = Proc(ctx, ["run", "--config", cfg], tag)
    ctx.closers.append(p.stop)
    return p


def setup(ctx, table, uni=None):
    """The shared server, the test's pools and a workload on app.<table>
    (closed with the test); the keys of uni (a Universe) set on every server."""
    srv = server()
    pools = Pools(ctx)
    if ctx.invalidate != "delete":  # a test run again in another mode: its own table
        table += "_" + ctx.invalidate
    wl = Workload(srv, table)
    ctx.closers.append(wl.close)
    if uni is not None:
        pools.set_everywhere(uni.keys)
    return srv, pools, wl


def start_run(ctx, srv, pools, server_id, metrics=True):
    """`mcsqueal run` (stopped with the test) once it streams, its metrics on a
    free port unless metrics is False. Returns the process and the port."""
    port = free_port() if metrics else None
    cfg = ctx.config("run.ini", srv, pools, server_id=server_id, metrics_port=port)
    run = run_proc(ctx, cfg, "run")
    run.wait_log("binlog: streaming from")
    return run, port


def wait_metric(port, name, pred, timeout, what, **labels):
    last = [None]

    def ok():
        last[0] = metric(scrape(port), name, **labels)
        return last[0] is not None and pred(last[0])
    try:
        wait_until(ok, timeout, step=0.1, what=what)
    except AssertionError:
        raise AssertionError("%s: %s%s is %s after %d s" % (what, name, labels or "", last[0],
                                                            timeout))
    return last[0]


# ---------------------------------------------------------------- tests


def test_end_to_end(ctx):
    rng = random.Random(SEED)
    srv, pools, wl = setup(ctx, "t_e2e")

    universe = ["k:%04d" % i for i in range(1900)]
    # JSON escapes (with UTF-8 before them: after them, see escaped_utf8_keys)
    universe += ['na\u00efve:q"%d\\x' % i for i in range(30)]
    universe += ['q"%d\\x:plain' % i for i in range(30)]
    universe += ["\u00fcser:%d:\u65e5\u672c" % i for i in range(40)]
    rng.shuffle(universe)
    rollback_only = universe[:100]  # only in rolled-back transactions
    lookalike = universe[100:150]  # only in comments/strings that are no annotation
    hot = universe[150:1150]  # annotated; the last 850 are never mentioned at all
    pools.set_everywhere(universe)

    run, port = start_run(ctx, srv, pools, 4401)
    # the latency bounds below are for a router that reads: the group join
    # (2-4 s on the embedded bus) would hold the whole workload back
    run.wait_log("bus: assigned")
    rows = list(range(1, 21))
    kinds = {"keyed": 0, "unkeyed": 0, "rolled back": 0, "probe": 0}
    probes = 0
    for i in range(300):
        r = rng.random()
        if r < 0.08:
            keys = rng.sample(rollback_only, rng.randint(1, 5))
            wl.run([wl.insert(annotation(keys), i),
                    wl.update(annotation(rng.sample(rollback_only, 2)), rng.choice(rows))],
                   keys, commit=False)
            kinds["rolled back"] += 1
            continue
        if r < 0.15:
            k = rng.choice(lookalike)
            plain = rng.choice(["", "/* just a comment %s */" % k, "/* mcsqueal:*/",
                                "-- mcsqueal: %s\n" % k, "# mcsqueal: %s\n" % k])
            statements = [wl.update(plain, rng.choice(rows)),
                          wl.insert("", i, note="/* mcsqueal: %s */" % k)]
            wl.run(statements, [])
            kinds["unkeyed"] += 1
            continue
        statements, keys = [], []
        probe = r > 0.95
        for s in range(rng.randint(1, 3)):
            tokens = []
            for j in range(rng.randint(1, 5)):
                x = rng.random()
                if x < 0.12 and keys + tokens:
                    tokens.append(rng.choice(keys + tokens))  # duplicate in the transaction
                elif x < 0.2:
                    tokens.append("miss:%d:%d:%d" % (i, s, j))  # not cached: a miss
                else:
                    tokens.append(rng.choice(hot))
            ckeys = list(tokens)
            m = rng.random()
            if m < 0.1:
                tokens.insert(rng.randint(0, len(tokens)), "@marker=" + REGION)
            elif m < 0.2:
                tokens.insert(rng.randint(0, len(tokens)), "@marker=" + OTHER_REGION)
            if probe and s == 0:
                tokens.append("@probe=%d" % int(time.time() * 1e6))
            for k in ckeys:
                if k not in keys:
                    keys.append(k)
            c = annotation(tokens)
            statements.append(wl.insert(c, i) if rng.random() < 0.4 else
                              wl.update(c, rng.choice(rows), front=rng.random() < 0.3))
        wl.run(statements, keys)
        kinds["keyed"] += 1
        if probe:
            kinds["probe"] += 1
            probes += 1
    deleted = wl.keys() & set(universe)
    kept = set(universe) - deleted
    print("  workload: %s (seed %d); %d of %d pre-set keys invalidated, %d deletes per pool" %
          (kinds, SEED, len(deleted), len(universe), wl.sent()))
    check(not deleted & (set(rollback_only) | set(lookalike)), "test bug: key sets overlap")

    t0 = time.monotonic()
    pools.wait_verified(deleted, kept, "after the workload", timeout=60)
    print("  every invalidation visible in memcached %.1f s after the last commit" %
          (time.monotonic() - t0))
    want = wl.sent()
    for pool in ("main", "gut"):
        wait_metric(port, "mcsqueal_deletes_total", lambda v: v >= want, 20,
                    "confirmed deletes in pool %s" % pool, pool=pool, result="confirmed")
    time.sleep(1.0)  # nothing more may come
    m = scrape(port)
    check(m is not None, "no metrics at 127.0.0.1:%d" % port)
    for pool in ("main", "gut"):
        got = metric(m, "mcsqueal_deletes_total", pool=pool, result="confirmed")
        check(got == want, "pool %s: mcsqueal_deletes_total{result=\"confirmed\"} = %s, "
              "expected %d (the keys of every committed transaction, exactly once)" %
              (pool, got, want))
        for res in ("spooled", "invalid"):
            v = metric(m, "mcsqueal_deletes_total", pool=pool, result=res)
            check(v in (None, 0.0), "pool %s: %s deletes: %s" % (pool, res, v))
    check(metric(m, "mcsqueal_spool_keys") == 0, "mcsqueal_spool_keys = %s" %
          metric(m, "mcsqueal_spool_keys"))
    produced = metric(m, "mcsqueal_bus_messages_total", result="produced")
    consumed = metric(m, "mcsqueal_bus_messages_total", result="consumed")
    check(produced and produced == consumed,
          "bus messages produced %s, consumed %s" % (produced, consumed))
    for res in ("poison", "lost", "failed"):
        v = metric(m, "mcsqueal_bus_messages_total", result=res)
        check(v in (None, 0.0), "mcsqueal_bus_messages_total{result=%s} = %s" % (res, v))
    pipe = metric(m, "mcsqueal_pipeline_latency_seconds_count", cluster=CLUSTER)
    check(pipe == kinds["keyed"], "mcsqueal_pipeline_latency_seconds_count{cluster=%s} = %s, "
          "expected one sample per keyed transaction (%d)" % (CLUSTER, pipe, kinds["keyed"]))
    # Latency from reading a commit to its deletes confirmed: about 10-20 ms on
    # average on a 2-core machine at load 13 (every term is a configured wait
    # of a few ms, docs/benchmarks.md), 95-100% within 0.1 s. The bounds are
    # 10x that and more, for the noise of a shared machine, and still trip on a
    # regression that adds a wait of 0.5 s per message (librdkafka's default
    # fetch.wait.max.ms, a timer instead of a wake-up, a poll that sleeps).
    # Under ThreadSanitizer (scripts/test sets MCSQ_TEST_SANITIZER=thread)
    # every step runs 5-15x slower: a mean of 0.13 s with 40% within 0.1 s
    # was seen at load 4, so there the bounds are a mean below 0.5 s and half
    # within 0.2 s, which a wait of 0.5 s per message still trips.
    tsan = os.environ.get("MCSQ_TEST_SANITIZER") == "thread"
    mean_limit, fast_le = (0.5, 0.2) if tsan else (0.25, 0.1)
    pipe_sum = metric(m, "mcsqueal_pipeline_latency_seconds_sum", cluster=CLUSTER)
    fast = next((v for (name, labels), v in m.items()
                 if name == "mcsqueal_pipeline_latency_seconds_bucket" and
                 dict(labels).get("cluster") == CLUSTER and float(dict(labels)["le"]) == fast_le),
                None)
    check(pipe_sum is not None and fast is not None and 0 <= pipe_sum / pipe < mean_limit and
          fast >= pipe / 2,
          "pipeline latency: mean %s s (expected below %s s), %s of %d transactions within "
          "%s s (expected at least half)" % (pipe_sum and pipe_sum / pipe, mean_limit, fast, pipe,
                                             fast_le))
    inv = metric(m, "mcsqueal_invalidation_lag_seconds_count", cluster=CLUSTER)
    check(inv == probes, "mcsqueal_invalidation_lag_seconds_count{cluster=%s} = %s, expected "
          "one sample per @probe transaction (%d)" % (CLUSTER, inv, probes))
    if probes:
        inv_sum = metric(m, "mcsqueal_invalidation_lag_seconds_sum", cluster=CLUSTER)
        check(0 <= inv_sum / probes < 1, "mean invalidation lag %s s, expected below 1 s" %
              (inv_sum / probes))
    print("  mean pipeline latency %.1f ms over %d transactions, %d within %s s" %
          (1000 * pipe_sum / pipe, pipe, fast, fast_le))
    run.stop_ok()
    check(not ctx.deadletters(), "dead letters: %s" % ctx.deadletters()[:3])


def test_partition(ctx):
    uni = Universe("p", 6000)
    srv, pools, wl = setup(ctx, "t_part", uni)
    run, port = start_run(ctx, srv, pools, 4402)
    run.wait_log("bus: assigned", timeout=30)
    done = threading.Event()
    i = [0]

    def workload():
        while not done.is_set() and not wl.stopping.is_set() and i[0] < 3000:
            keys = uni.take(2)
            if keys is None:
                break
            wl.run([wl.insert(annotation(keys), i[0])], keys)
            i[0] += 1
            time.sleep(0.01)

    t = wl.in_thread(workload)
    victim = pools.cluster[0]
    healthy = pools.cluster[1]
    try:
        time.sleep(1.5)
        victim.pause()
        stopped_at = time.monotonic()
        n_before = len(wl.committed)
        spool_peak = wait_metric(port, "mcsqueal_spool_keys", lambda v: v > 0, 6,
                                 "deletes spooled while %s is stopped" % victim.name)
        # the healthy servers keep being invalidated: keys of the other
        # server committed during the stop are deleted there soon
        time.sleep(1.0)
        probe_keys = [k for ks in wl.committed[len(wl.committed) - 5:] for k in ks
                      if pools.owner(k) == 1]
        check(probe_keys, "test bug: no recent key owned by %s" % healthy.name)
        t_probe = time.monotonic()
        consumed0 = metric(scrape(port), "mcsqueal_bus_messages_total", result="consumed") or 0
        committed0 = len(wl.committed)
        healthy_lag = None
        while time.monotonic() - stopped_at < 5.5:
            if not healthy.present(probe_keys) and not pools.gutter[0].present(probe_keys):
                healthy_lag = time.monotonic() - t_probe
                break
            time.sleep(0.1)
        check(ctx.spool_files(), "no spool file under %s/spool while deletes are spooled" %
              ctx.state_dir)
        check_private(ctx.state_dir, ctx.spool_files())
        m = scrape(port)
        spool_peak = max(spool_peak, metric(m, "mcsqueal_spool_keys") or 0)
        consumed_rate = ((metric(m, "mcsqueal_bus_messages_total", result="consumed") or 0) -
                         consumed0) / (time.monotonic() - t_probe)
        commit_rate = (len(wl.committed) - committed0) / (time.monotonic() - t_probe)
        time.sleep(max(0.0, 5.5 - (time.monotonic() - stopped_at)))
        during = len(wl.committed) - n_before
        spool_peak = max(spool_peak, metric(scrape(port), "mcsqueal_spool_keys") or 0)
    finally:
        victim.resume()
    resumed = time.monotonic()
    time.sleep(2.0)
    done.set()
    wl.join(t)
    deleted = wl.keys()
    kept = set(uni.keys) - deleted
    wait_metric(port, "mcsqueal_spool_keys", lambda v: v == 0, 30,
                "the spool replayed after SIGCONT")
    replayed_in = time.monotonic() - resumed
    pools.wait_verified(deleted, kept, "after the partition", timeout=30)
    want = wl.sent()
    wait_metric(port, "mcsqueal_deletes_total", lambda v: v >= want, 20,
                "confirmed deletes in pool main", pool="main", result="confirmed")
    time.sleep(1.0)
    m = scrape(port)
    spooled = metric(m, "mcsqueal_deletes_total", pool="main", result="spooled") or 0
    print("  %d transactions (%d during the 5.5 s stop), spool peak %d keys, %d deletes "
          "spooled, spool empty %.1f s after SIGCONT; during the stop: keys of the healthy "
          "server deleted after %s s, router consumed %.1f messages/s while %.1f "
          "transactions/s committed" % (len(wl.committed), during, spool_peak, spooled,
                                        replayed_in, healthy_lag and round(healthy_lag, 2),
                                        consumed_rate, commit_rate))
    check(during > 50, "the workload hardly ran during the stop (%d transactions)" % during)
    check(spooled > 0, "no delete counted as spooled in pool main")
    check(spool_peak > 0, "mcsqueal_spool_keys never above 0")
    check(metric(m, "mcsqueal_spool_keys") == 0, "mcsqueal_spool_keys = %s at the end" %
          metric(m, "mcsqueal_spool_keys"))
    # each delete is confirmed once: directly, or when its spool is replayed
    for pool in ("main", "gut"):
        got = metric(m, "mcsqueal_deletes_total", pool=pool, result="confirmed")
        check(got == want, "pool %s: confirmed deletes %s, expected %d (keys sent, each "
              "confirmed directly or by the replay)" % (pool, got, want))
    gsp = metric(m, "mcsqueal_deletes_total", pool="gut", result="spooled")
    check(gsp in (None, 0.0), "the gutter pool spooled %s deletes" % gsp)
    check("answers again" in run.text(), "the log does not say that %s answers again" %
          victim.name)
    run.stop_ok()
    left = ctx.spool_files()
    check(not left, "spool files left after a graceful stop with empty spools: %s" % left)
    check(healthy_lag is not None and healthy_lag < 4.0,
          "BUG (invalidator/router.c replay_pool/replay): while %s was stopped, keys of the "
          "healthy server %s were not deleted within 4 s (%s); the router consumed %.1f "
          "messages/s while %.1f transactions/s committed: each probe of the stopped server "
          "blocks for the 1 s timeout, and as PROBE_EVERY_US and the replay interval are "
          "measured from the start of the previous probe, the router probes again after "
          "every message" % (victim.name, healthy.name,
                             "after %.1f s" % healthy_lag if healthy_lag else "not during the stop",
                             consumed_rate, commit_rate))


def test_escaped_utf8_keys(ctx):
    """Keys whose JSON form holds an escape (a quote or a backslash) followed
    later by non-ASCII UTF-8: the router must delete exactly these keys."""
    srv, pools, wl = setup(ctx, "t_escutf8")
    keys = ['q"%d\\x:na\u00efve' % i for i in range(10)]
    keys += ['b\\%d:\u65e5\u672c' % i for i in range(10)]
    # what the router deletes if it drops the UTF-8 after the escape
    mangled = ['q"%d\\x:nave' % i for i in range(10)] + ['b\\%d:' % i for i in range(10)]
    pools.set_everywhere(keys + mangled)
    run, _ = start_run(ctx, srv, pools, 4407, metrics=False)
    control = ["ctl:%d" % i for i in range(3)]
    pools.set_everywhere(control)
    wl.run([wl.insert(annotation(keys[:10])), wl.insert(annotation(keys[10:]))], keys)
    wl.run([wl.insert(annotation(control))], control)
    pools.wait_verified(control, [], "plain keys", timeout=30)  # the router is done
    time.sleep(0.5)
    snap = pools.snapshot(mangled)
    gone = {k for k in mangled if any(k not in held for held in snap)}
    problems = pools.verify(keys, [], "escaped UTF-8 keys")
    check(not problems and not gone,
          "BUG (bus/bus_message.c decode_string): a key with a JSON escape followed by "
          "non-ASCII UTF-8 is deleted without its non-ASCII bytes: %d problems, e.g. %s; keys "
          "deleted instead that were never annotated: %s" %
          (len(problems), problems[:3], sorted(gone)[:4]))
    run.stop_ok()


KILLS = 20
STALLED_KILLS = 6  # router kills while a cluster server is stopped (the last ones)


def log_seconds(stamp):
    """Seconds of the day of a log line's time stamp (2026-11-21T00:28:01.032Z)."""
    t = stamp.split("T", 1)[1].rstrip("Z")
    h, m, sec = t.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def kill_schedule(rng, n):
    """When to kill process n: (wait for the router's assignment?, delay)."""
    if n % 2 == 0:
        return False, rng.uniform(0.3, 3.5)  # often before the group formed
    return True, rng.uniform(0.0, 1.5)  # while it deletes


def wait_first_delete(pools, deletes_before, name):
    """Wait until the process just assigned its partition has deleted
    something: a kill "while it deletes" must not depend on how long the
    resume takes on a loaded machine (the workload commits ~40 tx/s)."""
    wait_until(lambda: pools.deletes() > deletes_before, 30, step=0.1,
               what="the first delete of %s after its assignment" % name)


class KillingWorkload:
    """Transactions of 1-3 keys of uni, in a thread of wl, while processes
    are killed: check_running() at each kill, finish() after the last."""

    def __init__(self, wl, uni):
        self.wl = wl
        self.uni = uni
        self.done = threading.Event()
        self.thread = wl.in_thread(self._main)

    def _main(self):
        i = 0
        while not self.done.is_set() and not self.wl.stopping.is_set():
            keys = self.uni.take(1 + i % 3)
            if keys is None:
                break
            self.wl.run([self.wl.insert(annotation(keys), i)], keys)
            i += 1
            time.sleep(0.02)

    def check_running(self, n):
        check(self.thread.is_alive(), "the workload ended before kill %d (universe used up?)" % n)

    def finish(self):
        """Lets it run one more second, then stops it; returns the keys that
        committed transactions invalidated and the keys of uni left alone."""
        time.sleep(1.0)
        self.done.set()
        self.wl.join(self.thread)
        deleted = self.wl.keys()
        return deleted, set(self.uni.keys) - deleted


def test_router_kill9(ctx):
    rng = random.Random(SEED + 3)
    uni = Universe("r", 20000)
    srv, pools, wl = setup(ctx, "t_rkill", uni)

    bus_state = os.path.join(ctx.dir, "bus-state")
    bus_cfg = ctx.config("bus.ini", state_dir=bus_state)
    bus = Proc(ctx, ["bus", "--config", bus_cfg], "bus")
    ctx.closers.append(bus.stop)
    bootstrap_file = os.path.join(bus_state, "bus.bootstrap")
    wait_until(lambda: os.path.exists(bootstrap_file) or not bus.alive(), 15,
               what="the bus address file")
    check(bus.alive(), "mcsqueal bus exited %s:\n%s" % (bus.proc.returncode, tail_text(bus.log)))
    address = read_text(bootstrap_file).strip()

    tail_cfg = ctx.config("tail.ini", srv, brokers=address, server_id=4403,
                          state_dir=os.path.join(ctx.dir, "tail-state"),
                          start="gtid:" + srv.gtid_pos())
    tail = Proc(ctx, ["tail", "--config", tail_cfg], "tail")
    ctx.closers.append(tail.stop)
    tail.wait_log("binlog: streaming from")
    # the router finds the standalone bus through <state_dir>/bus.bootstrap.
    # A killed member holds its partitions for session.timeout.ms. It must be
    # longer than the embedded bus's 3 s initial rebalance delay: with 2000 ms
    # (librdkafka 2.0.2's mock) a member's session expires while its first
    # JoinGroup waits, and a router restarted after a kill at ~3 s was never
    # assigned a partition (40 s).
    route_cfg = ctx.config("route.ini", pools=pools, state_dir=bus_state,
                           bus_extra="kafka.session.timeout.ms = 4000\n"
                                     "kafka.heartbeat.interval.ms = 500")
    kwl = KillingWorkload(wl, uni)
    route = Proc(ctx, ["route", "--config", route_cfg], "route-0")
    kills, deleting, stalled = 0, 0, 0
    victim = pools.cluster[0]
    t0 = time.monotonic()
    deletes_at_start = pools.deletes()
    for n in range(KILLS):
        wait_assign, delay = kill_schedule(rng, n)
        stall = wait_assign and n >= KILLS - 2 * STALLED_KILLS
        if wait_assign:
            route.wait_log("bus: assigned", timeout=30)
            wait_first_delete(pools, deletes_at_start, "route-%d" % n)
        if stall:
            # the next batch waits for the stopped server's timeout (1 s)
            # before its keys go to the spool: kill the router meanwhile
            victim.pause()
            delay = rng.uniform(0.15, 0.9)
        time.sleep(delay)
        check(route.alive(), "route exited %s:\n%s" % (route.proc.returncode,
                                                       tail_text(route.log)))
        route.kill9()
        kills += 1
        if stall:
            victim.resume()
            stalled += 1
        after = pools.deletes()
        deleting += after > deletes_at_start
        kwl.check_running(n)
        deletes_at_start = after
        route = Proc(ctx, ["route", "--config", route_cfg], "route-%d" % (n + 1))
    ctx.closers.append(route.stop)
    took = time.monotonic() - t0
    deleted, kept = kwl.finish()
    joins = []
    for i in range(KILLS + 1):
        log = read_text(os.path.join(ctx.dir, "route-%d.log" % i))
        m1 = re.search(r"^(\S+) info .*router: cluster", log, re.M)
        m2 = re.search(r"^(\S+) info .*bus: assigned", log, re.M)
        if m1 and m2:
            joins.append(log_seconds(m2.group(1)) - log_seconds(m1.group(1)))
    print("  %d transactions, %d keys; %d kills in %.1f s (%d with %s stopped), %d of them "
          "after the killed router deleted something; a router got its partition %.1f s after "
          "starting (mean of %d)" % (len(wl.committed), len(deleted), kills, took, stalled,
                                     victim.name, deleting, sum(joins) / max(1, len(joins)),
                                     len(joins)))
    pools.wait_verified(deleted, kept, "after %d router kills" % kills, timeout=60)
    check(deleting >= KILLS // 4, "only %d of %d killed routers had deleted anything: the "
          "kills did not hit a working router" % (deleting, KILLS))
    check(route.alive(), "the last router exited %s:\n%s" % (route.proc.returncode,
                                                           tail_text(route.log)))
    route.stop_ok("route: SIGTERM")
    left = ctx.spool_files(bus_state)
    check(not left, "spool files left after a graceful stop with everything replayed: %s" % left)
    tail.stop_ok("tail: SIGTERM")


def test_run_kill9(ctx):
    rng = random.Random(SEED + 4)
    uni = Universe("x", 20000)
    srv, pools, wl = setup(ctx, "t_runkill", uni)
    # a run killed before its first checkpoint must start where the workload did
    cfg = ctx.config("run.ini", srv, pools, server_id=4404, start="gtid:" + srv.gtid_pos())
    run = Proc(ctx, ["run", "--config", cfg], "run-0")
    run.wait_log("binlog: streaming from")
    kwl = KillingWorkload(wl, uni)
    kills, deleting, checkpoints = 0, 0, []
    t0 = time.monotonic()
    deletes_at_start = pools.deletes()
    for n in range(KILLS):
        wait_assign, delay = kill_schedule(rng, n)
        if wait_assign:
            run.wait_log("bus: assigned", timeout=30)
            wait_first_delete(pools, deletes_at_start, "run-%d" % n)
        time.sleep(delay)
        check(run.alive(), "run exited %s:\n%s" % (run.proc.returncode, tail_text(run.log)))
        run.kill9()
        kills += 1
        after = pools.deletes()
        deleting += after > deletes_at_start
        deletes_at_start = after
        ck = read_text(os.path.join(ctx.state_dir, "checkpoint"))
        g = re.search(r"^gtid\s*=\s*(\S+)", ck, re.M)
        checkpoints.append(g.group(1) if g else None)
        kwl.check_running(n)
        run = Proc(ctx, ["run", "--config", cfg], "run-%d" % (n + 1))
    ctx.closers.append(run.stop)
    took = time.monotonic() - t0
    deleted, kept = kwl.finish()
    moved = len({c for c in checkpoints if c})
    print("  %d transactions, %d keys; %d kills in %.1f s, %d of them after the killed run "
          "deleted something; %d distinct checkpoints at the kills" %
          (len(wl.committed), len(deleted), kills, took, deleting, moved))
    pools.wait_verified(deleted, kept, "after %d kills of mcsqueal run" % kills, timeout=60)
    check(deleting >= KILLS // 4, "only %d of %d killed runs had deleted anything" %
          (deleting, KILLS))
    check(moved >= 2, "the checkpoint hardly moved across the kills: %s" % checkpoints)
    check(run.alive(), "the last run exited %s:\n%s" % (run.proc.returncode, tail_text(run.log)))
    run.stop_ok()


def kcat_produce(address, topic, lines):
    r = subprocess.run(["kcat", "-P", "-b", address, "-t", topic, "-k", "anything"],
                       input="".join(l + "\n" for l in lines).encode("utf-8"),
                       capture_output=True, timeout=30)
    check(r.returncode == 0, "kcat -P: exit %d: %s" % (r.returncode, r.stderr[-500:]))


def test_poison(ctx):
    uni = Universe("z", 200)
    srv, pools, wl = setup(ctx, "t_poison", uni)
    run, port = start_run(ctx, srv, pools, 4405)
    address = read_text(os.path.join(ctx.state_dir, "bus.bootstrap")).strip()
    check(address, "no bus.bootstrap in %s" % ctx.state_dir)

    first = uni.take(3)
    wl.run([wl.insert(annotation(first))], first)
    pools.wait_verified(first, [], "before the poison", timeout=30)
    poison = [
        "this is not JSON {",
        '{"v":2,"source":"db-x","region":"%s","txns":[]}' % REGION,
        '{"v":1,"source":"db-x","region":"%s","txns":[{"gtid":"0-1-1","pos":"binlog.000001:4",'
        '"commit_us":1,"read_us":1,"keys":["z:000100",42]}]}' % REGION,
    ]
    kcat_produce(address, ctx.topic(), poison)
    later = uni.take(3)
    wl.run([wl.update(annotation(later))], later)
    pools.wait_verified(first + later, uni.keys[6:], "after the poison", timeout=30)
    wait_metric(port, "mcsqueal_bus_messages_total", lambda v: v >= 3, 10,
                "poison messages counted", result="poison")
    time.sleep(0.5)
    m = scrape(port)
    check(metric(m, "mcsqueal_bus_messages_total", result="poison") == 3,
          "mcsqueal_bus_messages_total{result=\"poison\"} = %s, expected 3" %
          metric(m, "mcsqueal_bus_messages_total", result="poison"))
    dl = ctx.deadletters()
    print("  dead letters: %s" % [(d.get("offset"), d.get("error")) for d in dl])
    check(len(dl) == 3, "%d lines in deadletter.jsonl, expected 3: %s" % (len(dl), dl))
    check_private(ctx.state_dir, [os.path.join(ctx.state_dir, "deadletter.jsonl")])
    offsets = []
    for d, payload in zip(dl, poison):
        check(isinstance(d.get("partition"), int) and d["partition"] >= 0,
              "dead letter without partition: %r" % d)
        check(isinstance(d.get("offset"), int) and d["offset"] >= 0,
              "dead letter without offset: %r" % d)
        check(isinstance(d.get("error"), str) and d["error"], "dead letter without error: %r" % d)
        check(d.get("payload") == payload, "dead letter payload %r, expected %r" %
              (d.get("payload"), payload))
        offsets.append(d["offset"])
    check(offsets == sorted(offsets) and len(set(offsets)) == 3, "offsets %s" % offsets)
    check("2" in dl[1]["error"] or "version" in dl[1]["error"],
          "the v=2 message's error does not name the version: %r" % dl[1]["error"])
    check("z:000100" in pools.cluster[pools.owner("z:000100")].present(["z:000100"]),
          "the valid key of the rejected message was deleted")
    check(run.alive(), "run exited %s" % run.proc.returncode)
    run.stop_ok()


def status_ready(port):
    """`mcsqueal status --ready` against port: (exit code, output)."""
    r = subprocess.run([MCSQUEAL, "status", "--url", "http://127.0.0.1:%d/metrics" % port,
                        "--ready"], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip()


def test_ready(ctx):
    """/ready of `mcsqueal run`: 503 until the tailer streams and the router
    took its partitions, 200 then; 503 naming MySQL while MySQL is down,
    while /metrics (liveness) still answers; `status --ready` follows it.
    Also the start-up gap: process start -> first confirmed delete, with the
    embedded bus's partitions taken directly (no group to form)."""
    uni = Universe("r", 100)
    srv, pools, wl = setup(ctx, "t_ready", uni)
    start = "gtid:" + srv.gtid_pos()
    first = uni.take(1)
    wl.run([wl.insert(annotation(first))], first)  # committed before the start
    owner = pools.cluster[pools.owner(first[0])]
    port = free_port()
    cfg = ctx.config("run.ini", srv, pools, server_id=4407, start=start, metrics_port=port)
    t0 = time.monotonic()
    run = run_proc(ctx, cfg, "run")
    wait_until(lambda: first[0] not in owner.present(first), 20, step=0.002,
               what="the first delete")
    gap = time.monotonic() - t0
    harness.wait_ready(port, 20, proc=run)
    ready_at = time.monotonic() - t0
    print("  process start -> first confirmed delete %.0f ms, -> /ready 200 %.0f ms" %
          (gap * 1000, ready_at * 1000))
    # joining a consumer group of the embedded bus took 3 s and more; taken
    # directly, 0.3 s on a quiet machine, 1.3 s at a load of 11 on 2 cores
    check(gap < 2.5, "the first delete came %.0f ms after the start" % (gap * 1000))
    check("bus: assigned all 1 partition(s)" in run.text(), "the partitions were not taken "
          "directly:\n%s" % tail_text(run.log))
    rc, out = status_ready(port)
    check(rc == 0 and out == "ready", "status --ready: exit %d, %r" % (rc, out))
    r = subprocess.run([MCSQUEAL, "status", "--url", "http://127.0.0.1:%d/metrics" % port,
                        "--interval", "0"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and ": up, ready" in r.stdout.splitlines()[0],
          "status: exit %d, %r" % (r.returncode, r.stdout[:300]))

    srv.stop()  # server() starts it again for the next test
    why = harness.wait_ready(port, 30, want=503, proc=run)
    check(why.startswith("tailer: ") and "MySQL" in why, "/ready 503 says %r" % why)
    check(scrape(port) is not None, "/metrics does not answer while MySQL is down")
    rc, out = status_ready(port)
    check(rc == 1 and out.startswith("not ready: tailer: "), "status --ready while MySQL is "
          "down: exit %d, %r" % (rc, out))
    r = subprocess.run([MCSQUEAL, "status", "--url", "http://127.0.0.1:%d/metrics" % port,
                        "--interval", "0"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "NOT READY: tailer: " in r.stdout, "status while MySQL is "
          "down: exit %d, %r" % (r.returncode, r.stdout[:300]))
    srv = server()
    harness.wait_ready(port, 30, proc=run)
    later = uni.take(2)
    wl.close_connection()
    wl.run([wl.update(annotation(later))], later)
    pools.wait_verified(first + later, uni.keys[3:], "after MySQL came back", timeout=30)
    run.stop_ok()
    check(harness.ready(port)[0] is None, "/ready answers after the process stopped")


def test_route_startup(ctx):
    r = subprocess.run([MCSQUEAL, "route", "--help"], capture_output=True, text=True, timeout=20)
    check(r.returncode == 0 and "Usage: mcsqueal route" in r.stdout,
          "route --help: exit %d, %r" % (r.returncode, r.stdout[:200]))
    cfg = ctx.config("nopool.ini", state_dir=os.path.join(ctx.dir, "nopool"))
    for cmd in ("route", "run"):
        r = subprocess.run([MCSQUEAL, cmd, "--config", cfg], capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 2, "%s without [pool]: exit %d, expected 2: %s" %
              (cmd, r.returncode, r.stderr))
        check("pool" in r.stderr, "%s without [pool]: unclear message %r" % (cmd, r.stderr))

    uni = Universe("s", 100)
    srv, pools, wl = setup(ctx, "t_startup", uni)
    port = free_port()
    route_cfg = ctx.config("route.ini", pools=pools, metrics_port=port)
    route = Proc(ctx, ["route", "--config", route_cfg], "route")
    ctx.closers.append(route.stop)
    route.wait_log("waiting for the embedded bus", timeout=15)
    why = harness.wait_ready(port, 15, want=503, proc=route)
    check(why == "router: waiting for the bus", "/ready says %r" % why)
    time.sleep(1.5)
    check(route.alive(), "route exited %s instead of waiting:\n%s" % (route.proc.returncode,
                                                                     tail_text(route.log)))
    tail_cfg = ctx.config("tail.ini", srv, server_id=4406)
    tail = Proc(ctx, ["tail", "--config", tail_cfg], "tail")
    ctx.closers.append(tail.stop)
    tail.wait_log("binlog: streaming from")
    route.wait_log("embedded bus at", timeout=15)
    harness.wait_ready(port, 30, proc=route)
    # a second router of the cluster: the topic has one partition, so one of
    # the two is a standby, and a standby is ready too
    port2 = free_port()
    route2_cfg = ctx.config("route2.ini", pools=pools, metrics_port=port2,
                            state_dir=os.path.join(ctx.dir, "state2"))
    os.makedirs(os.path.join(ctx.dir, "state2"), mode=0o700)
    shutil.copy(os.path.join(ctx.state_dir, "bus.bootstrap"), os.path.join(ctx.dir, "state2"))
    route2 = Proc(ctx, ["route", "--config", route2_cfg], "route2")
    ctx.closers.append(route2.stop)
    harness.wait_ready(port2, 30, proc=route2)
    wait_until(lambda: harness.ready(port)[0] == 200, 30, what="the first router ready again")
    check("standby" in route.text() + route2.text(), "neither router says it is a standby")
    keys = uni.take(5)
    wl.run([wl.insert(annotation(keys))], keys)
    pools.wait_verified(keys, uni.keys[5:], "route started before the bus", timeout=30)
    route2.stop_ok("route2: SIGTERM")
    route.stop_ok("route: SIGTERM")
    tail.stop_ok("tail: SIGTERM")


def stale(test):
    """test with every pool in invalidate = stale mode: an invalidated key
    must be marked stale on its owner (and the gutter) and fresh elsewhere."""
    def run(ctx):
        ctx.invalidate = "stale"
        return test(ctx)
    return run


TESTS = [
    ("end_to_end", test_end_to_end),
    ("escaped_utf8_keys", test_escaped_utf8_keys),
    ("partition", test_partition),
    ("partition_stale", stale(test_partition)),
    ("router_kill9", test_router_kill9),
    ("router_kill9_stale", stale(test_router_kill9)),
    ("run_kill9", test_run_kill9),
    ("run_kill9_stale", stale(test_run_kill9)),
    ("poison", test_poison),
    ("route_startup", test_route_startup),
    ("ready", test_ready),
]


def main():
    global MCSQUEAL
    MCSQUEAL = harness.binary_argument(__doc__)
    return harness.run_tests(TESTS, "MCSQ_ROUTE_TEST", Ctx, SHARED,
                             needs=dict(memcached=True,
                                        modules=[("python3-pymysql", IMPORT_ERROR)],
                                        tools=("mariadb-install-db", "kcat")),
                             intro="seed %d (MCSQ_ROUTE_SEED)" % SEED)


if __name__ == "__main__":
    sys.exit(main())
