"""A threaded HTTP/1.1 server with keep-alive for the sandbox's small WSGI apps: the local
task queue, the Telegram emulator, the functions in benchmark stacks.

Werkzeug's development server answers `Connection: close` to every request, so each call
paid a new TCP connection and a new server thread. These apps take and give whole bodies
with a length, which a plain HTTP/1.1 handler can keep alive safely: the body is read whole
before the app runs (or streamed and then drained), and the answer is buffered and sent with
its length, so the next request starts exactly where this one ended.
"""

from __future__ import annotations

import io
import re
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any, cast

from werkzeug.wsgi import LimitedStream

from shared.bot.thread_loop import close_thread_loop

# Bodies up to this size are read whole; larger ones are streamed to the app.
MAX_KEEP_ALIVE_BODY = 1024 * 1024
# A larger body the app did not read is drained (so the client sees the answer) up to this.
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
    (whole answers; not for streaming ones). A thread per connection."""

    daemon_threads = True
    # socketserver's default backlog is 5: a burst of new connections beyond it is reset.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Any) -> None:
        handler = type("Handler", (_KeepAliveHandler,), {"app": staticmethod(app)})
        super().__init__(address, handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            # A function served here may have kept a loop and Bot API session on this
            # thread (run_on_thread_loop); the thread ends with its connection.
            close_thread_loop()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"
