"""HTTP: KIE's paths, auth and envelopes mapped onto the simulator's core (server.py)."""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from scripts.kie_simulator.catalogue import Route
from scripts.kie_simulator.config import ConfigError
from scripts.kie_simulator.families import chat_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from scripts.kie_simulator.server import KieSimulator

UNAUTHORIZED_MSG = "You do not have access permissions"
NO_CREDITS_MSG = "The current credits are insufficient. Please top up."
RATE_LIMIT_MSG = "Rate limit exceeded"
FAULT_MESSAGES = {
    455: "Service Unavailable - System is currently undergoing maintenance",
    500: "Server Error - An unexpected error occurred while processing the request",
}
UPLOAD_PATHS = ("/api/file-base64-upload", "/api/file-stream-upload", "/api/file-url-upload")
URL_UPLOAD_TIMEOUT_S = 30.0


def envelope(code: int, msg: str, data: Any = None, http_status: int = 200) -> Response:
    return json_response({"code": code, "msg": msg, "data": data}, http_status)


def json_response(body: Any, http_status: int = 200) -> Response:
    return Response(json.dumps(body), status=http_status, mimetype="application/json")


class SimulatorApp:
    def __init__(self, sim: KieSimulator) -> None:
        self.sim = sim

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as error:
            return error(environ, start_response)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/files/") and request.method in ("GET", "HEAD"):
            return self.serve_file(path.removeprefix("/files/"))
        if path.startswith("/_sim/"):
            return self.control(request, path)
        handler = self._api_handler(request, path)
        if handler is None:
            return envelope(
                404,
                "Not Found - The requested resource or endpoint does not exist",
                http_status=404,
            )
        if not self._authorized(request):
            return self._unauthorized(path)
        return handler(request)

    def _api_handler(self, request: Request, path: str) -> Callable[[Request], Response] | None:
        catalogue = self.sim.catalogue
        if request.method == "POST" and path in catalogue.create_routes:
            route = catalogue.create_routes[path]
            return lambda req: self.create(req, route)
        if request.method == "GET" and path in catalogue.status_paths:
            return lambda req: self.query(req, path)
        if request.method == "GET" and path == "/api/v1/chat/credit":
            return lambda req: envelope(200, "success", int(self.sim.balance))
        if request.method == "POST" and path == "/api/v1/common/download-url":
            return self.download_url
        if request.method == "POST" and path in UPLOAD_PATHS:
            return self.upload
        return None

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = f"Bearer {self.sim.api_key}"
        return secrets.compare_digest(header.encode(), expected.encode())

    def _unauthorized(self, path: str) -> Response:
        if path in UPLOAD_PATHS:
            return json_response(
                {"success": False, "code": 401, "msg": "Authentication failed: Invalid API Key"}
            )
        route = self.sim.catalogue.create_routes.get(path)
        if route is not None and route.synchronous:
            # The chat endpoints answer like the provider's API, with a real HTTP status.
            error = {"message": "Invalid or missing API key", "type": "authentication_error"}
            return json_response({"code": 401, "msg": UNAUTHORIZED_MSG, "error": error}, 401)
        return envelope(401, UNAUTHORIZED_MSG)

    # --- generation -----------------------------------------------------------------------

    def create(self, request: Request, route: Route) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return envelope(422, "Validation Error - the request body must be a JSON object")
        if route.body_style == "market" and (
            not isinstance(body.get("model"), str) or "input" not in body
        ):
            return envelope(422, "Validation Error - model and input are required")
        if route.family == "suno" and not body.get("callBackUrl"):
            # The registry refuses to build a Suno request without one: KIE requires it.
            return envelope(422, "Validation Error - callBackUrl is required")
        draws = self.sim.dice.draw()
        fault = self.sim.create_fault(draws)
        if fault is not None:
            return self._fault_response(fault, route)
        entry = self.sim.catalogue.model_for(route, body)
        inputs = self.sim.catalogue.inputs_for(route, entry, body)
        credits = self.sim.catalogue.credits_for(entry, inputs, self.sim.default_credits)
        if not self.sim.charge(credits):
            if route.synchronous:
                error = {"message": NO_CREDITS_MSG, "type": "insufficient_credits"}
                return json_response({"code": 402, "msg": NO_CREDITS_MSG, "error": error}, 402)
            return envelope(402, NO_CREDITS_MSG)
        if route.synchronous:
            return json_response(
                chat_response(route.create_path, body, credits, draws_hex(draws.task_bits))
            )
        task = self.sim.start_task(route, entry, body, credits, draws)
        return envelope(200, "success", {"taskId": task.task_id})

    def _fault_response(self, code: int, route: Route) -> Response:
        if code == 429:
            if route.synchronous:
                error = {"message": RATE_LIMIT_MSG, "type": "rate_limit_error"}
                return json_response({"code": 429, "msg": RATE_LIMIT_MSG, "error": error}, 429)
            return envelope(429, RATE_LIMIT_MSG)
        if code == 455:
            return envelope(455, FAULT_MESSAGES[455])
        if code == 500:
            return envelope(500, FAULT_MESSAGES[500], http_status=500)
        # Anything else comes from a gateway in front of KIE: an HTML page, not the envelope.
        page = f"<html><body><h1>{code} Bad Gateway</h1></body></html>"
        return Response(page, status=code, mimetype="text/html")

    def query(self, request: Request, path: str) -> Response:
        task_id = request.args.get("taskId", "")
        if not task_id:
            return envelope(400, "taskId parameter is required")
        task = self.sim.store.get(task_id)
        if task is None or task.status_path != path:
            msg = "recordInfo is null" if path == "/api/v1/jobs/recordInfo" else "record is null"
            return envelope(422, msg)
        return envelope(200, "success", self.sim.record_of(task))

    # --- files ----------------------------------------------------------------------------

    def serve_file(self, name: str) -> Response:
        item = self.sim.media.resolve(name)
        if item is None:
            return Response("not found", status=404, mimetype="text/plain")
        response = Response(item.data, mimetype=item.content_type)
        response.headers["Content-Length"] = str(len(item.data))
        return response

    def download_url(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            return envelope(422, "Validation Error - url is required")
        prefix = f"{self.sim.files_base_url}/files/"
        if not url.startswith(prefix) or self.sim.media.resolve(url.removeprefix(prefix)) is None:
            return envelope(422, "Invalid URL (External file URLs are not supported)")
        expires = int(time.time()) + 20 * 60
        return envelope(200, "success", f"{url}?expires={expires}")

    def upload(self, request: Request) -> Response:
        path = request.path
        try:
            if path.endswith("base64-upload"):
                payload = request.get_json(silent=True) or {}
                data, mime = _decode_base64(str(payload.get("base64Data", "")))
                upload_path, file_name = payload.get("uploadPath"), payload.get("fileName")
            elif path.endswith("stream-upload"):
                stream = request.files.get("file")
                if stream is None:
                    return _upload_error(400, "Missing required parameter: file")
                data, mime = stream.read(), stream.mimetype or ""
                upload_path = request.form.get("uploadPath")
                file_name = request.form.get("fileName") or stream.filename
            else:
                payload = request.get_json(silent=True) or {}
                file_url = str(payload.get("fileUrl", ""))
                if not file_url:
                    return _upload_error(400, "Missing required parameter: fileUrl")
                fetched = httpx.get(file_url, timeout=URL_UPLOAD_TIMEOUT_S, follow_redirects=True)
                fetched.raise_for_status()
                data, mime = fetched.content, fetched.headers.get("content-type", "").split(";")[0]
                upload_path, file_name = payload.get("uploadPath"), payload.get("fileName")
                file_name = file_name or file_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        except ValueError as error:
            return _upload_error(400, f"Base64 decoding failed: {error}")
        except httpx.HTTPError as error:
            return _upload_error(500, f"File download failed: {error}")
        if not upload_path:
            return _upload_error(400, "Missing required parameter: uploadPath")
        name = str(
            file_name or f"{secrets.token_hex(8)}{mimetypes.guess_extension(mime or '') or '.bin'}"
        )
        name = name.replace("/", "_")
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        file_path = f"{str(upload_path).strip('/')}/{name}"
        self.sim.media.put(f"uploads/{file_path}", mime, data)
        return json_response(
            {
                "success": True,
                "code": 200,
                "msg": "File uploaded successfully",
                "data": {
                    "fileName": name,
                    "filePath": file_path,
                    "downloadUrl": f"{self.sim.files_base_url}/files/uploads/{file_path}",
                    "fileSize": len(data),
                    "mimeType": mime,
                    "uploadedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                },
            }
        )

    # --- control --------------------------------------------------------------------------

    def control(self, request: Request, path: str) -> Response:
        if path == "/_sim/tasks" and request.method == "GET":
            tasks = [task.summary() for task in self.sim.store.all()]
            return json_response({"tasks": tasks, "balance": float(self.sim.balance)})
        if path == "/_sim/config" and request.method == "GET":
            return json_response(self.sim.knobs_json())
        if path == "/_sim/config" and request.method == "POST":
            changes = request.get_json(silent=True)
            if not isinstance(changes, dict):
                return json_response({"error": "expected a JSON object of knobs"}, 400)
            try:
                self.sim.configure(**changes)
            except ConfigError as error:
                return json_response({"error": str(error)}, 400)
            return json_response(self.sim.knobs_json())
        return json_response({"error": "unknown control endpoint"}, 404)


def draws_hex(bits: int) -> str:
    return f"{bits:032x}"


def _decode_base64(text: str) -> tuple[bytes, str]:
    mime = ""
    if text.startswith("data:") and "," in text:
        header, text = text.split(",", 1)
        mime = header.removeprefix("data:").split(";")[0]
    if not text:
        raise ValueError("Invalid Base64 format")
    try:
        return base64.b64decode(text, validate=True), mime
    except binascii.Error as error:
        raise ValueError("Invalid Base64 format") from error


def _upload_error(code: int, msg: str) -> Response:
    return json_response({"success": False, "code": code, "msg": msg})
