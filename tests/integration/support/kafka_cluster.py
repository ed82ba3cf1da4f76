"""Real Apache Kafka brokers for the tests and for trying things by hand: a
1- or 3-node KRaft cluster (every node broker and controller) on free
loopback ports in a temporary directory, from the broker jars that
`scripts/kafka fetch` (run by scripts/deps) puts in a cache outside the
repository.

    import kafka_cluster                      # tests/integration/support on sys.path
    c = kafka_cluster.KafkaCluster(brokers=3).start()
    c.create_topic("t", partitions=6, replication=3, config={"min.insync.replicas": "2"})
    c.bootstrap                               # "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
    c.leader("t", 0); c.kill(node); c.start_node(node); c.stop()

A cluster started with security=True also has an SSL listener (a test CA
made with openssl: c.ca_file) and a SASL_SSL listener with SCRAM-SHA-256 and
SCRAM-SHA-512 users (c.scram_users); c.client_config("ssl" | "sasl_ssl")
gives the librdkafka properties of each.

A cluster started with proxied=True also has a PROXIED listener that
advertises the port of a FaultProxy (below), which can drop the response of
a Produce request or hold all traffic.

Shared clusters: `scripts/kafka start --dir D` leaves a cluster running and
describes it in D/cluster.json; KafkaCluster.attach(D/cluster.json) or
KafkaCluster.shared() (the file named by MCSQ_KAFKA_CLUSTER, else a private
cluster started here) use it; `scripts/kafka stop --dir D` stops it.

available() tells whether Java and the jars are here; skip_reason() why not.
Only the standard library is needed here; admin operations use Debian's
python3-confluent-kafka (the librdkafka mcsqueal itself links).
"""

import base64
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import maven_fetch
from ports import free_port

KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
# the slf4j binding the broker jars leave to the distribution (log4j2)
LOG4J_VERSION = "2.25.3"
SLF4J_VERSION = "2.0.17"
SCRAM_USERS = {"mcsqueal": "scram-secret-1"}


def cache_dir():
    """Where the broker jars live: MCSQ_KAFKA_HOME, else
    ~/.cache/mcsqueal/kafka-<version> (XDG_CACHE_HOME respected)."""
    if os.environ.get("MCSQ_KAFKA_HOME"):
        return os.environ["MCSQ_KAFKA_HOME"]
    return os.path.join(maven_fetch.cache_base(), "kafka-%s" % KAFKA_VERSION)


def libs_dir():
    return os.path.join(cache_dir(), "libs")


def _complete_marker():
    return os.path.join(cache_dir(), "complete")


def find_java():
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def skip_reason():
    """None when brokers can run here, else why not."""
    if find_java() is None:
        return "java not installed (scripts/deps installs openjdk-17-jre-headless)"
    if not os.path.exists(_complete_marker()):
        return "the Kafka %s jars are not in %s (scripts/deps fetches them with Maven)" % (
            KAFKA_VERSION, libs_dir())
    return None


def available():
    return skip_reason() is None


POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.mcsqueal</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>{log4j}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>{slf4j}</version></dependency>
  </dependencies>
</project>
"""


def fetch(quiet=False):
    """Copies the broker jars and their runtime dependencies from Maven into
    cache_dir() unless they are there; returns 0 or mvn's exit code."""
    return maven_fetch.fetch(
        "kafka", cache_dir(),
        POM.format(scala=SCALA_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION,
                   slf4j=SLF4J_VERSION),
        "org.apache.kafka:kafka_%s:%s" % (SCALA_VERSION, KAFKA_VERSION), quiet=quiet)


def _answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration>
  <Appenders>
    <Console name="STDOUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
"""

# JVM options for 2 shared cores: a small heap, the serial collector and the
# client compiler only (quick start; fast_jit=False keeps the full JIT for
# benchmarks).
JVM_QUICK = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-XX:-UsePerfData", "-Djava.awt.headless=true"]
JVM_FULL = ["-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:-UsePerfData",
            "-Djava.awt.headless=true"]


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stdout))


def make_test_ca(d):
    """A test CA and a certificate for 127.0.0.1/localhost signed by it, as
    PEM files in d: ca.pem, broker.pem (certificate), broker-key.pem (PKCS#8,
    unencrypted), broker-keystore.pem (key + certificate, for the broker)."""
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj",
             "/CN=mcsqueal test CA", "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "broker-key.rsa", "-out", "broker.csr", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-days", "3650", "-extfile", "san.ext", "-out", "broker.pem",
             cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker-key.rsa", "-out", "broker-key.pem",
             cwd=d)
    with open(os.path.join(d, "broker-keystore.pem"), "w") as out:
        for name in ("broker-key.pem", "broker.pem"):
            with open(os.path.join(d, name)) as f:
                out.write(f.read())
    return d


class KafkaCluster:
    """A KRaft cluster of `brokers` nodes (1..n); see the module comment.
    broker_config: extra server.properties lines for every node (dict)."""

    def __init__(self, brokers=1, workdir=None, broker_config=None, security=False,
                 proxied=False, fast_jit=False, max_lifetime=None):
        self.brokers = brokers
        self.owned_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="mcsq-kafka-")
        os.makedirs(self.dir, exist_ok=True)
        self.broker_config = dict(broker_config or {})
        self.security = security
        self.proxied = proxied
        # MCSQ_KAFKA_JVM_OPTS: more JVM options, e.g. "-Xlog:gc:file=gc.log"
        # to see the broker's GC pauses in a benchmark
        self.jvm = (JVM_FULL if fast_jit else JVM_QUICK) + \
            shlex.split(os.environ.get("MCSQ_KAFKA_JVM_OPTS", ""))
        self.max_lifetime = max_lifetime
        self.cluster_id = None
        self.ports = {}  # node -> {"plain": p, "controller": p, "ssl": p, "sasl_ssl": p}
        self.procs = {}  # node -> Popen (or pid for an attached cluster)
        self.attached = False
        self.ca_file = None
        self.scram_users = dict(SCRAM_USERS) if security else {}

    # ---------------------------------------------------------------- layout

    def nodes(self):
        return list(range(1, self.brokers + 1))

    def node_dir(self, node):
        return os.path.join(self.dir, "node%d" % node)

    def log_path(self, node):
        return os.path.join(self.dir, "node%d.log" % node)

    @property
    def bootstrap(self):
        return ",".join("127.0.0.1:%d" % self.ports[n]["plain"] for n in self.nodes())

    def bootstrap_of(self, listener):
        return ",".join("127.0.0.1:%d" % self.ports[n][listener] for n in self.nodes())

    def client_config(self, listener="plain"):
        """librdkafka properties that reach the cluster on listener plain,
        ssl or sasl_ssl (SCRAM-SHA-256 as the first SCRAM user)."""
        conf = {"bootstrap.servers": self.bootstrap_of(listener)}
        if listener in ("ssl", "sasl_ssl"):
            conf["security.protocol"] = listener
            conf["ssl.ca.location"] = self.ca_file
        if listener == "sasl_ssl":
            user, pw = next(iter(self.scram_users.items()))
            conf.update({"sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": user,
                         "sasl.password": pw})
        return conf

    def _properties(self, node):
        p = self.ports[node]
        voters = ",".join("%d@127.0.0.1:%d" % (n, self.ports[n]["controller"])
                          for n in self.nodes())
        rf = min(3, self.brokers)
        listeners = ["PLAINTEXT://127.0.0.1:%d" % p["plain"],
                     "CONTROLLER://127.0.0.1:%d" % p["controller"]]
        advertised = ["PLAINTEXT://127.0.0.1:%d" % p["plain"]]
        conf = {
            "process.roles": "broker,controller",
            "node.id": str(node),
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": os.path.join(self.node_dir(node), "data"),
            "num.partitions": "1",
            "default.replication.factor": str(rf),
            "offsets.topic.replication.factor": str(rf),
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.retention.check.interval.ms": "1000",
            "log.segment.delete.delay.ms": "1000",
            "log.flush.offset.checkpoint.interval.ms": "1000",
            "controller.quorum.election.timeout.ms": "1000",
            "controller.quorum.fetch.timeout.ms": "2000",
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
            "replica.lag.time.max.ms": "5000",
            "unclean.leader.election.enable": "false",
            "auto.create.topics.enable": "true",
        }
        protomap = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        if self.security:
            listeners += ["SSL://127.0.0.1:%d" % p["ssl"], "SASL_SSL://127.0.0.1:%d" % p["sasl_ssl"]]
            advertised += ["SSL://127.0.0.1:%d" % p["ssl"],
                           "SASL_SSL://127.0.0.1:%d" % p["sasl_ssl"]]
            protomap += ["SSL:SSL", "SASL_SSL:SASL_SSL"]
            ks = os.path.join(self.dir, "tls", "broker-keystore.pem")
            conf.update({
                "ssl.keystore.type": "PEM", "ssl.keystore.location": ks,
                "ssl.truststore.type": "PEM", "ssl.truststore.location": self.ca_file,
                "ssl.client.auth": "none",
                "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            })
        if self.proxied:
            listeners.append("PROXIED://127.0.0.1:%d" % p["proxied"])
            advertised.append("PROXIED://127.0.0.1:%d" % p["proxy"])
            protomap.append("PROXIED:PLAINTEXT")
        conf["listeners"] = ",".join(listeners)
        conf["advertised.listeners"] = ",".join(advertised)
        conf["listener.security.protocol.map"] = ",".join(protomap)
        conf.update(self.broker_config)
        return "".join("%s=%s\n" % kv for kv in conf.items())

    def _java(self, node, main, args):
        cp = os.path.join(libs_dir(), "*")
        return [find_java()] + self.jvm + [
            "-Dlog4j2.configurationFile=" + os.path.join(self.dir, "log4j2.xml"),
            "-Dkafka.logs.dir=" + self.node_dir(node), "-cp", cp, main] + list(args)

    # ------------------------------------------------------------- lifecycle

    def start(self, timeout=120):
        """Formats and starts every node; returns once the cluster serves
        metadata listing all of them (or raises, with the end of the logs)."""
        reason = skip_reason()
        if reason:
            raise RuntimeError("cannot start Kafka: " + reason)
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with open(os.path.join(self.dir, "log4j2.xml"), "w") as f:
            f.write(LOG4J2)
        if self.security:
            self.ca_file = os.path.join(make_test_ca(os.path.join(self.dir, "tls")), "ca.pem")
        kinds = ["plain", "controller"] + (["ssl", "sasl_ssl"] if self.security else []) + \
            (["proxied", "proxy"] if self.proxied else [])
        taken = set()
        for n in self.nodes():
            self.ports[n] = {}
            for k in kinds:
                port = free_port()
                while port in taken:
                    port = free_port()
                taken.add(port)
                self.ports[n][k] = port
        formats = []
        for n in self.nodes():
            shutil.rmtree(self.node_dir(n), ignore_errors=True)  # a previous cluster's data
            os.makedirs(self.node_dir(n))
            props = os.path.join(self.node_dir(n), "server.properties")
            with open(props, "w") as f:
                f.write(self._properties(n))
            # "--cluster-id=ID": an id that starts with '-' (1 in 64) is not taken
            # for an option
            args = ["format", "--cluster-id=" + self.cluster_id, "-c", props]
            for user, pw in self.scram_users.items():
                for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                    args += ["--add-scram", "%s=[name=%s,password=%s]" % (mech, user, pw)]
            log = open(self.log_path(n), "ab")
            formats.append((n, subprocess.Popen(self._java(n, "kafka.tools.StorageTool", args),
                                                stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)))
            log.close()
        for n, p in formats:
            if p.wait(timeout=timeout) != 0:
                raise RuntimeError("formatting node %d failed:\n%s" % (n, self.log_tail(n)))
        for n in self.nodes():
            self.start_node(n, wait=False)
        self.wait_serving(timeout)
        self.write_description()
        return self

    def start_node(self, node, wait=True, timeout=120):
        """Starts node (again: after kill() or terminate())."""
        args = self._java(node, "kafka.Kafka",
                          [os.path.join(self.node_dir(node), "server.properties")])
        if self.max_lifetime:
            args = ["timeout", "-s", "KILL", str(int(self.max_lifetime))] + args
        log = open(self.log_path(node), "ab")
        try:
            self.procs[node] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self._write_pid(node)
        if wait:
            self.wait_node(node, timeout)

    def _write_pid(self, node):
        with open(os.path.join(self.node_dir(node), "pid"), "w") as f:
            f.write("%d\n" % self.pid(node))

    def pid(self, node):
        p = self.procs.get(node)
        return p if isinstance(p, int) or p is None else p.pid

    def running(self, node):
        p = self.procs.get(node)
        if p is None:
            return False
        if isinstance(p, int):  # an attached cluster's node: its pid, if still that node
            return self._is_node_process(p, node)
        return p.poll() is None

    def _is_node_process(self, pid, node):
        """Whether pid is (still) this node's broker, not a process that
        reused the number: its command line names the node's properties."""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            return False
        return os.path.join(self.node_dir(node), "server.properties") in cmd

    def wait_node(self, node, timeout=120):
        """Waits until node is listed in the cluster's metadata (it registered
        with the controllers and serves)."""
        self._wait(lambda: node in self.live_nodes(self._other_or(node)), timeout,
                   "node %d registered" % node, [node])

    def wait_serving(self, timeout=120):
        want = set(self.nodes())
        self._wait(lambda: want <= set(self.live_nodes()), timeout,
                   "all %d nodes in the metadata" % self.brokers, self.nodes())

    def _other_or(self, node):
        for n in self.nodes():
            if n != node and self.running(n):
                return n
        return node

    def _wait(self, pred, timeout, what, nodes):
        deadline = time.monotonic() + timeout
        while True:
            for n in nodes:
                if not self.running(n):
                    raise RuntimeError("Kafka node %d exited while waiting for %s:\n%s" %
                                       (n, what, self.log_tail(n)))
            if pred():
                return
            if time.monotonic() > deadline:
                raise RuntimeError("Kafka: timed out after %d s waiting for %s:\n%s" %
                                   (timeout, what, "\n".join(self.log_tail(n) for n in nodes)))
            time.sleep(0.2)

    def live_nodes(self, via=None):
        """Node ids in the metadata of one running node (via, else the first
        that answers); [] when none answers."""
        for n in ([via] if via else self.nodes()):
            if n is None or not self.running(n) or not _answers(self.ports[n]["plain"]):
                continue
            md = self.metadata(n)
            if md is not None:
                return [b["id"] for b in md.get("brokers", [])]
        return []

    def metadata(self, node=None, topic=None):
        """kcat -L -J of one node (dict), None on failure."""
        n = node or self._other_or(0)
        args = ["kcat", "-b", "127.0.0.1:%d" % self.ports[n]["plain"], "-L", "-J", "-m", "3"]
        if topic:
            args += ["-t", topic]
        try:
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=10, text=True)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def kill(self, node):
        """kill -9 of node; returns the time.time() it was sent."""
        t = time.time()
        self._signal(node, signal.SIGKILL)
        self._reap(node, 30)
        return t

    def terminate(self, node, timeout=60):
        """A controlled shutdown of node (SIGTERM, waited for)."""
        self._signal(node, signal.SIGTERM)
        if not self._reap(node, timeout):
            self._signal(node, signal.SIGKILL)
            self._reap(node, 10)

    def _signal(self, node, sig):
        pid = self.pid(node)
        if pid is None or not self.running(node):
            return
        try:
            os.killpg(pid, sig)  # the JVM (and a `timeout` wrapper) lead their own group
        except OSError:
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def _reap(self, node, timeout):
        p = self.procs.get(node)
        if p is None:
            return True
        if isinstance(p, int):
            deadline = time.monotonic() + timeout
            while self.running(node) and time.monotonic() < deadline:
                time.sleep(0.1)
            return not self.running(node)
        try:
            p.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, remove=True):
        """Stops every node (kill -9: their data is thrown away) and removes
        the directory when this cluster made it (or remove is forced)."""
        for n in self.nodes():
            if self.running(n):
                self._signal(n, signal.SIGKILL)
        for n in self.nodes():
            self._reap(n, 30)
        if remove and (self.owned_dir or self.attached) and \
                os.environ.get("MCSQ_TEST_KEEP", "") in ("", "0"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, node, lines=30):
        try:
            with open(self.log_path(node), "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "---- node%d.log\n%s" % (node, "\n".join(text.splitlines()[-lines:]))

    # ------------------------------------------------------ sharing a cluster

    def description_path(self):
        return os.path.join(self.dir, "cluster.json")

    def write_description(self):
        d = {"brokers": self.brokers, "dir": self.dir, "cluster_id": self.cluster_id,
             "bootstrap": self.bootstrap, "security": self.security,
             "ports": {str(n): p for n, p in self.ports.items()},
             "pids": {str(n): self.pid(n) for n in self.nodes()},
             "proxied": self.proxied, "ca_file": self.ca_file, "scram_users": self.scram_users,
             "jvm": self.jvm, "max_lifetime": self.max_lifetime,
             "broker_config": self.broker_config}
        tmp = self.description_path() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f, indent=1)
        os.replace(tmp, self.description_path())

    @classmethod
    def attach(cls, path):
        """A running cluster that `scripts/kafka start` described in path."""
        with open(path) as f:
            d = json.load(f)
        c = cls(brokers=d["brokers"], workdir=d["dir"], broker_config=d["broker_config"],
                security=d["security"], proxied=d.get("proxied", False), max_lifetime=d.get("max_lifetime"))
        c.owned_dir = False
        c.attached = True
        c.jvm = d["jvm"]
        c.cluster_id = d["cluster_id"]
        c.ports = {int(n): p for n, p in d["ports"].items()}
        c.procs = {int(n): pid for n, pid in d["pids"].items()}
        c.ca_file = d["ca_file"]
        c.scram_users = d["scram_users"]
        return c

    @classmethod
    def shared(cls, **kw):
        """The cluster that MCSQ_KAFKA_CLUSTER describes (ctest's shared
        1-broker cluster, started with security=True), else a new one started
        here with kw; the caller stop()s only what it owns (owned())."""
        path = os.environ.get("MCSQ_KAFKA_CLUSTER")
        if path and os.path.exists(path):
            c = cls.attach(path)
            c.attached_shared = True
            if not all(c.running(n) for n in c.nodes()):
                raise RuntimeError("the shared Kafka cluster of %s is not running" % path)
            return c
        kw.setdefault("security", True)
        kw.setdefault("proxied", True)
        return cls(**kw).start()

    def owned(self):
        return not getattr(self, "attached_shared", False)

    # ------------------------------------------------------------ admin work

    def admin(self):
        from confluent_kafka.admin import AdminClient  # python3-confluent-kafka
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, name, partitions=1, replication=1, config=None, timeout=60):
        """Creates a topic and waits until every partition has a leader."""
        from confluent_kafka.admin import NewTopic
        admin = self.admin()  # kept until the result is in
        fs = admin.create_topics([NewTopic(name, partitions, replication,
                                           config=dict(config or {}))], operation_timeout=30)
        fs[name].result(timeout)
        self._wait(lambda: len([p for p in self.partitions(name) if p["leader"] >= 0]) ==
                   partitions, timeout, "leaders of topic %s" % name,
                   [n for n in self.nodes() if self.running(n)])

    def delete_topic(self, name, timeout=60):
        admin = self.admin()
        fs = admin.delete_topics([name], operation_timeout=30)
        fs[name].result(timeout)

    def partitions(self, topic):
        """[{"partition", "leader", "replicas", "isrs"}] of topic (kcat's
        metadata: leader -1 when it has none)."""
        md = self.metadata(topic=topic) or {}
        for t in md.get("topics", []):
            if t.get("topic") == topic and not t.get("error"):
                return [{"partition": p["partition"], "leader": p.get("leader", -1),
                         "replicas": [r["id"] for r in p.get("replicas", [])],
                         "isrs": [r["id"] for r in p.get("isrs", [])]}
                        for p in t.get("partitions", [])]
        return []

    def leader(self, topic, partition=0):
        for p in self.partitions(topic):
            if p["partition"] == partition:
                return p["leader"]
        return -1

    def run_tool(self, main, args, timeout=120):
        """Runs a Kafka tool class (e.g. org.apache.kafka.tools.DumpLogSegments
        or kafka.tools.DumpLogSegments) in a JVM; returns (rc, output)."""
        r = subprocess.run(self._java(self.nodes()[0], main, args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        return r.returncode, r.stdout

    def partition_dirs(self, topic, partition=0):
        """The log directories of a partition on every node that has one."""
        out = []
        for n in self.nodes():
            d = os.path.join(self.node_dir(n), "data", "%s-%d" % (topic, partition))
            if os.path.isdir(d):
                out.append(d)
        return out


class FaultProxy:
    """A TCP forwarder in front of one node's PROXIED listener (a cluster
    started with proxied=True advertises the proxy's port there, so clients
    that bootstrap from c.bootstrap_of("proxy") keep talking through it).
    cut_after_produce() makes it forward the next Produce request to the
    broker and then close the client's connection before the response comes
    back: the client must retry a request the broker already appended.
    pause()/resume() hold every byte in both directions (a partition)."""

    PRODUCE = 0

    def __init__(self, cluster, node=1):
        import threading
        self._threading = threading
        self.target = cluster.ports[node]["proxied"]
        self.port = cluster.ports[node]["proxy"]
        self.cuts_pending = 0
        self.cuts_done = 0
        self.produce_requests = 0
        self.lock = threading.Lock()
        self.open = threading.Event()
        self.open.set()
        self.closing = False
        self.conns = []
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after_produce(self, n=1):
        with self.lock:
            self.cuts_pending += n

    def pause(self):
        self.open.clear()

    def resume(self):
        self.open.set()

    def close(self):
        self.closing = True
        self.open.set()
        try:
            self.server.close()
        except OSError:
            pass
        for c in list(self.conns):
            self._close_pair(c)

    def _close_pair(self, pair):
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                broker = socket.create_connection(("127.0.0.1", self.target), timeout=10)
                broker.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = (client, broker)
            mute = self._threading.Event()  # set: the broker's answers are dropped
            self.conns.append(pair)
            self._threading.Thread(target=self._requests, args=(pair, mute),
                                   daemon=True).start()
            self._threading.Thread(target=self._pump, args=(broker, client, pair, mute),
                                   daemon=True).start()

    @staticmethod
    def _read_exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _requests(self, pair, mute):
        client, broker = pair
        try:
            while True:
                head = self._read_exact(client, 4)
                if head is None:
                    break
                size = int.from_bytes(head, "big", signed=True)
                body = self._read_exact(client, size) if size > 0 else b""
                if body is None:
                    break
                self.open.wait()
                cut = False
                if len(body) >= 2 and int.from_bytes(body[:2], "big") == self.PRODUCE:
                    with self.lock:
                        self.produce_requests += 1
                        cut = self.cuts_pending > 0
                        if cut:
                            self.cuts_pending -= 1
                            self.cuts_done += 1
                            mute.set()
                broker.sendall(head + body)
                if cut:
                    time.sleep(0.5)  # the broker appends; its answer is dropped
                    break
        except OSError:
            pass
        self._close_pair(pair)

    def _pump(self, src, dst, pair, mute):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.open.wait()
                if mute.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        self._close_pair(pair)
