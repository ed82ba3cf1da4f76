#!/usr/bin/python3
"""Black-box tests of the lag audit: `mcsqueal heartbeat`, the lag
histograms and gauges, and `mcsqueal status`, against a throwaway mariadbd
and memcached (the harness of test_route.py).

Tests (select with MCSQ_LAG_TEST=name[,name...]):

  1. pipeline     `mcsqueal run` (embedded bus) with `mcsqueal heartbeat`
     every 100 ms and a small annotated workload: both histograms fill (one
     pipeline sample per transaction, invalidation-lag samples only for exact
     commit times, i.e. the probes here, as MariaDB has no microsecond commit
     timestamps), /metrics parses with prometheus_client's parser, the p99
     of both is below 1 s, the heartbeat row is there, the binlog lag of the
     idle server stays below 0.5 s while probes run. `mcsqueal status` prints
     positions and lag quantiles (exit 0); once the daemon is stopped it says
     it is not running (exit 1).
  2. router_stall `mcsqueal bus`, `tail`, `route` and `heartbeat` as
     processes; the router is SIGSTOPped for 5 s: the invalidation-lag
     samples after it resumes show the stall (>= 10 samples above 2 s, their
     sum >= 40 s), while the tailer's binlog lag stays near zero (probes keep
     it exact) and the per-partition consumer lag gauge exists.
  3. heartbeat_privileges  a table the user may not create: exit 2 with a
     clear message; a table created by someone else, on which the user may
     only INSERT/UPDATE/SELECT: probes are written.

Usage: test_lag.py MCSQUEAL_BINARY
Exit 0 when all pass, 1 otherwise, 77 (skip) when mariadbd or memcached is
missing.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_route as rt  # noqa: E402  (servers, processes, workload, configuration)

PROM_ERROR = None
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:  # reported as a failure, not a skip
    PROM_ERROR = e

check = rt.check
INTERVAL_MS = 100


# ---------------------------------------------------------------- metrics


def scrape_families(port):
    """{name: {sample_name: [(labels, value)]}} via prometheus_client."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode("utf-8")
    samples = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples.append((s.name, dict(s.labels), s.value, fam.type))
    return samples


def histogram(samples, name, cluster):
    """(bounds, cumulative counts, sum, count) of name{cluster}."""
    buckets = sorted((float(l["le"]), v) for n, l, v, _ in samples
                     if n == name + "_bucket" and l.get("cluster") == cluster)
    total = [v for n, l, v, _ in samples if n == name + "_sum" and l.get("cluster") == cluster]
    count = [v for n, l, v, _ in samples if n == name + "_count" and l.get("cluster") == cluster]
    check(buckets and total and count, "%s{cluster=%s} missing" % (name, cluster))
    bounds = [b for b, _ in buckets]
    cum = [c for _, c in buckets]
    check(bounds[-1] == float("inf"), "%s: no +Inf bucket" % name)
    check(all(cum[i] <= cum[i + 1] for i in range(len(cum) - 1)), "%s: not cumulative" % name)
    check(cum[-1] == count[0], "%s: +Inf bucket %s != count %s" % (name, cum[-1], count[0]))
    return bounds, cum, total[0], count[0]


def quantile(q, bounds, cum):
    """Prometheus' histogram_quantile over one series."""
    total = cum[-1]
    if total == 0:
        return float("nan")
    rank = q * total
    b = next(i for i, c in enumerate(cum) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    start = 0 if b == 0 else bounds[b - 1]
    below = 0 if b == 0 else cum[b - 1]
    return start + (bounds[b] - start) * ((rank - below) / max(cum[b] - below, 1e-9))


def gauge(samples, name, **labels):
    for n, l, v, _ in samples:
        if n == name and all(l.get(k) == v2 for k, v2 in labels.items()):
            return v
    return None


def above(bounds, cum, le):
    """Observations above bound le."""
    return cum[-1] - cum[bounds.index(le)]


# ---------------------------------------------------------------- setup


def grant(srv):
    srv.sql("CREATE DATABASE IF NOT EXISTS ops",
            "GRANT CREATE, INSERT, UPDATE, SELECT ON ops.* TO 'mcsqueal'@'127.0.0.1'",
            # the default heartbeat.table, mcsqueal.heartbeat: its database is created too
            "GRANT CREATE, INSERT, UPDATE, SELECT ON mcsqueal.* TO 'mcsqueal'@'127.0.0.1'")


def heartbeat_section(table="ops.mcsqueal_heartbeat"):
    """table None: the default (mcsqueal.heartbeat)."""
    text = "[heartbeat]\ninterval_ms = %d\n" % INTERVAL_MS
    return text + ("table = %s\n" % table if table else "")


def with_heartbeat(path, table="ops.mcsqueal_heartbeat"):
    with open(path, "a") as f:
        f.write(heartbeat_section(table))
    return path


def memcached_pool(ctx):
    m = rt.Memcached(ctx, "m0")
    ctx.closers.append(m.close)
    return m, "[pool main]\nservers = %s\n" % m.name


class OnePool:
    def __init__(self, text):
        self.text = text

    def config(self):
        return self.text


def status(args):
    r = subprocess.run([rt.MCSQUEAL, "status"] + args, capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout + r.stderr


def workload(srv, n):
    wl = rt.Workload(srv, "t_lag_%d" % int(time.time() * 1000 % 1000000))
    try:
        for i in range(n):
            wl.run([wl.update(rt.annotation(["lag:%d" % i, "lagb:%d" % i]), row=1 + i % 20)],
                   ["lag:%d" % i, "lagb:%d" % i])
    finally:
        wl.close()
    return n


# ---------------------------------------------------------------- tests


def test_pipeline(ctx):
    srv = rt.server()
    grant(srv)
    mc, pool = memcached_pool(ctx)
    port = rt.free_port()
    cfg = with_heartbeat(ctx.config("run.ini", srv, pools=OnePool(pool), metrics_port=port,
                                    start="gtid:" + srv.gtid_pos()), table=None)
    run = rt.run_proc(ctx, cfg, "run")
    run.wait_log("binlog: streaming from")
    run.wait_log("bus: assigned")  # the embedded bus assigns after ~3 s
    hb = rt.Proc(ctx, ["heartbeat", "--config", cfg], "heartbeat")
    ctx.closers.append(hb.stop)
    hb.wait_log("heartbeat: writing a probe")
    cluster = rt.CLUSTER
    rt.wait_metric(port, "mcsqueal_invalidation_lag_seconds_count", lambda v: v >= 3, 30,
                   "the first probes reach the router", cluster=cluster)
    s0 = scrape_families(port)
    inv0 = histogram(s0, "mcsqueal_invalidation_lag_seconds", cluster)
    pipe0 = histogram(s0, "mcsqueal_pipeline_latency_seconds", cluster)
    n = workload(srv, 60)
    rt.wait_metric(port, "mcsqueal_invalidation_lag_seconds_count", lambda v: v >= inv0[3] + 30,
                   30, "probes reach the router", cluster=cluster)
    rt.wait_metric(port, "mcsqueal_pipeline_latency_seconds_count",
                   lambda v: v >= pipe0[3] + n + 30, 30, "transactions reach the router",
                   cluster=cluster)
    s = scrape_families(port)
    for name in ("mcsqueal_invalidation_lag_seconds", "mcsqueal_pipeline_latency_seconds"):
        check(any(t == "histogram" and n2.startswith(name) for n2, _, _, t in s),
              "%s is not a histogram for prometheus_client" % name)
    inv = histogram(s, "mcsqueal_invalidation_lag_seconds", cluster)
    pipe = histogram(s, "mcsqueal_pipeline_latency_seconds", cluster)
    transactions = gauge(s, "mcsqueal_transactions_total")
    check(inv[3] < transactions, "invalidation lag counted %d of %d transactions: only exact "
          "commit times (probes) may count" % (inv[3], transactions))
    for what, now, before in (("invalidation lag", inv, inv0), ("pipeline latency", pipe, pipe0)):
        b, total, count = now[0], now[2] - before[2], now[3] - before[3]
        c = [x - y for x, y in zip(now[1], before[1])]  # since the router had its partition
        p50, p99 = quantile(0.5, b, c), quantile(0.99, b, c)
        print("  %s: %d samples, mean %.2f ms, p50 %.2f ms, p99 %.2f ms" %
              (what, count, 1e3 * total / count, 1e3 * p50, 1e3 * p99))
        check(0 < p99 < 1.0, "%s p99 %.3f s is out of bounds (0, 1 s)" % (what, p99))
    row = srv.sql("SELECT probe_us FROM mcsqueal.heartbeat WHERE name = 'db-route-1'")
    check(row and abs(row[0][0] / 1e6 - time.time()) < 5, "heartbeat row: %r" % (row,))
    lags = []
    for _ in range(20):
        lags.append(gauge(scrape_families(port), "mcsqueal_binlog_lag_seconds"))
        time.sleep(0.1)
    print("  binlog lag with probes: max %.4f s" % max(lags))
    check(max(lags) < 0.5, "binlog lag of an idle server with heartbeats: %r" % lags)
    rc, out = status(["--config", cfg, "--interval", "0.5"])
    print("  " + "\n  ".join(out.splitlines()))
    check(rc == 0, "status exited %d:\n%s" % (rc, out))
    for needle in ("checkpoint", "file index", "binlog lag", "invalidation lag", "p99",
                   "pipeline latency", "router, cluster %s" % cluster, "errors: none"):
        check(needle in out, "status output lacks %r:\n%s" % (needle, out))
    hb.stop_ok("heartbeat: SIGTERM")
    run.stop_ok("run: SIGTERM")
    rc, out = status(["--url", "http://127.0.0.1:%d/metrics" % port, "--interval", "0"])
    check(rc == 1 and "not running" in out, "status of a dead daemon: %d %r" % (rc, out))
    rc, out = status(["--url", "ftp://x"])
    check(rc == 1 and "bad URL" in out, "status with a bad URL: %d %r" % (rc, out))


def test_router_stall(ctx):
    srv = rt.server()
    grant(srv)
    mc, pool = memcached_pool(ctx)
    bus_state = os.path.join(ctx.dir, "bus-state")
    bus = rt.Proc(ctx, ["bus", "--config", ctx.config("bus.ini", state_dir=bus_state)], "bus")
    ctx.closers.append(bus.stop)
    bootstrap = os.path.join(bus_state, "bus.bootstrap")
    rt.wait_until(lambda: os.path.exists(bootstrap) or not bus.alive(), 15, what="bus address")
    address = rt.read_text(bootstrap).strip()
    tail_port, route_port = rt.free_port(), rt.free_port()
    tail_cfg = with_heartbeat(ctx.config("tail.ini", srv, brokers=address, server_id=4501,
                                         state_dir=os.path.join(ctx.dir, "tail-state"),
                                         start="gtid:" + srv.gtid_pos(), metrics_port=tail_port))
    tail = rt.Proc(ctx, ["tail", "--config", tail_cfg], "tail")
    ctx.closers.append(tail.stop)
    tail.wait_log("binlog: streaming from")
    route_cfg = ctx.config("route.ini", pools=OnePool(pool), state_dir=bus_state,
                           metrics_port=route_port)
    route = rt.Proc(ctx, ["route", "--config", route_cfg], "route")
    ctx.closers.append(route.stop)
    hb = rt.Proc(ctx, ["heartbeat", "--config", tail_cfg], "heartbeat")
    ctx.closers.append(hb.stop)
    name = "mcsqueal_invalidation_lag_seconds"
    rt.wait_metric(route_port, name + "_count", lambda v: v >= 10, 40, "probes reach the router",
                   cluster=rt.CLUSTER)
    b0, c0, sum0, n0 = histogram(scrape_families(route_port), name, rt.CLUSTER)
    route.proc.send_signal(signal.SIGSTOP)
    tail_lags = []
    t_end = time.monotonic() + 5
    while time.monotonic() < t_end:
        tail_lags.append(gauge(scrape_families(tail_port), "mcsqueal_binlog_lag_seconds"))
        time.sleep(0.2)
    route.proc.send_signal(signal.SIGCONT)
    rt.wait_metric(route_port, name + "_count", lambda v: v >= n0 + 50, 30,
                   "the router resumes", cluster=rt.CLUSTER)
    s = scrape_families(route_port)
    b1, c1, sum1, n1 = histogram(s, name, rt.CLUSTER)
    slow = above(b1, c1, 2.0) - above(b0, c0, 2.0)
    print("  %d samples after the stall, %d of them above 2 s, sum %.1f s, max bucket le=%s; "
          "tailer binlog lag during the stall: max %.4f s" %
          (n1 - n0, slow, sum1 - sum0, next(b for b, c in zip(b1, c1) if c == c1[-1]),
           max(tail_lags)))
    check(slow >= 10, "only %d invalidation-lag samples above 2 s after a 5 s stall" % slow)
    check(sum1 - sum0 >= 40, "the stall added only %.1f s of lag" % (sum1 - sum0))
    check(max(tail_lags) < 0.5, "tailer binlog lag during the router stall: %r" % tail_lags)
    rt.wait_until(lambda: gauge(scrape_families(route_port), "mcsqueal_bus_consumer_lag_messages",
                                partition="0") == 0, 10, what="consumer lag of partition 0 is 0")


def test_heartbeat_privileges(ctx):
    srv = rt.server()
    srv.sql("CREATE DATABASE IF NOT EXISTS nopriv", "CREATE DATABASE IF NOT EXISTS ops2",
            "CREATE TABLE IF NOT EXISTS ops2.hb (name VARCHAR(255) NOT NULL PRIMARY KEY, "
            "probe_us BIGINT NOT NULL)",
            "GRANT INSERT, UPDATE, SELECT ON ops2.hb TO 'mcsqueal'@'127.0.0.1'")
    denied = with_heartbeat(ctx.config("denied.ini", srv), "nopriv.hb")
    r = subprocess.run([rt.MCSQUEAL, "heartbeat", "--config", denied], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 2 and "needs INSERT and UPDATE" in r.stderr,
          "heartbeat on a table it may not create: %d\n%s" % (r.returncode, r.stderr))
    ok = with_heartbeat(ctx.config("ok.ini", srv), "ops2.hb")
    hb = rt.Proc(ctx, ["heartbeat", "--config", ok], "heartbeat")
    ctx.closers.append(hb.stop)
    hb.wait_log("heartbeat: writing a probe")
    check("exists (creating it was refused" in hb.text(), "no note of the refused CREATE:\n%s" %
          hb.text())
    rt.wait_until(lambda: srv.sql("SELECT COUNT(*) FROM ops2.hb")[0][0] == 1, 10,
                  what="the probe row")
    hb.stop_ok("heartbeat: SIGTERM")
    r = subprocess.run([rt.MCSQUEAL, "heartbeat", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "heartbeat.interval_ms" in r.stdout, "heartbeat --help")


TESTS = [("pipeline", test_pipeline), ("router_stall", test_router_stall),
         ("heartbeat_privileges", test_heartbeat_privileges)]


def main():
    rt.MCSQUEAL = harness.binary_argument(__doc__)
    return harness.run_tests(TESTS, "MCSQ_LAG_TEST", rt.Ctx, rt.SHARED,
                             needs=dict(memcached=True,
                                        modules=[("python3-pymysql", rt.IMPORT_ERROR),
                                                 ("python3-prometheus-client", PROM_ERROR)]),
                             none_selected_ok=True)


if __name__ == "__main__":
    sys.exit(main())
