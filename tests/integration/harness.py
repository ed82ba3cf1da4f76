"""Shared harness of the Python integration tests: child processes that die
with the test (and are killed and reaped on exit, failure and SIGTERM),
temporary directories, free loopback ports, polling, throwaway mariadbd and
memcached servers, mcsqueal processes and Prometheus scrapes.

Only /usr/bin/python3 with Debian's python3-pymysql (for MariaDB) is needed.
MCSQ_TEST_KEEP=1 keeps the temporary directories.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

KEEP = os.environ.get("MCSQ_TEST_KEEP", "") not in ("", "0")

_procs = []
_dirs = []
_setpriv = shutil.which("setpriv")


def cleanup():
    """Kills every child started here and removes the temporary directories
    (also run at exit)."""
    for p in _procs:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
            except OSError:
                pass
    for p in _procs:
        try:
            p.wait(timeout=20)
        except Exception:
            pass
    for d in _dirs:
        if KEEP:
            print("kept %s" % d, file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)
    _procs.clear()
    _dirs.clear()


def _on_signal(sig, frame):
    raise SystemExit(128 + sig)


atexit.register(cleanup)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def mkdtemp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _dirs.append(d)
    return d


def spawn(args, log_path, **kw):
    """Starts a child writing stdout+stderr to log_path (main thread only:
    the child dies with the thread that started it)."""
    assert threading.current_thread() is threading.main_thread()
    if _setpriv:
        args = [_setpriv, "--pdeathsig", "KILL", "--"] + list(args)
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, **kw)
    finally:
        log.close()
    _procs.append(p)
    return p


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def tail_text(path, lines=40):
    return "\n".join(read_text(path).splitlines()[-lines:])


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(step)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def find_memcached():
    return shutil.which("memcached") or next(
        (p for p in ("/usr/bin/memcached", "/usr/sbin/memcached") if os.path.exists(p)), None)


def find_mariadbd():
    return shutil.which("mariadbd") or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/bin/mariadbd") if os.path.exists(p)), None)


class Memcached:
    """One throwaway memcached on 127.0.0.1 and a small text-protocol client."""

    def __init__(self, workdir, tag):
        self.log = os.path.join(workdir, "memcached-%s.log" % tag)
        for _ in range(3):
            self.port = free_port()
            args = [find_memcached(), "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                    "-m", "16", "-t", "1"]
            if os.geteuid() == 0:
                args += ["-u", "root"]
            self.proc = spawn(args, self.log)
            try:
                wait_until(lambda: self._answers() or self.proc.poll() is not None, 10,
                           what="memcached on port %d" % self.port)
            except AssertionError:
                pass
            if self.proc.poll() is None and self._answers():
                break
            self.proc.kill()
            self.proc.wait()
        check(self.proc.poll() is None, "memcached did not start:\n%s" % tail_text(self.log))
        self.name = "127.0.0.1:%d" % self.port

    def _answers(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def command(self, line, end=b"END\r\n"):
        """Sends one command; returns the reply up to the line `end` (or one
        line when end is None)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(line + b"\r\n")
            rf = s.makefile("rb")
            out = b""
            while True:
                ln = rf.readline()
                check(ln, "memcached %s closed the connection" % self.name)
                out += ln
                if end is None or ln == end or ln.startswith(b"ERROR") or \
                        ln.startswith(b"CLIENT_ERROR") or ln.startswith(b"SERVER_ERROR"):
                    return out

    def get(self, key):
        """The value of key (str), or None."""
        r = self.command(b"get " + key.encode("utf-8"))
        if not r.startswith(b"VALUE "):
            check(r == b"END\r\n", "memcached %s: get %s: %r" % (self.name, key, r))
            return None
        return r.split(b"\r\n")[1].decode("utf-8")

    def set(self, key, value):
        v = value.encode("utf-8")
        r = self.command(b"set %s 0 0 %d\r\n%s" % (key.encode("utf-8"), len(v), v), end=None)
        check(r == b"STORED\r\n", "memcached %s: set %s: %r" % (self.name, key, r))

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)


class MariaDB:
    """A throwaway mariadbd on 127.0.0.1 with its binlog on (ROW format), its
    datadir in a temporary directory. start() installs it the first time."""

    def __init__(self, server_id=1, extra_args=(), prefix="mcsq-db-"):
        import pymysql  # python3-pymysql
        self._pymysql = pymysql
        self.dir = mkdtemp(prefix)
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.log = os.path.join(self.dir, "mariadbd.log")
        self.port = free_port()
        self.server_id = server_id
        self.extra_args = list(extra_args)
        self.installed = False
        self.proc = None

    def install(self):
        # temporary tables in our own directory: a mariadbd starting elsewhere
        # removes every #sql file in its tmpdir, which in a shared /tmp failed
        # installs running at the same time; one more attempt on a fresh
        # datadir if the bootstrap still fails
        for attempt in (1, 2):
            shutil.rmtree(self.datadir, ignore_errors=True)
            r = subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root",
                                "--datadir=" + self.datadir, "--tmpdir=" + self.dir,
                                "--auth-root-authentication-method=normal", "--skip-test-db"],
                               capture_output=True, text=True, timeout=180)
            if r.returncode == 0:
                break
            print("mariadb-install-db failed (attempt %d): %s" % (attempt, r.stderr[-2000:]),
                  file=sys.stderr)
        check(r.returncode == 0, "mariadb-install-db failed: %s%s" % (r.stdout, r.stderr))
        self.installed = True

    def start(self):
        if not self.installed:
            self.install()
        self.proc = spawn([find_mariadbd(), "--no-defaults", "--user=root",
                           "--datadir=" + self.datadir, "--socket=" + self.socket,
                           "--port=%d" % self.port, "--bind-address=127.0.0.1",
                           "--log-bin=%s/binlog" % self.datadir,
                           "--server-id=%d" % self.server_id, "--binlog-format=ROW",
                           "--pid-file=%s/mariadbd.pid" % self.dir, "--tmpdir=" + self.dir,
                           # speed only: the servers themselves are never crashed
                           "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
                           "--skip-name-resolve"] + self.extra_args, self.log)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("mariadbd exited %d:\n%s" % (self.proc.returncode,
                                                                tail_text(self.log)))
            try:
                self.connect().close()
                return self
            except self._pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise AssertionError("mariadbd did not answer within 60 s:\n%s" %
                                         tail_text(self.log))
                time.sleep(0.1)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mariadbd did not stop within 60 s of SIGTERM")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def connect(self, **kw):
        kw.setdefault("autocommit", True)
        return self._pymysql.connect(unix_socket=self.socket, user="root", password="",
                                     charset="utf8mb4", connect_timeout=5, **kw)

    def sql(self, *statements):
        """Runs statements as root; returns the rows of the last one."""
        c = self.connect()
        try:
            cur = c.cursor()
            for s in statements:
                cur.execute(s)
            return cur.fetchall()
        finally:
            c.close()

    def master_status(self):
        row = self.sql("SHOW MASTER STATUS")[0]
        return row[0], int(row[1])

    def gtid_pos(self):
        return self.sql("SELECT @@global.gtid_binlog_pos")[0][0]


class Proc:
    """A mcsqueal process with its log."""

    def __init__(self, binary, workdir, args, tag):
        self.log = os.path.join(workdir, "%s.log" % tag)
        self.tag = tag
        self.proc = spawn([binary] + list(args), self.log)

    def text(self):
        return read_text(self.log)

    def alive(self):
        return self.proc.poll() is None

    def wait_log(self, needle, timeout=30):
        wait_until(lambda: needle in self.text() or not self.alive(), timeout,
                   what="%r in %s" % (needle, os.path.basename(self.log)))
        check(self.alive(), "%s exited %s:\n%s" % (self.tag, self.proc.returncode,
                                                   tail_text(self.log)))

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s did not stop within %d s of SIGTERM:\n%s" %
                                 (self.tag, timeout, tail_text(self.log)))

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


def scrape(port):
    """Samples of http://127.0.0.1:port/metrics as {(name, labels): value},
    labels a sorted tuple of pairs; None when the endpoint does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode("utf-8")
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                         m.group(2) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def metric(m, name, **labels):
    if m is None:
        return None
    return m.get((name, tuple(sorted(labels.items()))))
