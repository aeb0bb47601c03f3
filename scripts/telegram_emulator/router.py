"""The WSGI app: the Bot API at /bot<token>/<method>, files at /file/bot<token>/<path>, and the
user API under its prefix. Routing and token checks only; the work is in methods and actions."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from scripts.telegram_emulator import errors
from scripts.telegram_emulator.errors import BotApiError, error_response, ok_response
from scripts.telegram_emulator.files import UPLOAD_LIMIT_OTHER
from scripts.telegram_emulator.params import Params
from scripts.telegram_emulator.state import CallRecord
from scripts.telegram_emulator.user_api import UserApi

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from scripts.telegram_emulator.server import TelegramEmulator

_BOT_PATH = re.compile(r"^/bot([^/]*)/([^/]*)/?$")
_FILE_PATH = re.compile(r"^/file/bot([^/]*)/(.+)$")
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# A request this big cannot hold a file within the limits; refuse it without parsing.
REQUEST_BODY_MAX = 2 * UPLOAD_LIMIT_OTHER
_DRAIN_CHUNK = 1024 * 1024


class EmulatorApp:
    def __init__(self, emulator: TelegramEmulator) -> None:
        self.emulator = emulator
        self.user_api = UserApi(emulator)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        prefix = self.emulator.user_api_prefix
        if path == prefix or path.startswith(prefix + "/"):
            return self.user_api.dispatch(request, path.removeprefix(prefix))
        match = _BOT_PATH.match(path)
        if match is not None:
            return self.bot_api(request, match.group(1), match.group(2))
        match = _FILE_PATH.match(path)
        if match is not None:
            return self.download(match.group(1), match.group(2))
        return error_response(BotApiError(404, "Not Found"))

    def _check_token(self, token: str) -> None:
        if not _TOKEN_SHAPE.match(token):
            raise BotApiError(401, errors.INVALID_TOKEN)
        if token != self.emulator.token:
            raise BotApiError(401, errors.UNAUTHORIZED)

    def bot_api(self, request: Request, token: str, method: str) -> Response:
        params: Params | None = None
        try:
            self._check_token(token)
            handler = self.emulator.api.handlers.get(method.lower())
            if handler is None:
                raise BotApiError(404, errors.METHOD_NOT_FOUND)
            if (request.content_length or 0) > REQUEST_BODY_MAX:
                _drain(request)
                raise BotApiError(413, errors.ENTITY_TOO_LARGE)
            try:
                params = Params.from_request(request)
            except RequestEntityTooLarge:
                raise BotApiError(413, errors.ENTITY_TOO_LARGE) from None
            answer = handler(params)
        except BotApiError as error:
            self._record(method, params, error)
            return error_response(error)
        self._record(method, params, None)
        return ok_response(answer.result, answer.description)

    def _record(self, method: str, params: Params | None, error: BotApiError | None) -> None:
        shown: dict[str, Any] = params.summary() if params is not None else {}
        self.emulator.state.record_call(
            CallRecord(
                method=method,
                params=shown,
                at=time.time(),
                ok=error is None,
                error_code=error.error_code if error else None,
                description=error.description if error else None,
            )
        )

    def download(self, token: str, file_path: str) -> Response:
        try:
            self._check_token(token)
        except BotApiError as error:
            return error_response(error)
        stored = self.emulator.files.by_path(file_path)
        if stored is None:
            return error_response(BotApiError(404, "Not Found: file not found"))
        return file_response(stored.data, stored.mime_type)


def file_response(data: bytes, mime_type: str) -> Response:
    response = Response(data, mimetype=mime_type)
    response.headers["Content-Length"] = str(len(data))
    return response


def _drain(request: Request) -> None:
    """Read the body away: answering before the client finished sending would reset it."""
    stream = request.stream
    while stream.read(_DRAIN_CHUNK):
        pass
