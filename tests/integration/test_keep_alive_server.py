"""KeepAliveServer, the HTTP/1.1 server of the local queue and the Telegram emulator: bodies
of every shape reach the app whole, and the connection survives for the next request."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from shared.keep_alive_server import MAX_KEEP_ALIVE_BODY, KeepAliveServer


def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers with the length and the head of the body it read, and the client's port."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{len(body)} {body[:5].decode()} {environ['REMOTE_PORT']}".encode()]


@pytest.fixture(scope="module")
def server() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer(("127.0.0.1", 0), echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_plain_chunked_and_large_bodies_on_one_connection(server: KeepAliveServer) -> None:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    answers = []
    large = b"large" + b"x" * (MAX_KEEP_ALIVE_BODY + 10)
    for body, encode_chunked in (
        (b"plain body", False),
        (b"chunks" + b"y" * 70_000, True),  # as aiohttp sends a multipart upload
        (large, False),  # streamed to the app, past the buffered size
        (b"after", False),
    ):
        payload = chunked(body, 8192) if encode_chunked else body
        connection.request("POST", "/", body=payload, encode_chunked=encode_chunked)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") != "close"
        answers.append(response.read().decode().split(" "))
    assert [a[:2] for a in answers] == [
        ["10", "plain"],
        [str(70_006), "chunk"],
        [str(len(large)), "large"],
        ["5", "after"],
    ]
    assert len({a[2] for a in answers}) == 1  # one connection throughout


def test_an_unread_large_body_is_drained_so_the_client_gets_its_answer() -> None:
    def refuse(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
        return [b"too large"]

    refusing = KeepAliveServer(("127.0.0.1", 0), refuse)
    threading.Thread(target=refusing.serve_forever, daemon=True).start()
    try:
        host, port = refusing.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=10)
        for _ in range(2):
            connection.request("POST", "/", body=b"z" * (3 * MAX_KEEP_ALIVE_BODY))
            response = connection.getresponse()
            assert (response.status, response.read()) == (413, b"too large")
    finally:
        refusing.shutdown()
        refusing.server_close()


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nab",  # cut short inside a chunk
        b"-1\r\n",  # a negative size would read to the end of the stream
        b"zz\r\nabc\r\n0\r\n\r\n",  # not a size at all
        b"3\r\nabcXY0\r\n\r\n",  # no CRLF after the chunk
    ],
)
def test_a_malformed_or_truncated_chunked_body_is_refused(
    server: KeepAliveServer, body: bytes
) -> None:
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as connection:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        connection.sendall(head + body)
        connection.shutdown(socket.SHUT_WR)  # the client is gone mid-body
        answer = b""
        while data := connection.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
