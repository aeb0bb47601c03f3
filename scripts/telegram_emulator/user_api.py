"""The user API (JSON) under a prefix (default /tg/api): tests, benchmarks and the web chat
page act as users through it. See docs/TELEGRAM_EMULATOR.md for each endpoint."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from scripts.telegram_emulator.actions import ProfileChanges, UserActionError
from scripts.telegram_emulator.files import IncomingFile

if TYPE_CHECKING:
    from scripts.telegram_emulator.server import TelegramEmulator

_USER_PATH = re.compile(r"^/users/(-?\d+)/(send|press|pay|block|unblock|chat|profile)/?$")
_FILE_PATH = re.compile(r"^/files/([A-Za-z0-9_-]+)$")


MAX_CHAT_WAIT_S = 30.0  # a long poll of the chat answers at the latest after this


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class UserApi:
    def __init__(self, emulator: TelegramEmulator) -> None:
        self.emulator = emulator

    def dispatch(self, request: Request, path: str) -> Response:
        try:
            return self._route(request, path)
        except UserActionError as error:
            return _error(error.status, str(error))

    def _route(self, request: Request, path: str) -> Response:
        actions = self.emulator.actions
        if path == "/calls" and request.method == "GET":
            calls = [call.as_json() for call in self.emulator.calls()]
            return json_response({"calls": calls})
        if path == "/users" and request.method == "GET":
            return json_response({"users": actions.users()})
        if path == "/updates" and request.method == "GET":
            return json_response({"updates": self.emulator.bus.summaries()})
        file_match = _FILE_PATH.match(path)
        if file_match is not None and request.method == "GET":
            stored = self.emulator.files.get(file_match.group(1))
            if stored is None:
                return _error(404, "no such file")
            response = Response(stored.data, mimetype=stored.mime_type)
            response.headers["Content-Length"] = str(len(stored.data))
            return response
        match = _USER_PATH.match(path)
        if match is None:
            return _error(404, f"no user API endpoint {path!r}")
        user_id, action = int(match.group(1)), match.group(2)
        if action == "chat":
            if request.method != "GET":
                return _error(405, "use GET")
            after = request.args.get("after", type=int)
            wait_s = min(request.args.get("wait", default=0.0, type=float), MAX_CHAT_WAIT_S)
            return json_response(self.emulator.chat(user_id, after=after, wait_s=wait_s))
        if request.method != "POST":
            return _error(405, "use POST")
        if action == "send":
            return self._send(request, user_id)
        body = request.get_json(silent=True) if request.mimetype == "application/json" else None
        fields: dict[str, Any] = body if isinstance(body, dict) else dict(request.form.items())
        if action == "press":
            message_id = _int_field(fields, "message_id")
            button = fields.get("button")
            if not isinstance(button, str) or not button:
                return _error(400, "button is required")
            inaccessible = str(fields.get("inaccessible", "")).lower() in ("true", "1")
            return json_response(
                actions.press(user_id, message_id, button, inaccessible=inaccessible)
            )
        if action == "pay":
            email = fields.get("email")
            result = actions.pay(
                user_id, _int_field(fields, "message_id"), str(email) if email else None
            )
            return json_response(result)
        if action == "profile":
            chat = actions.user(user_id, _profile(fields))
            return json_response({"user": chat.profile.user_json()})
        if action == "block":
            return json_response(actions.block(user_id))
        return json_response(actions.unblock(user_id))

    def _send(self, request: Request, user_id: int) -> Response:
        actions = self.emulator.actions
        if request.mimetype == "multipart/form-data":
            fields: dict[str, Any] = dict(request.form.items())
            uploads = request.files.getlist("file")
            changes = _profile(fields)
            if len(uploads) > 1:
                album = [
                    IncomingFile(part.read(), part.filename or None, _mime(part.mimetype))
                    for part in uploads
                ]
                return json_response(
                    actions.send_album(
                        user_id,
                        album,
                        kind=fields.get("kind") or None,
                        caption=fields.get("caption") or None,
                        changes=changes,
                    )
                )
            upload = uploads[0] if uploads else None
            if upload is None:
                text = fields.get("text")
                if not text:
                    return _error(400, "send text or a file")
                return json_response(actions.send_text(user_id, str(text), changes))
            declared = fields.get("size")
            incoming = IncomingFile(
                upload.read(),
                upload.filename or None,
                _mime(upload.mimetype),
                int(declared) if declared else None,
            )
            attributes = {
                key: fields[key]
                for key in ("duration", "width", "height", "title", "performer")
                if fields.get(key)
            }
            result = actions.send_file(
                user_id,
                incoming,
                kind=fields.get("kind") or None,
                caption=fields.get("caption") or None,
                attributes=attributes,
                changes=changes,
            )
            return json_response(result)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _error(400, 'expected {"text": ...} or a multipart body with a file')
        return json_response(actions.send_text(user_id, body["text"], _profile(body)))


def _int_field(fields: dict[str, Any], name: str) -> int:
    try:
        return int(fields[name])
    except (KeyError, TypeError, ValueError):
        raise UserActionError(400, f"{name} must be an integer") from None


def _profile(fields: dict[str, Any]) -> ProfileChanges:
    premium = fields.get("is_premium")
    return ProfileChanges(
        first_name=_optional_str(fields.get("first_name")),
        last_name=_optional_str(fields.get("last_name")),
        username=_optional_str(fields.get("username")),
        language_code=_optional_str(fields.get("language_code")),
        is_premium=None if premium is None else str(premium).lower() in ("true", "1"),
    )


def _mime(mimetype: str | None) -> str | None:
    # A part without a content type arrives as octet-stream: let the file name decide.
    return None if not mimetype or mimetype == "application/octet-stream" else mimetype


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
