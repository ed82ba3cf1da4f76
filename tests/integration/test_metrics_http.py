#!/usr/bin/python3
"""Black-box test of the Prometheus exporter (core/metrics_http.c).

Starts metrics_http_server (a tiny C program around the exporter, with the
metrics of core/metrics_defs.h set to known values) on 127.0.0.1 port 0,
fetches /metrics with urllib and parses it with the Prometheus project's own
Python parser (prometheus_client.parser, Debian python3-prometheus-client),
then checks:

  1. every contract family, with its type, labels and values, in the
     declared order, and escaping that round-trips through the parser;
  2. the text itself: line grammar, cumulative buckets, _count = +Inf bucket;
  3. HEAD, 404 for other paths, 405 for other methods (with Allow);
  4. bind failures (a taken port, a bad address) give a clear message;
  5. the server listens on the given address only;
  6. scrapes while two threads update metrics, and parallel scrapes.

Usage: test_metrics_http.py METRICS_HTTP_SERVER_BINARY
Standard library plus prometheus_client; loopback only.
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import skips

SERVER = None  # path of metrics_http_server (set in main)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LAG_BOUNDS = ["0.0005", "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2",
              "0.5", "1", "2", "5", "10", "20", "30", "60", "+Inf"]

# The families of core/metrics_defs.h in declaration order: (name, type, labels).
CONTRACT = [
    ("mcsqueal_up", "gauge", ()),
    ("mcsqueal_build_info", "gauge", ("version",)),
    ("mcsqueal_binlog_events_total", "counter", ()),
    ("mcsqueal_unknown_events_total", "counter", ()),
    ("mcsqueal_incidents_total", "counter", ()),
    ("mcsqueal_transactions_total", "counter", ()),
    ("mcsqueal_keys_total", "counter", ()),
    ("mcsqueal_keys_rejected_total", "counter", ("reason",)),
    ("mcsqueal_binlog_lag_seconds", "gauge", ()),
    ("mcsqueal_source_diverged", "gauge", ()),
    ("mcsqueal_checkpoint_offset", "gauge", ()),
    ("mcsqueal_checkpoint_file_index", "gauge", ()),
    ("mcsqueal_checkpoint_age_seconds", "gauge", ()),
    ("mcsqueal_bus_messages_total", "counter", ("result",)),
    ("mcsqueal_bus_inflight_messages", "gauge", ()),
    ("mcsqueal_deletes_total", "counter", ("pool", "result")),
    ("mcsqueal_pool_flushes_total", "counter", ("pool", "result")),
    ("mcsqueal_memcached_version_unsupported", "gauge", ("pool", "server")),
    ("mcsqueal_bus_consumer_lag_messages", "gauge", ("partition",)),
    ("mcsqueal_spool_keys", "gauge", ()),
    ("mcsqueal_markers_cleared_total", "counter", ()),
    ("mcsqueal_markers_not_cleared_total", "counter", ("reason",)),
    ("mcsqueal_marker_age_seconds", "histogram", ("cluster",)),
    ("mcsqueal_invalidation_lag_seconds", "histogram", ("cluster",)),
    ("mcsqueal_pipeline_latency_seconds", "histogram", ("cluster",)),
    ("mcsqueal_audit_checks_total", "counter", ("pool", "result", "delay")),
    ("mcsqueal_audit_survivors_total", "counter", ("pool", "server", "owner")),
    ("mcsqueal_audit_consistency_ratio", "gauge", ("pool", "delay")),
    ("mcsqueal_audit_window_checks", "gauge", ("pool", "delay", "result")),
    ("mcsqueal_audit_pool_audited", "gauge", ("pool",)),
]

ESCAPED_VALUE = 'quote " backslash \\ newline \n end'
SAMPLE_RE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*'
    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})?'
    r' (NaN|[+-]Inf|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$')


class Server:
    """metrics_http_server running on a free port; stopped by closing stdin."""

    def __init__(self, listen="127.0.0.1:0", churn=False):
        args = [SERVER, listen] + (["--churn"] if churn else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            err = self.proc.stderr.read()
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not start: %r %r" % (line, err))
        self.port = int(line.split()[1])
        self.host = listen.rsplit(":", 1)[0].strip("[]")

    def url(self, path="/metrics"):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (host, self.port, path)

    def stop(self):
        self.proc.stdin.close()
        status = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return status


def fetch(url, method="GET"):
    """Returns (status, headers, body text) of one request."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fams, family_name, sample_name=None):
    """{frozenset(labels.items()): value} of one family's samples named sample_name."""
    sample_name = sample_name or family_name
    return {frozenset(s.labels.items()): s.value
            for s in fams[family_name].samples if s.name == sample_name}


def run_server_expecting_failure(listen):
    proc = subprocess.run([SERVER, listen], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def check_histogram_series(test, fams, name, labels):
    """Checks one histogram series; returns its {le: count}, sum and count."""
    key = frozenset(labels.items())
    buckets = {}
    for s in fams[name].samples:
        if s.name == name + "_bucket" and frozenset(
                (k, v) for k, v in s.labels.items() if k != "le") == key:
            buckets[s.labels["le"]] = s.value
    test.assertEqual(list(buckets), LAG_BOUNDS)
    counts = list(buckets.values())
    test.assertEqual(counts, sorted(counts), "buckets must be cumulative")
    total = samples(fams, name, name + "_count")[key]
    test.assertEqual(total, buckets["+Inf"])
    return buckets, samples(fams, name, name + "_sum")[key], total


class ScrapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.status, cls.headers, cls.text = fetch(cls.server.url())
        cls.fams = families(cls.text)

    @classmethod
    def tearDownClass(cls):
        if cls.server.stop() != 0:
            raise AssertionError("server did not stop cleanly")

    def test_status_and_content_type(self):
        self.assertEqual(self.status, 200)
        self.assertEqual(self.headers["Content-Type"], CONTENT_TYPE)

    def test_families_types_and_order(self):
        want = [(n[:-6] if t == "counter" else n, t) for n, t, _ in CONTRACT]
        got = [(f.name, f.type) for f in text_string_to_metric_families(self.text)]
        self.assertEqual(got[:len(want)], want)
        self.assertEqual(got[len(want):], [("mcsqueal_test_escapes", "gauge")])
        self.assertNotIn("untyped", [t for _, t in got])

    def test_labels(self):
        for name, typ, labels in CONTRACT:
            fam = self.fams[name[:-6] if typ == "counter" else name]
            for s in fam.samples:
                want = set(labels) | ({"le"} if s.name.endswith("_bucket") else set())
                self.assertEqual(set(s.labels), want, s)

    def test_counter_values(self):
        f = self.fams
        self.assertEqual(samples(f, "mcsqueal_binlog_events", "mcsqueal_binlog_events_total"),
                         {frozenset(): 1000})
        self.assertEqual(samples(f, "mcsqueal_transactions", "mcsqueal_transactions_total"),
                         {frozenset(): 100})
        self.assertEqual(samples(f, "mcsqueal_keys", "mcsqueal_keys_total"), {frozenset(): 250})
        self.assertEqual(samples(f, "mcsqueal_unknown_events", "mcsqueal_unknown_events_total"),
                         {frozenset(): 0})
        self.assertEqual(samples(f, "mcsqueal_keys_rejected", "mcsqueal_keys_rejected_total"),
                         {frozenset({("reason", "too_long")}): 3,
                          frozenset({("reason", "control_char")}): 1})
        self.assertEqual(samples(f, "mcsqueal_bus_messages", "mcsqueal_bus_messages_total"),
                         {frozenset({("result", "ok")}): 10})
        self.assertEqual(samples(f, "mcsqueal_deletes", "mcsqueal_deletes_total"),
                         {frozenset({("pool", "main"), ("result", "deleted")}): 240,
                          frozenset({("pool", "main"), ("result", "error")}): 2,
                          frozenset({("pool", "gutter"), ("result", "deleted")}): 5})
        self.assertEqual(samples(f, "mcsqueal_markers_cleared", "mcsqueal_markers_cleared_total"),
                         {frozenset(): 4})

    def test_gauge_values(self):
        f = self.fams
        self.assertEqual(samples(f, "mcsqueal_up"), {frozenset(): 1})
        self.assertEqual(samples(f, "mcsqueal_build_info"),
                         {frozenset({("version", "test-1.0")}): 1})
        self.assertEqual(samples(f, "mcsqueal_binlog_lag_seconds"), {frozenset(): 0.25})
        self.assertEqual(samples(f, "mcsqueal_spool_keys"), {frozenset(): 2})
        self.assertEqual(samples(f, "mcsqueal_checkpoint_offset"), {frozenset(): 8812})
        self.assertEqual(samples(f, "mcsqueal_checkpoint_file_index"), {frozenset(): 3})
        self.assertEqual(samples(f, "mcsqueal_checkpoint_age_seconds"), {frozenset(): 1.5})
        self.assertEqual(samples(f, "mcsqueal_bus_inflight_messages"), {frozenset(): 0})

    def test_histograms(self):
        buckets, total_sum, count = check_histogram_series(
            self, self.fams, "mcsqueal_invalidation_lag_seconds", {"cluster": "a"})
        self.assertEqual(count, 4)
        self.assertAlmostEqual(total_sum, 0.0007 + 0.0015 + 0.0015 + 12, places=12)
        self.assertEqual(buckets["0.0005"], 0)
        self.assertEqual(buckets["0.001"], 1)
        self.assertEqual(buckets["0.002"], 3)
        self.assertEqual(buckets["10"], 3)
        self.assertEqual(buckets["20"], 4)
        buckets, total_sum, count = check_histogram_series(
            self, self.fams, "mcsqueal_pipeline_latency_seconds", {"cluster": "a"})
        self.assertEqual((buckets["0.0005"], count, total_sum), (1, 1, 0.0003))

    def test_escaping_round_trips(self):
        fam = self.fams["mcsqueal_test_escapes"]
        self.assertEqual(fam.documentation, "Help with a backslash \\ and a\nnewline.")
        self.assertEqual([(s.labels, s.value) for s in fam.samples],
                         [({"v": ESCAPED_VALUE}, 1)])
        self.assertIn('mcsqueal_test_escapes{v="quote \\" backslash \\\\ newline \\n end"} 1\n',
                      self.text)

    def test_text_grammar(self):
        self.assertTrue(self.text.endswith("\n"))
        declared = set()
        for line in self.text.split("\n")[:-1]:
            if line.startswith("# HELP "):
                continue
            m = re.match(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$", line)
            if m:
                self.assertNotIn(m.group(1), declared, "one TYPE line per family")
                declared.add(m.group(1))
                continue
            self.assertRegex(line, SAMPLE_RE)

    def test_head(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("HEAD", "/metrics")
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), CONTENT_TYPE)
        self.assertEqual(int(resp.getheader("Content-Length")), len(self.text.encode()))
        self.assertEqual(resp.read(), b"")
        conn.close()

    def test_not_found(self):
        for path in ("/", "/metricsx", "/metrics/", "/favicon.ico"):
            status, _, body = fetch(self.server.url(path))
            self.assertEqual(status, 404, path)
            self.assertIn("/metrics", body)
        status, _, _ = fetch(self.server.url("/metrics?name[]=x"))
        self.assertEqual(status, 200)

    def test_method_not_allowed(self):
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            status, headers, _ = fetch(self.server.url(), method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers["Allow"], "GET, HEAD")

    def test_listens_on_given_address_only(self):
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", self.server.port), timeout=5).close()


class StartFailureTest(unittest.TestCase):
    def test_port_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            rc, out, err = run_server_expecting_failure("127.0.0.1:%d" % port)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertEqual(err, "metrics_http_server: cannot listen on 127.0.0.1:%d: "
                              "Address already in use\n" % port)

    def test_bad_address(self):
        rc, _, err = run_server_expecting_failure("127.0.0.1")
        self.assertEqual(rc, 1)
        self.assertIn('metrics listen address "127.0.0.1" is not host:port', err)
        rc, _, err = run_server_expecting_failure("192.0.2.1:9187")
        self.assertEqual(rc, 1)
        self.assertIn("cannot listen on 192.0.2.1:9187: Cannot assign requested address", err)


class LiveTest(unittest.TestCase):
    def test_scrapes_while_threads_update(self):
        server = Server(churn=True)
        try:
            last_events, last_count = 0, 0
            for _ in range(40):
                status, _, text = fetch(server.url())
                self.assertEqual(status, 200)
                fams = families(text)
                events = samples(fams, "mcsqueal_binlog_events",
                                 "mcsqueal_binlog_events_total")[frozenset()]
                _, _, count = check_histogram_series(
                    self, fams, "mcsqueal_invalidation_lag_seconds", {"cluster": "churn"})
                self.assertGreaterEqual(events, last_events)
                self.assertGreaterEqual(count, last_count)
                last_events, last_count = events, count
            self.assertGreater(last_events, 1000)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_parallel_scrapes(self):
        server = Server()
        results = []

        def scrape():
            for _ in range(20):
                status, _, text = fetch(server.url())
                results.append((status, len(families(text))))

        try:
            threads = [threading.Thread(target=scrape) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(results, [(200, len(CONTRACT) + 1)] * 160)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            skips.skip_test(self, "ipv6-loopback", "no IPv6 loopback (::1)")
        server = Server("[::1]:0")
        try:
            status, _, text = fetch(server.url())
            self.assertEqual(status, 200)
            self.assertIn("mcsqueal_up 1\n", text)
        finally:
            self.assertEqual(server.stop(), 0)


def main():
    global SERVER
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    SERVER = os.path.abspath(sys.argv[1])
    prog = unittest.main(argv=sys.argv[:1], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
