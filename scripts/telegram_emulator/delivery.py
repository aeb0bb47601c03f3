"""Getting updates to the bot: the webhook (in order per chat, retried) or the getUpdates queue.

Telegram sends a chat's next update only after the previous one was answered, and repeats an
update on any non-2XX answer (tdlib/telegram-bot-api WebhookActor). Each chat here has a ticket
line: an update takes its ticket when it is built, and is sent when every earlier ticket of its
chat is done, by the thread that asked (a user API call waits for the answer) or a helper
thread (updates the bot causes itself, such as a refund's service message).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from scripts.telegram_emulator.updates import encode_update

# Kinds a webhook gets when allowed_updates is empty or unset (Bot API setWebhook).
DEFAULT_EXCLUDED_KINDS = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class DeliveryAttempt:
    attempt: int
    at: float
    status: int | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "at": self.at, "status": self.status, "error": self.error}


@dataclass
class UpdateRecord:
    update_id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    delivered: bool = False
    dropped: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def update_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.payload}

    def summary(self) -> dict[str, Any]:
        return {
            "update_id": self.update_id,
            "chat_id": self.chat_id,
            "kind": self.kind,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "attempts": [a.as_json() for a in self.attempts],
        }

    @property
    def last_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: tuple[str, ...] | None
    # max_connections: at most this many requests to the webhook at once, across chats.
    connections: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(40), compare=False
    )

    @classmethod
    def create(
        cls,
        url: str,
        secret_token: str | None,
        max_connections: int,
        allowed_updates: tuple[str, ...] | None,
    ) -> WebhookSettings:
        return cls(
            url,
            secret_token,
            max_connections,
            allowed_updates,
            threading.BoundedSemaphore(max_connections),
        )


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    first_delay_s: float
    timeout_s: float


class _TicketLine:
    """FIFO turns for one chat: take() when the update is built, wait_turn() before sending."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next = 0
        self._serving = 0

    def take(self) -> int:
        with self._condition:
            ticket = self._next
            self._next += 1
            return ticket

    def wait_turn(self, ticket: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._serving == ticket)

    def finish(self) -> None:
        with self._condition:
            self._serving += 1
            self._condition.notify_all()


class UpdateBus:
    def __init__(self, policy: Callable[[], RetryPolicy], first_update_id: int) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._next_update_id = first_update_id
        self._lines: dict[int, _TicketLine] = {}
        self.records: list[UpdateRecord] = []
        self.webhook: WebhookSettings | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self._in_flight = 0
        self._queue: deque[UpdateRecord] = deque()
        self._queue_ready = threading.Condition(self._lock)
        self._client: httpx.Client | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._client = httpx.Client()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._queue_ready.notify_all()
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- publishing -----------------------------------------------------------------------

    def publish(
        self, chat_id: int, kind: str, payload: dict[str, Any], *, wait: bool
    ) -> UpdateRecord:
        """Number the update and deliver it: now, in this thread (wait) or on a helper thread."""
        with self._lock:
            record = UpdateRecord(self._next_update_id, chat_id, kind, payload)
            self._next_update_id += 1
            self.records.append(record)
            line = self._lines.setdefault(chat_id, _TicketLine())
            ticket = line.take()
        if wait:
            self._deliver_in_turn(line, ticket, record)
        else:
            threading.Thread(
                target=self._deliver_in_turn,
                args=(line, ticket, record),
                name=f"tg-emulator-update-{record.update_id}",
                daemon=True,
            ).start()
        return record

    def _deliver_in_turn(self, line: _TicketLine, ticket: int, record: UpdateRecord) -> None:
        line.wait_turn(ticket)
        try:
            webhook = self.webhook
            if webhook is None:
                with self._lock:
                    self._queue.append(record)
                    self._queue_ready.notify_all()
                return
            if not _allowed(record.kind, webhook.allowed_updates):
                record.dropped = True
                return
            self._send_with_retries(webhook, record)
        finally:
            record.done.set()
            line.finish()

    def _send_with_retries(self, webhook: WebhookSettings, record: UpdateRecord) -> None:
        body = encode_update(record.update_id, record.kind, record.payload)
        headers = {"Content-Type": "application/json"}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        policy = self._policy()
        with self._lock:
            self._in_flight += 1
        try:
            for attempt in range(1, policy.max_attempts + 1):
                if attempt > 2:
                    # The server retries at once, then waits 2, 4, 8 … s (scaled here).
                    time.sleep(policy.first_delay_s * 2 ** (attempt - 3))
                with webhook.connections:
                    status, error = self._post(webhook.url, body, headers, policy.timeout_s)
                record.attempts.append(DeliveryAttempt(attempt, time.time(), status, error))
                if status is not None and 200 <= status < 300:
                    record.delivered = True
                    return
                self.last_error_date = int(time.time())
                self.last_error_message = error or f"Wrong response from the webhook: {status}"
                if self._stopping:
                    break
            record.dropped = True
        finally:
            with self._lock:
                self._in_flight -= 1

    def _post(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int | None, str | None]:
        client = self._client
        if client is None:
            return None, "emulator stopped"
        try:
            response = client.post(url, content=body, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as failure:
            return None, f"{type(failure).__name__}: {failure}"
        return response.status_code, None

    # --- getUpdates -----------------------------------------------------------------------

    def take_updates(
        self, offset: int | None, limit: int, timeout_s: float, allowed: tuple[str, ...] | None
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if offset is not None:
                    # An offset confirms every update below it: they are never returned again.
                    while self._queue and self._queue[0].update_id < offset:
                        self._queue.popleft()
                ready = [r for r in self._queue if _allowed(r.kind, allowed)][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._stopping:
                    return [r.update_json() for r in ready]
                self._queue_ready.wait(timeout=remaining)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._queue) + self._in_flight

    def drop_pending(self) -> None:
        with self._lock:
            self._queue.clear()

    def summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self.records)
        return [record.summary() for record in records]


def _allowed(kind: str, allowed: tuple[str, ...] | None) -> bool:
    if not allowed:
        return kind not in DEFAULT_EXCLUDED_KINDS
    return kind in allowed
