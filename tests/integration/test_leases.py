#!/usr/bin/python3
"""Leases through the whole pipeline (docs/leases.md): a real mariadbd, one
memcached and `mcsqueal run` (embedded bus) per invalidation mode, and
readers that fill the cache either with plain get/set or with the lease API
of libmcsqueal-marker (include/mcsqueal/lease.h, called through ctypes).

  race_*   the stale-set race made deterministic: a reader misses, reads the
           row, and is paused before its store while a write commits and
           mcsqueal invalidates the key. Plain get/set with `delete`: the old
           row stays cached. Leases: it never does (the fill is refused).
  herd_*   100 readers of one hot key right after its invalidation, all
           arriving within one database read (a barrier after their first
           get): plain get/set reads the database about 100 times; leases
           read it at most twice (the database's own count of the readers'
           SELECTs, information_schema.USER_STATISTICS).
  random_* readers and writers on a few hot keys at random, then quiet: with
           leases every value cached as fresh equals its row; without, the
           violations are counted and printed (docs/leases.md records them),
           and there must be some: the control that the workload races.

  example  docs/examples/lease_example (the runnable example) reads through
           a lease, hits, writes, and reads the new row once mcsqueal
           invalidated the key.

Usage: test_leases.py MCSQUEAL LIBMCSQUEAL_MARKER_SO LEASE_EXAMPLE
MCSQ_LEASES_TEST=name,... selects tests by prefix; MCSQ_LEASES_SEED repeats a
run's random choices. Exit 0 when all pass, 1 otherwise, 77 (skip) without
mariadbd or memcached.
"""

import ctypes
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

try:
    import pymysql  # noqa: F401
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = e

PASSWORD = "leases-test-pw"
READER_PASSWORD = "reader-pw"
SEED = h.env_seed("MCSQ_LEASES_SEED")
ROWS = 400

HIT, MISS, STALE, WAIT = 0, 1, 2, 3
STATUS = {HIT: "hit", MISS: "miss", STALE: "stale", WAIT: "wait"}


# ---------------------------------------------------------------- the lease API

class LeaseLib:
    """libmcsqueal-marker's lease functions through ctypes (the C API as an
    application calls it)."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        vp, sz, cp, u64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_uint64
        lib.mcsq_lease_options_new.argtypes = [ctypes.POINTER(vp)]
        lib.mcsq_lease_options_set.argtypes = [vp, cp, cp, cp, sz]
        lib.mcsq_lease_options_destroy.argtypes = [vp]
        lib.mcsq_lease_client_new.argtypes = [ctypes.POINTER(vp), vp, cp, sz]
        lib.mcsq_lease_client_destroy.argtypes = [vp]
        lib.mcsq_lease_get.argtypes = [vp, cp, sz, ctypes.POINTER(ctypes.c_int),
                                       ctypes.POINTER(ctypes.POINTER(ctypes.c_char)),
                                       ctypes.POINTER(sz), ctypes.POINTER(u64), cp, sz]
        lib.mcsq_lease_fill.argtypes = [vp, cp, sz, u64, cp, sz, ctypes.c_uint,
                                        ctypes.POINTER(ctypes.c_int), cp, sz]
        self.lib = lib


class LeaseClient:
    def __init__(self, api, servers):
        self.lib = api.lib
        self.err = ctypes.create_string_buffer(512)
        o = ctypes.c_void_p()
        h.check(self.lib.mcsq_lease_options_new(ctypes.byref(o)) == 0, "options")
        rc = self.lib.mcsq_lease_options_set(o, b"servers", servers.encode(), self.err, 512)
        h.check(rc == 0, "servers: %s" % self.err.value)
        self.c = ctypes.c_void_p()
        rc = self.lib.mcsq_lease_client_new(ctypes.byref(self.c), o, self.err, 512)
        self.lib.mcsq_lease_options_destroy(o)
        h.check(rc == 0, "client: %s" % self.err.value)

    def close(self):
        self.lib.mcsq_lease_client_destroy(self.c)

    def get(self, key):
        """(status, value str or None, lease)."""
        st, v, n, lease = ctypes.c_int(), ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t(), \
            ctypes.c_uint64()
        k = key.encode()
        rc = self.lib.mcsq_lease_get(self.c, k, len(k), ctypes.byref(st), ctypes.byref(v),
                                     ctypes.byref(n), ctypes.byref(lease), self.err, 512)
        h.check(rc == 0, "lease get %s: %d %s" % (key, rc, self.err.value))
        value = ctypes.string_at(v, n.value).decode() if v else None
        return st.value, value, lease.value

    def fill(self, key, lease, value):
        """1 when stored, 0 when the lease no longer held."""
        stored = ctypes.c_int()
        k, v = key.encode(), value.encode()
        rc = self.lib.mcsq_lease_fill(self.c, k, len(k), lease, v, len(v), 0,
                                      ctypes.byref(stored), self.err, 512)
        h.check(rc == 0, "lease fill %s: %d %s" % (key, rc, self.err.value))
        return stored.value


# ---------------------------------------------------------------- plain memcached

class Plain:
    """A plain text-protocol client on one connection (what applications do
    without leases), and `mg` to look at an item without taking a lease."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")

    def close(self):
        self.s.close()

    def get(self, key):
        self.s.sendall(b"get %s\r\n" % key.encode())
        line = self.f.readline()
        if line == b"END\r\n":
            return None
        h.check(line.startswith(b"VALUE "), "get %s: %r" % (key, line))
        n = int(line.split()[3])
        v = self.f.read(n + 2)[:n]
        h.check(self.f.readline() == b"END\r\n", "get %s: no END" % key)
        return v.decode()

    def set(self, key, value):
        v = value.encode()
        self.s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(v), v))
        line = self.f.readline()
        h.check(line == b"STORED\r\n", "set %s: %r" % (key, line))

    def look(self, key):
        """(value, stale, placeholder) of the item as memcached holds it, or
        None; a lease's placeholder is an empty value won by someone (Z).
        Any `mg` of a stale item wins its refill (W): only for final checks."""
        self.s.sendall(b"mg %s v\r\n" % key.encode())
        line = self.f.readline()
        if line == b"EN\r\n":
            return None
        h.check(line.startswith(b"VA "), "mg %s: %r" % (key, line))
        parts = line.split()
        n = int(parts[1])
        v = self.f.read(n + 2)[:n].decode()
        flags = [p.decode() for p in parts[2:]]
        return v, "X" in flags, n == 0 and ("Z" in flags or "W" in flags)


# ---------------------------------------------------------------- the world

class World:
    """mariadbd with app.users (ROWS rows), a user `reader` whose SELECTs the
    server counts, and per mode a memcached and a `mcsqueal run` invalidating
    it."""

    def __init__(self, mcsqueal, libpath, example):
        self.mcsqueal = mcsqueal
        self.example = example
        self.api = LeaseLib(libpath)
        self.dir = h.mkdtemp("mcsq-leases-")
        self.pwfile = os.path.join(self.dir, "password")
        with open(self.pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        self.db = h.MariaDB(1, ["--userstat=1"], "mcsq-leases-db-").start()
        self.db.sql(
            "CREATE USER 'mcsqueal'@'127.0.0.1' IDENTIFIED BY '%s'" % PASSWORD,
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'mcsqueal'@'127.0.0.1'",
            "CREATE USER 'reader'@'localhost' IDENTIFIED BY '%s'" % READER_PASSWORD,
            "CREATE DATABASE app",
            "GRANT SELECT ON app.* TO 'reader'@'localhost'",
            "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '%s'" % READER_PASSWORD,
            "GRANT SELECT, UPDATE ON app.* TO 'app'@'127.0.0.1'",
            "CREATE TABLE app.users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB",
            "INSERT INTO app.users VALUES %s" % ",".join("(%d, 'v0')" % i
                                                         for i in range(1, ROWS + 1)))
        self.next_id = 1
        self.modes = {}
        self.writer = self.db.connect()

    def mode(self, name):
        """(memcached, metrics port) of the mode's pool; starts them the
        first time."""
        if name not in self.modes:
            mc = h.Memcached(self.dir, name)
            port = h.free_port()
            extra = "invalidate = stale\n" if name == "stale" else ""
            cfg = os.path.join(self.dir, "%s.ini" % name)
            with open(cfg, "w") as f:
                f.write("""\
[mcsqueal]
name = leases-{mode}
state_dir = {dir}/state-{mode}
checkpoint_interval_ms = 100
{mysql}[bus]
brokers = embedded
linger_ms = 1
[router]
cluster = a
[pool cluster]
servers = {servers}
{extra}[metrics]
listen = 127.0.0.1:{port}
""".format(mode=name, dir=self.dir, servers=mc.name, port=port, extra=extra,
           mysql=h.mysql_section(self.db.port, self.pwfile, 4300 + len(self.modes), "end")))
            proc = h.Proc(self.mcsqueal, self.dir, ["run", "--config", cfg], "run-" + name)
            self.modes[name] = (mc, port, proc)
            # ready once an annotated write's key is confirmed (written again
            # until then: the tail starts at the end of the binlog)
            deadline = time.monotonic() + 60
            while proc.alive() and self.confirmed(name) < 1:
                h.check(time.monotonic() < deadline,
                        "mcsqueal (%s) did not invalidate its first key in 60 s" % name)
                self.write(ROWS, "ready-%f" % time.monotonic(), "user:%d" % ROWS)
                time.sleep(0.5)
        mc, port, proc = self.modes[name]
        h.check(proc.alive(), "mcsqueal (%s) exited:\n%s" % (name, h.tail_text(proc.log)))
        return mc, port

    def confirmed(self, mode):
        return h.metric(h.scrape(self.modes[mode][1]), "mcsqueal_deletes_total",
                        pool="cluster", result="confirmed") or 0

    def ids(self, n):
        """n row ids no other test uses."""
        first = self.next_id
        self.next_id += n
        h.check(self.next_id < ROWS, "out of rows")
        return list(range(first, first + n))

    def write(self, id_, name, key=None):
        cur = self.writer.cursor()
        cur.execute("UPDATE app.users SET name = %%s WHERE id = %d /* mcsqueal: %s */" %
                    (id_, key or "user:%d" % id_), (name,))

    def write_and_wait(self, mode, id_, name):
        """Commits the write and waits until mcsqueal confirmed its key."""
        n0 = self.confirmed(mode)
        self.write(id_, name)
        h.wait_until(lambda: self.confirmed(mode) >= n0 + 1, 30,
                     what="mcsqueal (%s) to invalidate user:%d" % (mode, id_))

    def reader_conn(self):
        """A connection as `reader`, whose SELECTs reader_selects() counts."""
        import pymysql
        return pymysql.connect(unix_socket=self.db.socket, user="reader",
                               password=READER_PASSWORD, charset="utf8mb4", autocommit=True,
                               connect_timeout=5)

    def reader_selects(self):
        r = self.db.sql("SELECT SELECT_COMMANDS FROM information_schema.USER_STATISTICS "
                        "WHERE USER = 'reader'")
        return int(r[0][0]) if r else 0

    def row(self, id_):
        return self.db.sql("SELECT name FROM app.users WHERE id = %d" % id_)[0][0]


def select(conn, id_):
    cur = conn.cursor()
    cur.execute("SELECT name FROM app.users WHERE id = %d" % id_)
    return cur.fetchone()[0]


WORLD = None


def world():
    return WORLD


class Ctx:
    def __init__(self, name):
        self.name = name
        self.logs = [p.log for _, _, p in WORLD.modes.values()] if WORLD else []

    def close(self):
        pass


# ---------------------------------------------------------------- the race

def race_plain(mode):
    w = world()
    mc, _ = w.mode(mode)
    id_, = w.ids(1)
    key = "user:%d" % id_
    w.write_and_wait(mode, id_, "v1")
    plain, conn = Plain(mc.port), w.reader_conn()
    h.check(plain.get(key) is None, "%s cached before the test" % key)
    old = select(conn, id_)                       # the reader reads v1 ...
    w.write_and_wait(mode, id_, "v2")             # ... the write commits, mcsqueal deletes
    plain.set(key, old)                           # ... the reader stores v1
    time.sleep(0.3)
    cached, row = plain.get(key), w.row(id_)
    print("plain get/set, %s: cached %r, row %r" % (mode, cached, row))
    h.check(cached == "v1" and row == "v2", "expected the stale row to stay cached")
    plain.close()
    conn.close()


def race_leases(mode):
    """The reader holds a lease (a miss's, and in stale mode also a stale
    value's) across the write and its invalidation: its fill is refused and
    no old row is ever served as fresh."""
    w = world()
    mc, _ = w.mode(mode)
    for start_cached in (False, True):
        id_, = w.ids(1)
        key = "user:%d" % id_
        w.write_and_wait(mode, id_, "v1")
        c, conn = LeaseClient(w.api, mc.name), w.reader_conn()
        if start_cached:  # v1 cached, then invalidated by a write of v2
            st, _, lease = c.get(key)
            h.check(st == MISS and c.fill(key, lease, select(conn, id_)) == 1, "prefill")
            w.write_and_wait(mode, id_, "v2")
        st, value, lease = c.get(key)
        expect = STALE if start_cached and mode == "stale" else MISS
        h.check(st == expect, "%s: %s, expected %s" % (key, STATUS[st], STATUS[expect]))
        old = select(conn, id_)                   # the reader reads the row ...
        w.write_and_wait(mode, id_, "v3")         # ... the write commits, mcsqueal invalidates
        stored = c.fill(key, lease, old)          # ... the reader fills under its lease
        h.check(stored == 0, "%s: a fill under a voided lease stored %r" % (key, old))
        time.sleep(0.3)
        # the next reader: a hit would have to be the row; it gets a lease
        st, value, lease = c.get(key)
        print("leases, %s, %s: read %r, fill refused; the next reader: %s %r; row %r" %
              (mode, "cached before" if start_cached else "not cached before", old,
               STATUS[st], value, w.row(id_)))
        h.check(st != HIT or value == w.row(id_),
                "%s: a hit on %r, row is %r" % (key, value, w.row(id_)))
        h.check(st in (MISS, STALE), "after the race: %s" % STATUS[st])
        h.check(c.fill(key, lease, select(conn, id_)) == 1, "refill")
        st, value, _ = c.get(key)
        h.check(st == HIT and value == "v3", "after the refill: %s %r" % (STATUS[st], value))
        c.close()
        conn.close()


# ---------------------------------------------------------------- the herd

HERD = 100


def herd(mode, leases):
    """HERD readers of one hot key right after its invalidation; returns the
    database's count of their SELECTs."""
    w = world()
    mc, _ = w.mode(mode)
    id_, = w.ids(1)
    key = "user:%d" % id_
    w.write_and_wait(mode, id_, "v1")
    setup = LeaseClient(w.api, mc.name)
    st, _, lease = setup.get(key)
    h.check(st == MISS and setup.fill(key, lease, "v1") == 1, "caching v1")
    setup.close()
    w.write_and_wait(mode, id_, "v2")
    clients = [LeaseClient(w.api, mc.name) if leases else Plain(mc.port) for _ in range(HERD)]
    barrier = threading.Barrier(HERD, timeout=60)
    outcomes, errors, lock = {}, [], threading.Lock()

    conns = [w.reader_conn() for _ in range(HERD)]  # each reader's, opened beforehand

    def read_db(i):
        value = select(conns[i], id_)
        time.sleep(0.05)  # a database read that takes a while
        return value

    def lease_reader(i, c):
        st, value, lease = c.get(key)
        barrier.wait()  # everyone arrived within one database read
        delay = 0.002
        while st == WAIT and value is None:
            time.sleep(delay)
            delay = min(delay * 2, 0.064)
            st, value, lease = c.get(key)
        if st in (MISS, STALE):
            c.fill(key, lease, read_db(i))
            return "read the database"
        return "served " + ("stale" if st == WAIT else "hit")

    def plain_reader(i, c):
        value = c.get(key)
        barrier.wait()
        if value is None:
            c.set(key, read_db(i))
            return "read the database"
        return "served hit"

    def run(i, c):
        try:
            what = lease_reader(i, c) if leases else plain_reader(i, c)
            with lock:
                outcomes[what] = outcomes.get(what, 0) + 1
        except Exception as e:  # reported below
            with lock:
                errors.append(repr(e))

    before = w.reader_selects()
    threads = [threading.Thread(target=run, args=(i, c), daemon=True)
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients + conns:
        c.close()
    h.check(not errors, "readers failed: %s" % errors[:3])
    reads = w.reader_selects() - before
    print("herd of %d, %s, %s: the database saw %d reads; readers: %s" %
          (HERD, mode, "leases" if leases else "plain get/set", reads, outcomes))
    check_cached(w, mc, [id_])
    return reads


def check_cached(w, mc, ids):
    """Every value memcached holds as fresh for these rows equals its row.
    Returns the number of violations."""
    plain, bad = Plain(mc.port), []
    for id_ in ids:
        held = plain.look("user:%d" % id_)
        if held is not None and not held[1] and not held[2] and held[0] != w.row(id_):
            bad.append("user:%d: cached %r, row %r" % (id_, held[0], w.row(id_)))
    plain.close()
    return bad


def herd_plain_delete():
    reads = herd("delete", False)
    h.check(reads >= HERD * 0.9, "plain get/set: %d database reads, expected about %d" %
            (reads, HERD))


def herd_leases_delete():
    reads = herd("delete", True)
    h.check(reads <= 2, "leases: %d database reads, expected at most 2" % reads)


def herd_leases_stale():
    reads = herd("stale", True)
    h.check(reads <= 2, "leases: %d database reads, expected at most 2" % reads)


# ---------------------------------------------------------------- randomized

HOT_KEYS = 4
READERS = 6
WRITERS = 2
BUSY_S = 2.0
FILL_DELAY_MAX_S = 0.05  # a request's time between its database read and its store


def randomized(mode, leases, rounds):
    """READERS readers and WRITERS writers on HOT_KEYS keys for BUSY_S, then
    quiet; per round, the keys whose cached value is not their row. Returns
    (violations, keys checked)."""
    w = world()
    mc, _ = w.mode(mode)
    rnd = random.Random(SEED)
    violations, checked = 0, 0
    for r in range(rounds):
        ids = w.ids(HOT_KEYS)
        stop, lock, errors = threading.Event(), threading.Lock(), []
        writes = [0]

        def reader(seed):
            rr = random.Random(seed)
            c = LeaseClient(w.api, mc.name) if leases else Plain(mc.port)
            conn = w.reader_conn()
            try:
                while not stop.is_set():
                    id_ = rr.choice(ids)
                    key = "user:%d" % id_
                    if leases:
                        st, _, lease = c.get(key)
                        if st in (MISS, STALE):
                            value = select(conn, id_)
                            time.sleep(rr.random() * FILL_DELAY_MAX_S)
                            c.fill(key, lease, value)
                    elif c.get(key) is None:
                        value = select(conn, id_)
                        time.sleep(rr.random() * FILL_DELAY_MAX_S)
                        c.set(key, value)
                    time.sleep(rr.random() * 0.002)
            except Exception as e:  # reported below
                with lock:
                    errors.append(repr(e))
            finally:
                c.close()
                conn.close()

        def writer(seed):
            rr = random.Random(seed)
            conn = w.db.connect()
            try:
                n = 0
                while not stop.is_set():
                    id_ = rr.choice(ids)
                    n += 1
                    conn.cursor().execute(
                        "UPDATE app.users SET name = 'w%d-%d' WHERE id = %d "
                        "/* mcsqueal: user:%d */" % (seed, n, id_, id_))
                    with lock:
                        writes[0] += 1
                    time.sleep(rr.random() * 0.02)
            except Exception as e:  # reported below
                with lock:
                    errors.append(repr(e))
            finally:
                conn.close()

        n0 = w.confirmed(mode)
        threads = [threading.Thread(target=reader, args=(rnd.random(),), daemon=True)
                   for _ in range(READERS)]
        threads += [threading.Thread(target=writer, args=(i,), daemon=True)
                    for i in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(BUSY_S)
        stop.set()
        for t in threads:
            t.join(60)
        h.check(not errors, "workers failed: %s" % errors[:3])
        h.wait_until(lambda: w.confirmed(mode) >= n0 + writes[0], 60,
                     what="mcsqueal (%s) to invalidate all %d writes" % (mode, writes[0]))
        bad = check_cached(w, mc, ids)
        print("round %d, %s, %s: %d writes, %d of %d keys cached with a value that is not "
              "their row%s" % (r + 1, mode, "leases" if leases else "plain get/set",
                               writes[0], len(bad), len(ids),
                               (": " + "; ".join(bad)) if bad else ""))
        violations += len(bad)
        checked += len(ids)
    return violations, checked


def random_plain_delete():
    v, n = randomized("delete", False, 4)
    print("plain get/set, delete: %d of %d keys stale after quiet" % (v, n))
    # the control: without leases this workload leaves stale copies (a third
    # of the keys in the runs docs/leases.md records), so the lease runs'
    # zero says something
    h.check(v > 0, "plain get/set, delete: no stale key in %d; the workload no longer "
            "provokes the race the lease tests guard against" % n)


def random_leases_delete():
    v, n = randomized("delete", True, 2)
    h.check(v == 0, "leases, delete: %d of %d keys stale after quiet" % (v, n))


def random_leases_stale():
    v, n = randomized("stale", True, 2)
    h.check(v == 0, "leases, stale: %d of %d keys stale after quiet" % (v, n))


def example():
    w = world()
    mc, _ = w.mode("delete")
    id_, = w.ids(1)
    env = dict(os.environ, LEASE_EXAMPLE_PASSWORD=READER_PASSWORD)

    def run(*args):
        r = subprocess.run([w.example, "--cache", mc.name, "--db", "127.0.0.1:%d" % w.db.port,
                            "--user", "app"] + list(args), capture_output=True, text=True,
                           env=env, timeout=30)
        h.check(r.returncode == 0, "lease_example %s: exit %d: %s" %
                (" ".join(args), r.returncode, r.stderr))
        return r.stdout.strip()

    h.check(run("read", str(id_)) == "miss v0 stored", "first read")
    h.check(run("read", str(id_)) == "hit v0", "second read")
    n0 = w.confirmed("delete")
    h.check(run("write", str(id_), "ada") == "wrote", "write")
    h.wait_until(lambda: w.confirmed("delete") >= n0 + 1, 30, what="the invalidation")
    h.check(run("read", str(id_)) == "miss ada stored", "read after the write")
    h.check(run("read", str(id_)) == "hit ada", "hit after the write")


TESTS = [
    ("example", lambda ctx: example()),
    ("race_plain_delete", lambda ctx: race_plain("delete")),
    ("race_leases_delete", lambda ctx: race_leases("delete")),
    ("race_leases_stale", lambda ctx: race_leases("stale")),
    ("herd_plain_delete", lambda ctx: herd_plain_delete()),
    ("herd_leases_delete", lambda ctx: herd_leases_delete()),
    ("herd_leases_stale", lambda ctx: herd_leases_stale()),
    ("random_plain_delete", lambda ctx: random_plain_delete()),
    ("random_leases_delete", lambda ctx: random_leases_delete()),
    ("random_leases_stale", lambda ctx: random_leases_stale()),
]


def main():
    global WORLD
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    rc = h.check_requirements(memcached=True, modules=[("python3-pymysql", IMPORT_ERROR)],
                              tools=("mariadb-install-db",))
    if rc is not None:
        return rc
    WORLD = World(*(os.path.abspath(a) for a in sys.argv[1:4]))
    return h.run_tests(TESTS, "MCSQ_LEASES_TEST", Ctx,
                       intro="seed %d (MCSQ_LEASES_SEED)" % SEED)


if __name__ == "__main__":
    sys.exit(main())
