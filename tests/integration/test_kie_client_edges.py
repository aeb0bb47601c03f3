"""The KIE client against a small HTTP server that answers as KIE does at its edges: a
Retry-After as an HTTP date, a 429 inside an HTTP 200, a hint that is not a number, a body
that cannot be decoded. Each must be a retry with the right hint, never an untyped error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.kie.client import KieClient
from shared.kie.errors import KieRetryable


@pytest.fixture(scope="module")
def kie_edges() -> Iterator[str]:
    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/busy-until":
            when = datetime.now(UTC) + timedelta(seconds=30)
            return Response(
                "busy", status=429, headers={"Retry-After": format_datetime(when, usegmt=True)}
            )
        if request.path == "/busy-in-body":
            return Response(
                '{"code": 429, "msg": "too many requests"}',
                content_type="application/json",
                headers={"Retry-After": "7"},
            )
        if request.path == "/busy-forever":
            return Response("busy", status=503, headers={"Retry-After": "inf"})
        if request.path == "/bad-gzip":
            return Response(
                b"not gzip at all",
                content_type="application/json",
                headers={"Content-Encoding": "gzip"},
            )
        return Response("missing", status=404)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def ask(base_url: str, path: str) -> KieRetryable:
    client = KieClient(base_url=base_url, upload_base_url=base_url, api_key="k", timeout_s=5)
    try:
        with pytest.raises(KieRetryable) as refused:
            client.query_task("market", path, "task-1")
        return refused.value
    finally:
        client.close()


def test_a_retry_after_date_is_read_as_seconds(kie_edges: str) -> None:
    busy = ask(kie_edges, "/busy-until")
    assert busy.code == 429
    assert busy.retry_after_s is not None and 20 <= busy.retry_after_s <= 31


def test_a_429_inside_an_http_200_keeps_its_hint(kie_edges: str) -> None:
    busy = ask(kie_edges, "/busy-in-body")
    assert (busy.code, busy.retry_after_s) == (429, 7.0)


def test_a_hint_that_is_no_finite_number_is_no_hint(kie_edges: str) -> None:
    busy = ask(kie_edges, "/busy-forever")
    assert (busy.code, busy.retry_after_s) == (503, None)


def test_a_body_that_cannot_be_decoded_is_a_retry(kie_edges: str) -> None:
    assert ask(kie_edges, "/bad-gzip").code == 502
