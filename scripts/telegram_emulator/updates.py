"""Update JSON in the wire format of tests/fixtures/telegram/updates: field order, framing, ids."""

from __future__ import annotations

import json
import secrets
import struct
import zlib
from functools import lru_cache
from typing import Any

from scripts.telegram_emulator.files import StoredFile, photo_size_json
from scripts.telegram_emulator.state import Chat, StoredMessage


def encode_update(update_id: int, kind: str, payload: dict[str, Any]) -> bytes:
    """`{"update_id":N,` newline `"<kind>":{…}}`, ASCII-only, as the server's JsonUpdate does."""
    body = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return f'{{"update_id":{update_id},\n"{kind}":{body}}}'.encode("ascii")


def message_json(message: StoredMessage, chat: Chat, bot_user: dict[str, Any]) -> dict[str, Any]:
    sender = bot_user if message.direction == "out" else chat.profile.user_json()
    result: dict[str, Any] = {
        "message_id": message.message_id,
        "from": sender,
        "chat": chat.profile.chat_json(),
        "date": message.date,
    }
    if message.edit_date is not None:
        result["edit_date"] = message.edit_date
    if message.media_group_id is not None:
        result["media_group_id"] = message.media_group_id
    result.update(message.content)
    if message.reply_markup is not None:
        result["reply_markup"] = message.reply_markup
    return result


def callback_query_json(
    query_id: str,
    chat: Chat,
    message: dict[str, Any],
    data: str,
) -> dict[str, Any]:
    return {
        "id": query_id,
        "from": chat.profile.user_json(),
        "message": message,
        "chat_instance": chat_instance(chat.profile.id),
        "data": data,
    }


def pre_checkout_query_json(
    query_id: str,
    chat: Chat,
    currency: str,
    total_amount: int,
    payload: str,
    order_info: dict[str, Any] | None,
) -> dict[str, Any]:
    query: dict[str, Any] = {
        "id": query_id,
        "from": chat.profile.user_json(),
        "currency": currency,
        "total_amount": total_amount,
        "invoice_payload": payload,
    }
    if order_info:
        query["order_info"] = order_info
    return query


def my_chat_member_json(
    chat: Chat, bot_user: dict[str, Any], date: int, *, blocked: bool
) -> dict[str, Any]:
    bot = {key: bot_user[key] for key in ("id", "is_bot", "first_name", "username")}
    member = {"user": bot, "status": "member"}
    kicked = {"user": bot, "status": "kicked", "until_date": 0}
    return {
        "chat": chat.profile.chat_json(),
        "from": chat.profile.user_json(),
        "date": date,
        "old_chat_member": member if blocked else kicked,
        "new_chat_member": kicked if blocked else member,
    }


def chat_instance(user_id: int) -> str:
    """A signed 64-bit number as a string, stable per chat (as Telegram's is per chat)."""
    mixed = (user_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return str(mixed - (1 << 64) if mixed >= 1 << 63 else mixed)


def new_query_id() -> str:
    return str(secrets.randbits(63))


def media_json(
    kind: str, stored: StoredFile, attributes: dict[str, Any], thumbnail: StoredFile | None
) -> dict[str, Any]:
    """Video/Audio/Voice/Document objects in the server's field order (thumbnail twice)."""
    media: dict[str, Any] = {}
    if kind in ("video", "audio", "voice"):
        media["duration"] = int(attributes.get("duration") or 1)
    if kind == "video":
        media["width"] = int(attributes.get("width") or stored.width or 1280)
        media["height"] = int(attributes.get("height") or stored.height or 720)
    if kind in ("video", "audio", "document") and stored.file_name:
        media["file_name"] = stored.file_name
    media["mime_type"] = stored.mime_type
    if kind == "audio":
        stem = (stored.file_name or "audio").rsplit(".", 1)[0]
        media["title"] = str(attributes.get("title") or stem)
        media["performer"] = str(attributes.get("performer") or "Unknown Artist")
    if thumbnail is not None:
        # The server writes the thumbnail twice: `thumbnail` and the legacy `thumb`.
        media["thumbnail"] = photo_size_json(thumbnail)
        media["thumb"] = photo_size_json(thumbnail)
    media["file_id"] = stored.file_id
    media["file_unique_id"] = stored.file_unique_id
    media["file_size"] = stored.file_size
    return media


# Drawn once per size: compressing it for every video received cost the emulator 5% of its
# CPU in bench_jobs.
@lru_cache(maxsize=8)
def tiny_png(width: int, height: int) -> bytes:
    """A grey PNG, the bytes behind generated thumbnails."""
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
