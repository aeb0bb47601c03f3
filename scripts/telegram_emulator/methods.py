"""The Bot API methods a bot calls, each checked and answered as Telegram does.

A handler takes the request's Params and returns the `result` (or result and description);
refusals are BotApiError. Names are matched case-insensitively by the router.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scripts.telegram_emulator import errors, limits
from scripts.telegram_emulator.delivery import UpdateBus, WebhookSettings
from scripts.telegram_emulator.errors import BotApiError
from scripts.telegram_emulator.files import (
    GET_FILE_LIMIT,
    FileStore,
    IncomingFile,
    StoredFile,
    check_upload_size,
    fetch_url,
    photo_size_json,
)
from scripts.telegram_emulator.params import Params
from scripts.telegram_emulator.state import Chat, EmulatorState, StoredMessage, unix_now
from scripts.telegram_emulator.updates import media_json, message_json, tiny_png

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Knobs(Protocol):
    """What the methods read from the emulator at call time (attributes of TelegramEmulator)."""

    flood_per_chat_per_s: float | None
    callback_query_ttl_s: float

    def bot_user(self) -> dict[str, Any]: ...

    def bot_info(self) -> dict[str, Any]: ...


@dataclass
class Answer:
    result: Any
    description: str | None = None


class BotApi:
    def __init__(
        self, knobs: Knobs, state: EmulatorState, files: FileStore, bus: UpdateBus
    ) -> None:
        self.knobs = knobs
        self.state = state
        self.files = files
        self.bus = bus
        # Every size of a photo, by any of its file_ids, so a resend by file_id keeps all sizes.
        self.photo_sizes: dict[str, list[StoredFile]] = {}
        self.thumbnails: dict[str, StoredFile] = {}
        self._media_group_counter = 14059321873307285
        self._media_group_lock = threading.Lock()
        self.handlers: dict[str, Callable[[Params], Answer]] = {
            "getme": self.get_me,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "getupdates": self.get_updates,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "editmessagecaption": self.edit_message_caption,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "deletemessage": self.delete_message,
            "answercallbackquery": self.answer_callback_query,
            "sendphoto": lambda p: self.send_media(p, "photo"),
            "sendvideo": lambda p: self.send_media(p, "video"),
            "sendaudio": lambda p: self.send_media(p, "audio"),
            "sendvoice": lambda p: self.send_media(p, "voice"),
            "senddocument": lambda p: self.send_media(p, "document"),
            "sendmediagroup": self.send_media_group,
            "getfile": self.get_file,
            "sendchataction": self.send_chat_action,
            "setmycommands": self.set_my_commands,
            "getmycommands": self.get_my_commands,
            "deletemycommands": self.delete_my_commands,
            "sendinvoice": self.send_invoice,
            "answerprecheckoutquery": self.answer_pre_checkout_query,
            "refundstarpayment": self.refund_star_payment,
        }

    # --- bot and webhook ------------------------------------------------------------------

    def get_me(self, _params: Params) -> Answer:
        return Answer(self.knobs.bot_info())

    def set_webhook(self, params: Params) -> Answer:
        url = params.text("url") or ""
        if not url:
            return self.delete_webhook(params)
        secret = params.text("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise errors.bad_request(errors.SECRET_TOKEN_INVALID)
        if not url.startswith(("http://", "https://")):
            raise errors.bad_request(
                "Bad Request: bad webhook: HTTPS URL must be provided for webhook"
            )
        allowed = params.obj("allowed_updates")
        previous = self.bus.webhook
        if allowed is None and previous is not None:
            allowed_updates = previous.allowed_updates  # omitted: the previous setting stays
        else:
            allowed_updates = tuple(allowed) if allowed else None
        max_connections = params.integer("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise errors.bad_request("Bad Request: invalid max_connections specified")
        settings = WebhookSettings.create(url, secret, max_connections, allowed_updates)
        if params.flag("drop_pending_updates"):
            self.bus.drop_pending()
        self.bus.webhook = settings
        same = previous is not None and previous.url == url
        return Answer(True, "Webhook is already set" if same else "Webhook was set")

    def delete_webhook(self, params: Params) -> Answer:
        had = self.bus.webhook is not None
        self.bus.webhook = None
        if params.flag("drop_pending_updates"):
            self.bus.drop_pending()
        return Answer(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def get_webhook_info(self, _params: Params) -> Answer:
        webhook = self.bus.webhook
        info: dict[str, Any] = {
            "url": webhook.url if webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": self.bus.pending_count(),
        }
        if webhook is not None:
            if self.bus.last_error_date is not None:
                info["last_error_date"] = self.bus.last_error_date
                info["last_error_message"] = self.bus.last_error_message
            info["max_connections"] = webhook.max_connections
            info["ip_address"] = "127.0.0.1"
            if webhook.allowed_updates:
                info["allowed_updates"] = list(webhook.allowed_updates)
        return Answer(info)

    def get_updates(self, params: Params) -> Answer:
        if self.bus.webhook is not None:
            raise BotApiError(409, errors.WEBHOOK_ACTIVE)
        limit = min(max(params.integer("limit") or 100, 1), 100)
        timeout = max(params.integer("timeout") or 0, 0)
        allowed = params.obj("allowed_updates")
        return Answer(
            self.bus.take_updates(
                params.integer("offset"), limit, float(timeout), tuple(allowed) if allowed else None
            )
        )

    # --- messages -------------------------------------------------------------------------

    def _chat(self, params: Params, *, sending: bool) -> Chat:
        chat_id = params.require_text("chat_id")
        try:
            number = int(chat_id)
        except ValueError:
            raise errors.bad_request(errors.CHAT_NOT_FOUND) from None
        chat = self.state.chat(number)
        if chat is None:
            raise errors.bad_request(errors.CHAT_NOT_FOUND)
        if chat.blocked:
            raise BotApiError(403, errors.BOT_BLOCKED)
        if sending:
            with self.state.lock:
                limits.check_flood(chat, self.knobs.flood_per_chat_per_s)
        return chat

    def _store(
        self,
        chat: Chat,
        content: dict[str, Any],
        *,
        reply_markup: dict[str, Any] | None = None,
        parse_mode: str | None = None,
        source_text: str | None = None,
        media_kind: str | None = None,
        file_id: str | None = None,
        media_group_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> StoredMessage:
        with self.state.lock:
            message = StoredMessage(
                message_id=chat.take_message_id(),
                chat_id=chat.profile.id,
                direction="out",
                date=unix_now(),
                content=content,
                reply_markup=reply_markup,
                parse_mode=parse_mode,
                source_text=source_text,
                media_kind=media_kind,
                file_id=file_id,
                media_group_id=media_group_id,
                extra=extra or {},
            )
            chat.messages[message.message_id] = message
            self.state.touch(chat)
            return message

    def _json(self, chat: Chat, message: StoredMessage) -> dict[str, Any]:
        return message_json(message, chat, self.knobs.bot_user())

    def send_message(self, params: Params) -> Answer:
        chat = self._chat(params, sending=True)
        parse_mode = params.text("parse_mode")
        text, entities = limits.message_text(
            params.text("text"), parse_mode, params.obj("entities")
        )
        markup = limits.reply_markup(params.obj("reply_markup"))
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        preview = params.obj("link_preview_options")
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        message = self._store(
            chat,
            content,
            reply_markup=markup,
            parse_mode=parse_mode,
            source_text=params.text("text"),
        )
        return Answer(self._json(chat, message))

    def _message_to_edit(self, params: Params) -> tuple[Chat, StoredMessage]:
        if params.has("inline_message_id"):
            raise errors.bad_request("Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat(params, sending=False)
        message_id = params.require_int("message_id")
        with self.state.lock:
            message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise errors.bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
        if message.direction != "out":
            raise errors.bad_request(errors.MESSAGE_CANT_BE_EDITED)
        return chat, message

    def _apply_edit(
        self,
        chat: Chat,
        message: StoredMessage,
        content: dict[str, Any],
        markup: dict[str, Any] | None,
        parse_mode: str | None,
        source_text: str | None,
    ) -> Answer:
        with self.state.lock:
            if content == message.content and markup == message.reply_markup:
                raise errors.bad_request(errors.NOT_MODIFIED)
            message.content = content
            message.reply_markup = markup
            message.parse_mode = parse_mode
            message.source_text = source_text
            message.edit_date = unix_now()
            message.edit_count += 1
            self.state.touch(chat)
        return Answer(self._json(chat, message))

    def edit_message_text(self, params: Params) -> Answer:
        chat, message = self._message_to_edit(params)
        if "text" not in message.content:
            raise errors.bad_request(errors.NO_TEXT_TO_EDIT)
        parse_mode = params.text("parse_mode")
        text, entities = limits.message_text(
            params.text("text"), parse_mode, params.obj("entities")
        )
        # Omitting reply_markup removes the keyboard, as it does on Telegram.
        markup = limits.reply_markup(params.obj("reply_markup"))
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._apply_edit(chat, message, content, markup, parse_mode, params.text("text"))

    def edit_message_caption(self, params: Params) -> Answer:
        chat, message = self._message_to_edit(params)
        if message.media_kind is None:
            raise errors.bad_request(errors.NO_CAPTION_TO_EDIT)
        parse_mode = params.text("parse_mode")
        text, entities = limits.caption(
            params.text("caption"), parse_mode, params.obj("caption_entities")
        )
        markup = limits.reply_markup(params.obj("reply_markup"))
        content = {
            k: v for k, v in message.content.items() if k not in ("caption", "caption_entities")
        }
        if text:
            content["caption"] = text
        if entities:
            content["caption_entities"] = entities
        return self._apply_edit(chat, message, content, markup, parse_mode, params.text("caption"))

    def edit_message_reply_markup(self, params: Params) -> Answer:
        chat, message = self._message_to_edit(params)
        markup = limits.reply_markup(params.obj("reply_markup"))
        return self._apply_edit(
            chat, message, dict(message.content), markup, message.parse_mode, message.source_text
        )

    def delete_message(self, params: Params) -> Answer:
        chat = self._chat(params, sending=False)
        message_id = params.require_int("message_id")
        with self.state.lock:
            message = chat.messages.get(message_id)
            if message is None or message.deleted:
                raise errors.bad_request(errors.MESSAGE_TO_DELETE_NOT_FOUND)
            message.deleted = True
            self.state.touch(chat)
        return Answer(True)

    def answer_callback_query(self, params: Params) -> Answer:
        query_id = params.require_text("callback_query_id")
        with self.state.lock:
            query = self.state.callback_queries.get(query_id)
            expired = query is None or (
                self._now() - query.created_at > self.knobs.callback_query_ttl_s
            )
            if query is None or query.answered or expired:
                raise errors.bad_request(errors.QUERY_TOO_OLD)
            text = params.text("text")
            if text is not None and len(text) > 200:
                raise errors.bad_request("Bad Request: MESSAGE_TOO_LONG")
            query.answered = True
            query.answer = {
                "text": text,
                "show_alert": params.flag("show_alert"),
                "url": params.text("url"),
                "cache_time": params.integer("cache_time") or 0,
            }
        return Answer(True)

    @staticmethod
    def _now() -> float:
        return time.time()

    # --- media ----------------------------------------------------------------------------

    def _resolve_media(self, params: Params, kind: str, value: Any) -> list[StoredFile]:
        """The stored file(s) behind a media value: an upload, a local URL or a file_id."""
        if value is None or value == "":
            raise errors.bad_request(f"Bad Request: there is no {kind} in the request")
        reference = str(value)
        incoming: IncomingFile | None = None
        if reference.startswith("attach://"):
            incoming = params.upload(reference)
            if incoming is None:
                raise errors.bad_request(errors.WRONG_FILE_ID)
            check_upload_size(kind, incoming)
        elif reference.startswith(("http://", "https://")):
            incoming = fetch_url(reference, kind)
        if incoming is None:
            return self._by_file_id(kind, reference)
        if kind == "photo":
            sizes = self.files.put_photo(incoming, from_bot=True)
            for size in sizes:
                self.photo_sizes[size.file_id] = sizes
            return sizes
        stored = self.files.put(kind, incoming, from_bot=True)
        self.attach_thumbnail(stored, from_bot=True)
        return [stored]

    def attach_thumbnail(self, stored: StoredFile, *, from_bot: bool) -> None:
        """The server makes a thumbnail for videos and image documents (sent or received)."""
        if stored.kind == "video" or (
            stored.kind == "document" and stored.mime_type.startswith("image/")
        ):
            width, height = (180, 320) if stored.kind == "video" else (320, 320)
            self.thumbnails[stored.file_id] = self.files.put(
                "thumbnail",
                IncomingFile(tiny_png(width, height), None, "image/png"),
                from_bot=from_bot,
                width=width,
                height=height,
            )

    def _by_file_id(self, kind: str, file_id: str) -> list[StoredFile]:
        stored = self.files.get(file_id)
        # A file_id keeps its type: a photo cannot come back as a document (Bot API).
        if stored is None or stored.kind != kind:
            raise errors.bad_request(errors.WRONG_FILE_ID)
        if kind == "photo":
            return self.photo_sizes.get(file_id, [stored])
        return [stored]

    def _media_content(
        self, kind: str, files: list[StoredFile], attributes: dict[str, Any]
    ) -> dict[str, Any]:
        if kind == "photo":
            return {"photo": [photo_size_json(size) for size in files]}
        stored = files[0]
        return {kind: media_json(kind, stored, attributes, self.thumbnails.get(stored.file_id))}

    def send_media(self, params: Params, kind: str) -> Answer:
        chat = self._chat(params, sending=False)
        value = params.values.get(kind)
        if value is None and kind in params.files:
            value = f"attach://{kind}"  # a part named like the field (curl -F photo=@file)
        parse_mode = params.text("parse_mode")
        caption, entities = limits.caption(
            params.text("caption"), parse_mode, params.obj("caption_entities")
        )
        markup = limits.reply_markup(params.obj("reply_markup"))
        files = self._resolve_media(params, kind, value)
        with self.state.lock:
            limits.check_flood(chat, self.knobs.flood_per_chat_per_s)
        attributes = {
            name: params.values.get(name)
            for name in ("duration", "width", "height", "title", "performer")
        }
        content = self._media_content(kind, files, attributes)
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        message = self._store(
            chat,
            content,
            reply_markup=markup,
            parse_mode=parse_mode,
            source_text=params.text("caption"),
            media_kind=kind,
            file_id=files[-1].file_id,
        )
        return Answer(self._json(chat, message))

    def send_media_group(self, params: Params) -> Answer:
        chat = self._chat(params, sending=False)
        media = params.obj("media")
        if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
            raise errors.bad_request("Bad Request: can't parse media JSON object")
        if not limits.MEDIA_GROUP_MIN <= len(media) <= limits.MEDIA_GROUP_MAX:
            raise errors.bad_request(errors.MEDIA_GROUP_COUNT)
        prepared: list[tuple[str, dict[str, Any], str | None, str | None, list[StoredFile]]] = []
        for item in media:
            kind = str(item.get("type", ""))
            if kind not in ("photo", "video", "audio", "document"):
                raise errors.bad_request(f"Bad Request: unsupported media type {kind!r}")
            caption, entities = limits.caption(
                item.get("caption"), item.get("parse_mode"), item.get("caption_entities")
            )
            content_files = self._resolve_media(params, kind, item.get("media"))
            content = self._media_content(kind, content_files, item)
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
            prepared.append(
                (kind, content, item.get("parse_mode"), item.get("caption"), content_files)
            )
        with self.state.lock:
            limits.check_flood(chat, self.knobs.flood_per_chat_per_s)
        group_id = self.next_media_group_id()
        results: list[dict[str, Any]] = []
        for kind, content, parse_mode, source, content_files in prepared:
            message = self._store(
                chat,
                content,
                parse_mode=parse_mode,
                source_text=source,
                media_kind=kind,
                file_id=content_files[-1].file_id,
                media_group_id=group_id,
            )
            results.append(self._json(chat, message))
        return Answer(results)

    def next_media_group_id(self) -> str:
        """A numeric string, as Telegram's media_group_id is."""
        with self._media_group_lock:
            self._media_group_counter += 1
            return str(self._media_group_counter)

    def get_file(self, params: Params) -> Answer:
        stored = self.files.get(params.require_text("file_id"))
        if stored is None:
            raise errors.bad_request(errors.INVALID_FILE_ID)
        if stored.file_size > GET_FILE_LIMIT:
            raise errors.bad_request(errors.FILE_TOO_BIG)
        return Answer(stored.file_json())

    def send_chat_action(self, params: Params) -> Answer:
        chat = self._chat(params, sending=False)
        action = params.require_text("action")
        if action not in CHAT_ACTIONS:
            raise errors.bad_request("Bad Request: wrong parameter action in request")
        with self.state.lock:
            self.state.chat_actions.append(
                {"chat_id": chat.profile.id, "action": action, "at": self._now()}
            )
        return Answer(True)

    # --- commands -------------------------------------------------------------------------

    @staticmethod
    def _commands_key(params: Params) -> str:
        scope = params.obj("scope") or {"type": "default"}
        return json.dumps([scope, params.text("language_code") or ""], sort_keys=True)

    def set_my_commands(self, params: Params) -> Answer:
        commands = params.obj("commands")
        if not isinstance(commands, list):
            raise errors.bad_request("Bad Request: can't parse commands JSON object")
        checked: list[dict[str, Any]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise errors.bad_request("Bad Request: can't parse BotCommand JSON object")
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not _COMMAND.fullmatch(name):
                raise errors.bad_request("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise errors.bad_request("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            checked.append({"command": name, "description": description})
        if len(checked) > 100:
            raise errors.bad_request("Bad Request: too many commands")
        with self.state.lock:
            self.state.commands[self._commands_key(params)] = checked
        return Answer(True)

    def get_my_commands(self, params: Params) -> Answer:
        with self.state.lock:
            return Answer(list(self.state.commands.get(self._commands_key(params), [])))

    def delete_my_commands(self, params: Params) -> Answer:
        with self.state.lock:
            self.state.commands.pop(self._commands_key(params), None)
        return Answer(True)

    # --- payments -------------------------------------------------------------------------

    def send_invoice(self, params: Params) -> Answer:
        chat = self._chat(params, sending=True)
        title = params.text("title") or ""
        description = params.text("description") or ""
        payload = params.text("payload") or ""
        currency = (params.text("currency") or "").upper()
        prices = params.obj("prices")
        total = limits.invoice(
            title, description, payload, currency, params.text("provider_token"), prices
        )
        markup = limits.reply_markup(params.obj("reply_markup"))
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": params.text("start_parameter") or "",
            "currency": currency,
            "total_amount": total,
        }
        needs = {
            name: params.flag(name)
            for name in ("need_name", "need_phone_number", "need_email", "need_shipping_address")
        }
        message = self._store(
            chat,
            {"invoice": invoice},
            reply_markup=markup,
            media_kind=None,
            extra={"payload": payload, "prices": prices, "needs": needs, "paid": False},
        )
        return Answer(self._json(chat, message))

    def answer_pre_checkout_query(self, params: Params) -> Answer:
        query_id = params.require_text("pre_checkout_query_id")
        ok = params.flag("ok")
        error_message = params.text("error_message")
        if not ok and not error_message:
            raise errors.bad_request("Bad Request: error_message is empty")
        with self.state.lock:
            query = self.state.pre_checkouts.get(query_id)
            if query is None or query.answered.is_set():
                raise errors.bad_request(errors.QUERY_TOO_OLD)
            query.ok = ok
            query.error_message = error_message
            query.answered.set()
        return Answer(True)

    def refund_star_payment(self, params: Params) -> Answer:
        user_id = params.require_int("user_id")
        charge_id = params.require_text("telegram_payment_charge_id")
        with self.state.lock:
            charge = self.state.charges.get(charge_id)
            if charge is None or charge.user_id != user_id or charge.currency != "XTR":
                raise errors.bad_request(errors.CHARGE_NOT_FOUND)
            if charge.refunded:
                raise errors.bad_request(errors.CHARGE_ALREADY_REFUNDED)
            charge.refunded = True
            chat = self.state.chats.get(user_id)
        if chat is None:
            raise errors.bad_request(errors.CHAT_NOT_FOUND)
        refunded = {
            "currency": charge.currency,
            "total_amount": charge.total_amount,
            "invoice_payload": charge.invoice_payload,
            "telegram_payment_charge_id": charge.telegram_payment_charge_id,
            "provider_payment_charge_id": charge.provider_payment_charge_id,
        }
        message = self._store(chat, {"refunded_payment": refunded})
        # The bot gets its own service message as an update (Bot API 10: refunded_payment).
        # Not waited for: the bot may be calling from inside a webhook for this very chat.
        self.bus.publish(chat.profile.id, "message", self._json(chat, message), wait=False)
        return Answer(True)


def new_charge_ids(currency: str, user_id: int, number: int) -> tuple[str, str]:
    """(telegram_payment_charge_id, provider_payment_charge_id) shaped like real ones."""
    if currency == "XTR":
        return "stx" + secrets.token_urlsafe(96)[:128], f"{user_id}_{number}"
    telegram = f"{user_id}_{secrets.randbelow(10**10)}_{secrets.randbelow(10**4)}"
    hex_id = secrets.token_hex(16)
    provider = f"{hex_id[:8]}-000f-5000-9000-{hex_id[8:20]}"
    return telegram, provider
