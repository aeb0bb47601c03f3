"""Outbound TLS: every https client verifies against the one CA bundle the process loaded;
a plain-http client (loopback peers) loads none, yet could never accept a certificate."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from shared.kie.client import KieClient
from shared.tls import context_for, verifying_context


def ssl_context_of(client: object) -> ssl.SSLContext:
    context: ssl.SSLContext = client._transport._pool._ssl_context  # type: ignore[attr-defined]
    return context


@pytest.fixture
def default_bundle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """certifi's bundle, whatever the machine's SSL_CERT_FILE / SSL_CERT_DIR say."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verifying_context.cache_clear()
    yield
    verifying_context.cache_clear()


@pytest.mark.usefixtures("default_bundle")
def test_kie_clients_share_the_process_bundle_and_verify_hosts() -> None:
    first = KieClient(
        base_url="https://api.kie.ai", upload_base_url="https://kieai.redpandaai.co", api_key="k"
    )
    second = KieClient(
        base_url="https://api.kie.ai", upload_base_url="https://kieai.redpandaai.co", api_key="k"
    )
    contexts = [ssl_context_of(c) for k in (first, second) for c in (k._api, k._upload)]
    assert all(context is verifying_context() for context in contexts)
    assert verifying_context().verify_mode is ssl.CERT_REQUIRED
    assert verifying_context().check_hostname
    assert verifying_context().cert_store_stats()["x509_ca"] > 50


def test_plain_http_loads_no_bundle_and_trusts_nothing() -> None:
    client = KieClient(
        base_url="http://127.0.0.1:9", upload_base_url="http://127.0.0.1:9", api_key="k"
    )
    context = ssl_context_of(client._api)
    assert context is not verifying_context()
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode is ssl.CERT_REQUIRED  # an https redirect could not pass
    assert context_for("https://example.org") is verifying_context()


def test_a_bundle_named_by_ssl_cert_file_is_the_one_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx itself reads it: a company's own root CA reaches every outbound client."""
    bundle = Path(certifi.where()).read_text()
    first_cert = bundle[bundle.index("-----BEGIN CERTIFICATE-----") :]
    first_cert = first_cert[: first_cert.index("-----END CERTIFICATE-----") + 25] + "\n"
    own = tmp_path / "own-root.pem"
    own.write_text(first_cert)
    monkeypatch.setenv("SSL_CERT_FILE", str(own))
    verifying_context.cache_clear()
    try:
        assert verifying_context().cert_store_stats()["x509_ca"] == 1
    finally:
        verifying_context.cache_clear()
