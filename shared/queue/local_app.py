"""The local task queue over HTTP, so function processes reach the sandbox's one queue.

    POST /enqueue  {"target", "payload", "name"?, "delay_s"?}  → 200 {"created": bool}
    GET  /stats                                                → 200 QueueStats as JSON
    GET  /dead                                                 → 200 [dead tasks]

Misuse answers 400 {"error": <port error class>, "message"}; a closed queue 503.
Mount it under any prefix (the sandbox uses /queue): routing reads PATH_INFO.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
import urllib.parse
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, TYPE_CHECKING, Any, cast

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import LimitedStream

from shared.queue.local import LocalTaskQueue
from shared.queue.port import JsonValue, QueueClosed, TaskQueueError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# A task holds at most 100 KB; the envelope around the payload gets some room.
MAX_REQUEST_BYTES = 256 * 1024


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(kind: str, message: str, status: int) -> Response:
    return _json({"error": kind, "message": message}, status)


class LocalQueueApp:
    """A WSGI application in front of one LocalTaskQueue."""

    def __init__(self, queue: LocalTaskQueue) -> None:
        self.queue = queue

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        routes = {
            "/enqueue": ("POST", self._enqueue),
            "/stats": ("GET", self._stats),
            "/dead": ("GET", self._dead),
        }
        route = routes.get(request.path.rstrip("/") or "/")
        if route is None:
            return _error("NotFound", f"no route {request.path}", 404)
        method, handler = route
        if request.method != method:
            return _error("MethodNotAllowed", f"{request.path} takes {method}", 405)
        return handler(request)

    def _enqueue(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(cache=False))
        except RequestEntityTooLarge:
            return _error("InvalidPayload", f"request over {MAX_REQUEST_BYTES} bytes", 413)
        except ValueError:
            return _error("BadRequest", "the body is not JSON", 400)
        if not isinstance(body, dict):
            return _error("BadRequest", "the body must be a JSON object", 400)
        try:
            # Unchecked JSON goes straight in: the port checks every field's type and
            # raises its typed errors, which the client maps back.
            created = self.queue.enqueue(
                cast(str, body.get("target")),
                cast(Mapping[str, JsonValue], body.get("payload")),
                name=cast(str | None, body.get("name")),
                delay_s=cast(float, body.get("delay_s", 0.0)),
            )
        except QueueClosed as error:
            return _error(type(error).__name__, str(error), 503)
        except TaskQueueError as error:
            return _error(type(error).__name__, str(error), 400)
        return _json({"created": created})

    def _stats(self, _request: Request) -> Response:
        return _json(dataclasses.asdict(self.queue.stats()))

    def _dead(self, _request: Request) -> Response:
        return _json(
            [
                {
                    "target": dead.target,
                    "name": dead.name,
                    "payload": dead.payload(),
                    "attempts": dead.attempts,
                    "last_status": dead.last_status,
                    "last_error": dead.last_error,
                }
                for dead in self.queue.dead_letters()
            ]
        )


# --- a keep-alive server for it ---------------------------------------------------------------
# Werkzeug's development server answers `Connection: close` to every request, so each enqueue
# from a function paid a new TCP connection and a new server thread. The queue's requests and
# answers are small JSON bodies with a Content-Length, which a plain HTTP/1.1 handler can keep
# alive safely: the body is read whole before the app runs, and the answer is buffered and sent
# with its length, so the next request starts exactly where this one ended.

MAX_KEEP_ALIVE_BODY = 4 * MAX_REQUEST_BYTES
MAX_DRAINED_BODY = 128 * 1024 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a kept-alive answer can wait for a delayed ACK
    app: Any = None  # set on the subclass the server makes

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per task would cost more than the task

    def _serve(self) -> None:
        streamed: LimitedStream | None = None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # aiohttp sends multipart uploads chunked (their size is unknown up front).
            try:
                chunked = self._read_chunked(MAX_DRAINED_BODY)
            except ValueError:
                self.close_connection = True
                self._reply("400 Bad Request", [("Content-Type", "text/plain")], b"")
                return
            if chunked is None:
                self.close_connection = True
                self._reply("413 Request Entity Too Large", [("Content-Type", "text/plain")], b"")
                return
            length = len(chunked)
            body_stream: Any = io.BytesIO(chunked)
        elif (length := int(self.headers.get("Content-Length") or 0)) > MAX_KEEP_ALIVE_BODY:
            # Streamed to the app (an upload, or a body the queue refuses with 413 unread).
            streamed = LimitedStream(cast("IO[bytes]", self.rfile), length)
            body_stream = streamed
        else:
            body_stream = io.BytesIO(self.rfile.read(length) if length else b"")
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.connection.getsockname()[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": body_stream,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            # A chunked body has been read whole: the app sees it with its length.
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
                environ[name] = value
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # the legacy write(); nothing here uses it

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if streamed is not None and not streamed.is_exhausted:
            # A client still sending would see a reset instead of the answer: read the rest
            # (within reason) before answering, and keep the connection only if it all came.
            if length <= MAX_DRAINED_BODY:
                streamed.exhaust()
            else:
                self.close_connection = True
        self._reply(started[0], started[1], data)

    def _read_chunked(self, max_bytes: int) -> bytes | None:
        """A chunked body, whole; None when it exceeds max_bytes. ValueError when it is
        malformed or cut short (the connection is then closed with a 400)."""
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(4096)
            digits = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _HEX.fullmatch(digits):
                raise ValueError("bad chunk size line")
            chunk = int(digits, 16)
            if chunk == 0:
                while (trailer := self.rfile.readline(4096)) not in (b"\r\n", b"\n"):
                    if not trailer.endswith(b"\n"):
                        raise ValueError("body cut short in its trailers")
                return b"".join(parts)
            size += chunk
            if size > max_bytes:
                return None
            data = self.rfile.read(chunk)
            if len(data) != chunk or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise ValueError("body cut short")
            parts.append(data)

    def _reply(self, status: str, headers: list[tuple[str, str]], data: bytes) -> None:
        # Status, headers and body in one write: with keep-alive, a response split across
        # writes can wait ~40 ms for a delayed ACK (Nagle).
        lines = [f"{self.protocol_version} {status}", f"Date: {self.date_time_string()}"]
        lines += [
            f"{key}: {value}"
            for key, value in headers
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date")
        ]
        lines.append(f"Content-Length: {len(data)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815 - http.server names


class KeepAliveServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server with keep-alive for small WSGI apps such as LocalQueueApp
    (whole bodies in and out; not for streaming answers)."""

    daemon_threads = True
    # socketserver's default backlog is 5: a burst of new connections beyond it is reset.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Any) -> None:
        handler = type("Handler", (_KeepAliveHandler,), {"app": staticmethod(app)})
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"
