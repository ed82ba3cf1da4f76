"""The key-to-server answer of Python's python-memcached (module memcache),
for the placement tests: `/usr/bin/python3 client_python_memcached.py
locate|store defaults HOST:PORT[:WEIGHT]...` reads keys (one per line) on
stdin; `locate` prints `key<TAB>host:port` of the server Client._get_server
picks (it connects to the servers: a server that does not answer moves keys
to another), `store` sets each key. A weight is passed as the client takes it,
("host:port", weight)."""

import sys

import memcache


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("locate", "store") or sys.argv[2] != "defaults":
        print("usage: client_python_memcached.py locate|store defaults HOST:PORT[:WEIGHT]...",
              file=sys.stderr)
        return 2
    servers = []
    for spec in sys.argv[3:]:
        f = spec.split(":")
        name = "%s:%s" % (f[0], f[1])
        servers.append(name if len(f) == 2 else (name, int(f[2])))
    client = memcache.Client(servers)
    stored = 0
    for line in sys.stdin:
        key = line.rstrip("\r\n")
        if not key:
            continue
        if sys.argv[1] == "store":
            if not client.set(key, "v"):
                print("client_python_memcached: set %s failed" % key, file=sys.stderr)
                return 1
            stored += 1
        else:
            server, _ = client._get_server(client._encode_key(key))
            if server is None:
                print("client_python_memcached: no server for %s" % key, file=sys.stderr)
                return 1
            print("%s\t%s:%d" % (key, server.ip, server.port))
    if sys.argv[1] == "store":
        print("stored %d" % stored)
    client.disconnect_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
