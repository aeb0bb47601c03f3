"""What a user does: write, send a file, press a button, pay, block. Each becomes an Update.

The user API (user_api.py) and tests call these; every action waits until the webhook has
answered its updates (or until they are queued for getUpdates) before it returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from scripts.telegram_emulator.delivery import UpdateBus, UpdateRecord
from scripts.telegram_emulator.files import FileStore, IncomingFile, kind_for_mime, photo_size_json
from scripts.telegram_emulator.methods import BotApi, new_charge_ids
from scripts.telegram_emulator.state import (
    CallbackQueryRecord,
    ChargeRecord,
    Chat,
    EmulatorState,
    PreCheckoutRecord,
    StoredMessage,
    UserProfile,
    unix_now,
)
from scripts.telegram_emulator.updates import (
    callback_query_json,
    media_json,
    message_json,
    my_chat_member_json,
    new_query_id,
    pre_checkout_query_json,
)

USER_KINDS = ("photo", "video", "audio", "voice", "document")


class UserActionError(Exception):
    """A user action that cannot happen (no such message or button); the user API says 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ActionKnobs(Protocol):
    pre_checkout_timeout_s: float

    def bot_user(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ProfileChanges:
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool | None = None


def delivery_json(record: UpdateRecord) -> dict[str, Any]:
    return {
        "update_id": record.update_id,
        "delivered": record.delivered,
        "queued": not record.attempts and not record.dropped,
        "webhook_status": record.last_status,
        "attempts": len(record.attempts),
    }


class UserActions:
    def __init__(
        self,
        knobs: ActionKnobs,
        state: EmulatorState,
        files: FileStore,
        bus: UpdateBus,
        api: BotApi,
    ) -> None:
        self.knobs = knobs
        self.state = state
        self.files = files
        self.bus = bus
        self.api = api

    # --- users ----------------------------------------------------------------------------

    def user(self, user_id: int, changes: ProfileChanges | None = None) -> Chat:
        """The user's chat, created on first use; given profile fields replace the old ones."""
        changes = changes or ProfileChanges()
        with self.state.lock:
            chat = self.state.chats.get(user_id)
            profile = chat.profile if chat else UserProfile(user_id, f"User {user_id}")
            if changes.first_name:
                profile.first_name = changes.first_name
            if changes.last_name is not None:
                profile.last_name = changes.last_name or None
            if changes.username is not None:
                profile.username = changes.username or None
            if changes.language_code is not None:
                profile.language_code = changes.language_code or None
            if changes.is_premium is not None:
                profile.is_premium = changes.is_premium
            return self.state.ensure_chat(profile)

    def _existing(self, user_id: int) -> Chat:
        chat = self.state.chat(user_id)
        if chat is None:
            raise UserActionError(404, f"user {user_id} has no chat with the bot")
        return chat

    def _incoming(self, chat: Chat, content: dict[str, Any], **fields: Any) -> StoredMessage:
        with self.state.lock:
            message = StoredMessage(
                message_id=chat.take_message_id(),
                chat_id=chat.profile.id,
                direction="in",
                date=unix_now(),
                content=content,
                **fields,
            )
            chat.messages[message.message_id] = message
            self.state.touch(chat)
            return message

    def _publish_message(self, chat: Chat, message: StoredMessage) -> UpdateRecord:
        payload = message_json(message, chat, self.knobs.bot_user())
        return self.bus.publish(chat.profile.id, "message", payload, wait=True)

    def _unblock_if_needed(self, chat: Chat) -> None:
        # Writing to a bot you blocked restarts it: Telegram first reports the unblock.
        if chat.blocked:
            with self.state.lock:
                chat.blocked = False
                self.state.touch(chat)
            payload = my_chat_member_json(chat, self.knobs.bot_user(), unix_now(), blocked=False)
            self.bus.publish(chat.profile.id, "my_chat_member", payload, wait=True)

    # --- actions --------------------------------------------------------------------------

    def send_text(
        self, user_id: int, text: str, changes: ProfileChanges | None = None
    ) -> dict[str, Any]:
        if not text:
            raise UserActionError(400, "text must not be empty")
        chat = self.user(user_id, changes)
        self._unblock_if_needed(chat)
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [
                {
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                    "type": "bot_command",
                }
            ]
        message = self._incoming(chat, content, source_text=text)
        record = self._publish_message(chat, message)
        return {**delivery_json(record), "message_id": message.message_id}

    def _store_upload(
        self, incoming: IncomingFile, kind: str | None, attributes: dict[str, Any]
    ) -> tuple[str, dict[str, Any], str]:
        """(kind, message content, file_id) of a file the user sends."""
        chosen = kind or kind_for_mime(incoming.mime_type)
        if chosen not in USER_KINDS:
            raise UserActionError(400, f"kind must be one of {', '.join(USER_KINDS)}")
        if not incoming.data:
            raise UserActionError(400, "the file is empty")
        if chosen == "photo":
            sizes = self.files.put_photo(incoming, from_bot=False)
            for size in sizes:
                self.api.photo_sizes[size.file_id] = sizes
            return chosen, {"photo": [photo_size_json(size) for size in sizes]}, sizes[-1].file_id
        stored = self.files.put(chosen, incoming, from_bot=False)
        self.api.attach_thumbnail(stored, from_bot=False)
        thumbnail = self.api.thumbnails.get(stored.file_id)
        return (
            chosen,
            {chosen: media_json(chosen, stored, attributes, thumbnail)},
            stored.file_id,
        )

    def send_file(
        self,
        user_id: int,
        incoming: IncomingFile,
        *,
        kind: str | None = None,
        caption: str | None = None,
        attributes: dict[str, Any] | None = None,
        changes: ProfileChanges | None = None,
    ) -> dict[str, Any]:
        chosen, content, file_id = self._store_upload(incoming, kind, attributes or {})
        chat = self.user(user_id, changes)
        self._unblock_if_needed(chat)
        if caption:
            content["caption"] = caption
        message = self._incoming(
            chat, content, media_kind=chosen, file_id=file_id, source_text=caption
        )
        record = self._publish_message(chat, message)
        return {
            **delivery_json(record),
            "message_id": message.message_id,
            "file_id": file_id,
            "kind": chosen,
        }

    def send_album(
        self,
        user_id: int,
        items: list[IncomingFile],
        *,
        kind: str | None = None,
        caption: str | None = None,
        changes: ProfileChanges | None = None,
    ) -> dict[str, Any]:
        """2–10 files as one album: a message (and an update) each, one media_group_id, the
        caption on the first only, as in the message_media_group fixtures."""
        if not 2 <= len(items) <= 10:
            raise UserActionError(400, "an album has 2 to 10 files")
        stored = [self._store_upload(item, kind, {}) for item in items]
        kinds = {chosen for chosen, _, _ in stored}
        if not (kinds <= {"photo", "video"} or len(kinds) == 1):
            raise UserActionError(400, "an album mixes only photos and videos")
        chat = self.user(user_id, changes)
        self._unblock_if_needed(chat)
        group_id = self.api.next_media_group_id()
        results: list[dict[str, Any]] = []
        for index, (chosen, content, file_id) in enumerate(stored):
            if caption and index == 0:
                content["caption"] = caption
            message = self._incoming(
                chat,
                content,
                media_kind=chosen,
                file_id=file_id,
                media_group_id=group_id,
                source_text=caption if index == 0 else None,
            )
            record = self._publish_message(chat, message)
            results.append(
                {**delivery_json(record), "message_id": message.message_id, "file_id": file_id}
            )
        return {"media_group_id": group_id, "messages": results}

    def press(
        self, user_id: int, message_id: int, button: str, *, inaccessible: bool = False
    ) -> dict[str, Any]:
        """A callback_query for that button. `inaccessible` plays a button under a message
        Telegram no longer shows the bot (deleted, or too old): the update then carries an
        InaccessibleMessage, {message_id, chat, date: 0}, as in callback_query_inaccessible."""
        chat = self._existing(user_id)
        with self.state.lock:
            message = chat.messages.get(message_id)
            if message is None or message.direction != "out":
                raise UserActionError(404, f"no bot message {message_id} in this chat")
            if message.deleted and not inaccessible:
                raise UserActionError(404, f"message {message_id} was deleted")
            markup = message.reply_markup or {}
            found = None
            for row in markup.get("inline_keyboard", []):
                for candidate in row:
                    if button in (candidate.get("text"), candidate.get("callback_data")):
                        found = candidate
                        break
                if found is not None:
                    break
            if found is None:
                raise UserActionError(400, f"message {message_id} has no button {button!r}")
            data = found.get("callback_data")
            if data is None:
                raise UserActionError(400, f"button {button!r} has no callback_data")
            query = CallbackQueryRecord(new_query_id(), user_id, message_id, data, time.time())
            self.state.callback_queries[query.id] = query
            if inaccessible:
                snapshot = {
                    "message_id": message.message_id,
                    "chat": chat.profile.chat_json(),
                    "date": 0,
                }
            else:
                snapshot = message_json(message, chat, self.knobs.bot_user())
        payload = callback_query_json(query.id, chat, snapshot, data)
        record = self.bus.publish(user_id, "callback_query", payload, wait=True)
        return {
            **delivery_json(record),
            "callback_query_id": query.id,
            "answered": query.answered,
            "answer": query.answer if query.answered else None,
        }

    def pay(self, user_id: int, message_id: int, email: str | None = None) -> dict[str, Any]:
        chat = self._existing(user_id)
        with self.state.lock:
            message = chat.messages.get(message_id)
            invoice = message.content.get("invoice") if message and not message.deleted else None
            if message is None or invoice is None:
                raise UserActionError(404, f"message {message_id} is not an invoice")
            if message.extra.get("paid"):
                raise UserActionError(409, f"invoice {message_id} is already paid")
            payload_text = str(message.extra.get("payload", ""))
            needs = message.extra.get("needs", {})
        order_info = (
            {"email": email or f"user{user_id}@example.com"} if needs.get("need_email") else None
        )
        query = PreCheckoutRecord(new_query_id(), user_id, message_id, time.time())
        with self.state.lock:
            self.state.pre_checkouts[query.id] = query
        pre_checkout = pre_checkout_query_json(
            query.id, chat, invoice["currency"], invoice["total_amount"], payload_text, order_info
        )
        first = self.bus.publish(user_id, "pre_checkout_query", pre_checkout, wait=True)
        # The 10 s run from when the query was sent, not from when the webhook answered.
        remaining = self.knobs.pre_checkout_timeout_s - (time.time() - query.created_at)
        answered = query.answered.wait(timeout=max(remaining, 0.0))
        result: dict[str, Any] = {
            "pre_checkout_query_id": query.id,
            "pre_checkout": delivery_json(first),
            "paid": False,
        }
        if not answered or not query.ok:
            with self.state.lock:
                # A late answer must find the query gone, as Telegram's would be.
                self.state.pre_checkouts.pop(query.id, None)
            result["error_message"] = query.error_message if answered else "timeout"
            return result
        number = self.state.next_stars_charge_number(user_id)
        telegram_charge, provider_charge = new_charge_ids(invoice["currency"], user_id, number)
        payment: dict[str, Any] = {
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": payload_text,
        }
        if order_info:
            payment["order_info"] = order_info
        payment["telegram_payment_charge_id"] = telegram_charge
        payment["provider_payment_charge_id"] = provider_charge
        with self.state.lock:
            message.extra["paid"] = True
            self.state.touch(chat)
            self.state.charges[telegram_charge] = ChargeRecord(
                telegram_charge,
                user_id,
                invoice["currency"],
                invoice["total_amount"],
                payload_text,
                provider_charge,
            )
        paid_message = self._incoming(chat, {"successful_payment": payment})
        second = self._publish_message(chat, paid_message)
        result.update(
            paid=True,
            successful_payment=delivery_json(second),
            message_id=paid_message.message_id,
            telegram_payment_charge_id=telegram_charge,
            provider_payment_charge_id=provider_charge,
        )
        return result

    def block(self, user_id: int) -> dict[str, Any]:
        chat = self._existing(user_id)
        with self.state.lock:
            if chat.blocked:
                raise UserActionError(409, f"user {user_id} has already blocked the bot")
            chat.blocked = True
            self.state.touch(chat)
        payload = my_chat_member_json(chat, self.knobs.bot_user(), unix_now(), blocked=True)
        record = self.bus.publish(user_id, "my_chat_member", payload, wait=True)
        return delivery_json(record)

    def unblock(self, user_id: int) -> dict[str, Any]:
        chat = self._existing(user_id)
        if not chat.blocked:
            raise UserActionError(409, f"user {user_id} has not blocked the bot")
        with self.state.lock:
            chat.blocked = False
            self.state.touch(chat)
        payload = my_chat_member_json(chat, self.knobs.bot_user(), unix_now(), blocked=False)
        return delivery_json(self.bus.publish(user_id, "my_chat_member", payload, wait=True))

    # --- reading --------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [
                {
                    **chat.profile.user_json(),
                    "blocked": chat.blocked,
                    "messages": len(chat.messages),
                }
                for chat in self.state.chats.values()
            ]

    def chat_view(
        self, user_id: int, files_url: str, *, after: int | None = None, wait_s: float = 0
    ) -> dict[str, Any]:
        """The chat; with `after`, first waits up to `wait_s` for a revision past it."""
        chat = self._existing(user_id)
        with self.state.lock:
            if after is not None and wait_s > 0:
                chat.changed.wait_for(lambda: chat.revision > after, timeout=wait_s)
            messages = [
                _message_view(message, files_url, self.files) for message in chat.messages.values()
            ]
            return {
                "user": chat.profile.user_json(),
                "blocked": chat.blocked,
                "revision": chat.revision,
                "messages": messages,
            }


def _message_view(message: StoredMessage, files_url: str, files: FileStore) -> dict[str, Any]:
    content = message.content
    view: dict[str, Any] = {
        "message_id": message.message_id,
        "direction": message.direction,
        "date": message.date,
        "edit_count": message.edit_count,
        "edit_date": message.edit_date,
        "deleted": message.deleted,
    }
    if "text" in content:
        view["text"] = content["text"]
        view["entities"] = content.get("entities", [])
    if "caption" in content:
        view["caption"] = content["caption"]
        view["entities"] = content.get("caption_entities", [])
    if message.parse_mode:
        view["parse_mode"] = message.parse_mode
        view["source_text"] = message.source_text
    if message.media_kind and message.file_id:
        stored = files.get(message.file_id)
        view["media"] = {
            "kind": message.media_kind,
            "file_id": message.file_id,
            "url": f"{files_url}/{message.file_id}",
            "file_name": stored.file_name if stored else None,
            "mime_type": stored.mime_type if stored else None,
            "file_size": stored.file_size if stored else None,
        }
    if message.media_group_id:
        view["media_group_id"] = message.media_group_id
    if message.reply_markup:
        view["keyboard"] = [
            [
                {
                    key: button[key]
                    for key in ("text", "callback_data", "url", "pay")
                    if key in button
                }
                for button in row
            ]
            for row in message.reply_markup.get("inline_keyboard", [])
        ]
    if "invoice" in content:
        view["invoice"] = {
            **content["invoice"],
            "payload": message.extra.get("payload"),
            "prices": message.extra.get("prices"),
            "paid": bool(message.extra.get("paid")),
        }
    for service in ("successful_payment", "refunded_payment"):
        if service in content:
            view[service] = content[service]
    return view
