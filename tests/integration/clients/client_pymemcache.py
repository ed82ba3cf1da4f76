"""The key-to-server answer of Python's pymemcache HashClient, for the
placement tests: `/usr/bin/python3 client_pymemcache.py locate|store SETTINGS
HOST:PORT...` reads keys (one per line) on stdin; `locate` prints
`key<TAB>host:port` of the client HashClient's hasher picks, `store` sets each
key. SETTINGS: `defaults`, optionally followed by `,key_prefix=PREFIX` (the
client's option of that name). HashClient has no server weights: a `:WEIGHT`
suffix is refused."""

import sys

from pymemcache.client.hash import HashClient


def main():
    settings = sys.argv[2].split(",") if len(sys.argv) > 2 else []
    options = dict(s.partition("=")[::2] for s in settings[1:])
    if len(sys.argv) < 4 or sys.argv[1] not in ("locate", "store") or \
            settings[0] != "defaults" or set(options) - {"key_prefix"}:
        print("usage: client_pymemcache.py locate|store defaults[,key_prefix=PREFIX] HOST:PORT...",
              file=sys.stderr)
        return 2
    servers = []
    for spec in sys.argv[3:]:
        f = spec.split(":")
        if len(f) != 2:
            print("client_pymemcache: %s: HashClient takes host:port (no weights)" % spec,
                  file=sys.stderr)
            return 2
        servers.append((f[0], int(f[1])))
    client = HashClient(servers, key_prefix=options.get("key_prefix", "").encode())
    stored = 0
    for line in sys.stdin:
        key = line.rstrip("\r\n")
        if not key:
            continue
        if sys.argv[1] == "store":
            if not client.set(key, b"v", noreply=False):
                print("client_pymemcache: set %s failed" % key, file=sys.stderr)
                return 1
            stored += 1
        else:
            host, port = client._get_client(key).server
            print("%s\t%s:%d" % (key, host, port))
    if sys.argv[1] == "store":
        print("stored %d" % stored)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
