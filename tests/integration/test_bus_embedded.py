#!/usr/bin/python3
"""Tests `mcsqueal bus` (the embedded bus run standalone) from the outside,
with Kafka clients that share no code with mcsqueal:

  1. usage and configuration errors exit 2 with a clear message (a config
     whose bus.brokers is a real Kafka list is refused); an address file that
     cannot be written exits 1;
  2. a running bus writes its address atomically to --bootstrap-file, prints
     "bootstrap: ADDRESS", and listens on 127.0.0.1 only;
  3. kafka-python (python3-kafka) produces keyed messages to the configured
     topic and a consumer group reads them back: exact keys, payloads and
     order within the partition; a new consumer of the same group resumes at
     the committed offset;
  4. kcat's idempotent producer (librdkafka, enable.idempotence=true,
     acks=all) acquires a producer id and its messages read back exactly;
  5. SIGTERM: exit 0 and the address file is gone;
  6. without --bootstrap-file the address goes to <state_dir>/bus.bootstrap,
     state_dir is created, --brokers and --partitions shape the cluster, and
     SIGINT stops it the same way.

Usage: test_bus_embedded.py MCSQUEAL_BINARY
Exits 77 (ctest SKIP_RETURN_CODE) when kafka-python or kcat is missing
(scripts/deps installs both). Everything runs in a temporary directory on
127.0.0.1.
"""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import skips

MCSQUEAL = None  # path of the mcsqueal binary (set in main)
REGION = "itest"
TOPIC = "mcsqueal." + REGION
GROUP = "mcsqueal.%s.a" % REGION
ADDRESS_RE = re.compile(r"^127\.0\.0\.1:(\d+)(,127\.0\.0\.1:\d+)*$")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

try:
    import kafka  # python3-kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
except ImportError:
    kafka = None


def write_config(path, body):
    with open(path, "w") as f:
        f.write(body)
    return path


def run(args, timeout=20):
    return subprocess.run([MCSQUEAL] + args, capture_output=True, text=True, timeout=timeout)


class Bus:
    """One `mcsqueal bus` process; start() waits for its address file."""

    def __init__(self, args, address_file):
        self.address_file = address_file
        self.proc = subprocess.Popen([MCSQUEAL, "bus"] + args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.address = None
        self.stdout_line = None

    def start(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.address_file):
            if self.proc.poll() is not None:
                raise AssertionError("bus exited %d: %s" % (self.proc.returncode,
                                                           self.proc.stderr.read()))
            if time.monotonic() > deadline:
                raise AssertionError("no %s after %.0f s" % (self.address_file, START_TIMEOUT))
            time.sleep(0.02)
        with open(self.address_file) as f:
            text = f.read()
        self.stdout_line = self.read_line(deadline)
        self.address = text.rstrip("\n")
        return text

    def read_line(self, deadline):
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError("bus printed nothing on stdout")
        return self.proc.stdout.readline()

    def stop(self, sig):
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("bus did not stop within %.0f s of signal %d" %
                                 (STOP_TIMEOUT, sig))
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def listening_addresses(port):
    """Local addresses listening on TCP `port`, from /proc/net/tcp{,6}."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if fields[3] == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                found.append(addr)
    return found


class CommandLineErrors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mcsq-bus-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def cfg(self, body):
        return write_config(os.path.join(self.dir, "c.ini"), body)

    def test_help(self):
        r = run(["bus", "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: mcsqueal bus", r.stdout)

    def test_config_required(self):
        r = run(["bus"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--config FILE is required", r.stderr)

    def test_bad_brokers_option(self):
        r = run(["bus", "--config", self.cfg(""), "--brokers", "0"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--brokers \"0\": expected a number from 1 to 16", r.stderr)

    def test_refuses_real_kafka_config(self):
        cfg = self.cfg("[mcsqueal]\nstate_dir = %s\n[bus]\nbrokers = 127.0.0.1:9092\n" % self.dir)
        r = run(["bus", "--config", cfg])
        self.assertEqual(r.returncode, 2)
        self.assertIn("bus.brokers = 127.0.0.1:9092", r.stderr)
        self.assertIn("only for bus.brokers = embedded", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "bus.bootstrap")))

    def test_invalid_config(self):
        cfg = self.cfg("[bus]\ntopic = a topic\nbogus = 1\n")
        r = run(["bus", "--config", cfg])
        self.assertEqual(r.returncode, 2)
        self.assertIn("%s:2:" % cfg, r.stderr)
        self.assertIn("%s:3:" % cfg, r.stderr)

    def test_state_dir_cannot_be_created(self):
        blocker = os.path.join(self.dir, "file")
        open(blocker, "w").close()
        cfg = self.cfg("[mcsqueal]\nstate_dir = %s/sub\n" % blocker)
        r = run(["bus", "--config", cfg])
        self.assertEqual(r.returncode, 1)
        self.assertIn("state_dir %s/sub: cannot create" % blocker, r.stderr)

    def test_address_file_cannot_be_written(self):
        path = os.path.join(self.dir, "missing", "bus.bootstrap")
        r = run(["bus", "--config", self.cfg(""), "--bootstrap-file", path])
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s.tmp." % path, r.stderr)
        self.assertIn("No such file or directory", r.stderr)


class RunningBus(unittest.TestCase):
    """One bus for the client tests, started once (tests run in name order)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mcsq-bus-")
        cls.address_file = os.path.join(cls.dir, "bus.address")
        cfg = write_config(os.path.join(cls.dir, "c.ini"),
                           "[mcsqueal]\nregion = %s\nstate_dir = %s/state\n" % (REGION, cls.dir))
        cls.bus = Bus(["--config", cfg, "--bootstrap-file", cls.address_file], cls.address_file)
        try:
            cls.text = cls.bus.start()
        except Exception:
            cls.bus.kill()
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.bus.kill()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_1_announces_loopback_address(self):
        self.assertRegex(self.text, r"^127\.0\.0\.1:\d+\n$")
        self.assertEqual(self.bus.stdout_line, "bootstrap: %s\n" % self.bus.address)
        port = int(ADDRESS_RE.match(self.bus.address).group(1))
        self.assertEqual(listening_addresses(port), ["0100007F"])  # 127.0.0.1 only
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])
        # state_dir is not needed with --bootstrap-file
        self.assertFalse(os.path.exists(os.path.join(self.dir, "state")))

    def consumer(self, **kw):
        return KafkaConsumer(TOPIC, bootstrap_servers=self.bus.address, group_id=GROUP,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=6000, heartbeat_interval_ms=500,
                             consumer_timeout_ms=15000, **kw)

    def take(self, consumer, n):
        got = []
        for m in consumer:
            got.append((m.partition, m.offset, m.key, m.value))
            if len(got) == n:
                break
        return got

    def test_2_kafka_python_roundtrip_and_group_offsets(self):
        producer = KafkaProducer(bootstrap_servers=self.bus.address, acks="all")
        sent = []
        for i in range(50):
            key = b"db-east-1" if i % 3 else b"db-west-2"
            value = ('{"v":1,"source":"%s","region":"%s","txns":[{"gtid":"0-1-%d",'
                     '"keys":["user:%d"]}]}' % (key.decode(), REGION, i, i)).encode()
            sent.append((key, value))
            producer.send(TOPIC, key=key, value=value)
        producer.flush()

        c = self.consumer()
        got = self.take(c, 50)
        self.assertEqual([(k, v) for _, _, k, v in got], sent)
        self.assertEqual([(p, o) for p, o, _, _ in got], [(0, o) for o in range(50)])
        c.commit()
        c.close()  # leaves the group; the committed offset stays

        for i in range(50, 55):
            producer.send(TOPIC, key=b"db-east-1", value=b"after-%d" % i)
        producer.flush()
        producer.close()
        c = self.consumer()
        got = self.take(c, 5)
        self.assertEqual([(o, v) for _, o, _, v in got],
                         [(i, b"after-%d" % i) for i in range(50, 55)])
        self.assertEqual(c.committed(TopicPartition(TOPIC, 0)), 50)
        c.close()

    def test_3_kcat_idempotent_producer(self):
        end = KafkaConsumer(bootstrap_servers=self.bus.address).end_offsets(
            [TopicPartition(TOPIC, 0)])[TopicPartition(TOPIC, 0)]
        lines = ["db-east-1\t{\"v\":1,\"n\":%d}" % i for i in range(5)]
        r = subprocess.run(["kcat", "-P", "-b", self.bus.address, "-t", TOPIC, "-K", "\t",
                            "-X", "enable.idempotence=true", "-X", "acks=all", "-d", "eos"],
                           input="\n".join(lines) + "\n", capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Acquired PID", r.stderr)
        r = subprocess.run(["kcat", "-C", "-b", self.bus.address, "-t", TOPIC, "-p", "0",
                            "-o", str(end), "-c", "5", "-e", "-f", "%o\t%k\t%s\n"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         ["%d\t%s" % (end + i, lines[i]) for i in range(5)])

    def test_4_sigterm_stops_and_removes_address(self):
        rc, _, err = self.bus.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, err)
        self.assertIn("stopping", err)
        self.assertFalse(os.path.exists(self.address_file))


class DefaultAddressFile(unittest.TestCase):
    def test_state_dir_brokers_partitions_sigint(self):
        d = tempfile.mkdtemp(prefix="mcsq-bus-")
        try:
            state = os.path.join(d, "a", "state")
            cfg = write_config(os.path.join(d, "c.ini"),
                               "[mcsqueal]\nregion = %s\nstate_dir = %s\n" % (REGION, state))
            path = os.path.join(state, "bus.bootstrap")
            bus = Bus(["--config", cfg, "--brokers", "3", "--partitions", "2"], path)
            try:
                bus.start()
                self.assertEqual(bus.address.count("127.0.0.1:"), 3)
                self.assertRegex(bus.address, ADDRESS_RE)
                r = subprocess.run(["kcat", "-L", "-b", bus.address, "-t", TOPIC],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(" 3 brokers:", r.stdout)
                self.assertIn('topic "%s" with 2 partitions' % TOPIC, r.stdout)
                rc, _, err = bus.stop(signal.SIGINT)
                self.assertEqual(rc, 0, err)
                self.assertFalse(os.path.exists(path))
                self.assertTrue(os.path.isdir(state))
            finally:
                bus.kill()
        finally:
            shutil.rmtree(d, ignore_errors=True)


def main():
    global MCSQUEAL
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    MCSQUEAL = os.path.abspath(sys.argv[1])
    if kafka is None or shutil.which("kcat") is None:
        return skips.exit_code("kafka-clients", "needs python3-kafka and kcat (scripts/deps)")
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
