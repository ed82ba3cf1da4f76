#!/usr/bin/python3
"""The memcached clients applications use against the whole pipeline: each
client stores keys where it puts them, annotated writes commit, `mcsqueal run`
invalidates them, and no key stays cached on any server (docs/memcached.md).

The clients are Debian 12's packages (scripts/deps installs them), driven by
tests/integration/clients/ (clients.CLIENTS: libmemcached C with
KETAMA_WEIGHTED and with its defaults, php-memcached with
OPT_LIBKETAMA_COMPATIBLE and with its defaults, pymemcache HashClient,
python-memcached, Dalli, Cache::Memcached::Fast with its defaults and with
ketama_points => 150, spymemcached's KetamaConnectionFactory without and with
weights).

One mariadbd and one `mcsqueal run` serve the tests. Its configuration has
one pool per placement the clients need (placement, ketama_points, weights),
each on three memcached servers of its own, 127.0.G.2:11211 (weight 3),
127.0.G.3:11211 (weight 1) and 127.0.G.1:21211 (weight 2), the weights given
to the clients that take weights and in the pool where its placement has
weights (libmemcached's modula takes and ignores them): two servers on port
11211, whose names the clients write differently. A client stores its keys on its pool's servers;
the router deletes every key in every pool, so only the placement of the
client's own pool decides whether its keys go. Besides: a pool `every`
(placement = all), and, in a `mcsqueal run` of its own, a pool `proxied`
(placement = proxy) whose servers are two twemproxy (nutcracker) instances in
front of three memcached servers.
The script runs in a private network namespace (clients.in_private_netns), so
port 11211 clashes neither with a system memcached nor with a parallel run.

Tests (select with MCSQ_CLIENT_PLACEMENT_TEST=name[,name...], prefixes):

  1. own_placement   each client stores 1000 keys on its pool (each lands on
     exactly one server), annotated transactions of 100 keys commit, and
     within 20 s none of the keys is on any server.
  2. all             every client stores 1000 keys on the pool `every`
     (placement = all); none stays.
  3. proxy           1000 keys stored through each of the two proxies (by
     libmemcached, one server: the proxy) land on the servers behind them;
     placement = proxy deletes them through a proxy; none stays.
  4. proxy_failover  the first proxy is killed (kill -9) while the proxies'
     `mcsqueal run` streams: the deletes go through the other, nothing is
     spooled; then the other is killed too: the deletes are spooled
     (mcsqueal_deletes_total{result="spooled"}), the keys stay cached, and
     once the first proxy is back they are delivered through it; none stays.
  5. placement_command  `mcsqueal placement --config FILE --pool NAME KEY...`
     agrees on 10,000 keys with each client's own key-to-server answer on its
     pool (for Cache::Memcached::Fast, which tells none: where the keys it
     stored landed); `*` for every key of `every`, a proxy's address for
     `proxied`.

Usage: test_client_placement.py MCSQUEAL CLIENT_LIBMEMCACHED
(CLIENT_LIBMEMCACHED: the C driver, tests/integration/clients/
client_libmemcached.c, built by CMake.) Exit 0 when all pass, 1 otherwise,
77 (skip) without mariadbd or memcached.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "clients"))
import clients as c  # noqa: E402
import harness as h  # noqa: E402
import make_vectors  # noqa: E402

IMPORT_ERROR = None
try:
    import pymysql  # noqa: F401 (python3-pymysql, used by the harness)
except ImportError as e:  # reported as a failure, not a skip
    IMPORT_ERROR = e

PASSWORD = "client-placement-pw"
REGION = "cptest"
WEIGHTS = (3, 1, 2)
PROXY_PORTS = (22121, 22122)
NUTCRACKER = "/usr/sbin/nutcracker"
STORED_KEYS = 1000
KEYS_PER_TRANSACTION = 100
COMPARED_KEYS = 10000
WAIT_S = 20

MCSQUEAL = None
DRIVERS = None
SHARED = h.SharedMariaDB("mcsq-cp-db-", PASSWORD)


class Pool:
    """A pool of the configuration on three servers of its own,
    127.0.G.2:11211, 127.0.G.3:11211 and 127.0.G.1:21211 with the weights 3,
    1 and 2 (given to the clients that take weights; in the pool's `servers`
    when weighted); specs: its `servers` (the servers, or the proxies in
    front of them)."""

    def __init__(self, work, name, g, placement, options=None, weighted=False):
        self.name = name
        self.placement = placement
        self.options = dict(options or {})
        hosts = [("127.0.%d.2" % g, 11211), ("127.0.%d.3" % g, 11211), ("127.0.%d.1" % g, 21211)]
        self.servers = [c.Server(work, host, port, w) for (host, port), w in zip(hosts, WEIGHTS)]
        self.specs = [s.spec if weighted else s.name for s in self.servers]

    def section(self):
        text = "[pool %s]\nservers = %s\nrole = cluster\nplacement = %s\n" % (
            self.name, " ".join(self.specs), self.placement)
        for name, value in sorted(self.options.items()):
            text += "%s = %s\n" % (name, value)
        return text


# Placements whose pools have no weights (check-config refuses them).
UNWEIGHTED_PLACEMENTS = ("pymemcache", "all", "proxy")


def pool_weighted(client):
    return client.weights and client.placement not in UNWEIGHTED_PLACEMENTS


def pool_name(client):
    key = client.placement + "".join("-%s%s" % kv for kv in sorted(client.options.items()))
    return key.replace("_", "") + ("-weighted" if pool_weighted(client) else "")


class World:
    """What the tests share, started on first use: the mariadbd, the pools
    and their servers, the proxies, one `mcsqueal run` (its log in the
    context of each test) and its configuration file."""

    def __init__(self):
        self.work = h.mkdtemp("mcsq-cp-")
        self.pools = {}
        for cl in c.CLIENTS:
            name = pool_name(cl)
            if name not in self.pools:
                self.pools[name] = Pool(self.work, name, len(self.pools) + 1, cl.placement,
                                        cl.options, pool_weighted(cl))
        self.every = self.pools["every"] = Pool(self.work, "every", 100, "all")
        self.proxied = Pool(self.work, "proxied", 101, "proxy")
        self.proxy_procs = [None] * len(PROXY_PORTS)
        self.proxied.specs = [self.start_proxy(i) for i in range(len(PROXY_PORTS))]
        self.password_file = os.path.join(self.work, "password")
        with open(self.password_file, "w") as f:
            f.write(PASSWORD + "\n")
        self.config = self.write_config("run.ini", 4300, self.pools.values())
        # the proxies' pool in a run of its own: a proxy that misbehaves
        # cannot hold the other pools' deletes back
        self.proxy_metrics = h.free_port()
        self.proxy_config = self.write_config("proxy.ini", 4301, [self.proxied],
                                              self.proxy_metrics)
        t0 = time.monotonic()
        self.run = h.Proc(MCSQUEAL, self.work, ["run", "--config", self.config], "run")
        self.run.wait_log("binlog: streaming from")
        self.workload = h.Workload(SHARED.get(), "cp")
        print("  `mcsqueal run` with %d pools streams after %.1f s" %
              (len(self.pools), time.monotonic() - t0), flush=True)

    def write_config(self, name, server_id, pools, metrics_port=None):
        """A `mcsqueal run` configuration (its own state_dir and embedded bus)
        with pools (and /metrics on metrics_port); returns its path."""
        tag = os.path.splitext(name)[0]
        text = """\
[mcsqueal]
name = db-cp-{tag}
region = {region}
state_dir = {state}
checkpoint_interval_ms = 100
log_level = info
""".format(tag=tag, region=REGION, state=os.path.join(self.work, "state-" + tag))
        text += h.mysql_section(SHARED.get().port, self.password_file, server_id, "end",
                                more=h.QUICK_RECONNECT)
        text += "[bus]\nbrokers = embedded\ntopic = mcsqueal.%s.%s\nlinger_ms = 1\n" % (
            REGION, tag)
        text += "[router]\ncluster = c1\n"
        text += "".join(p.section() for p in pools)
        text += "[metrics]\nlisten = %s\n" % (
            "127.0.0.1:%d" % metrics_port if metrics_port else "")
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_proxy(self, i):
        """Starts nutcracker (twemproxy) number i (again, when it was
        killed) in front of the pool proxied's servers; returns its
        address."""
        h.check(os.path.exists(NUTCRACKER), "nutcracker not installed (scripts/deps installs it)")
        port = PROXY_PORTS[i]
        conf = os.path.join(self.work, "nutcracker%d.yml" % i)
        with open(conf, "w") as f:
            f.write("pool:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n"
                    "  distribution: ketama\n  timeout: 2000\n  auto_eject_hosts: false\n"
                    "  servers:\n" % port +
                    "".join("    - %s:%d:1\n" % (s.host, s.port) for s in self.proxied.servers))
        log = os.path.join(self.work, "nutcracker%d.log" % i)
        self.proxy_procs[i] = h.spawn(
            [NUTCRACKER, "-c", conf, "-o", log, "-s", str(port + 100), "-a", "127.0.0.1",
             "-p", os.path.join(self.work, "nutcracker%d.pid" % i)], log)
        h.wait_until(lambda: c.answers("127.0.0.1", port), 10,
                     what="nutcracker on port %d" % port)
        return "127.0.0.1:%d" % port

    def ensure_proxies(self):
        """Starts again the proxies that a test killed, or that ended with
        the test that had restarted them."""
        for i, p in enumerate(self.proxy_procs):
            if p.poll() is not None:
                self.start_proxy(i)

    def kill_proxy(self, i):
        """kill -9 of nutcracker number i: a proxy that crashed."""
        self.proxy_procs[i].kill()
        self.proxy_procs[i].wait()
        h.wait_until(lambda: not c.answers("127.0.0.1", PROXY_PORTS[i]), 10,
                     what="nutcracker on port %d gone" % PROXY_PORTS[i])

    def invalidate(self, keys):
        """Commits annotated writes naming keys, KEYS_PER_TRANSACTION a
        transaction."""
        wl = self.workload
        for i in range(0, len(keys), KEYS_PER_TRANSACTION):
            batch = keys[i:i + KEYS_PER_TRANSACTION]
            with wl.lock:
                wl.transaction([wl.update(h.annotation(batch), row=1 + (i // 100) % 20)], batch)

    def close(self):
        self.workload.close()


WORLD = None


def world(ctx):
    global WORLD
    if WORLD is None:
        WORLD = World()
        # the world outlives the test that started it: its processes are not
        # the test's to kill when it closes
        ctx.first_proc = len(h._procs)
    ctx.logs.append(WORLD.run.log)
    h.check(WORLD.run.alive(), "`mcsqueal run` exited:\n%s" % h.tail_text(WORLD.run.log))
    return WORLD


def app_keys(tag, n):
    """n keys an application might write, distinct per tag."""
    kinds = ["user", "post", "cart", "v1.item", "s-e_s"]
    return ["%s:%s:%05d" % (tag, kinds[i % len(kinds)], i) for i in range(n)]


def left_cached(pool, keys, prefix=""):
    """{server name: the keys (of keys, stored as prefix + key) it holds}."""
    stored = [prefix + k for k in keys]
    left = {}
    for s in pool.servers:
        found = s.present(stored)
        if found:
            left[s.name] = found
    return left


def check_invalidated(w, cases, after=()):
    """cases: (what, pool, keys, prefix) whose keys are stored. Commits the
    annotated writes of all keys, then waits (WAIT_S) until none is cached,
    nor any key of the cases of after (whose writes committed before);
    fails naming each case whose keys stayed, with how many where."""
    w.invalidate([k for _, _, keys, _ in cases for k in keys])
    cases = list(cases) + list(after)
    left = {}

    def none_left():
        left.clear()
        for what, pool, keys, prefix in cases:
            stayed = left_cached(pool, keys, prefix)
            if stayed:
                left[what] = (len(keys), stayed)
        return not left
    try:
        h.wait_until(none_left, WAIT_S, step=0.2, what="every key gone")
    except AssertionError:
        pass
    for what, _, _, _ in cases:
        if what not in left:
            print("  ok   %s" % what, flush=True)
    h.check(not left, "%d of %d cases left keys cached %d s after the commits:\n  %s" % (
        len(left), len(cases), WAIT_S, "\n  ".join(
            "%s: %d of %d keys, %s" % (what, sum(len(v) for v in stayed.values()), n,
                                       ", ".join("%d on %s (e.g. %s)" % (len(v), name, min(v))
                                                 for name, v in sorted(stayed.items())))
            for what, (n, stayed) in left.items())))


def store(client, pool, keys):
    """client stores keys on pool's servers (with weights when it takes
    them); each must land on exactly one server."""
    t0 = time.monotonic()
    DRIVERS.store(client, [s.spec if client.weights else s.name for s in pool.servers]
                  if pool.placement != "proxy" else pool.specs[:1], keys)
    c.landed(pool.servers, keys, client.prefix)
    return time.monotonic() - t0


def test_own_placement(ctx):
    w = world(ctx)
    cases = []
    for cl in c.CLIENTS:
        pool = w.pools[pool_name(cl)]
        keys = app_keys(cl.case, STORED_KEYS)
        took = store(cl, pool, keys)
        cases.append(("%r on pool %s (placement = %s, stored in %.1f s)" %
                      (cl, pool.name, pool.placement, took), pool, keys, cl.prefix))
    check_invalidated(w, cases)


def test_all(ctx):
    w = world(ctx)
    cases = []
    for cl in c.CLIENTS:
        keys = app_keys("all-" + cl.case, STORED_KEYS)
        store(cl, w.every, keys)
        cases.append(("%r on pool every (placement = all)" % cl, w.every, keys, cl.prefix))
    check_invalidated(w, cases)


def test_proxy(ctx):
    w = world(ctx)
    w.ensure_proxies()
    run = h.Proc(MCSQUEAL, ctx.dir, ["run", "--config", w.proxy_config], "run-proxy")
    ctx.logs.append(run.log)
    ctx.closers.append(run.stop)
    run.wait_log("binlog: streaming from")
    through = c.Client("libmemcached-via-proxy", "libmemcached", "defaults", "proxy", False, True,
                       "libmemcached-dev")
    cases = []
    for i, proxy in enumerate(w.proxied.specs):
        keys = app_keys("proxy%d" % i, STORED_KEYS)
        DRIVERS.store(through, [proxy], keys)
        where = c.landed(w.proxied.servers, keys)
        h.check(len(set(where.values())) == len(w.proxied.servers),
                "twemproxy %s put keys on %s only" % (proxy, sorted(set(where.values()))))
        cases.append(("keys stored through twemproxy %s (placement = proxy)" % proxy,
                      w.proxied, keys, ""))
    check_invalidated(w, cases)
    run.stop_ok()


def proxied_deletes(w, result):
    """mcsqueal_deletes_total{pool="proxied",result} of the proxies' run."""
    return h.metric(h.scrape(w.proxy_metrics), "mcsqueal_deletes_total", pool="proxied",
                    result=result) or 0


def test_proxy_failover(ctx):
    w = world(ctx)
    w.ensure_proxies()
    run = h.Proc(MCSQUEAL, ctx.dir, ["run", "--config", w.proxy_config], "run-proxy")
    ctx.logs.append(run.log)
    ctx.closers.append(run.stop)
    run.wait_log("binlog: streaming from")
    h.wait_ready(w.proxy_metrics, proc=run)
    through = c.Client("libmemcached-via-proxy", "libmemcached", "defaults", "proxy", False, True,
                       "libmemcached-dev")
    first, second = w.proxied.specs
    keys = app_keys("failover", STORED_KEYS)
    DRIVERS.store(through, [second], keys)
    c.landed(w.proxied.servers, keys)
    half = STORED_KEYS // 2
    check_invalidated(w, [("before the kill: deleted through %s" % first, w.proxied,
                           keys[:half], "")])
    w.kill_proxy(0)
    check_invalidated(w, [("%s killed (-9): deleted through %s" % (first, second), w.proxied,
                           keys[half:], "")])
    spooled = proxied_deletes(w, "spooled")
    h.check(spooled == 0, "%d deletes spooled while %s answered" % (spooled, second))

    keys = app_keys("bothdead", STORED_KEYS)
    DRIVERS.store(through, [second], keys)
    c.landed(w.proxied.servers, keys)
    w.kill_proxy(1)
    t0 = time.monotonic()
    w.invalidate(keys)
    h.wait_until(lambda: proxied_deletes(w, "spooled") >= STORED_KEYS, WAIT_S,
                 what="%d deletes spooled with both proxies dead" % STORED_KEYS)
    spooled = proxied_deletes(w, "spooled")
    h.check(spooled == STORED_KEYS, "%d deletes spooled for %d keys" % (spooled, STORED_KEYS))
    left = sum(len(v) for v in left_cached(w.proxied, keys).values())
    h.check(left == STORED_KEYS, "%d of %d keys deleted with both proxies dead" %
            (STORED_KEYS - left, STORED_KEYS))
    print("  ok   both proxies dead: %d deletes spooled after %.1f s, the keys stay" %
          (spooled, time.monotonic() - t0), flush=True)
    confirmed = proxied_deletes(w, "confirmed")
    w.start_proxy(0)
    t0 = time.monotonic()
    check_invalidated(w, [], after=[("spooled, delivered once %s is back" % first, w.proxied,
                                     keys, "")])
    h.check(proxied_deletes(w, "confirmed") - confirmed == STORED_KEYS,
            "the replay confirmed %d deletes, not %d" %
            (proxied_deletes(w, "confirmed") - confirmed, STORED_KEYS))
    print("  ok   the spool delivered in %.1f s after the restart" % (time.monotonic() - t0),
          flush=True)
    run.stop_ok()


def placement_command(config, pool, keys):
    """{key: what `mcsqueal placement` prints for it in pool}."""
    out = {}
    for i in range(0, len(keys), 2500):
        r = subprocess.run([MCSQUEAL, "placement", "--config", config, "--pool", pool, "--"] +
                           keys[i:i + 2500], capture_output=True, text=True, timeout=60)
        h.check(r.returncode == 0, "mcsqueal placement --pool %s: exit %d:\n%s" %
                (pool, r.returncode, r.stderr[-2000:]))
        for line in r.stdout.splitlines():
            p, key, where = line.split("\t")
            h.check(p == pool, "mcsqueal placement --pool %s printed %r" % (pool, line))
            out[key] = where
    h.check(len(out) == len(keys), "mcsqueal placement --pool %s printed %d of %d keys" %
            (pool, len(out), len(keys)))
    return out


def compared_keys(tag, n=COMPARED_KEYS, prefix=""):
    """n keys like the vectors' (make_vectors.py): printable ASCII, 1 to 250
    bytes with the prefix, some starting with '-' (after `--` on the command
    line)."""
    return make_vectors.vector_keys(n, tag, 250 - len(prefix))


def test_placement_command(ctx):
    w = world(ctx)
    failures = []
    for cl in c.CLIENTS:
        pool = w.pools[pool_name(cl)]
        keys = compared_keys(cl.case, prefix=cl.prefix)
        t0 = time.monotonic()
        theirs = c.where_client_puts(DRIVERS, cl, pool.servers, keys)
        ours = placement_command(w.config, pool.name, keys)
        differ = [k for k in keys if ours[k] != theirs[k]]
        if differ:
            failures.append("%r, pool %s (placement = %s): differs on %d of %d keys, e.g. %r: "
                            "mcsqueal says %s, the client %s" %
                            (cl, pool.name, pool.placement, len(differ), len(keys), differ[0],
                             ours[differ[0]], theirs[differ[0]]))
            print("  FAIL %s" % failures[-1], flush=True)
        else:
            print("  ok   %r, pool %s: %d keys (%.1f s)" % (cl, pool.name, len(keys),
                                                         time.monotonic() - t0), flush=True)
    keys = compared_keys("modes", 1000)
    every = placement_command(w.config, "every", keys)
    bad = [k for k in keys if every[k] != "*"]
    if bad:
        failures.append("pool every (placement = all): %r printed as %s, not *" %
                        (bad[0], every[bad[0]]))
    proxied = placement_command(w.proxy_config, "proxied", keys)
    bad = [k for k in keys if proxied[k] not in w.proxied.specs]
    if bad:
        failures.append("pool proxied (placement = proxy): %r printed as %s, not a proxy" %
                        (bad[0], proxied[bad[0]]))
    h.check(not failures, "%d disagreements:\n  %s" % (len(failures), "\n  ".join(failures)))


TESTS = [
    ("own_placement", test_own_placement),
    ("all", test_all),
    ("proxy", test_proxy),
    ("proxy_failover", test_proxy_failover),
    ("placement_command", test_placement_command),
]


def main():
    global MCSQUEAL, DRIVERS
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    MCSQUEAL, client_c = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    c.in_private_netns()
    DRIVERS = c.Drivers(h.mkdtemp("mcsq-cp-drivers-"), client_c)
    try:
        return h.run_tests(TESTS, "MCSQ_CLIENT_PLACEMENT_TEST",
                           lambda name: h.Ctx(name, "mcsq-cp-%s-" % name, PASSWORD, REGION,
                                              SHARED),
                           shared=SHARED,
                           needs={"memcached": True,
                                  "modules": [("python3-pymysql", IMPORT_ERROR)],
                                  "tools": ["php", "ruby", "perl", "java", "javac"]})
    finally:
        if WORLD is not None:
            WORLD.close()


if __name__ == "__main__":
    sys.exit(main())
