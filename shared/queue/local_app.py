"""The local task queue over HTTP, so function processes reach the sandbox's one queue.

    POST /enqueue  {"target", "payload", "name"?, "delay_s"?}  → 200 {"created": bool}
    GET  /stats                                                → 200 QueueStats as JSON
    GET  /dead                                                 → 200 [dead tasks]

Misuse answers 400 {"error": <port error class>, "message"}; a closed queue 503.
Mount it under any prefix (the sandbox uses /queue): routing reads PATH_INFO.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

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
