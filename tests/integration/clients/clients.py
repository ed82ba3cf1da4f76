"""The memcached clients applications use, driven from the placement tests:
each client's driver (client_* beside this file) asked where it puts keys
(`locate`, the client's own key-to-server answer) or told to store them
(`store`), memcached servers on chosen loopback addresses and ports (several
on 127.0.0.x:11211), and a private network namespace for them, so that port
11211 clashes neither with a system memcached nor with a parallel run.

Every client library comes from Debian's packages (scripts/deps installs
them); the Java driver is compiled at test time into a temporary directory,
the C driver (client_libmemcached) is built by CMake.
"""

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness as h  # noqa: E402

SPYMEMCACHED_JAR = "/usr/share/java/spymemcached.jar"


class Client:
    """One client library with one group of settings.

    case: a short name of both; name: the client; settings: the driver's
    SETTINGS word; placement: the mcsqueal placement mode that reproduces it;
    weights: whether the client takes server weights; locates: whether it
    tells a key's server (else the tests read where its stores landed);
    package: the Debian package it comes from; options: what the mode needs
    besides placement (the pool's ketama_points; hash_with_prefix 1: the
    client picks the server by prefix + key); prefix: what the client puts
    before every key it stores (its namespace), the pool's prefix."""

    def __init__(self, case, name, settings, placement, weights, locates, package,
                 options=None, prefix=""):
        self.case = case
        self.prefix = prefix
        self.name = name
        self.settings = settings
        self.placement = placement
        self.weights = weights
        self.locates = locates
        self.package = package
        self.options = options or {}

    def __repr__(self):
        return "%s (%s)" % (self.name, self.settings)


CLIENTS = [
    Client("libmemcached-ketama-weighted", "libmemcached", "ketama_weighted", "libmemcached",
           True, True, "libmemcached-dev"),
    Client("libmemcached-defaults", "libmemcached", "defaults", "libmemcached-modula", True, True,
           "libmemcached-dev"),
    Client("php-memcached-libketama-compatible", "php-memcached", "OPT_LIBKETAMA_COMPATIBLE=1",
           "libmemcached", True, True, "php-memcached"),
    Client("php-memcached-defaults", "php-memcached", "defaults", "libmemcached-modula", True,
           True, "php-memcached"),
    Client("pymemcache-defaults", "pymemcache", "defaults", "pymemcache", False, True,
           "python3-pymemcache"),
    Client("python-memcached-defaults", "python-memcached", "defaults", "python-memcached", True,
           True, "python3-memcache"),
    Client("dalli-defaults", "dalli", "defaults", "dalli", True, True, "ruby-dalli"),
    Client("cache-memcached-fast-defaults", "cache-memcached-fast", "defaults",
           "cache-memcached-fast", True, False, "libcache-memcached-fast-perl"),
    Client("cache-memcached-fast-ketama-points-150", "cache-memcached-fast", "ketama_points=150",
           "cache-memcached-fast", True, False, "libcache-memcached-fast-perl",
           {"ketama_points": "150"}),
    Client("spymemcached-ketama", "spymemcached", "ketama", "spymemcached", False, True,
           "libspymemcached-java"),
    Client("spymemcached-ketama-weighted", "spymemcached", "ketama_weighted", "spymemcached",
           True, True, "libspymemcached-java"),
]

# The same clients with a key prefix (namespace), for the vectors.
PREFIXED_CLIENTS = [
    Client("libmemcached-ketama-weighted-prefix", "libmemcached", "ketama_weighted,namespace=app:",
           "libmemcached", True, True, "libmemcached-dev", prefix="app:"),
    Client("libmemcached-ketama-weighted-hash-with-prefix", "libmemcached",
           "ketama_weighted,namespace=app:,hash_with_prefix", "libmemcached", True, True,
           "libmemcached-dev", {"hash_with_prefix": "1"}, prefix="app:"),
    Client("libmemcached-defaults-prefix", "libmemcached", "defaults,namespace=app:",
           "libmemcached-modula", True, True, "libmemcached-dev", prefix="app:"),
    Client("libmemcached-defaults-hash-with-prefix", "libmemcached",
           "defaults,namespace=app:,hash_with_prefix", "libmemcached-modula", True, True,
           "libmemcached-dev", {"hash_with_prefix": "1"}, prefix="app:"),
    Client("php-memcached-libketama-compatible-prefix", "php-memcached",
           "OPT_LIBKETAMA_COMPATIBLE=1,OPT_PREFIX_KEY=app:", "libmemcached", True, True,
           "php-memcached", prefix="app:"),
    Client("pymemcache-defaults-prefix", "pymemcache", "defaults,key_prefix=app:", "pymemcache",
           False, True, "python3-pymemcache", prefix="app:"),
    Client("dalli-defaults-namespace", "dalli", "defaults,namespace=app", "dalli", True, True,
           "ruby-dalli", prefix="app:"),
    Client("cache-memcached-fast-defaults-namespace", "cache-memcached-fast",
           "defaults,namespace=app:", "cache-memcached-fast", True, False,
           "libcache-memcached-fast-perl", prefix="app:"),
    Client("cache-memcached-fast-defaults-hash-namespace", "cache-memcached-fast",
           "defaults,namespace=app:,hash_namespace=1", "cache-memcached-fast", True, False,
           "libcache-memcached-fast-perl", {"hash_with_prefix": "1"}, prefix="app:"),
    Client("cache-memcached-fast-ketama-points-150-namespace", "cache-memcached-fast",
           "ketama_points=150,namespace=app:", "cache-memcached-fast", True, False,
           "libcache-memcached-fast-perl", {"ketama_points": "150"}, prefix="app:"),
    Client("cache-memcached-fast-ketama-points-150-hash-namespace", "cache-memcached-fast",
           "ketama_points=150,namespace=app:,hash_namespace=1", "cache-memcached-fast", True,
           False, "libcache-memcached-fast-perl", {"ketama_points": "150", "hash_with_prefix": "1"},
           prefix="app:"),
]


def in_private_netns():
    """Re-executes this script in a private network namespace (root: unshare
    -n; else a user namespace, unshare -rn) unless it already runs in one,
    and brings its loopback interface up. Only the script's own children see
    its servers; its 127.0.0.x:11211 clash with nothing outside."""
    if os.environ.get("MCSQ_PRIVATE_NETNS") != "1":
        unshare = shutil.which("unshare")
        if unshare is None:
            print("FAIL: unshare (util-linux) not found")
            sys.exit(1)
        args = [unshare, "-n" if os.geteuid() == 0 else "-rn", "--", sys.executable] + sys.argv
        env = dict(os.environ, MCSQ_PRIVATE_NETNS="1")
        sys.stdout.flush()
        os.execve(unshare, args, env)
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(s, siocgifflags, req)[:18])[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


def answers(host, port):
    """Whether something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class Server:
    """A throwaway memcached on host:port (in the private namespace) and the
    few text commands the tests need."""

    def __init__(self, workdir, host, port, weight=None):
        self.host, self.port, self.weight = host, port, weight
        self.name = "%s:%d" % (host, port)
        self.log = os.path.join(workdir, "memcached-%s-%d.log" % (host, port))
        args = [h.find_memcached(), "-l", host, "-p", str(port), "-U", "0", "-m", "64", "-t", "1"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.proc = h.spawn(args, self.log)
        h.wait_until(lambda: self._answers() or self.proc.poll() is not None, 10,
                     what="memcached on %s" % self.name)
        h.check(self.proc.poll() is None, "memcached %s did not start:\n%s" %
                (self.name, h.tail_text(self.log)))

    @property
    def spec(self):
        """host:port[:weight], as the drivers and mcsqueal's servers take it."""
        return self.name if self.weight is None else "%s:%d" % (self.name, self.weight)

    def _answers(self):
        return answers(self.host, self.port)

    def _exchange(self, payload, end):
        with socket.create_connection((self.host, self.port), timeout=30) as s:
            s.sendall(payload)
            data = b""
            while not data.endswith(end):
                chunk = s.recv(1 << 16)
                h.check(chunk, "memcached %s closed the connection" % self.name)
                data += chunk
            return data

    def present(self, keys):
        """The subset of keys (str) this server holds (text `get`, 100 keys
        per command)."""
        found = set()
        for i in range(0, len(keys), 100):
            batch = keys[i:i + 100]
            reply = self._exchange(b"get " + " ".join(batch).encode() + b"\r\n", b"END\r\n")
            for line in reply.split(b"\r\n"):
                if line.startswith(b"VALUE "):
                    found.add(line.split(b" ")[1].decode())
        return found

    def flush(self):
        h.check(self._exchange(b"flush_all\r\n", b"\r\n") == b"OK\r\n",
                "memcached %s: flush_all failed" % self.name)


class Drivers:
    """The command line of each client's driver. libmemcached_client: the
    CMake-built C driver; the Java one is compiled into workdir on first
    use."""

    def __init__(self, workdir, libmemcached_client):
        self.workdir = workdir
        self.libmemcached_client = libmemcached_client
        self._java_classes = None

    def _java(self):
        if self._java_classes is None:
            out = os.path.join(self.workdir, "java")
            os.makedirs(out, exist_ok=True)
            r = subprocess.run(["javac", "-nowarn", "-d", out, "-cp", SPYMEMCACHED_JAR,
                                os.path.join(HERE, "ClientSpymemcached.java")],
                               capture_output=True, text=True)
            h.check(r.returncode == 0, "javac ClientSpymemcached.java:\n%s" % r.stderr)
            self._java_classes = out
        return ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp",
                "%s:%s" % (SPYMEMCACHED_JAR, self._java_classes), "ClientSpymemcached"]

    def command(self, client):
        return {
            "libmemcached": lambda: [self.libmemcached_client],
            "php-memcached": lambda: ["php", os.path.join(HERE, "client_php.php")],
            "pymemcache": lambda: ["/usr/bin/python3", os.path.join(HERE, "client_pymemcache.py")],
            "python-memcached": lambda: ["/usr/bin/python3",
                                         os.path.join(HERE, "client_python_memcached.py")],
            "dalli": lambda: ["ruby", os.path.join(HERE, "client_dalli.rb")],
            "cache-memcached-fast": lambda: ["perl",
                                             os.path.join(HERE, "client_cache_memcached_fast.pl")],
            "spymemcached": self._java,
        }[client.name]()

    def run(self, client, mode, specs, keys):
        """Runs client's driver (mode locate or store) on the servers specs
        (host:port[:weight]) with keys on stdin; returns its stdout lines."""
        args = self.command(client) + [mode, client.settings] + list(specs)
        r = subprocess.run(args, input="".join(k + "\n" for k in keys), capture_output=True,
                           text=True, timeout=300)
        h.check(r.returncode == 0, "%r %s: exit %d:\n%s" % (client, mode, r.returncode,
                                                           r.stderr[-3000:]))
        return r.stdout.splitlines()

    def locate(self, client, specs, keys):
        """{key: "host:port"} as the client's own key-to-server answer says."""
        out = {}
        for line in self.run(client, "locate", specs, keys):
            k, _, server = line.partition("\t")
            out[k] = server
        h.check(len(out) == len(keys), "%r located %d of %d keys" % (client, len(out), len(keys)))
        return out

    def store(self, client, specs, keys):
        lines = self.run(client, "store", specs, keys)
        h.check(lines[-1:] == ["stored %d" % len(keys)], "%r store: %r" % (client, lines[-3:]))


def landed(servers, keys, prefix=""):
    """{key: server name} of where each key is stored (as prefix + key), each
    on exactly one of servers."""
    where = {}
    for s in servers:
        for stored in s.present([prefix + k for k in keys]):
            k = stored[len(prefix):]
            h.check(k not in where, "key %s stored on both %s and %s" % (k, where.get(k), s.name))
            where[k] = s.name
    missing = [k for k in keys if k not in where]
    h.check(not missing, "%d keys stored nowhere, e.g. %s" % (len(missing), missing[:3]))
    return where


def where_client_puts(drivers, client, servers, keys):
    """{key: server name}: the client's own answer, or (clients that tell
    none) where its stores landed (the servers are flushed first)."""
    specs = [s.spec if client.weights else s.name for s in servers]
    if client.locates:
        return drivers.locate(client, specs, keys)
    for s in servers:
        s.flush()
    drivers.store(client, specs, keys)
    return landed(servers, keys, client.prefix)
