#!/usr/bin/python3
"""Black-box test of log rotation in a running daemon: `mcsqueal run`
(tailer, router, embedded bus) with log_file set and log_level = debug,
against a throwaway mariadbd and memcached (the harness of test_route.py).

  sighup_storm  a workload of annotated transactions runs while the test
     sends SIGHUPs to the daemon (at least 1000, and until the workload is
     done), one at a time (each taken before the next is sent:
     /proc/PID/status shows no SIGHUP pending), and renames the log file away
     every 25 of them, as logrotate would. The daemon survives
     and stops cleanly (exit 0; under ThreadSanitizer or AddressSanitizer a
     report fails it); every key of the workload is deleted; in the union of
     the log files every line is whole (time stamp, level, source location,
     message), there is one "log reopened (SIGHUP)" line per SIGHUP, each
     committed GTID has exactly one debug line of the reader, and the bus
     offsets the publisher saw acknowledged are exactly those the router
     reports done, each once.

Usage: test_log_rotation.py MCSQUEAL_BINARY
Exit 0 when all pass, 1 otherwise, 77 (skip) when mariadbd or memcached is
missing. MCSQ_SIGHUPS=N changes the number of SIGHUPs.
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_route as rt  # noqa: E402  (servers, processes, workload, configuration)

check = rt.check
SIGHUPS = int(os.environ.get("MCSQ_SIGHUPS", "1000"))
ROTATE_EVERY = 25
TRANSACTIONS = 150

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn |info |debug) "
                  r"[A-Za-z0-9_.]+:\d+ (.*)$")
REOPENED = "log reopened (SIGHUP)"
TXN = re.compile(r"^binlog: transaction (\S+) ending at ")
ACKED = re.compile(r"^bus: message \d+ acknowledged at offset (\d+)$")
DONE = re.compile(r"^route: message at offset (\d+) of partition (\d+) done: ")


def sighup_pending(pid):
    """Whether a SIGHUP waits for the process (its shared pending set)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("ShdPnd:"):
                return int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)) != 0
    return False


def send_sighup(pid):
    """SIGHUP, then waits until the daemon took it (so that none coalesce)."""
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while sighup_pending(pid):
        check(time.monotonic() < deadline, "a SIGHUP still pending after 10 s")
        time.sleep(0.0002)


def log_files(log_dir):
    return sorted(os.path.join(log_dir, f) for f in os.listdir(log_dir))


def messages(log_dir):
    """The messages of every line of every log file; a line that is not whole
    fails the test."""
    out = []
    for path in log_files(log_dir):
        with open(path, "rb") as f:
            data = f.read()
        check(data == b"" or data.endswith(b"\n"), "%s ends in the middle of a line" % path)
        for raw in data.split(b"\n")[:-1]:
            line = raw.decode("utf-8", "replace")
            m = LINE.match(line)
            check(m is not None, "%s: a line that is not whole: %r" % (path, line[:300]))
            out.append(m.group(2))
    return out


def wait_in_logs(log_dir, needle, proc, timeout=60):
    def seen():
        check(proc.alive(), "run exited %s:\n%s" % (proc.proc.returncode, proc.text()))
        return any(needle in harness.read_text(p) for p in log_files(log_dir))
    rt.wait_until(seen, timeout, what="%r in the log" % needle)


def test_sighup_storm(ctx):
    uni = rt.Universe("lr", TRANSACTIONS * 3)
    srv, pools, wl = rt.setup(ctx, "t_sighup", uni)
    log_dir = os.path.join(ctx.dir, "logs")
    os.mkdir(log_dir)
    log_path = os.path.join(log_dir, "mcsqueal.log")
    cfg = ctx.config("run.ini", srv, pools, server_id=4431)
    text = harness.read_text(cfg).replace("log_level = info\n",
                                          "log_level = debug\nlog_file = %s\n" % log_path)
    ctx.write("run.ini", text)
    run = rt.run_proc(ctx, cfg, "run")  # stdout/stderr: sanitizer reports only
    ctx.logs.append(log_path)
    wait_in_logs(log_dir, "binlog: streaming from", run)

    def workload():
        for i in range(TRANSACTIONS):
            keys = uni.take(1 + i % 3)
            wl.run([wl.update(harness.annotation(keys), row=1 + i % 20)], keys)
            time.sleep(0.01)
    t = wl.in_thread(workload)
    t0 = time.monotonic()
    renamed = sent = 0
    while sent < SIGHUPS or t.is_alive():  # at least SIGHUPS, all through the workload
        if sent % ROTATE_EVERY == 0:
            os.rename(log_path, "%s.%04d" % (log_path, sent // ROTATE_EVERY))
            renamed += 1
        send_sighup(run.pid)
        sent += 1
        time.sleep(0.002)
    storm_s = time.monotonic() - t0
    wl.join(t)
    pools.wait_verified(wl.keys(), [], "keys of the workload", timeout=60)
    rc = run.stop()
    check(rc == 0, "run: exit %s after the storm:\n%s" % (rc, harness.tail_text(run.log)))
    check(harness.read_text(run.log).strip() == "",
          "run wrote outside its log file:\n%s" % harness.tail_text(run.log))

    msgs = messages(log_dir)
    files = log_files(log_dir)
    check(len(files) == renamed + 1, "%d log files after %d renames" % (len(files), renamed))
    reopened = sum(1 for m in msgs if m == REOPENED)
    check(reopened == sent, "%d reopenings logged for %d SIGHUPs" % (reopened, sent))
    txns = {}
    for m in msgs:
        g = TXN.match(m)
        if g:
            txns[g.group(1)] = txns.get(g.group(1), 0) + 1
    missing = [g for g in wl.gtids if txns.get(g) != 1]
    check(not missing, "transactions not logged exactly once: %s" %
          ["%s: %d" % (g, txns.get(g, 0)) for g in missing[:10]])
    acked = [int(a.group(1)) for a in map(ACKED.match, msgs) if a]
    done = [int(d.group(1)) for d in map(DONE.match, msgs) if d]
    check(len(set(acked)) == len(acked) and len(set(done)) == len(done),
          "an offset logged twice: acknowledged %d (%d distinct), done %d (%d distinct)" %
          (len(acked), len(set(acked)), len(done), len(set(done))))
    check(acked and set(acked) == set(done),
          "offsets acknowledged but not done: %s; done but not acknowledged: %s" %
          (sorted(set(acked) - set(done))[:10], sorted(set(done) - set(acked))[:10]))
    print("%d SIGHUPs in %.1f s, %d files, %d lines, %d transactions, %d bus messages" %
          (sent, storm_s, len(files), len(msgs), len(wl.gtids), len(acked)))


TESTS = [("sighup_storm", test_sighup_storm)]


def main():
    rt.MCSQUEAL = harness.binary_argument(__doc__)
    return harness.run_tests(TESTS, "MCSQ_LOG_ROTATION_TEST", rt.Ctx, rt.SHARED,
                             needs=dict(memcached=True,
                                        modules=[("python3-pymysql", rt.IMPORT_ERROR)]))


if __name__ == "__main__":
    sys.exit(main())
