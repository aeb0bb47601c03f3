"""TLS for our outbound HTTP clients: one verifying context per process.

Building a verifying context loads the certifi CA bundle, ~25 ms of CPU here; httpx and
aiohttp do it for every client they make unless given a context. An SSLContext is safe
to share between clients, connections and threads once configured.
"""

from __future__ import annotations

import ssl

import certifi

from shared.once import once


@once
def verifying_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def context_for(base_url: str) -> ssl.SSLContext:
    """The verifying context for https; for plain http (loopback peers in the sandbox and
    tests) a bare one, as no handshake ever happens and loading the bundle buys nothing."""
    if base_url.startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return verifying_context()
