"""What the emulator remembers: users and their private chats, messages, queries and payments.

One lock guards it all: every operation is a few dict updates, and webhook delivery (the slow
part) never runs under it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["in", "out"]


@dataclass
class UserProfile:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False

    def user_json(self) -> dict[str, Any]:
        # Field order of the server's JsonUser: id, is_bot, first_name, last_name, username,
        # language_code, is_premium.
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        if self.is_premium:
            user["is_premium"] = True
        return user

    def chat_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        chat["type"] = "private"
        return chat


@dataclass
class StoredMessage:
    message_id: int
    chat_id: int
    direction: Direction
    date: int
    content: dict[str, Any]  # text/entities, photo/caption, invoice, successful_payment, …
    reply_markup: dict[str, Any] | None = None
    media_group_id: str | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False
    parse_mode: str | None = None
    source_text: str | None = None  # text or caption as the bot sent it, before parsing
    media_kind: str | None = None
    file_id: str | None = None  # the file behind the media (the largest photo size)
    extra: dict[str, Any] = field(default_factory=dict)  # the invoice's prices, etc.


@dataclass
class Chat:
    profile: UserProfile
    # On the state's lock; its own, so a change wakes only those polling this chat.
    changed: threading.Condition
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    blocked: bool = False
    revision: int = 0  # bumped by any change a chat view shows (long polling)
    recent_sends: deque[float] = field(default_factory=deque)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    message_id: int
    data: str
    created_at: float
    answered: bool = False
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreCheckoutRecord:
    id: str
    user_id: int
    message_id: int
    created_at: float
    answered: threading.Event = field(default_factory=threading.Event)
    ok: bool | None = None
    error_message: str | None = None


@dataclass
class ChargeRecord:
    telegram_payment_charge_id: str
    user_id: int
    currency: str
    total_amount: int
    invoice_payload: str
    provider_payment_charge_id: str
    refunded: bool = False


@dataclass
class CallRecord:
    method: str
    params: dict[str, Any]
    at: float
    ok: bool
    error_code: int | None = None
    description: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "params": self.params,
            "at": self.at,
            "ok": self.ok,
            "error_code": self.error_code,
            "description": self.description,
        }


class EmulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.chats: dict[int, Chat] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.pre_checkouts: dict[str, PreCheckoutRecord] = {}
        self.charges: dict[str, ChargeRecord] = {}
        self.calls: list[CallRecord] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.chat_actions: list[dict[str, Any]] = []
        self._stars_charges_per_user: dict[int, int] = {}

    def ensure_chat(self, profile: UserProfile) -> Chat:
        """The user's chat, created on first contact; later contacts refresh the profile."""
        with self.lock:
            chat = self.chats.get(profile.id)
            if chat is None:
                chat = Chat(profile, threading.Condition(self.lock))
                self.chats[profile.id] = chat
            elif chat.profile != profile:
                chat.profile = profile
                self.touch(chat)
            return chat

    def touch(self, chat: Chat) -> None:
        """Something `chat`'s view shows changed (a message, the profile, blocked): wake
        whoever polls that chat."""
        with self.lock:
            chat.revision += 1
            chat.changed.notify_all()

    def chat(self, chat_id: int) -> Chat | None:
        with self.lock:
            return self.chats.get(chat_id)

    def record_call(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def next_stars_charge_number(self, user_id: int) -> int:
        with self.lock:
            number = self._stars_charges_per_user.get(user_id, 0) + 1
            self._stars_charges_per_user[user_id] = number
            return number


def unix_now() -> int:
    return int(time.time())
