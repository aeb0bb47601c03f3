"""Bot API errors: the exact texts and codes Telegram answers, and the JSON envelope.

The HTTP status always equals `error_code` (aiogram picks its exception class from the status).
Texts marked "unconfirmed" in docs/TELEGRAM_EMULATOR.md are our best reading, not captures.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

# 400
CHAT_NOT_FOUND = "Bad Request: chat not found"
MESSAGE_TEXT_EMPTY = "Bad Request: message text is empty"
MESSAGE_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
MESSAGE_TO_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
MESSAGE_CANT_BE_EDITED = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
NO_CAPTION_TO_EDIT = "Bad Request: there is no caption in the message to edit"
MESSAGE_TO_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
WRONG_HTTP_URL = "Bad Request: wrong HTTP URL specified"
FAILED_TO_GET_URL = "Bad Request: failed to get HTTP URL content"
INVALID_FILE_ID = "Bad Request: invalid file_id"
FILE_TOO_BIG = "Bad Request: file is too big"
PHOTO_TOO_BIG = "Bad Request: PHOTO_SAVE_FILE_INVALID"
PHOTO_INVALID_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"
FILE_MUST_BE_NON_EMPTY = "Bad Request: file must be non-empty"
MEDIA_GROUP_COUNT = "Bad Request: too few or too many media in the album"
PAYMENT_PROVIDER_INVALID = "Bad Request: PAYMENT_PROVIDER_INVALID"
CURRENCY_TOTAL_AMOUNT_INVALID = "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"
INVOICE_PAYLOAD_INVALID = "Bad Request: INVOICE_PAYLOAD_INVALID"
CHARGE_ALREADY_REFUNDED = "Bad Request: CHARGE_ALREADY_REFUNDED"
CHARGE_NOT_FOUND = "Bad Request: CHARGE_NOT_FOUND"
SECRET_TOKEN_INVALID = "Bad Request: secret token contains unallowed characters"  # noqa: S105
# 401 / 403 / 404 / 409 / 413
UNAUTHORIZED = "Unauthorized"
INVALID_TOKEN = "Unauthorized: invalid token specified"  # noqa: S105
BOT_BLOCKED = "Forbidden: bot was blocked by the user"
METHOD_NOT_FOUND = "Not Found: method not found"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
ENTITY_TOO_LARGE = "Request Entity Too Large"


class BotApiError(Exception):
    """A refusal the Bot API reports as `{"ok": false, ...}` with HTTP status = error_code."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, description)


def missing(parameter: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {parameter} is empty")


def retry_after(seconds: int) -> BotApiError:
    return BotApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


def wire_json(value: Any) -> bytes:
    """Compact, ASCII-only JSON, as the Bot API server writes it (non-ASCII as \\uXXXX)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def ok_response(result: Any, description: str | None = None) -> Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return Response(wire_json(body), status=200, mimetype="application/json")


def error_response(error: BotApiError) -> Response:
    response = Response(
        wire_json(error.body()), status=error.error_code, mimetype="application/json"
    )
    if error.parameters and "retry_after" in error.parameters:
        response.headers["Retry-After"] = str(error.parameters["retry_after"])
    return response
