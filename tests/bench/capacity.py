#!/usr/bin/python3
"""Fleet sizing for mcsqueal from measured per-core figures (docs/capacity.md).

    capacity.py size --databases N --writes W --keys K [--clusters C]
                     [--miss-share M] [--util U]
        Tailers, routers, partitions, broker load, memcached CPU and memory for
        N databases each committing W transactions/s with K cache keys each,
        C memcached clusters (each has its own router group reading every
        message), every process at most at U of a core (default 0.5), and
        which stage saturates first as W grows.
    capacity.py check-tail --txns T --keys K --cpu-s C
        The tailer CPU the model predicts for T transactions of K keys on
        average against C CPU seconds measured (bench_debezium.sh, bench_tail.sh).

The figures below are from docs/benchmarks.md, each with its section; change
them there and here together. Only the standard library is used."""

import argparse
import math
import sys

# CPU microseconds and bytes; see docs/capacity.md for where each comes from.
FIGURES = {
    # tailer CPU, Kafka producer (lz4) included: 0.88 CPU s for 250,010
    # transactions of 5.0 keys ("Real Apache Kafka") = 3.52 us per transaction,
    # split with the per-key cost of the bus message writer ("After the
    # restructuring": 47.31M instructions for 20k transactions of 5 keys, about
    # 2 instructions per ns: 0.25 us per key)
    "tail_us_per_txn": 2.27,
    "tail_us_per_key": 0.25,
    # one tailer's ceiling: its binlog reader thread ("After the restructuring":
    # 381k transactions/s with the embedded bus on a quiet machine)
    "tail_max_txn_per_s": 380000.0,
    "tail_rss_mb": 27.0,
    # router, per key, confirmed deletes ("Router": 0.45 us cached, 0.87 us missing)
    "route_us_per_key_hit": 0.45,
    "route_us_per_key_miss": 0.87,
    "route_rss_mb": 78.0,  # librdkafka's default 64 MiB prefetch; 25 MB at 8 MiB
    # memcached, per delete, binary protocol ("Router": 0.65 and 1.43 us)
    "mc_us_per_key_hit": 0.65,
    "mc_us_per_key_miss": 1.43,
    # auditor: 0.31 CPU s per 20 s checking 10,000 keys/s twice ("Auditor")
    "audit_us_per_check": 1.55,
    "audit_checks_per_s": 100.0,  # [audit] max_checks_per_s default
    # bus: bytes on the broker ("Peer: Debezium": 52.7-52.8 per transaction of 5.0
    # keys, lz4), split as the JSON is (about 115 bytes per transaction and 15
    # per key before compression, "Router": 38 bytes per key at 5 keys)
    "bus_bytes_per_txn": 32.0,
    "bus_bytes_per_key": 4.1,
    # broker CPU per transaction ("Peer: Debezium", 1 broker, acks=all)
    "broker_us_per_txn": 2.5,
}


def size(n, w, k, clusters, miss, util, f):
    txn_s = n * w
    key_s = txn_s * k
    out = []
    # tailers: one per database (one binlog each)
    tail_core = w * (f["tail_us_per_txn"] + k * f["tail_us_per_key"]) / 1e6
    tail_limit_w = min(f["tail_max_txn_per_s"],
                       util * 1e6 / (f["tail_us_per_txn"] + k * f["tail_us_per_key"]))
    out.append(("tailers", n, "%.3f core each" % tail_core, "%.0f MB" % (n * f["tail_rss_mb"]),
                "W <= %.0f per database" % tail_limit_w))
    # routers: a router thread is one core; keys of one database go to one
    # partition (the tailer's name is the message key), so one router
    route_us = (1 - miss) * f["route_us_per_key_hit"] + miss * f["route_us_per_key_miss"]
    router_keys = util * 1e6 / route_us
    per_cluster = max(1, math.ceil(key_s / router_keys))
    routers = clusters * per_cluster
    # at most N partitions carry messages; 2x the routers leaves room to add some
    partitions = max(1, min(n, 2 * per_cluster))
    out.append(("routers", routers, "%.3f cores in all" % (clusters * key_s * route_us / 1e6),
                "%.0f MB" % (routers * f["route_rss_mb"]),
                "%d per cluster; W*K <= %.0f per database (one partition, one router)"
                % (per_cluster, router_keys)))
    out.append(("partitions", partitions, "one topic per region", "-",
                "at most N carry messages: a database's go to one partition"))
    mc_us = (1 - miss) * f["mc_us_per_key_hit"] + miss * f["mc_us_per_key_miss"]
    out.append(("memcached CPU", "-", "%.3f cores per cluster" % (key_s * mc_us / 1e6), "-",
                "spread by placement over its servers"))
    audit = f["audit_checks_per_s"] * f["audit_us_per_check"] / 1e6
    out.append(("auditor", routers, "%.4f core each (budget %.0f checks/s)" %
                (audit, f["audit_checks_per_s"]), "in the router", "its budget, not the load"))
    bus_bps = txn_s * f["bus_bytes_per_txn"] + key_s * f["bus_bytes_per_key"]
    out.append(("broker", "-", "%.3f core (%.2f MB/s in)" %
                (txn_s * f["broker_us_per_txn"] / 1e6, bus_bps / 1e6), "-",
                "replication x3 triples the bytes"))
    # first stage to saturate as W grows
    limits = {"tailer": tail_limit_w, "router (one database's partition)": router_keys / k}
    first = min(limits, key=limits.get)
    return txn_s, key_s, out, first, limits[first]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("size")
    s.add_argument("--databases", type=int, required=True)
    s.add_argument("--writes", type=float, required=True, help="transactions/s per database")
    s.add_argument("--keys", type=float, required=True, help="cache keys per transaction")
    s.add_argument("--clusters", type=int, default=1, help="memcached clusters (router groups)")
    s.add_argument("--miss-share", type=float, default=0.5,
                   help="share of deletes whose key is not cached (default 0.5)")
    s.add_argument("--util", type=float, default=0.5, help="target share of a core per process")
    c = sub.add_parser("check-tail")
    c.add_argument("--txns", type=float, required=True)
    c.add_argument("--keys", type=float, required=True, help="keys per transaction, average")
    c.add_argument("--cpu-s", type=float, required=True, help="measured tailer CPU seconds")
    a = p.parse_args()
    f = FIGURES
    if a.cmd == "check-tail":
        pred = a.txns * (f["tail_us_per_txn"] + a.keys * f["tail_us_per_key"]) / 1e6
        print("tailer CPU for %.0f transactions of %.2f keys: predicted %.2f s, measured %.2f s "
              "(measured / predicted %.2f)" % (a.txns, a.keys, pred, a.cpu_s, a.cpu_s / pred))
        return 0
    txn_s, key_s, rows, first, at = size(a.databases, a.writes, a.keys, a.clusters, a.miss_share,
                                         a.util, f)
    print("%d databases x %.0f transactions/s x %.1f keys: %.0f transactions/s, %.0f keys/s "
          "(miss share %.2f, each process at most %.0f%% of a core)"
          % (a.databases, a.writes, a.keys, txn_s, key_s, a.miss_share, 100 * a.util))
    for name, count, cpu, mem, limit in rows:
        print("  %-14s %-6s %-44s %-14s %s" % (name, count, cpu, mem, limit))
    print("first to saturate as W grows: the %s, at W = %.0f transactions/s per database"
          % (first, at))
    return 0


if __name__ == "__main__":
    sys.exit(main())
