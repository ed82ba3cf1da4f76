"""mcsqueal's Kafka clients against a real Apache Kafka broker (KRaft), the
one cluster ctest shares between the Kafka tests (MCSQ_KAFKA_CLUSTER; a
private one when run alone):

  1. idempotent_producer  librdkafka (2.0.2, as mcsqueal links it) obtains a
     producer id from this broker version, and a Produce request whose answer
     was lost and that is sent again is appended once; without idempotence
     the same fault appends it twice (the control that the fault works).
  2. security  `mcsqueal tail` and `mcsqueal route` through the SSL listener
     (a test CA), then SASL_SSL with SCRAM-SHA-256 (password from [bus]
     sasl_password_file) and SCRAM-SHA-512 (password from
     MCSQUEAL_KAFKA_PASSWORD): committed keys deleted, rolled-back keys kept;
     the password is in no log, no command line and not in check-config
     --print; a wrong password is refused by the broker and reported as an
     authentication failure; check-config refuses a missing CA file and SASL
     without a mechanism.
  3. tailer_restart  `mcsqueal tail` killed with SIGKILL after the router
     deleted a transaction its checkpoint does not cover yet, and started
     again: it sends that message again under the number it had ("seq",
     continued from the checkpoint); the router (on_gap = flush) takes it
     for the duplicate of a restart: nothing counted lost, no pool flushed,
     and the transactions after it are in order.

Usage: test_kafka.py MCSQUEAL_BINARY   (MCSQ_KAFKA_TEST selects tests)
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import harness  # noqa: E402
import kafka_cluster  # noqa: E402
import skips  # noqa: E402
import test_route as rt  # noqa: E402  (memcached pools, workload, processes)
from harness import annotation, check  # noqa: E402

CLUSTER = None
PASSWORD = "kafka-test-db-pw"
REGION = "ktest"
SHARED_DB = harness.SharedMariaDB("mcsq-kafka-db-", PASSWORD)


def cluster():
    global CLUSTER
    if CLUSTER is None:
        CLUSTER = kafka_cluster.KafkaCluster.shared()
    return CLUSTER


def unique(name):
    return "%s.%d.%d" % (name, os.getpid(), int(time.time() * 1000))


def produce_through_cut(c, topic, idempotent, n=20, cut_at=5):
    """Produces n numbered messages one at a time through a FaultProxy that
    drops the broker's answer to the cut_at-th Produce request; returns
    (messages on the topic, the producer's librdkafka statistics "eos")."""
    import json
    from confluent_kafka import Producer
    proxy = kafka_cluster.FaultProxy(c)
    stats = {}
    errors = []
    try:
        p = Producer({"bootstrap.servers": c.bootstrap_of("proxy"),
                      "enable.idempotence": idempotent, "acks": "all",
                      "linger.ms": 0, "socket.timeout.ms": 3000,
                      "retry.backoff.ms": 100, "statistics.interval.ms": 200,
                      "stats_cb": lambda s: stats.update(json.loads(s)),
                      "error_cb": lambda e: errors.append(str(e))})
        for i in range(n):
            if i == cut_at:
                proxy.cut_after_produce()
            delivered = []
            p.produce(topic, value=b"m%d" % i, key=b"k",
                      on_delivery=lambda err, msg: delivered.append(err))
            check(p.flush(30) == 0, "message %d not delivered within 30 s" % i)
            check(delivered == [None], "message %d: delivery error %s" % (i, delivered))
        time.sleep(0.5)
        p.poll(0.5)
        check(proxy.cuts_done == 1, "the proxy cut no Produce request (%d requests)" %
              proxy.produce_requests)
        eos = stats.get("eos", {})
    finally:
        proxy.close()
    return consume_all(c, topic), eos


def consume_all(c, topic, timeout=30):
    """Every message value on partition 0 of topic, in offset order."""
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": unique("idem"),
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        _, high = cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        cons.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < high and time.monotonic() < deadline:
            m = cons.poll(0.5)
            if m is not None and not m.error():
                out.append(m.value().decode())
        return out
    finally:
        cons.close()


def test_idempotent_producer(ctx):
    c = cluster()
    want = ["m%d" % i for i in range(20)]
    # the control: without idempotence the resent request is appended twice
    t_plain = unique("plain")
    c.create_topic(t_plain)
    got, _ = produce_through_cut(c, t_plain, idempotent=False)
    dups = len(got) - len(set(got))
    check(sorted(set(got)) == sorted(want), "non-idempotent producer lost messages: %s" % got)
    check(dups >= 1, "the cut did not make the plain producer append twice (%s): the "
                     "fault does not exercise a retry" % got)
    # idempotent: a producer id, and the resent request appended once
    t_idem = unique("idem")
    c.create_topic(t_idem)
    got, eos = produce_through_cut(c, t_idem, idempotent=True)
    print("idempotent producer: eos statistics %s; plain producer: %d duplicate(s)" %
          (eos, dups))
    check(eos.get("idemp_state") == "Assigned" and eos.get("producer_id", -1) >= 0,
          "librdkafka holds no producer id against Kafka %s: %s" %
          (kafka_cluster.KAFKA_VERSION, eos))
    check(got == want, "idempotent producer: %d messages, %d duplicate(s), order %s" %
          (len(got), len(got) - len(set(got)), got))


def pipeline_config(ctx, name, srv, pools, server_id, bus_lines, group):
    """A configuration of `mcsqueal tail` and `route` on the real cluster:
    the shared mariadbd, the test's pools, the topic and consumer group
    (router cluster) of this test, bus_lines appended to [bus]."""
    text = """\
[mcsqueal]
name = db-kafka-{sid}
region = {region}
state_dir = {state}
checkpoint_interval_ms = 100
log_level = info
""".format(sid=server_id, region=REGION, state=os.path.join(ctx.dir, "state-" + name))
    text += harness.mysql_section(srv.port, ctx.password_file, server_id, "end",
                                  more=harness.QUICK_RECONNECT)
    text += "[bus]\ntopic = %s\nlinger_ms = 1\n%s\n[router]\ncluster = %s\n" % (
        unique("mcsqueal.%s.%s" % (REGION, name)), bus_lines, group)
    text += pools.config()
    text += "[metrics]\nlisten =\n"
    return ctx.write(name + ".ini", text)


def run_pipeline(ctx, cfg, tag, wl, uni, pools, env=None):
    """`mcsqueal tail` and `route` on cfg; one committed and one rolled-back
    transaction; checks the deletes; stops both. Returns their logs' text."""
    kw = {"env": dict(os.environ, **env)} if env else {}
    tail = harness.Proc(rt.MCSQUEAL, ctx.dir, ["tail", "--config", cfg], "tail-" + tag, **kw)
    route = harness.Proc(rt.MCSQUEAL, ctx.dir, ["route", "--config", cfg], "route-" + tag, **kw)
    ctx.logs += [tail.log, route.log]
    try:
        tail.wait_log("binlog: streaming from", timeout=60)
        route.wait_log("bus: assigned", timeout=60)
        committed, rolled = uni.take(4), uni.take(3)
        wl.run([wl.insert(annotation(committed[:2])), wl.update(annotation(committed[2:]))],
               committed)
        wl.run([wl.insert(annotation(rolled))], rolled, commit=False)
        pools.wait_verified(committed, rolled, tag, timeout=60)
    finally:
        route.stop()
        tail.stop()
    return tail.text() + route.text()


def test_security(ctx):
    c = cluster()
    check(c.security, "the cluster has no SSL/SASL listeners")
    srv = SHARED_DB.get()
    pools = rt.Pools(ctx)
    wl = rt.Workload(srv, "t_sec")
    ctx.closers.append(wl.close)
    uni = rt.Universe("sec", 60)
    pools.set_everywhere(uni.keys)
    user, secret = next(iter(c.scram_users.items()))
    ssl_lines = "brokers = %s\nkafka.security.protocol = ssl\nkafka.ssl.ca.location = %s\n" % (
        c.bootstrap_of("ssl"), c.ca_file)
    sasl_lines = ("brokers = %s\nkafka.security.protocol = sasl_ssl\n"
                  "kafka.ssl.ca.location = %s\nkafka.sasl.username = %s\n" %
                  (c.bootstrap_of("sasl_ssl"), c.ca_file, user))
    pw_file = ctx.write("kafka-password", secret + "\n")
    group = unique("sec")

    logs = run_pipeline(ctx, pipeline_config(ctx, "ssl", srv, pools, 5101, ssl_lines, group),
                        "ssl", wl, uni, pools)
    cfg256 = pipeline_config(ctx, "scram256", srv, pools, 5102, sasl_lines +
                             "kafka.sasl.mechanisms = SCRAM-SHA-256\nsasl_password_file = %s\n" %
                             pw_file, group)
    logs += run_pipeline(ctx, cfg256, "scram256", wl, uni, pools)
    cfg512 = pipeline_config(ctx, "scram512", srv, pools, 5103,
                             sasl_lines + "kafka.sasl.mechanism = SCRAM-SHA-512\n", group)
    logs += run_pipeline(ctx, cfg512, "scram512", wl, uni, pools,
                         env={"MCSQUEAL_KAFKA_PASSWORD": secret})
    check(secret not in logs, "the SASL password appears in a log")
    for cfg, env in ((cfg256, None), (cfg512, {"MCSQUEAL_KAFKA_PASSWORD": secret})):
        r = subprocess.run([rt.MCSQUEAL, "check-config", "--print", "--config", cfg],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **(env or {})))
        check(r.returncode == 0 and secret not in r.stdout + r.stderr and
              "; sasl password: " in r.stdout and "(hidden)" in r.stdout,
              "check-config --print: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))

    # a wrong password: the broker refuses it, the tailer says so (and not the password)
    bad_file = ctx.write("bad-password", "not-the-password\n")
    bad = pipeline_config(ctx, "bad", srv, pools, 5104, sasl_lines +
                          "kafka.sasl.mechanisms = SCRAM-SHA-256\nsasl_password_file = %s\n" %
                          bad_file, group)
    tail = harness.Proc(rt.MCSQUEAL, ctx.dir, ["tail", "--config", bad], "tail-bad")
    ctx.logs.append(tail.log)
    harness.wait_until(lambda: "uthentication" in tail.text() or not tail.alive(), 60,
                       what="an authentication failure in the tailer's log")
    tail.stop()
    check("uthentication" in tail.text() and "not-the-password" not in tail.text(),
          "wrong password: %s" % harness.tail_text(tail.log, 10))

    # check-config catches a missing CA file and SASL without a mechanism
    missing_ca = pipeline_config(ctx, "noca", srv, pools, 5105, ssl_lines.replace(
        c.ca_file, c.ca_file + ".missing"), group)
    no_mech = pipeline_config(ctx, "nomech", srv, pools, 5106, sasl_lines +
                              "sasl_password_file = %s\n" % pw_file, group)
    for cfg, want in ((missing_ca, "kafka.ssl.ca.location: cannot read"),
                      (no_mech, "needs kafka.sasl.mechanisms")):
        r = subprocess.run([rt.MCSQUEAL, "check-config", "--config", cfg],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and want in r.stdout + r.stderr,
              "check-config %s: exit %d, expected %r:\n%s%s" %
              (os.path.basename(cfg), r.returncode, want, r.stdout, r.stderr))


def checkpoint_seq(path):
    """The seq= of a checkpoint file, or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("seq="):
                    return int(line[4:])
    except FileNotFoundError:
        pass
    return None


def test_tailer_restart(ctx):
    c = cluster()
    srv = SHARED_DB.get()
    pools = rt.Pools(ctx)
    wl = rt.Workload(srv, "t_seq")
    ctx.closers.append(wl.close)
    uni = rt.Universe("seq", 30)
    pools.set_everywhere(uni.keys)
    cfg = pipeline_config(ctx, "seq", srv, pools, 5107, "brokers = %s\n" % c.bootstrap,
                          unique("seq"))
    with open(cfg) as f:
        text = f.read()
    # a checkpoint at most every 5 s: a transaction right after one is
    # published but not checkpointed
    tail_cfg = ctx.write("seq-tail.ini", text.replace("checkpoint_interval_ms = 100",
                                                      "checkpoint_interval_ms = 5000"))
    port = harness.free_port()
    route_cfg = ctx.write("seq-route.ini", text.replace("[router]\n", "[router]\non_gap = flush\n")
                          .replace("listen =\n", "listen = 127.0.0.1:%d\n" % port))
    ckpt = os.path.join(ctx.dir, "state-seq", "checkpoint")
    route = harness.Proc(rt.MCSQUEAL, ctx.dir, ["route", "--config", route_cfg], "route-seq")
    tail = harness.Proc(rt.MCSQUEAL, ctx.dir, ["tail", "--config", tail_cfg], "tail-seq-1")
    ctx.logs += [tail.log, route.log]
    ctx.closers += [route.stop, tail.stop]
    tail.wait_log("binlog: streaming from", timeout=60)
    harness.wait_ready(port, 60, proc=route)

    def commit(n):
        keys = uni.take(n)
        wl.run([wl.insert(annotation(keys))], keys)
        pools.wait_verified(keys, [], "seq", timeout=60)

    commit(2)
    harness.wait_until(lambda: checkpoint_seq(ckpt) is not None, 30, what="a checkpoint with seq")
    seq = checkpoint_seq(ckpt)
    commit(2)  # message `seq`, deleted, not yet in the checkpoint
    check(checkpoint_seq(ckpt) == seq, "the checkpoint moved too early (%s -> %s): the "
          "restart would send nothing again" % (seq, checkpoint_seq(ckpt)))
    tail.kill9()
    tail = harness.Proc(rt.MCSQUEAL, ctx.dir, ["tail", "--config", tail_cfg], "tail-seq-2")
    ctx.logs.append(tail.log)
    ctx.closers.append(tail.stop)
    tail.wait_log("binlog: streaming from", timeout=60)
    commit(3)
    harness.wait_until(lambda: "sends again from message" in route.text(), 30,
                       what="the router seeing the message sent again")
    m = harness.scrape(port)
    lost = harness.metric(m, "mcsqueal_bus_messages_total", result="lost")
    flushed = [harness.metric(m, "mcsqueal_pool_flushes_total", pool=p, result="flushed")
               for p in ("main", "gut")]
    print("  checkpoint at message %d; after the restart: %s; lost %s, flushes %s" %
          (seq, [ln.split("bus: ", 1)[1] for ln in route.text().splitlines()
                 if "sends again" in ln], lost, flushed))
    check("sends again from message %d (%d was expected)" % (seq, seq + 1) in route.text(),
          "the router did not see message %d again:\n%s" % (seq, harness.tail_text(route.log)))
    check(not lost, "a restart from the checkpoint counted as lost: %s" % lost)
    check(not any(flushed), "pools flushed after a restart: %s" % flushed)
    check("LOST" not in route.text(), "the router logged a loss:\n%s" %
          harness.tail_text(route.log))
    check(checkpoint_seq(ckpt) is not None and checkpoint_seq(ckpt) >= seq,
          "checkpoint seq went back: %s" % checkpoint_seq(ckpt))
    tail.stop_ok()
    # the message sent again and the next transaction's: one message or two
    check(checkpoint_seq(ckpt) in (seq + 1, seq + 2), "after the final checkpoint seq=%s, "
          "expected %d or %d" % (checkpoint_seq(ckpt), seq + 1, seq + 2))
    route.stop_ok()


TESTS = [
    ("idempotent_producer", test_idempotent_producer),
    ("security", test_security),
    ("tailer_restart", test_tailer_restart),
]


def main():
    rt.MCSQUEAL = harness.binary_argument(__doc__)
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
        return harness.run_tests(TESTS, "MCSQ_KAFKA_TEST",
                                 lambda name: harness.Ctx(name, "mcsq-kafka-", PASSWORD, REGION,
                                                          SHARED_DB),
                                 shared=SHARED_DB, needs={"memcached": True},
                                 intro="Apache Kafka %s" % kafka_cluster.KAFKA_VERSION)
    finally:
        if CLUSTER is not None and CLUSTER.owned():
            CLUSTER.stop()


if __name__ == "__main__":
    sys.exit(main())
