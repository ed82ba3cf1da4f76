#!/usr/bin/python3
"""Nothing lost on a real 3-broker Kafka cluster (KRaft, every node broker
and controller): a topic with replication factor 3 and min.insync.replicas
= 2, mcsqueal's producer as it ships (acks=all, idempotent, never gives a
message up), `mcsqueal tail` and `mcsqueal route` under a workload with
rollbacks:

  - the partition's leader is killed (kill -9) mid-load and restarted later;
  - meanwhile a second broker is stopped (SIGSTOP) for a while: with fewer
    than 2 in-sync replicas nothing is acknowledged; the producer waits (no
    failed message), and once its queues are full (librdkafka's, bounded to
    50 messages here, and the tailer's queue_max_bytes = 64k) the tailer
    stops reading the binlog (mcsqueal_binlog_events_total stands still
    while the server's binlog grows);
  - afterwards every committed key is deleted from its memcached owner,
    every rolled-back key is still cached, no bus message failed, and the
    duplicates are reported and bounded: none on the topic (the idempotent
    producer), and deletes beyond one per committed key at most one more
    per key (the router re-applies what it read after its last offset
    commit that went through; here commits fail during the outage).

Usage: test_kafka_loss.py MCSQUEAL_BINARY   (its own cluster: it kills brokers)
"""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import kafka_cluster  # noqa: E402
import skips  # noqa: E402
import test_route as rt  # noqa: E402  (memcached pools, workload, key universe)
from harness import annotation, check, free_port, metric, scrape, wait_until  # noqa: E402

PASSWORD = "kafka-loss-db-pw"
REGION = "kloss"
SHARED_DB = harness.SharedMariaDB("mcsq-kafka-loss-db-", PASSWORD)
SEED = harness.env_seed("MCSQ_KAFKA_LOSS_SEED")


def config(ctx, c, srv, pools, topic, metrics_port, name, bus_extra=""):
    text = """\
[mcsqueal]
name = db-kafka-loss
region = {region}
state_dir = {state}
checkpoint_interval_ms = 100
queue_max_bytes = 64k
log_level = info
""".format(region=REGION, state=os.path.join(ctx.dir, "state-" + name))
    text += harness.mysql_section(srv.port, ctx.password_file, 6101, "end",
                                  more=harness.QUICK_RECONNECT)
    text += "[bus]\nbrokers = %s\ntopic = %s\nlinger_ms = 1\n%s" % (c.bootstrap, topic,
                                                                    bus_extra)
    text += "[router]\ncluster = c1\n"
    text += pools.config()
    text += "[metrics]\nlisten = 127.0.0.1:%d\n" % metrics_port
    return ctx.write(name + ".ini", text)


def value(port, name, **labels):
    return metric(scrape(port), name, **labels) or 0.0


def topic_messages(c, topic):
    """Every message value of partition 0 of topic (parsed bus messages)."""
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "loss-audit-%d" % os.getpid(),
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        _, high = cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=20)
        cons.assign([TopicPartition(topic, 0, 0)])
        out, deadline = [], time.monotonic() + 60
        while len(out) < high and time.monotonic() < deadline:
            m = cons.poll(0.5)
            if m is not None and not m.error():
                out.append(json.loads(m.value()))
        check(len(out) == high, "read %d of the topic's %d messages" % (len(out), high))
        return out
    finally:
        cons.close()


def test_broker_loss(ctx):
    rng = random.Random(SEED)
    c = kafka_cluster.KafkaCluster(brokers=3, workdir=os.path.join(ctx.dir, "kafka"))
    ctx.closers.append(c.stop)
    t0 = time.monotonic()
    c.start()
    print("  3-node cluster serving after %.1f s" % (time.monotonic() - t0), flush=True)
    topic = "mcsqueal.%s.loss" % REGION
    c.create_topic(topic, partitions=1, replication=3,
                   config={"min.insync.replicas": "2", "unclean.leader.election.enable": "false"})

    srv = SHARED_DB.get()
    pools = rt.Pools(ctx)
    wl = rt.Workload(srv, "t_loss")
    ctx.closers.append(wl.close)
    uni = rt.Universe("loss", 20000)
    pools.set_everywhere(uni.keys)
    tport, rport = free_port(), free_port()
    # what the tailer holds while the bus acknowledges nothing: up to 50
    # messages in librdkafka's queue (its default is 100,000), then 64k of
    # transactions in its own queue; then it stops reading the binlog
    tail = harness.Proc(rt.MCSQUEAL, ctx.dir, ["tail", "--config",
                        config(ctx, c, srv, pools, topic, tport, "tail",
                               "kafka.queue.buffering.max.messages = 50\n")], "tail")
    route = harness.Proc(rt.MCSQUEAL, ctx.dir, ["route", "--config",
                         config(ctx, c, srv, pools, topic, rport, "route")], "route")
    ctx.logs += [tail.log, route.log]
    tail.wait_log("binlog: streaming from", timeout=60)
    route.wait_log("bus: assigned", timeout=90)

    rows = list(range(1, 21))
    counts = {"committed": 0, "rolled back": 0}

    def one(i):
        keys = uni.take(rng.randint(1, 3))
        if keys is None:
            return False
        commit = rng.random() > 0.1
        wl.run([wl.insert(annotation(keys[:1]), i),
                wl.update(annotation(keys[1:] or keys[:1]), rng.choice(rows))], keys,
               commit=commit)
        counts["committed" if commit else "rolled back"] += 1
        return True

    stop_load = [False]

    def load():
        i = 0
        while not stop_load[0] and not wl.stopping.is_set():
            if not one(i):
                return
            i += 1
            time.sleep(0.004)
    t = wl.in_thread(load)

    time.sleep(2)
    leader = c.leader(topic, 0)
    check(leader > 0, "no leader of %s: %s" % (topic, c.partitions(topic)))
    c.kill(leader)
    print("  kill -9 of the leader, node %d, after %d transactions" % (leader, counts["committed"]),
          flush=True)
    # the leadership moves to an in-sync follower; the producer carries on
    wait_until(lambda: c.leader(topic, 0) not in (-1, leader), 60, step=0.3,
               what="a new leader of %s" % topic)
    acked = value(tport, "mcsqueal_bus_messages_total", result="acked")
    wait_until(lambda: value(tport, "mcsqueal_bus_messages_total", result="acked") > acked + 5,
               60, step=0.2, what="acknowledged messages with node %d down" % leader)
    print("  new leader node %d; messages acknowledged again" % c.leader(topic, 0), flush=True)

    # a second broker stopped: one in-sync replica left, fewer than min.insync.replicas
    second = next(n for n in c.nodes() if n != leader)
    os.killpg(c.pid(second), signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        # the producer waits: what was produced is not acknowledged, and once
        # the queue (64k) is full the tailer reads no more of the binlog
        def stalled():
            a = value(tport, "mcsqueal_binlog_events_total")
            time.sleep(2.0)
            return value(tport, "mcsqueal_binlog_events_total") == a
        wait_until(stalled, 60, step=0.1, what="the tailer to stop reading the binlog")
        events = value(tport, "mcsqueal_binlog_events_total")
        acked = value(tport, "mcsqueal_bus_messages_total", result="acked")
        _, pos0 = srv.master_status()
        time.sleep(4)
        _, pos1 = srv.master_status()
        inflight = value(tport, "mcsqueal_bus_inflight_messages")
        check(value(tport, "mcsqueal_binlog_events_total") == events,
              "the tailer read the binlog on with fewer than 2 in-sync replicas")
        check(value(tport, "mcsqueal_bus_messages_total", result="acked") == acked,
              "messages acknowledged with fewer than 2 in-sync replicas")
        check(pos1 > pos0, "the workload did not write on (%d -> %d)" % (pos0, pos1))
        check(value(tport, "mcsqueal_bus_messages_total", result="failed") == 0,
              "the producer gave messages up")
        check(tail.alive(), "the tailer exited:\n%s" % harness.tail_text(tail.log))
        print("  node %d stopped: the tailer stopped reading after %.1f s (%d messages in "
              "flight, the binlog grew by %d bytes in 4 s)" %
              (second, time.monotonic() - stopped_at, inflight, pos1 - pos0), flush=True)
    finally:
        os.killpg(c.pid(second), signal.SIGCONT)
    wait_until(lambda: value(tport, "mcsqueal_bus_messages_total", result="acked") > acked, 90,
               step=0.2, what="acknowledgements once node %d runs again" % second)
    print("  node %d resumed: acknowledged again after %.1f s" %
          (second, time.monotonic() - stopped_at), flush=True)
    c.start_node(leader)
    print("  node %d restarted and registered" % leader, flush=True)
    time.sleep(1)
    stop_load[0] = True
    wl.join(t)

    committed = wl.keys()
    rolled = {k for ks in wl.rolled_back for k in ks}
    check(not committed & rolled, "test bug: a key both committed and rolled back")
    t1 = time.monotonic()
    pools.wait_verified(committed, rolled, "after the broker faults", timeout=120)
    print("  %d committed transactions (%d keys), %d rolled back: every committed key deleted "
          "%.1f s after the load, every rolled-back key kept" %
          (counts["committed"], len(committed), counts["rolled back"], time.monotonic() - t1))

    want = wl.sent()
    wait_until(lambda: value(rport, "mcsqueal_deletes_total", pool="main", result="confirmed")
               >= want, 60, step=0.2, what="every delete confirmed")
    time.sleep(1)
    produced = value(tport, "mcsqueal_bus_messages_total", result="produced")
    msgs = topic_messages(c, topic)
    keys_on_topic = sum(len(tx["keys"]) for m in msgs for tx in m["txns"])
    deletes = value(rport, "mcsqueal_deletes_total", pool="main", result="confirmed")
    print("  duplicates: %d messages on the topic for %d produced; %d keys on the topic and "
          "%d deletes confirmed for %d committed keys" %
          (len(msgs), produced, keys_on_topic, deletes, want))
    check(value(tport, "mcsqueal_bus_messages_total", result="failed") == 0, "failed messages")
    check(len(msgs) >= produced, "the topic has %d messages, %d were produced" % (len(msgs),
                                                                                produced))
    check(keys_on_topic >= want, "keys lost on the topic: %d < %d" % (keys_on_topic, want))
    # the idempotent producer appends each message once
    check(len(msgs) == produced, "%d duplicate messages on the topic" % (len(msgs) - produced))
    # the router re-applies what it consumed after its last offset commit
    # that went through; commits fail while the group coordinator is
    # unreachable, so that can be the whole outage's messages, but each
    # message at most once more
    print("  duplicate deletes: %d (%.1f%% of the committed keys)" %
          (deletes - want, 100.0 * (deletes - want) / max(want, 1)))
    check(deletes <= 2 * want, "%d duplicate deletes for %d keys: more than one redelivery "
          "per message" % (deletes - want, want))
    for p in (tail, route):
        check(p.alive(), "%s exited" % p.tag)
        p.stop_ok()


def main():
    rt.MCSQUEAL = harness.binary_argument(__doc__)
    reason = kafka_cluster.skip_reason()
    if reason:
        return skips.exit_code("kafka", reason)
    return harness.run_tests([("broker_loss", test_broker_loss)], "MCSQ_KAFKA_LOSS_TEST",
                             lambda name: harness.Ctx(name, "mcsq-kafka-loss-", PASSWORD, REGION,
                                                      SHARED_DB),
                             shared=SHARED_DB, needs={"memcached": True},
                             intro="Apache Kafka %s, 3 nodes" % kafka_cluster.KAFKA_VERSION)


if __name__ == "__main__":
    sys.exit(main())
