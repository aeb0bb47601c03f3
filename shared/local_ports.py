"""Ports on 127.0.0.1 for the local stacks: the sandbox, the tests and the benchmarks.

A port is chosen now and bound later, often seconds later by a child process (Postgres,
the functions host, a server started after a slow import). A port from the kernel's
ephemeral range can in the meantime become the source port of any outgoing connection on
the machine, and the late bind then fails with "Address already in use" (seen here once
in a few dozen sandbox starts). So ports come from below that range, where the kernel
never picks source ports; a bind probe still skips ports that something holds.
"""

from __future__ import annotations

import secrets
import socket
import threading
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default range, for a system without /proc. macOS' default (49152-65535) lies
# above it, so the ports below stay safe there; FreeBSD's (10000-65535) does not, and there
# the probe alone guards, as it did before.
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
# Ports people run their own services on (8080, 5432, 6379, ...) lie below this.
LOWEST_PORT = 10_000
# Fewer candidates than this below the ephemeral range: that machine's range starts so low
# that the kernel's own choice is as good as any.
MIN_CANDIDATES = 1_000
ATTEMPTS = 200

# Ports this process handed out: one caller may ask twice before binding either port (a
# stack choosing its simulator's and its emulator's ports), and the probe cannot see that.
_handed_out: set[int] = set()
_handing_out = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for source ports of outgoing connections, inclusive."""
    try:
        low, high = (int(value) for value in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return low, high


def bindable(port: int, *, reuse_address: bool = False) -> bool:
    """Whether a server could bind 127.0.0.1:`port` now. Without `reuse_address` a port
    with connections still in TIME_WAIT counts as taken, which a chooser wants; servers
    bind with SO_REUSEADDR, which is what a check before starting them should ask."""
    with socket.socket() as probe:
        if reuse_address:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(block: int = 1) -> int:
    """A port P free on 127.0.0.1 with P+1 .. P+block-1 free too, all below the ephemeral
    range. Random, so two stacks choosing at once rarely meet; the probe finds the rest."""
    if block < 1:
        raise ValueError("block must be at least 1")
    low, _ = ephemeral_range()
    candidates = low - block - LOWEST_PORT + 1  # the last block ends just below `low`
    kernel_chooses = candidates < MIN_CANDIDATES
    for _ in range(ATTEMPTS):
        base = _kernel_chosen() if kernel_chooses else LOWEST_PORT + secrets.randbelow(candidates)
        if _take(base, block):
            return base
    raise RuntimeError(f"no {block} free port(s) in a row after {ATTEMPTS} tries")


def _take(base: int, block: int) -> bool:
    """Hand out `base` .. `base + block - 1` if each is free and not handed out already."""
    ports = set(range(base, base + block))
    if base + block - 1 > 65535:
        return False
    with _handing_out:
        if ports & _handed_out or not all(map(bindable, ports)):
            return False
        _handed_out.update(ports)
    return True


def _kernel_chosen() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
