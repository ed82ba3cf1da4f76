#!/usr/bin/python3
"""Black-box tests of the router's auditor (docs/audit.md): `mcsqueal run`
(embedded bus) against a throwaway mariadbd and real memcached servers, with
[audit] sample_rate = 1 and short delays, and an application-side client
that places keys the way the test wants (the harness of test_route.py: its
libketama, memcached client, workload and configuration).

Tests (select with MCSQ_AUDIT_TEST=name[,name...]; MCSQ_AUDIT_SEED=N repeats
the random choices):

  1. placement_mismatch  a 2-server pool; the application's client lists only
     the second server, so it stores every key there, while the router
     deletes each key on its ketama owner. Within the delays, every key the
     ketama ring gives to the first server is counted as survived on the
     second (owner="false"), at both delays; the others held; nothing is
     counted on the first server or as owner="true"; the consistency ratio is
     held / all; the log says which settings to compare; `mcsqueal status`
     names the second server; `mcsqueal audit` exits 3 for a survivor
     ("survived" on the second server) and 0 for a held key.
  2. faults              a 2-server pool, keys stored on their ketama owner,
     a random workload that also stores some invalidated keys again (a
     read-through cache), one server SIGSTOPped for 2 s, the other killed
     with SIGKILL and started again, and `mcsqueal run` killed with SIGKILL
     twice and restarted: no survivor, held checks at both delays, ratio 1.
  3. restart             a 1-server pool; keys invalidated, then memcached
     killed with SIGKILL and started again on the same port, and the keys
     stored again (their CAS is now below the watermarks taken before the
     deletes): every check is ambiguous, none survived.
     cas_disabled        the same with a memcached started with -C (no CAS):
     the keys stored again are ambiguous, never survived.
  4. rate_limit          max_checks_per_s = 20 and 600 keys invalidated in
     about 2 s: checks run at most at that rate, the rest are counted as
     dropped, and checks + dropped = confirmed deletes.

Usage: test_audit.py MCSQUEAL_BINARY
Exit 0 when all pass, 1 otherwise, 77 (skip) when mariadbd or memcached is
missing.
"""

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_route as rt  # noqa: E402  (servers, processes, workload, configuration)

check = harness.check
metric = harness.metric
scrape = harness.scrape
wait_until = harness.wait_until
SEED = harness.env_seed("MCSQ_AUDIT_SEED")
RESULTS = ("held", "survived", "ambiguous", "unreachable", "dropped")


class Ctx(rt.Ctx):
    def __init__(self, name):
        harness.Ctx.__init__(self, name, "mcsq-audit-%s-" % name, rt.PASSWORD, rt.REGION,
                             rt.SHARED)


class Pool:
    """One cluster pool `main` of n memcached servers, with the [audit]
    section of the test in its configuration text."""

    def __init__(self, ctx, n, delays="200 1000", max_checks=1000, extra_args=()):
        self.servers = [rt.Memcached(ctx, "m%d" % i) for i in range(n)]
        for m in self.servers:
            if extra_args:
                restart(m, extra_args)
        self.ring = rt.Ketama([m.name for m in self.servers])
        self.audit = ("[audit]\nsample_rate = 1\ndelays_ms = %s\nmax_checks_per_s = %d\n" %
                      (delays, max_checks))
        self.labels = [delay_label(int(d)) for d in delays.split()]
        ctx.closers.append(self.close)

    def config(self):
        return ("[pool main]\nservers = %s\nrole = cluster\n" %
                " ".join(m.name for m in self.servers)) + self.audit

    def close(self):
        for m in self.servers:
            m.close()

    def owner(self, key):
        return self.ring.owner(key)


def delay_label(ms):
    return "%ds" % (ms // 1000) if ms % 1000 == 0 else "%dms" % ms


def restart(m, extra_args=()):
    """Kills memcached m (SIGKILL: its data is gone) and starts it again on
    the same port with extra_args."""
    m.close()
    m.proc.kill()
    m.proc.wait()
    args = [harness.find_memcached(), "-l", "127.0.0.1", "-p", str(m.port), "-U", "0",
            "-m", "64", "-t", "2"] + list(extra_args)
    if os.geteuid() == 0:
        args += ["-u", "root"]
    m.proc = harness.spawn(args, m.log)
    wait_until(lambda: m._answers() or m.proc.poll() is not None, 10,
               what="memcached restarted on port %d" % m.port)
    check(m.proc.poll() is None, "memcached did not restart:\n%s" % harness.tail_text(m.log))


def start(ctx, pool, server_id):
    srv = rt.server()
    port = harness.free_port()
    cfg = ctx.config("run.ini", srv, pool, server_id=server_id, metrics_port=port)
    run = rt.run_proc(ctx, cfg, "run")
    run.wait_log("binlog: streaming from")
    run.wait_log("bus: assigned", timeout=30)
    return srv, cfg, run, port


def checks(m, delay, result):
    return metric(m, "mcsqueal_audit_checks_total", pool="main", result=result, delay=delay) or 0


def all_checks(port, delay):
    m = scrape(port)
    return {r: checks(m, delay, r) for r in RESULTS}


def wait_checked(port, pool, n, timeout, what):
    """Waits until every delay has n results (dropped included)."""
    last = {}

    def done():
        for d in pool.labels:
            last[d] = all_checks(port, d)
        return all(sum(last[d].values()) >= n for d in pool.labels)
    try:
        wait_until(done, timeout, step=0.1, what=what)
    except AssertionError:
        raise AssertionError("%s: after %d s: %s" % (what, timeout, last))
    return last


def survivors(port):
    """{(server, owner): count} of mcsqueal_audit_survivors_total."""
    out = {}
    for (name, labels), v in (scrape(port) or {}).items():
        if name == "mcsqueal_audit_survivors_total" and v > 0:
            d = dict(labels)
            out[(d["server"], d["owner"])] = v
    return out


def commit_keys(wl, keys, per_txn):
    for i in range(0, len(keys), per_txn):
        part = keys[i:i + per_txn]
        wl.run([wl.insert(harness.annotation(part), i)], part)


def mcsqueal(*args):
    return subprocess.run([rt.MCSQUEAL] + list(args), capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- tests


def test_placement_mismatch(ctx):
    pool = Pool(ctx, 2, max_checks=100000)
    app_server = pool.servers[1]
    uni = rt.Universe("mm", 200)
    app_server.set_many(uni.keys)  # the application knows only the second server
    wl = rt.Workload(rt.server(), "t_mismatch")
    ctx.closers.append(wl.close)
    srv, cfg, run, port = start(ctx, pool, 4501)
    keys = uni.take(200)
    commit_keys(wl, keys, 2)
    t_commit = time.monotonic()
    elsewhere = [k for k in keys if pool.owner(k) == 0]
    check(20 < len(elsewhere) < 180, "test bug: %d of 200 keys owned by server 0" % len(elsewhere))
    res = wait_checked(port, pool, len(keys), 15, "every sampled key checked at every delay")
    took = time.monotonic() - t_commit
    for d in pool.labels:
        check(res[d]["survived"] == len(elsewhere) and res[d]["held"] == len(keys) - len(elsewhere),
              "delay %s: %s; expected %d survived (keys the application stored on %s, owned "
              "by %s), %d held" % (d, res[d], len(elsewhere), app_server.name,
                                   pool.servers[0].name, len(keys) - len(elsewhere)))
    check(took < 10, "survivors counted %.1f s after the commits" % took)
    surv = survivors(port)
    check(surv == {(app_server.name, "false"): 2 * len(elsewhere)},
          "survivors by (server, owner): %s; expected only %s, not the owner, %d" %
          (surv, app_server.name, 2 * len(elsewhere)))
    want = (len(keys) - len(elsewhere)) / len(keys)
    for d in pool.labels:  # the gauges follow within a second
        rt.wait_metric(port, "mcsqueal_audit_consistency_ratio", lambda v: abs(v - want) < 1e-9,
                       3, "consistency ratio %.4f after %s" % (want, d), pool="main", delay=d)
    m = scrape(port)
    check(metric(m, "mcsqueal_audit_pool_audited", pool="main") == 1, "pool not audited")
    run.wait_log("does not own it under the router's placement", timeout=5)
    check("compare its client's hash" in run.text(), "the log does not say what to compare")
    st = mcsqueal("status", "--config", cfg, "--interval", "0")
    check(st.returncode == 0, "status: exit %d: %s" % (st.returncode, st.stderr))
    line = [ln for ln in st.stdout.splitlines() if ln.startswith("consistency, pool main:")]
    check(line and re.search(r"\d+(\.\d+)?%% of %d sampled invalidations held after 200 ms"
                             % (len(keys)), line[0]),
          "status: no consistency line:\n%s" % st.stdout)
    check("%s (not the owner" % app_server.name in st.stdout,
          "status does not name %s:\n%s" % (app_server.name, st.stdout))
    survivor = elsewhere[0]
    held = next(k for k in keys if pool.owner(k) == 1)
    a = mcsqueal("audit", "--config", cfg, survivor)
    check(a.returncode == 3, "audit %s: exit %d, expected 3:\n%s%s" %
          (survivor, a.returncode, a.stdout, a.stderr))
    check(re.search(r"%s\s+survived cas=\d+ ttl=-1" % re.escape(app_server.name), a.stdout) and
          re.search(r"%s\s+absent" % re.escape(pool.servers[0].name), a.stdout),
          "audit %s:\n%s" % (survivor, a.stdout))
    a = mcsqueal("audit", "--config", cfg, held)
    check(a.returncode == 0 and "%s: held" % held in a.stdout,
          "audit %s: exit %d:\n%s" % (held, a.returncode, a.stdout))


def store_quietly(m, key, value=b"again"):
    """Stores key on m without waiting for an answer (a stopped server
    costs at most 0.5 s)."""
    try:
        with socket.create_connection(("127.0.0.1", m.port), timeout=0.5) as s:
            s.sendall(b"set %s 0 0 %d noreply\r\n%s\r\n" % (key.encode(), len(value), value))
    except OSError:
        pass


def test_faults(ctx):
    rng = random.Random(SEED)
    pool = Pool(ctx, 2, max_checks=5000)
    uni = rt.Universe("f", 3000)
    for i, m in enumerate(pool.servers):
        m.set_many([k for k in uni.keys if pool.owner(k) == i])
    wl = rt.Workload(rt.server(), "t_faults")
    ctx.closers.append(wl.close)
    srv, cfg, run, port = start(ctx, pool, 4502)
    done = threading.Event()

    def workload():
        n = 0
        while not done.is_set() and not wl.stopping.is_set():
            keys = uni.take(rng.randint(1, 3))
            if keys is None:
                break
            wl.run([wl.insert(harness.annotation(keys), n)], keys)
            n += 1
            if n % 5 == 0 and len(wl.committed) > 20:  # read-through: cached again
                k = rng.choice(wl.committed[-20])
                store_quietly(pool.servers[pool.owner(k)], k)
            time.sleep(0.01)

    totals = {}  # per delay and result, over every run of the router

    def add_counts():
        m = scrape(port)
        for d in pool.labels:
            for r in RESULTS:
                totals[(d, r)] = totals.get((d, r), 0) + checks(m, d, r)
        check(survivors(port) == {}, "survivors: %s" % survivors(port))

    t = wl.in_thread(workload)
    try:
        time.sleep(2)
        victim = pool.servers[rng.randint(0, 1)]
        victim.pause()
        time.sleep(2)
        victim.resume()
        time.sleep(1)
        restart(pool.servers[1 - pool.servers.index(victim)])  # its copies are gone
        for i in range(2):
            time.sleep(rng.uniform(1.0, 2.0))
            add_counts()
            run.kill9()
            run = rt.run_proc(ctx, cfg, "run%d" % (i + 2))
            run.wait_log("bus: assigned", timeout=30)
        time.sleep(2)
    finally:
        done.set()
        wl.join(t)
    time.sleep(2)  # the last checks (1 s delay)
    m = scrape(port)
    for d in pool.labels:
        ratio = metric(m, "mcsqueal_audit_consistency_ratio", pool="main", delay=d)
        check(ratio == 1, "delay %s: ratio %s" % (d, ratio))
    add_counts()
    for d in pool.labels:
        c = {r: totals[(d, r)] for r in RESULTS}
        check(c["survived"] == 0, "delay %s: %s survived: %s" % (d, c["survived"], c))
        check(c["held"] > 50, "delay %s: only %s held: %s" % (d, c["held"], c))
    print("  checks over the runs: %s" % {d: {r: totals[(d, r)] for r in RESULTS}
                                          for d in pool.labels})


def restart_case(ctx, extra_args, server_id, table):
    pool = Pool(ctx, 1, delays="1500 3000", extra_args=extra_args)
    m = pool.servers[0]
    uni = rt.Universe("r", 3000)
    m.set_many(uni.keys)  # the CAS counter passes 3000
    wl = rt.Workload(rt.server(), table)
    ctx.closers.append(wl.close)
    srv, cfg, run, port = start(ctx, pool, server_id)
    keys = uni.take(20)
    commit_keys(wl, keys, 20)
    wait_until(lambda: not m.present(keys), 5, step=0.02, what="the keys deleted")
    if not extra_args:
        restart(m)
    m.set_many(keys, b"cached again")  # CAS 1..20 after a restart, 0 with -C
    res = wait_checked(port, pool, len(keys), 15, "every key checked at every delay")
    for d in pool.labels:
        check(res[d]["survived"] == 0 and res[d]["ambiguous"] == len(keys),
              "delay %s: %s; expected %d ambiguous, none survived" % (d, res[d], len(keys)))
    check(survivors(port) == {}, "survivors: %s" % survivors(port))
    a = mcsqueal("audit", "--config", cfg, keys[0])
    check(a.returncode == 0 and re.search(r"%s\s+present cas=\d+ ttl=-1" % re.escape(m.name),
                                          a.stdout), "audit:\n%s%s" % (a.stdout, a.stderr))


def test_restart(ctx):
    restart_case(ctx, (), 4503, "t_restart")


def test_cas_disabled(ctx):
    restart_case(ctx, ("-C",), 4504, "t_nocas")


def test_rate_limit(ctx):
    limit = 20
    pool = Pool(ctx, 1, delays="200", max_checks=limit)
    uni = rt.Universe("rl", 600)
    pool.servers[0].set_many(uni.keys)
    wl = rt.Workload(rt.server(), "t_rate")
    ctx.closers.append(wl.close)
    srv, cfg, run, port = start(ctx, pool, 4505)
    t0 = time.monotonic()
    keys = uni.take(600)
    for i in range(0, 600, 10):
        commit_keys(wl, keys[i:i + 10], 10)
        time.sleep(0.02)
    res = wait_checked(port, pool, 600, 15, "every key checked or dropped")
    elapsed = time.monotonic() - t0
    c = res[pool.labels[0]]
    ran = sum(c[r] for r in RESULTS if r != "dropped")
    confirmed = metric(scrape(port), "mcsqueal_deletes_total", pool="main", result="confirmed")
    check(ran + c["dropped"] == confirmed == 600, "checks %s, confirmed deletes %s" % (c, confirmed))
    check(c["dropped"] > 0, "nothing dropped at %d checks/s: %s" % (limit, c))
    check(ran <= limit * elapsed + limit / 10 + 1,
          "%d checks in %.1f s: more than %d/s" % (ran, elapsed, limit))
    check(ran >= limit * (elapsed - 3) / 2, "only %d checks in %.1f s" % (ran, elapsed))


TESTS = [("placement_mismatch", test_placement_mismatch), ("faults", test_faults),
         ("restart", test_restart), ("cas_disabled", test_cas_disabled),
         ("rate_limit", test_rate_limit)]


def main():
    rt.MCSQUEAL = harness.binary_argument(__doc__)
    return harness.run_tests(TESTS, "MCSQ_AUDIT_TEST", Ctx, rt.SHARED,
                             needs=dict(memcached=True,
                                        modules=[("python3-pymysql", rt.IMPORT_ERROR)]),
                             intro="seed %d (MCSQ_AUDIT_SEED)" % SEED)


if __name__ == "__main__":
    sys.exit(main())
