"""Shared harness of the Python integration tests: child processes that die
with the test (and are killed and reaped on exit, failure and SIGTERM),
temporary directories, free loopback ports, polling, throwaway mariadbd and
memcached servers, mcsqueal processes and Prometheus scrapes.

What the test scripts share besides: the mariadbd of a script's tests
(SharedMariaDB), a [mysql] configuration section, a workload of annotated
transactions (Workload), a test's context (Ctx), the command line and the
checks before the first test (binary_argument, check_requirements) and the
loop that runs the selected tests and prints their results (run_tests).

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
import traceback
import urllib.error
import urllib.request

import skips

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from ports import free_port  # noqa: E402,F401  (the tests use harness.free_port)

SKIP = skips.SKIP  # the exit code ctest counts as skipped (SKIP_RETURN_CODE)
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

    def __init__(self, workdir, tag, memory_mb=16, threads=1):
        self.log = os.path.join(workdir, "memcached-%s.log" % tag)
        for _ in range(3):
            self.port = free_port()
            args = [find_memcached(), "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                    "-m", str(memory_mb), "-t", str(threads)]
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


class SharedMariaDB:
    """The mariadbd that the tests of one script share: installed, started
    and set up on first use (database app, user mcsqueal@127.0.0.1 with
    `password` and the replication grants, then the `extra` statements),
    started again when a test left it down."""

    def __init__(self, prefix, password, extra=()):
        self.prefix = prefix
        self.password = password
        self.extra = list(extra)
        self.server = None

    def get(self):
        if self.server is None:
            s = MariaDB(prefix=self.prefix)
            s.install()
            s.start()
            s.sql("CREATE DATABASE app",
                  "CREATE USER 'mcsqueal'@'127.0.0.1' IDENTIFIED BY '%s'" % self.password,
                  "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'mcsqueal'@'127.0.0.1'",
                  *self.extra)
            self.server = s
        elif not self.server.running():
            self.server.start()
        return self.server

    def proc(self):
        return self.server.proc if self.server is not None else None

    def stop(self):
        """Stops the server if there is one; errors are ignored."""
        if self.server is not None:
            try:
                self.server.stop()
            except Exception:
                pass


# what the configurations of the tests add to mysql_section(): quick
# reconnects, and a quick failure where nothing listens
QUICK_RECONNECT = "reconnect_max_ms = 1000\nconnect_timeout_ms = 2000\n"


def mysql_section(port, password_file, server_id, start, user="mcsqueal", more=""):
    """The [mysql] section of a mcsqueal configuration for a server on
    127.0.0.1:port, `more` lines after it."""
    return """\
[mysql]
host = 127.0.0.1
port = {port}
user = {user}
password_file = {pw}
server_id = {server_id}
start = {start}
heartbeat_ms = 200
""".format(port=port, user=user, pw=password_file, server_id=server_id, start=start) + more


def annotation(tokens):
    """The SQL comment that gives mcsqueal a statement's keys (and directives)."""
    return "/* mcsqueal: %s */" % " ".join(tokens)


class Workload:
    """Transactions on one connection to a MariaDB, on a table app.<table>
    created with 20 rows (columns id, v, note; `note` and `options` its
    note column's type and its table options), and threads that run them
    (in_thread), whose failure join() reports. The lock is held for a whole
    transaction, so another thread can act on the server between two."""

    def __init__(self, srv, table, note="VARCHAR(64)", options="ENGINE=InnoDB"):
        self.srv = srv
        self.table = "app." + table
        self.lock = threading.Lock()
        self.rolled_back = []  # key lists
        self.error = None
        self.stopping = threading.Event()
        self.threads = []
        self.conn = srv.connect(autocommit=False)
        srv.sql("CREATE TABLE %s (id BIGINT AUTO_INCREMENT PRIMARY KEY, v BIGINT NOT NULL, "
                "note %s) %s" % (self.table, note, options),
                "INSERT INTO %s (v, note) VALUES %s" % (self.table,
                                                        ",".join("(0,'seed')" for _ in range(20))))

    def close(self):
        self.stopping.set()  # ends a workload thread a failed test left running
        for t in self.threads:
            t.join(30)
        self.close_connection()

    def close_connection(self):
        try:
            self.conn.close()
        except Exception:
            pass

    def insert(self, comment="", n=0, note="n"):
        return "INSERT INTO %s (v, note) VALUES (%d, '%s') %s" % (self.table, n, note, comment)

    def update(self, comment="", row=1, front=False):
        if front:
            return "%s UPDATE %s SET v = v + 1 WHERE id = %d" % (comment, self.table, row)
        return "UPDATE %s %s SET v = v + 1 WHERE id = %d" % (self.table, comment, row)

    def ping(self):
        self.conn.ping(reconnect=True)

    def transaction(self, statements, keys, commit=True):
        """Runs statements in one transaction (the caller holds the lock):
        after COMMIT returns the cursor that selected @@last_gtid; after a
        ROLLBACK (commit False) notes keys in rolled_back and returns None."""
        self.ping()
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        for s in statements:
            cur.execute(s)
        if not commit:
            cur.execute("ROLLBACK")
            self.rolled_back.append(list(keys))
            return None
        cur.execute("COMMIT")
        cur.execute("SELECT @@last_gtid")
        return cur

    def in_thread(self, fn):
        """Runs fn() in a thread; an exception is kept in self.error."""
        def main():
            try:
                fn()
            except BaseException as e:  # noqa: B902 - reported by join()
                self.error = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        t = threading.Thread(target=main, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def join(self, t, timeout=300):
        t.join(timeout)
        check(not t.is_alive(), "workload still running after %d s" % timeout)
        check(self.error is None, "workload failed:\n%s" % self.error)


class Proc:
    """A mcsqueal process with its log (kw: more arguments of Popen, e.g. env)."""

    def __init__(self, binary, workdir, args, tag, **kw):
        self.log = os.path.join(workdir, "%s.log" % tag)
        self.tag = tag
        self.proc = spawn([binary] + list(args), self.log, **kw)
        self.pid = self.proc.pid

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

    def stop_ok(self, what="SIGTERM"):
        """stop(), which must exit 0."""
        rc = self.stop()
        check(rc == 0, "%s: exit %s:\n%s" % (what, rc, tail_text(self.log)))

    def kill9(self):
        """SIGKILL; returns the time.time() at which it was sent."""
        t = time.time()
        self.proc.kill()
        self.proc.wait()
        return t


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


def ready(port):
    """GET http://127.0.0.1:port/ready: (HTTP status, its one-line body), or
    (None, why) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=5) as r:
            return r.status, r.read().decode("utf-8").strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8").strip()
    except OSError as e:
        return None, str(e)


def wait_ready(port, timeout=30, want=200, proc=None):
    """Waits until /ready answers want (200: ready; 503: not ready); returns
    the body. proc (a Proc): fail at once when it exits."""
    last = [None]

    def ok():
        if proc is not None:
            check(proc.alive(), "%s exited %s while waiting for /ready %d:\n%s" %
                  (proc.tag, proc.proc.returncode, want, tail_text(proc.log)))
        last[0] = ready(port)
        return last[0][0] == want
    try:
        wait_until(ok, timeout, step=0.02, what="/ready %d" % want)
    except AssertionError:
        raise AssertionError("/ready did not answer %d within %d s; last answer %s" %
                             (want, timeout, last[0]))
    return last[0][1]


def metric(m, name, **labels):
    if m is None:
        return None
    return m.get((name, tuple(sorted(labels.items()))))


class Ctx:
    """One test's directory (with `password` in its file password), its
    state_dir, the logs to show when it fails, what to close after it (in
    reverse order) and the processes it started, which close() kills (not the
    server of `shared`, a SharedMariaDB)."""

    def __init__(self, name, prefix, password, region, shared=None):
        self.name = name
        self.dir = mkdtemp(prefix)
        self.state_dir = os.path.join(self.dir, "state")
        self.region = region
        self.shared = shared
        self.logs = []
        self.closers = []
        self.first_proc = len(_procs)
        self.password_file = self.write("password", password + "\n")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def topic(self):
        return "mcsqueal.%s.%s" % (self.region, self.name)

    def close(self):
        for c in reversed(self.closers):
            try:
                c()
            except Exception:
                pass
        # whatever this test started and left running (not the shared server)
        keep = self.shared.proc() if self.shared is not None else None
        for p in _procs[self.first_proc:]:
            if p.poll() is None and p is not keep:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()


def env_seed(name):
    """The seed of a script's random choices: the environment variable name
    (to repeat a run), else the time."""
    return int(os.environ.get(name, str(int(time.time()))))


def binary_argument(doc):
    """The absolute path of the one argument of a script (the binary it
    tests); with another number of arguments prints doc and exits 2."""
    if len(sys.argv) != 2:
        print(doc, file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


def check_requirements(memcached=False, modules=(), tools=()):
    """What a script checks before it runs a test: None when everything is
    there; else prints why and returns the exit code: SKIP (1 under CI, see
    skips.py) when mariadbd (or memcached) is not installed, 1 when a tool (a
    program on PATH) or a Python module is missing (modules: (what, the ImportError or None))."""
    if find_mariadbd() is None:
        return skips.exit_code("mariadbd",
                               "mariadbd not installed (scripts/deps installs mariadb-server)")
    if memcached and find_memcached() is None:
        return skips.exit_code("memcached", "memcached not installed (scripts/deps installs it)")
    missing = ["%s (%s)" % (what, err) for what, err in modules if err is not None]
    missing += [t for t in tools if shutil.which(t) is None]
    if missing:
        print("FAIL: missing %s (scripts/deps installs them)" % ", ".join(missing))
        print("0 passed, 1 failed")
        return 1
    return None


def run_tests(tests, env_var, new_ctx, shared=None, needs=None, intro=None,
              none_selected_ok=False):
    """Runs the tests, (name, function(ctx)) pairs, that the environment
    variable env_var selects (name prefixes separated by commas; every test
    when it is unset), each with a new_ctx(name) closed after it, once
    check_requirements(**needs) found everything. A failure prints the
    traceback and the end of the test's logs (not memcached's) and of the
    shared server's (a SharedMariaDB); the shared server and every process
    started here are stopped at the end. Prints intro first, a result line
    per test and the counts last. Returns the exit code: that of
    check_requirements when something is missing, else 0 when all passed, 1
    when one failed, 2 when env_var selects none of the tests (unless
    none_selected_ok)."""
    rc = check_requirements(**(needs or {}))
    if rc is not None:
        return rc
    select = [s for s in os.environ.get(env_var, "").split(",") if s]
    selected = [(n, f) for n, f in tests if not select or any(n.startswith(s) for s in select)]
    if not selected and not none_selected_ok:
        print("%s=%s selects none of: %s" % (env_var, ",".join(select),
                                              " ".join(n for n, _ in tests)))
        return 2
    if intro:
        print(intro)
    passed, failed = 0, []
    t_all = time.monotonic()
    try:
        for name, fn in selected:
            ctx = new_ctx(name)
            t0 = time.monotonic()
            print("== %s" % name, flush=True)
            try:
                fn(ctx)
                passed += 1
                print("ok   %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
            except Exception:
                failed.append(name)
                print("FAIL %s (%.1f s)\n%s" % (name, time.monotonic() - t0,
                                                traceback.format_exc()), flush=True)
                for log in ctx.logs:
                    if "memcached" not in log:
                        print("---- last lines of %s\n%s" % (os.path.basename(log),
                                                             tail_text(log, 25)))
                if shared is not None and shared.server is not None:
                    print("---- last lines of mariadbd.log\n%s" % tail_text(shared.server.log, 10))
            finally:
                ctx.close()
    finally:
        if shared is not None:
            shared.stop()
        cleanup()
    print("total %.1f s" % (time.monotonic() - t_all))
    if failed:
        print("failed: %s" % " ".join(failed))
    print("%d passed, %d failed" % (passed, len(failed)))
    return 0 if not failed else 1
