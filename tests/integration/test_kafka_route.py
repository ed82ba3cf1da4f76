"""Routers of one cluster on a real Apache Kafka broker (the cluster ctest
shares, MCSQ_KAFKA_CLUSTER; a private one when run alone): three `mcsqueal
route` share a topic of 6 partitions that many sources feed. Under load, one
router is killed with SIGKILL for good: its partitions move to the others
after the session timeout (gap (b)); another is killed and restarted at once
with the same `[router] instance`: as a static member it gets its partitions
back without a rebalance (gap (a)). Nothing is lost across the kills and the
rebalances (offsets are committed only for messages whose deletes were
confirmed, also when partitions are revoked).

The bus losing messages, with [router] on_gap = warn and flush: retention
deleting messages no router read (seen from offsets: gap_warn, gap_flush),
and the topic deleted and created again under a running router (offsets
start over: only the messages' per-source "seq" numbers show it: seq_warn,
seq_flush), where a source that then sends again from its checkpoint
(numbers it already sent) is no further loss.

The gap of a restart is measured per message: a watcher polls the first
undeleted key of every partition and records when it disappears; the gap is
the longest time from a message's send to its delete among the messages sent
after the kill.

Usage: test_kafka_route.py MCSQUEAL_BINARY   (MCSQ_KAFKA_ROUTE_TEST selects tests)
"""

import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import harness  # noqa: E402
import kafka_cluster  # noqa: E402
import skips  # noqa: E402
from harness import check, free_port, tail_text, wait_until  # noqa: E402

MCSQUEAL = None
CLUSTER = None
REGION = "kr"
PARTITIONS = 6
SOURCES = 12          # source names spread over the partitions by key
SESSION_TIMEOUT_S = 6  # the product's default (bus_consumer.h)


def cluster():
    global CLUSTER
    if CLUSTER is None:
        CLUSTER = kafka_cluster.KafkaCluster.shared()
    return CLUSTER


class Keys:
    """A persistent text-protocol connection to one memcached: set many,
    multi-get which of some keys are still there."""

    def __init__(self, mc):
        self.sock = socket.create_connection(("127.0.0.1", mc.port), timeout=10)
        self.rf = self.sock.makefile("rb")

    def set_many(self, keys):
        self.sock.sendall(b"".join(b"set %s 0 0 1 noreply\r\nx\r\n" % k.encode() for k in keys))
        self.present(keys[-1:])  # a round trip: every set is in

    def present(self, keys):
        self.sock.sendall(b"get " + b" ".join(k.encode() for k in keys) + b"\r\n")
        out = set()
        while True:
            line = self.rf.readline()
            check(line, "memcached closed the connection")
            if line == b"END\r\n":
                return out
            check(line.startswith(b"VALUE "), "memcached: %r" % line)
            out.add(line.split()[1].decode())
            self.rf.readline()

    def close(self):
        self.sock.close()


class Load:
    """Sends one bus message of 2 fresh keys to every partition in turn,
    every `every_s`; a watcher records when each message's first key is
    deleted (partitions are read in order, so only each partition's oldest
    undeleted key needs to be polled)."""

    def __init__(self, c, topic, mc, every_s=0.01):
        from confluent_kafka import Producer
        self.topic = topic
        self.every_s = every_s
        self.producer = Producer({"bootstrap.servers": c.bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 0})
        self.setter = Keys(mc)
        self.poller = Keys(mc)
        self.pending = [collections.deque() for _ in range(PARTITIONS)]  # (key, sent)
        self.deleted = []  # (sent, delay), monotonic seconds
        self.sent_keys = []
        self.offsets = {}  # first key -> (partition, offset)
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set once the sender ended
        self.sending = True
        self.error = None
        self.n = 0
        self.threads = [threading.Thread(target=self._guard, args=(f,), daemon=True)
                        for f in (self._send, self._watch)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _guard(self, fn):
        try:
            fn()
        except Exception as e:  # reported by finish()
            self.error = "%s: %r" % (fn.__name__, e)

    def _message(self, source, keys):
        now_us = int(time.time() * 1e6)
        return json.dumps({"v": 1, "source": source, "region": REGION, "txns": [
            {"gtid": "0-1-%d" % self.n, "pos": "binlog.000001:%d" % (4 + self.n),
             "commit_us": now_us, "read_us": now_us, "keys": keys}]}).encode()

    def _send(self):
        while self.sending:
            p = self.n % PARTITIONS
            keys = ["k%d:%07d:%d" % (p, self.n, i) for i in range(2)]
            self.setter.set_many(keys)
            source = "src-%d" % (self.n % SOURCES)
            delivered = []
            self.producer.produce(self.topic, value=self._message(source, keys),
                                  key=source.encode(), partition=p,
                                  on_delivery=lambda err, msg: delivered.append(
                                      (err, msg.offset() if err is None else None)))
            self.producer.flush(30)
            check(len(delivered) == 1 and delivered[0][0] is None,
                  "message %d to partition %d not delivered: %s" % (self.n, p, delivered))
            self.offsets[keys[0]] = (p, delivered[0][1])
            with self.lock:
                self.pending[p].append((keys[0], time.monotonic()))
                self.sent_keys += keys
            self.n += 1
            time.sleep(self.every_s)

    def _watch(self):
        while not (self.stop.is_set() and not any(self.pending)):
            with self.lock:
                heads = [q[0] for q in self.pending if q]
            if heads:
                there = self.poller.present([k for k, _ in heads])
                now = time.monotonic()
                with self.lock:
                    for p, q in enumerate(self.pending):
                        while q and q[0][0] not in there and q[0] in heads:
                            key, sent = q.popleft()
                            self.deleted.append((sent, now - sent))
                            heads.remove((key, sent))
            time.sleep(0.002)
            if self.stop.is_set() and time.monotonic() > self.deadline:
                return

    def gap_since(self, t):
        """The longest send -> delete time of the messages sent after t."""
        with self.lock:
            delays = [d for s, d in self.deleted if s >= t]
        return max(delays) if delays else None

    def caught_up(self, t):
        """Whether t is past and every message sent before t is deleted."""
        with self.lock:
            return time.monotonic() > t and all(not q or q[0][1] >= t for q in self.pending)

    def finish(self, timeout=60):
        self.deadline = time.monotonic() + timeout
        self.sending = False  # the sender ends first: the watcher then sees its last message
        self.threads[0].join(timeout)
        self.stop.set()
        self.threads[1].join(timeout + 5)
        self.producer.flush(30)
        check(self.error is None, "load failed: %s" % self.error)
        left = [self.offsets.get(k) for q in self.pending for k, _ in q]
        check(not left, "%d messages not deleted within %d s after the load ended: "
              "(partition, offset) %s" % (len(left), timeout, left[:10]))
        self.setter.close()
        self.poller.close()


class Ctx(harness.Ctx):
    def __init__(self, name):
        super().__init__(name, "mcsq-kroute-%s-" % name, "unused", REGION)
        self.cluster_name = "c%d%s" % (os.getpid(), name.replace("_", ""))

    def topic(self):
        return "mcsqueal.%s.%s.%d" % (REGION, self.name, os.getpid())

    def route_config(self, tag, instance, mc, metrics_port):
        state = os.path.join(self.dir, "state-" + tag)
        return self.write(tag + ".ini", """\
[mcsqueal]
name = {tag}
region = {region}
state_dir = {state}
log_level = {level}
[bus]
brokers = {brokers}
topic = {topic}
[router]
cluster = {cluster}
instance = {instance}
[pool main]
servers = {mc}
role = cluster
[metrics]
listen = 127.0.0.1:{port}
""".format(tag=tag, region=REGION, state=state, brokers=cluster().bootstrap,
           topic=self.topic(), cluster=self.cluster_name, instance=instance, mc=mc.name,
           port=metrics_port, level=os.environ.get("MCSQ_KAFKA_ROUTE_LOG", "info")))


class Router:
    def __init__(self, ctx, tag, instance, mc):
        self.ctx, self.tag, self.instance, self.mc = ctx, tag, instance, mc
        self.port = free_port()
        self.cfg = ctx.route_config(tag, instance, mc, self.port)
        self.runs = 0
        self.proc = None

    def start(self):
        """Starts it (again: the same configuration, the same instance)."""
        self.runs += 1
        self.proc = harness.Proc(MCSQUEAL, self.ctx.dir, ["route", "--config", self.cfg],
                                 "%s-%d" % (self.tag, self.runs))
        self.ctx.logs.append(self.proc.log)
        self.ctx.closers.append(self.proc.stop)
        return self


def test_kill_and_restart(ctx):
    c = cluster()
    c.create_topic(ctx.topic(), partitions=PARTITIONS, replication=1)
    mc = harness.Memcached(ctx.dir, "mc")
    routers = [Router(ctx, "r%d" % i, "router-%d" % i, mc).start() for i in (1, 2, 3)]
    for r in routers:
        harness.wait_ready(r.port, 60, proc=r.proc)
    load = Load(c, ctx.topic(), mc).start()
    wait_until(lambda: len(load.deleted) >= 100, 60, what="the first 100 messages deleted")

    # (b) gone for good: its partitions move once the session timeout ran out
    routers[2].proc.kill9()
    t_kill = time.monotonic()
    wait_until(lambda: load.caught_up(t_kill + 1), 60, what="the others took over")
    gap_b = load.gap_since(t_kill)
    # (a) restarted at once, within the session timeout: static membership
    # gives its partitions back without a rebalance
    routers[0].proc.kill9()
    t_kill = time.monotonic()
    routers[0].start()
    harness.wait_ready(routers[0].port, 30, proc=routers[0].proc)
    wait_until(lambda: load.caught_up(t_kill + 2), 60, what="the restarted router caught up")
    gap_a = load.gap_since(t_kill)
    time.sleep(1)
    load.finish()
    print("  %d messages to %d partitions; gap (a) restart within the session timeout "
          "%.0f ms, gap (b) a router gone for good %.0f ms (session timeout %d s)" %
          (load.n, PARTITIONS, gap_a * 1000, gap_b * 1000, SESSION_TIMEOUT_S))
    # nothing lost: every key of every message is gone
    there = Keys(mc)
    left = there.present(load.sent_keys)
    there.close()
    check(not left, "%d keys never deleted, e.g. %s" % (len(left), sorted(left)[:5]))
    check(gap_b >= SESSION_TIMEOUT_S * 0.8, "gap (b) %.1f s: the partitions moved before the "
          "session timeout ran out?" % gap_b)
    check(gap_b < SESSION_TIMEOUT_S + 15, "gap (b) %.1f s" % gap_b)
    check(gap_a < SESSION_TIMEOUT_S * 0.5, "gap (a) %.1f s: the restarted static member did "
          "not get its partitions back at once" % gap_a)
    for r in (routers[0], routers[1]):
        check(harness.ready(r.port)[0] == 200, "%s not ready at the end" % r.tag)
        r.proc.stop_ok()


def low_watermark(c, topic):
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "watermarks"})
    try:
        return cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[0]
    finally:
        cons.close()


def set_topic_config(c, topic, config):
    from confluent_kafka.admin import ConfigResource
    admin = c.admin()  # kept until the result is in
    fs = admin.alter_configs([ConfigResource("topic", topic, set_config=config)])
    for f in fs.values():
        f.result(30)


def gap_test(ctx, policy):
    """A router stopped while retention deletes messages it had not read: on
    its return it finds the gap, counts the lost messages and, with
    on_gap = flush, flushes the cluster and gutter pools once, never the
    regional pool."""
    c = cluster()
    short = {"retention.ms": "1500", "segment.bytes": "1024", "segment.ms": "500"}
    c.create_topic(ctx.topic(), partitions=1, replication=1, config=short)
    pools = {role: harness.Memcached(ctx.dir, role) for role in ("cluster", "gutter", "regional")}
    port = free_port()
    cfg = ctx.route_config("r", "", pools["cluster"], port)
    with open(cfg) as f:
        text = f.read().replace("instance = \n", "instance = \non_gap = %s\n" % policy)
    text = text.replace("[metrics]", "[pool gut]\nservers = %s\nrole = gutter\n"
                        "[pool reg]\nservers = %s\nrole = regional\n[metrics]" %
                        (pools["gutter"].name, pools["regional"].name))
    cfg = ctx.write("r.ini", text)
    keys = {role: Keys(m) for role, m in pools.items()}
    load = Load(c, ctx.topic(), pools["cluster"])

    def send(tag):
        k = ["%s:%d" % (tag, load.n)]
        for kc in keys.values():
            kc.set_many(k)
        load.producer.produce(ctx.topic(), value=load._message("src-0", k), key=b"src-0",
                              partition=0)
        check(load.producer.flush(30) == 0, "not delivered")
        load.n += 1
        return k[0]

    r = harness.Proc(MCSQUEAL, ctx.dir, ["route", "--config", cfg], "r-1")
    ctx.logs.append(r.log)
    harness.wait_ready(port, 60, proc=r)
    first = send("a")
    wait_until(lambda: not keys["cluster"].present([first]), 30, what="the first delete")
    r.stop_ok()  # commits the offset after the first message
    lost = [send("b") for _ in range(8)]
    wait_until(lambda: low_watermark(c, ctx.topic()) > 8, 60, step=0.5,
               what="retention deleting the messages no router read")
    set_topic_config(c, ctx.topic(), {"retention.ms": "-1", "segment.bytes": "1024"})
    gone = low_watermark(c, ctx.topic()) - 1  # messages after the first one
    for kc in keys.values():
        kc.set_many(["sentinel"])
    after = send("c")
    r = harness.Proc(MCSQUEAL, ctx.dir, ["route", "--config", cfg], "r-2")
    ctx.logs.append(r.log)
    wait_until(lambda: not keys["cluster"].present([after]), 60, what="the delete after the gap")
    m = harness.scrape(port)
    n_lost = harness.metric(m, "mcsqueal_bus_messages_total", result="lost")
    print("  %s: %d messages deleted by retention before a router read them; lost counted %s" %
          (policy, gone, n_lost))
    check(n_lost == gone, "mcsqueal_bus_messages_total{result=\"lost\"} = %s, expected %d" %
          (n_lost, gone))
    check("invalidations are LOST" in r.text(), "no loud log line:\n%s" % tail_text(r.log))
    st = subprocess.run([MCSQUEAL, "status", "--url", "http://127.0.0.1:%d/metrics" % port,
                         "--interval", "0"], capture_output=True, text=True, timeout=30)
    check("%d messages lost" % gone in st.stdout, "status does not list the loss:\n%s" % st.stdout)
    flushed = {p: harness.metric(m, "mcsqueal_pool_flushes_total", pool=p, result="flushed")
               for p in ("main", "gut", "reg")}
    kept = {role: "sentinel" in kc.present(["sentinel"]) for role, kc in keys.items()}
    if policy == "flush":
        check(flushed["main"] == 1 and flushed["gut"] == 1 and not flushed["reg"],
              "flushes per pool: %s, expected main and gut once" % flushed)
        check(kept == {"cluster": False, "gutter": False, "regional": True},
              "sentinel still there after the flush: %s" % kept)
    else:
        check(not flushed["main"] and not flushed["gut"], "flushed with on_gap = warn: %s" %
              flushed)
        check(all(kept.values()), "a pool was flushed with on_gap = warn: %s" % kept)
        check(all(k in keys["cluster"].present(lost[-2:]) for k in lost[-2:]),
              "keys of lost messages were deleted?")
    for kc in keys.values():
        kc.close()
    r.stop_ok()


def seq_test(ctx, policy):
    """The topic deleted and created again while a router runs: the messages
    of source src-0 numbered 4..6 went with the old topic, 7 comes in the
    new one: the router counts 3 lost, names the source and the numbers,
    and with on_gap = flush flushes the cluster and gutter pools once, never
    the regional pool. Then src-0 sends 5..7 again and goes on with 8 (a
    tailer restarted from its checkpoint): duplicates, no further loss and
    no further flush."""
    c = cluster()
    topic = ctx.topic()
    c.create_topic(topic, partitions=1, replication=1)
    pools = {role: harness.Memcached(ctx.dir, role) for role in ("cluster", "gutter", "regional")}
    port = free_port()
    cfg = ctx.route_config("r", "", pools["cluster"], port)
    with open(cfg) as f:
        text = f.read().replace("instance = \n", "instance = \non_gap = %s\n" % policy)
    # the router sees the topic come back within a second
    text = text.replace("topic = %s\n" % topic, "topic = %s\n"
                        "kafka.topic.metadata.refresh.interval.ms = 500\n" % topic)
    text = text.replace("[metrics]", "[pool gut]\nservers = %s\nrole = gutter\n"
                        "[pool reg]\nservers = %s\nrole = regional\n[metrics]" %
                        (pools["gutter"].name, pools["regional"].name))
    cfg = ctx.write("r.ini", text)
    keys = {role: Keys(m) for role, m in pools.items()}
    from confluent_kafka import Producer

    def send(seq, tag):
        k = ["%s:%d" % (tag, seq)]
        for kc in keys.values():
            kc.set_many(k)
        now_us = int(time.time() * 1e6)
        msg = json.dumps({"v": 1, "source": "src-0", "region": REGION, "txns": [
            {"pos": "binlog.000001:%d" % (4 + seq), "commit_us": now_us, "read_us": now_us,
             "keys": k}], "seq": seq}).encode()
        producer = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
        producer.produce(topic, value=msg, key=b"src-0", partition=0)
        check(producer.flush(30) == 0, "message %d not delivered" % seq)
        return k[0]

    def deleted(k):
        wait_until(lambda: not keys["cluster"].present([k]), 60, what="the delete of " + k)

    r = harness.Proc(MCSQUEAL, ctx.dir, ["route", "--config", cfg], "r")
    ctx.logs.append(r.log)
    ctx.closers.append(r.stop)
    harness.wait_ready(port, 60, proc=r)
    for seq in (1, 2, 3):
        deleted(send(seq, "a"))
    c.delete_topic(topic)
    t0 = time.monotonic()
    while True:  # the broker takes a moment to forget the old topic
        try:
            c.create_topic(topic, partitions=1, replication=1)
            break
        except Exception as e:  # noqa: BLE001 (TOPIC_ALREADY_EXISTS while deleting)
            check(time.monotonic() - t0 < 60, "topic not created again: %r" % e)
            time.sleep(0.2)
    for kc in keys.values():
        kc.set_many(["sentinel"])
    deleted(send(7, "b"))
    m = harness.scrape(port)
    n_lost = harness.metric(m, "mcsqueal_bus_messages_total", result="lost")
    flushed = {p: harness.metric(m, "mcsqueal_pool_flushes_total", pool=p, result="flushed")
               for p in ("main", "gut", "reg")}
    kept = {role: "sentinel" in kc.present(["sentinel"]) for role, kc in keys.items()}
    print("  %s: topic deleted and created again; lost counted %s, flushes %s" %
          (policy, n_lost, flushed))
    check(n_lost == 3, "mcsqueal_bus_messages_total{result=\"lost\"} = %s, expected 3" % n_lost)
    check("source src-0: message 7 where 4 was expected" in r.text() and
          "invalidations are LOST" in r.text(), "no loud log line:\n%s" % tail_text(r.log))
    if policy == "flush":
        check(flushed["main"] == 1 and flushed["gut"] == 1 and not flushed["reg"],
              "flushes per pool: %s, expected main and gut once" % flushed)
        check(kept == {"cluster": False, "gutter": False, "regional": True},
              "sentinel after the flush: %s" % kept)
    else:
        check(not flushed["main"] and not flushed["gut"] and not flushed["reg"],
              "flushed with on_gap = warn: %s" % flushed)
        check(all(kept.values()), "a pool was flushed with on_gap = warn: %s" % kept)
    # a restart from a checkpoint: 5..7 again, then 8
    for seq in (5, 6, 7, 8):
        last = send(seq, "c")
    deleted(last)
    m = harness.scrape(port)
    check(harness.metric(m, "mcsqueal_bus_messages_total", result="lost") == 3,
          "a source sending again from its checkpoint counted as lost: %s" %
          harness.metric(m, "mcsqueal_bus_messages_total", result="lost"))
    again = {p: harness.metric(m, "mcsqueal_pool_flushes_total", pool=p, result="flushed")
             for p in ("main", "gut", "reg")}
    check(again == flushed, "flushed again after the rewind: %s, before %s" % (again, flushed))
    check("source src-0 sends again from message 5 (8 was expected)" in r.text(),
          "the rewind is not logged:\n%s" % tail_text(r.log))
    for kc in keys.values():
        kc.close()
    r.stop_ok()


def test_seq_warn(ctx):
    seq_test(ctx, "warn")


def test_seq_flush(ctx):
    seq_test(ctx, "flush")


def test_gap_warn(ctx):
    gap_test(ctx, "warn")


def test_gap_flush(ctx):
    gap_test(ctx, "flush")


TESTS = [
    ("kill_and_restart", test_kill_and_restart),
    ("gap_warn", test_gap_warn),
    ("gap_flush", test_gap_flush),
    ("seq_warn", test_seq_warn),
    ("seq_flush", test_seq_flush),
]


def main():
    global MCSQUEAL
    MCSQUEAL = harness.binary_argument(__doc__)
    reason = kafka_cluster.skip_reason()
    if reason:
        return skips.exit_code("kafka", reason)
    try:
        import confluent_kafka  # noqa: F401
    except ImportError as e:
        print("FAIL: missing python3-confluent-kafka (%s; scripts/deps installs it)" % e)
        print("0 passed, 1 failed")
        return 1
    try:
        return harness.run_tests(TESTS, "MCSQ_KAFKA_ROUTE_TEST", Ctx,
                                 needs=dict(memcached=True),
                                 intro="Apache Kafka %s" % kafka_cluster.KAFKA_VERSION)
    finally:
        if CLUSTER is not None and CLUSTER.owned():
            CLUSTER.stop()


if __name__ == "__main__":
    sys.exit(main())
