"""Real HTTP and gRPC servers on 127.0.0.1 for the task queue tests.

RecordingTarget stands in for the functions: it records each request and
answers from a script. serve_wsgi runs any WSGI app in a thread.
DedupingCloudTasksProxy puts Cloud Tasks' task-name dedupe (which the
emulator lacks) in front of the emulator, on the wire.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc  # type: ignore[import-untyped]
from google.cloud.tasks_v2 import CreateTaskRequest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.local_ports import free_port

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REPO = Path(__file__).resolve().parents[2]
EMULATOR_BIN = REPO / ".venv-tasks-emulator" / "bin" / "gcloud-tasks-emulator"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    sleep_s: float = 0.0


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived

    def json(self) -> Any:
        return json.loads(self.body)


class RecordingTarget:
    """A WSGI app recording every request; each path answers from its script, then 200."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._in_flight = 0
        self.max_in_flight = 0

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path].extend(replies)

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if path is None or d.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[Delivery]:
        with self._lock:
            self._lock.wait_for(lambda: len(self._matching(path)) >= count, timeout)
            found = self._matching(path)
        assert len(found) >= count, f"expected {count} deliveries to {path}, got {len(found)}"
        return found

    def _matching(self, path: str | None) -> list[Delivery]:
        return [d for d in self._deliveries if path is None or d.path == path]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        delivery = Delivery(
            path=request.path,
            headers=dict(request.headers.items()),
            body=request.get_data(),
            at=time.monotonic(),
        )
        with self._lock:
            self._deliveries.append(delivery)
            script = self._scripts[request.path]
            reply = script.popleft() if script else Reply()
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._lock.notify_all()
        try:
            time.sleep(reply.sleep_s)
        finally:
            with self._lock:
                self._in_flight -= 1
        return Response(b"{}", status=reply.status, headers=reply.headers)(environ, start_response)


@contextmanager
def serve_wsgi(app: WSGIApplication) -> Iterator[str]:
    """Serve `app` on a free 127.0.0.1 port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def running_tasks_emulator(max_retries: int) -> Iterator[str]:
    """The gcloud-tasks-emulator as a subprocess on a free port; yields host:port."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(EMULATOR_BIN), "start", "--port", str(port), "--max-retries", str(max_retries)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        host = f"127.0.0.1:{port}"
        try:
            channel = grpc.insecure_channel(host)
            try:
                grpc.channel_ready_future(channel).result(timeout=20)
            except grpc.FutureTimeoutError:
                log.seek(0)
                raise RuntimeError(
                    f"emulator did not start: {log.read().decode(errors='replace')}"
                ) from None
            finally:
                channel.close()
            yield host
        finally:
            process.send_signal(signal.SIGTERM)  # it ignores SIGINT's KeyboardInterrupt path
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


_SERVICE = "google.cloud.tasks.v2.CloudTasks"
_PROXIED_METHODS = ("CreateQueue", "GetQueue", "ListQueues", "ListTasks", "CreateTask")


class DedupingCloudTasksProxy:
    """A real gRPC server forwarding Cloud Tasks calls to the emulator, byte for byte.

    It adds the one behaviour of Cloud Tasks the emulator lacks and our adapter
    relies on: a CreateTask whose task name was already created answers
    ALREADY_EXISTS. Everything else (and every unnamed task) passes through.
    """

    def __init__(self, upstream: str) -> None:
        self._channel = grpc.insecure_channel(upstream)
        self._lock = threading.Lock()
        self.seen_names: set[str] = set()
        self.refused = 0
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        handlers = {name: self._handler(name) for name in _PROXIED_METHODS}
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_SERVICE, handlers),)
        )
        self.port: int = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DedupingCloudTasksProxy:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(grace=None)
        self._channel.close()

    def _handler(self, method: str) -> Any:
        # No (de)serializers: requests and responses travel as raw protobuf bytes.
        forward: Callable[..., bytes] = self._channel.unary_unary(f"/{_SERVICE}/{method}")

        def handle(request: bytes, context: Any) -> bytes:
            if method != "CreateTask":
                return self._forward(forward, request, context)
            name = CreateTaskRequest.deserialize(request).task.name
            with self._lock:
                if name and name in self.seen_names:
                    self.refused += 1
                    context.abort(grpc.StatusCode.ALREADY_EXISTS, f"task {name} already exists")
                response = self._forward(forward, request, context)
                if name:
                    self.seen_names.add(name)
                return response

        return grpc.unary_unary_rpc_method_handler(handle)

    @staticmethod
    def _forward(forward: Callable[..., bytes], request: bytes, context: Any) -> bytes:
        try:
            return forward(request, timeout=10)
        except grpc.RpcError as error:
            context.abort(error.code(), error.details())
            raise  # abort raises; this line satisfies the type checker
