#!/usr/bin/python3
"""Writes the placement vectors of tests/fixtures/placement/ from the real
client libraries: for each client and settings (clients.CLIENTS), the server
each of 200 keys goes to, on three memcached servers, two of them on port
11211 (127.0.0.2 and 127.0.0.3) and one not (127.0.0.1:21211), with the
weights 3, 1 and 2 where the client takes weights, and again without weights;
the same with a key prefix (the clients' namespaces); and, for the clients
that name servers in their hashes, servers named `localhost` (files
`-localhost`), whose names differ from 127.0.0.1's.

Usage: make_vectors.py CLIENT_LIBMEMCACHED OUTDIR
(CLIENT_LIBMEMCACHED: the C driver CMake builds, tests/integration/clients/
client_libmemcached). Runs in a private network namespace (clients.py).

File format (one line each, tab-separated, `#` lines are comments):
  placement  MODE             the mcsqueal placement that reproduces it
  prefix     PREFIX           the pool's prefix: the client stores KEY as
                              PREFIX + KEY (its namespace); KEY below is the
                              key as the application names it
  option     NAME  VALUE      what the mode needs besides: ketama_points (the
                              pool setting), hash_with_prefix 1 (the client
                              picks the server by PREFIX + KEY)
  server     HOST:PORT[:WEIGHT]   in pool order (index 0, 1, ...)
  key        KEY  INDEX  HOST:PORT    KEY's server as the client places it
"""

import os
import random
import subprocess
import sys

import clients as c

h = c.h

SERVERS = [("127.0.0.2", 11211, 3), ("127.0.0.3", 11211, 1), ("127.0.0.1", 21211, 2)]
# Servers named by host name (the clients that name servers in their hashes).
LOCALHOST_SERVERS = [("localhost", 21212, 3), ("localhost", 11211, 1), ("localhost", 21213, 2)]
LOCALHOST_CLIENTS = ("libmemcached-ketama-weighted", "pymemcache-defaults", "dalli-defaults",
                     "spymemcached-ketama", "spymemcached-ketama-weighted")
KEYS_PER_CASE = 200
ALPHABET = [chr(i) for i in range(0x21, 0x7f)]


def vector_keys(n, seed, longest=250):
    """n printable ASCII keys (1 to longest bytes, no space or control byte),
    the same for a seed: short and application-like ones, random ones and the
    longest memcached allows (250 bytes with the prefix)."""
    rnd = random.Random(seed)
    keys = ["a", "0", "user:1", "user:2", "user:10", "session:abc", "x" * longest]
    seen = set(keys)
    while len(keys) < n:
        kind = rnd.randrange(3)
        if kind == 0:
            k = "%s:%d" % (rnd.choice(["user", "post", "cart", "v1/item"]), rnd.randrange(10 ** 7))
        elif kind == 1:
            k = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 40)))
        else:
            k = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(41, longest)))
        if k not in seen:
            seen.add(k)
            keys.append(k)
    return keys


def version(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


def write(path, client, servers, where, keys):
    index = {s.name: i for i, s in enumerate(servers)}
    weighted = client.weights and servers[0].weight is not None
    with open(path, "w") as f:
        f.write("# Placement of %d keys by %s, settings %s, Debian 12 package %s %s,\n"
                "# %s. Written by tests/integration/clients/make_vectors.py.\n" %
                (len(keys), client.name, client.settings, client.package, version(client.package),
                 "its own key-to-server answer" if client.locates else
                 "where the keys it stored landed"))
        f.write("placement\t%s\n" % client.placement)
        if client.prefix:
            f.write("prefix\t%s\n" % client.prefix)
        for name, value in sorted(client.options.items()):
            f.write("option\t%s\t%s\n" % (name, value))
        for s in servers:
            f.write("server\t%s\n" % (s.spec if weighted else s.name))
        for k in keys:
            h.check(where[k] in index, "%r put %s on unknown server %s" % (client, k, where[k]))
            f.write("key\t%s\t%d\t%s\n" % (k, index[where[k]], where[k]))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    c.in_private_netns()
    client_c, outdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(outdir, exist_ok=True)
    work = h.mkdtemp("mcsq-vectors-")
    weighted = [c.Server(work, host, port, weight) for host, port, weight in SERVERS]
    plain = [c.Server.__new__(c.Server) for _ in weighted]
    for p, s in zip(plain, weighted):
        p.__dict__.update(s.__dict__, weight=None)
    named = [c.Server(work, host, port, weight) for host, port, weight in LOCALHOST_SERVERS]
    drivers = c.Drivers(work, client_c)
    for seed, client in enumerate(c.CLIENTS + c.PREFIXED_CLIENTS):
        keys = vector_keys(KEYS_PER_CASE, seed, 250 - len(client.prefix))
        cases = [(client.case, weighted)]
        if client.weights:
            cases.append((client.case + "-unweighted", plain))
        if client.case in LOCALHOST_CLIENTS:
            cases.append((client.case + "-localhost", named))
        for case, servers in cases:
            where = c.where_client_puts(drivers, client, servers, keys)
            write(os.path.join(outdir, case + ".tsv"), client, servers, where, keys)
            counts = [sum(1 for k in keys if where[k] == s.name) for s in servers]
            print("%-45s %s" % (case, counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
