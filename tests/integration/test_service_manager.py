#!/usr/bin/python3
"""`mcsqueal route` as systemd runs it (Type=notify, stderr to the journal),
with this script standing in for systemd: it binds the notification socket
that NOTIFY_SOCKET names and makes the daemon's stderr the stream that
JOURNAL_STREAM names. The bus is a standalone `mcsqueal bus`; one memcached
serves the pool; no database is needed.

Checks: READY=1 arrives once, when GET /ready answers 200 (not before: the
router is not ready until it holds its partitions); the log lines on the
"journal" carry a syslog priority and no timestamp; SIGTERM sends
STOPPING=1 and the daemon exits 0.

Usage: test_service_manager.py MCSQUEAL_BINARY
Skips (77) when memcached is missing, fails under CI (skips.py).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import skips  # noqa: E402

MCSQUEAL = os.path.abspath(sys.argv[1])


def config(path, state_dir, memcached, port):
    with open(path, "w") as f:
        f.write("""\
[mcsqueal]
region = east
state_dir = {state}
[bus]
brokers = embedded
[router]
cluster = a
[pool main]
servers = {mc}
[metrics]
listen = 127.0.0.1:{port}
""".format(state=state_dir, mc=memcached, port=port))


def get_ready(port):
    """GET /ready: (HTTP status, body), or (None, why) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=5) as r:
            return r.status, r.read().decode("utf-8").strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8").strip()
    except OSError as e:
        return None, str(e)


def receive_all(sock):
    """Every datagram waiting on sock."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode("utf-8"))
        except BlockingIOError:
            return out


def main():
    if harness.find_memcached() is None:
        return skips.exit_code("memcached", "memcached is not installed")
    work = harness.mkdtemp("mcsq-notify-")
    mc = harness.Memcached(work, "a")
    state = os.path.join(work, "state")
    port = harness.free_port()
    cfg = os.path.join(work, "route.ini")
    config(cfg, state, mc.name, port)
    bus = harness.Proc(MCSQUEAL, work, ["bus", "--config", cfg], "bus")
    harness.wait_until(lambda: os.path.exists(os.path.join(state, "bus.bootstrap")), 30,
                       what="the bus's address file")

    # the service manager's side: the notification socket, the journal stream
    notify_path = os.path.join(work, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    sock.setblocking(False)
    journal = os.path.join(work, "journal.log")
    open(journal, "w").close()
    st = os.stat(journal)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path,
               JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    log = open(journal, "ab")
    route = subprocess.Popen([MCSQUEAL, "route", "--config", cfg], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    log.close()
    harness._procs.append(route)

    # READY=1 only once /ready answers 200, and at that moment
    messages = []
    ready_status = [None]

    def got_ready():
        harness.check(route.poll() is None, "route exited %s:\n%s" %
                      (route.returncode, harness.tail_text(journal)))
        for m in receive_all(sock):
            messages.append(m)
            if "READY=1" in m.split("\n") and ready_status[0] is None:
                ready_status[0] = get_ready(port)
        return ready_status[0] is not None
    harness.wait_until(got_ready, 60, step=0.01, what="READY=1 on the notification socket")
    harness.check(ready_status[0][0] == 200,
                  "READY=1 came while /ready answered %s" % (ready_status[0],))
    before = messages[:[i for i, m in enumerate(messages) if "READY=1" in m][0]]
    harness.check(all("READY=1" not in m for m in before), "READY=1 twice: %s" % messages)
    print("  notifications until ready: %s" % messages)

    # the journal's lines: a priority, no timestamp of their own
    lines = [l for l in harness.read_text(journal).splitlines() if l]
    harness.check(lines, "nothing logged")
    for line in lines:
        harness.check(re.match(r"^<[3467]>(error|warn |info |debug) ", line),
                      "not a journal line: %r" % line)
        harness.check(not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", line),
                      "a journal line with a timestamp: %r" % line)
    print("  %d journal lines, e.g. %r" % (len(lines), lines[0]))

    # stopping
    route.send_signal(signal.SIGTERM)
    rc = route.wait(timeout=30)
    harness.check(rc == 0, "route exited %d on SIGTERM:\n%s" % (rc, harness.tail_text(journal)))
    after = receive_all(sock)
    harness.check(any("STOPPING=1" in m.split("\n") for m in after),
                  "no STOPPING=1 after SIGTERM: %s" % after)
    print("  after SIGTERM: %s" % after)
    bus.stop()
    sock.close()
    print("PASS test_service_manager")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        harness.cleanup()
