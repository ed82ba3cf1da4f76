"""Free loopback ports for the tests' servers and fault proxies.

A port is taken below the kernel's ephemeral range: a port from that range
(what binding port 0 gives) can be taken by any outgoing connection's local
end between the moment it is picked and the moment a server binds it, or
between two starts of a server that keeps its port (a restarted router's
metrics listener, a fault proxy started later in another process)."""

import random
import socket

_LOWEST = 16384  # well above the well-known ports and the usual servers'


def ephemeral_low():
    """The first port of the kernel's ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback port nothing is bound to now, below the ephemeral range."""
    high = ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(_LOWEST, high) if high > _LOWEST else random.randint(1024, 65535)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free loopback port below %d" % (high + 1))
