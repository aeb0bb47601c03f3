"""TLS for our outbound HTTP clients: one verifying context per process.

Building a verifying context loads a CA bundle, ~25 ms of CPU here; httpx and aiohttp do it
for every client they make unless given a context. The KIE client, deliveries and aiogram
share this one (httpcore sets the same ALPN protocols on it per connection, aiohttp nothing).
urllib3 is not given it: it rewrites a context's verification settings per connection.
"""

from __future__ import annotations

import os
import ssl

import certifi

from shared.once import once


@once
def verifying_context() -> ssl.SSLContext:
    # The bundle httpx itself would choose: SSL_CERT_FILE or SSL_CERT_DIR when set (a
    # company's own root, say), else certifi's.
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def context_for(base_url: str) -> ssl.SSLContext:
    """The verifying context for https; for plain http (loopback peers in the sandbox and
    tests) a bare one, as no handshake ever happens and loading the bundle buys nothing."""
    if base_url.startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return verifying_context()
