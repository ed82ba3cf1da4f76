"""mcsqueal's Kafka clients against a real Apache Kafka broker (KRaft), the
one cluster ctest shares between the Kafka tests (MCSQ_KAFKA_CLUSTER; a
private one when run alone): the idempotent producer really is idempotent
against this broker version (librdkafka 2.0.2 obtains a producer id, and a
Produce request whose answer was lost and that is sent again is appended
once; without idempotence the same fault appends it twice).

Usage: test_kafka.py MCSQUEAL_BINARY   (MCSQ_KAFKA_TEST selects tests)
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import harness  # noqa: E402
import kafka_cluster  # noqa: E402
import skips  # noqa: E402
from harness import check  # noqa: E402

CLUSTER = None


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


TESTS = [
    ("idempotent_producer", test_idempotent_producer),
]


def main():
    harness.binary_argument(__doc__)
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
                                 lambda name: harness.Ctx(name, "mcsq-kafka-", "pw", "test"),
                                 intro="Apache Kafka %s" % kafka_cluster.KAFKA_VERSION)
    finally:
        if CLUSTER is not None and CLUSTER.owned():
            CLUSTER.stop()


if __name__ == "__main__":
    sys.exit(main())
