"""telegram_webhook over HTTP: served by functions-framework in its own process, real
Postgres, and a Bot API recorder on loopback that answers as Telegram does.

The recorder stands in for the Bot API emulator (scripts/telegram_emulator), which
was not committed when these tests were written; it answers getMe and sendMessage
with Telegram's envelope and records what the bot sent.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.adapters.db import Database
from shared.local_ports import free_port
from tests.conftest import DatabaseFactory
from tests.ids import new_telegram_id

ROOT = Path(__file__).resolve().parents[2]
UPDATES = ROOT / "tests" / "fixtures" / "telegram" / "updates"
BOT_ID = 7903518264  # the bot of the fixtures
TOKEN = f"{BOT_ID}:AAHk2vQe7sX-test-token-for-the-recorder"
SECRET = "webhook-secret_" + secrets.token_hex(8)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ATTEMPTS_MAX = 3
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "AI Студия",
    "username": "ai_studio_demo_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class BotApiRecorder:
    """A Bot API server for the methods these updates need, in Telegram's envelope."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused_chats: set[int] = field(default_factory=set)
    _message_id: int = 90_000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        prefix, _, method = request.path.lstrip("/").partition("/")
        if prefix != f"bot{TOKEN}":
            return self._error(404, "Not Found")(environ, start_response)
        fields = dict(request.form.items())
        with self._lock:
            self.calls.append((method, fields))
            self._message_id += 1
            message_id = self._message_id
        if method == "getMe":
            return self._ok(BOT_USER)(environ, start_response)
        if method in ("answerCallbackQuery", "answerPreCheckoutQuery"):
            return self._ok(True)(environ, start_response)
        if method == "sendMessage":
            chat_id = int(fields["chat_id"])
            if chat_id in self.refused_chats:
                return self._error(400, "Bad Request: chat not found")(environ, start_response)
            chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
            if chat_id < 0:
                chat["title"] = "group"
            message = {
                "message_id": message_id,
                "from": BOT_USER,
                "chat": chat,
                "date": int(time.time()),
                "text": fields["text"],
            }
            return self._ok(message)(environ, start_response)
        return self._error(404, "Not Found: method not found")(environ, start_response)

    def sent_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [
                f["text"]
                for method, f in self.calls
                if method == "sendMessage" and int(f["chat_id"]) == chat_id
            ]

    @staticmethod
    def _ok(result: object) -> Response:
        return Response(
            json.dumps({"ok": True, "result": result}), 200, mimetype="application/json"
        )

    @staticmethod
    def _error(code: int, description: str) -> Response:
        body = {"ok": False, "error_code": code, "description": description}
        return Response(json.dumps(body), code, mimetype="application/json")


@dataclass
class Webhook:
    url: str
    db: Database
    recorder: BotApiRecorder

    def post(self, body: bytes, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return httpx.post(self.url, content=body, headers=headers, timeout=30)

    def post_update(self, update: dict[str, Any]) -> httpx.Response:
        return self.post(json.dumps(update).encode())

    def counts(self) -> tuple[int, int, int]:
        row = self.db.run(
            "SELECT (SELECT count(*) FROM processed_updates), (SELECT count(*) FROM ui_state), "
            "(SELECT count(*) FROM users)"
        )[0]
        return int(row[0]), int(row[1]), int(row[2])

    def update_row(self, update_id: int) -> tuple[str, int, int | None, str | None]:
        rows = self.db.run(
            "SELECT status, attempts, chat_id, last_error FROM processed_updates "
            "WHERE bot_id = :bot_id AND update_id = :update_id",
            bot_id=BOT_ID,
            update_id=update_id,
        )
        assert len(rows) == 1, rows
        status, attempts, chat_id, last_error = rows[0]
        return status, attempts, chat_id, last_error


def _wait_first_response(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the webhook exited with {process.returncode}"
        try:
            # No secret: answered 401 and nothing written, so a safe probe.
            httpx.post(url, content=b"{}", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the webhook did not answer in time")


@pytest.fixture(scope="module")
def webhook(make_test_database: DatabaseFactory, pg_server_url: str) -> Iterator[Webhook]:
    db = make_test_database(max_size=4)
    database_url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    recorder = BotApiRecorder()
    api = make_server("127.0.0.1", 0, recorder, threaded=True)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TELEGRAM_"))}
    env.update(
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=f"http://127.0.0.1:{api.server_port}",
        UPDATE_ATTEMPTS_MAX=str(ATTEMPTS_MAX),
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "functions_framework", "--target", "telegram_webhook"),
            *("--source", str(ROOT / "functions" / "telegram_webhook.py")),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_first_response(url, process, timeout_s=60)
        yield Webhook(url, db, recorder)
    finally:
        process.terminate()
        process.wait(timeout=10)
        api.shutdown()
        db.close()


def fixture_paths() -> list[Path]:
    return sorted(UPDATES.glob("*.json"))


def start_update(
    text: str = "/start", *, language_code: str = "ru", user_id: int | None = None
) -> dict[str, Any]:
    """A private-chat /start as Telegram builds it, from a fresh user and update id."""
    user = user_id or new_telegram_id()
    command_length = len(text.split(" ", 1)[0])
    return {
        "update_id": secrets.randbelow(2**40),
        "message": {
            "message_id": 1,
            "from": {
                "id": user,
                "is_bot": False,
                "first_name": "Test",
                "language_code": language_code,
            },
            "chat": {"id": user, "first_name": "Test", "type": "private"},
            "date": int(time.time()),
            "text": text,
            "entities": [{"offset": 0, "length": command_length, "type": "bot_command"}],
        },
    }


def test_the_fixtures_are_the_full_set() -> None:
    assert len(fixture_paths()) == 28


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
def test_a_missing_or_wrong_secret_is_refused_and_nothing_is_written(
    webhook: Webhook, secret: str | None
) -> None:
    before = webhook.counts()
    body = (UPDATES / "message_start.json").read_bytes()
    response = webhook.post(body, secret=secret)
    assert response.status_code == 401
    assert webhook.counts() == before


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"update"',
        b"42",
        b"null",
        b"{}",
        b'{"update_id": "x"}',
        b'{"update_id": 1.5}',
        b'{"update_id": -1, "message": null}',
        b'{"message": {"text": "/start"}}',
        b'{"update_id": 5, "message": {"message_id": 1}}',
    ],
)
def test_a_body_that_is_not_an_update_is_400_and_nothing_is_written(
    webhook: Webhook, body: bytes
) -> None:
    before = webhook.counts()
    response = webhook.post(body)
    assert response.status_code == 400, response.text
    assert webhook.counts() == before


def test_every_real_update_gets_a_2xx_and_is_recorded_done(webhook: Webhook) -> None:
    outcomes: dict[str, str] = {}
    for path in fixture_paths():
        body = path.read_bytes()  # byte for byte as Telegram sends it
        response = webhook.post(body)
        assert 200 <= response.status_code < 300, (path.name, response.text)
        outcomes[path.stem] = response.json()["outcome"]
        update_id = json.loads(body)["update_id"]
        assert webhook.update_row(update_id)[:2] == ("done", 1), path.name
    handled = {name for name, outcome in outcomes.items() if outcome == "handled"}
    assert handled == {
        "message_start",
        "message_start_deeplink",
        "message_group_text",
        "callback_query",  # a button from before: answered as expired
        "callback_query_inaccessible",
        "pre_checkout_query_stars",  # payloads we never issued: declined
        "pre_checkout_query_rub",
        "message_successful_payment_stars",  # unmatched: an alert, nothing credited
        "message_successful_payment_rub",
        # Private messages no screen waits for: a pointer to the menu, never silence.
        "message_text",
        "message_text_long",
        "message_command_unknown",
        "message_forwarded",
        "message_photo",
        "message_document_image",
        "message_document_pdf",
        "message_video",
        "message_audio",
        "message_voice",
        "message_sticker",
    }
    ignored = {
        "channel_post",
        "inline_query",
        "edited_message",
        "my_chat_member_blocked",
        "message_media_group_1",  # an album is not answered photo by photo
        "message_media_group_2",
    }
    assert {outcomes[name] for name in ignored} == {"ignored"}
    # Anna (6418327705) started in private twice, then in the group (with a getMe for
    # the @mention), then paid in Stars for a payload we never issued; her first link is
    # kept, but a referral counts only for a new user and an existing referrer.
    hint = "Я понимаю кнопки и команды."
    anna_all = webhook.recorder.sent_to(6418327705)
    assert any(text.startswith(hint) for text in anna_all)
    anna = [text for text in anna_all if not text.startswith(hint)]
    assert len(anna) == 3
    assert len(webhook.recorder.sent_to(-5093847261)) == 1
    assert "Приглашение учтено." not in anna[1]
    assert "не смогли сопоставить" in anna[2]
    declined = [f for m, f in webhook.recorder.calls if m == "answerPreCheckoutQuery"]
    assert [f.get("ok") for f in declined] == ["false", "false"]
    assert webhook.db.run("SELECT count(*) FROM ledger") == [[0]]
    rows = webhook.db.run(
        "SELECT start_payload, language FROM users WHERE telegram_id = 6418327705"
    )
    assert rows == [["ref_12345", "ru"]]
    chat_ids = webhook.db.run(
        "SELECT chat_id FROM processed_updates WHERE bot_id = :bot AND update_id = 571802268",
        bot=BOT_ID,
    )
    assert chat_ids == [[-1002241587930]]  # the channel post's chat


def test_an_update_kind_newer_than_aiogram_is_ignored_with_a_2xx(webhook: Webhook) -> None:
    update_id = secrets.randbelow(2**40)
    body = {"update_id": update_id, "future_kind": {"id": "1", "from": {"id": 1}}}
    response = webhook.post_update(body)
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
    assert webhook.update_row(update_id) == ("done", 1, None, None)


def test_a_duplicate_update_id_is_handled_once(webhook: Webhook) -> None:
    update = start_update()
    chat_id = update["message"]["chat"]["id"]
    first = webhook.post_update(update)
    second = webhook.post_update(update)
    assert (first.status_code, first.json()["outcome"]) == (200, "handled")
    assert (second.status_code, second.json()["outcome"]) == (200, "duplicate")
    assert len(webhook.recorder.sent_to(chat_id)) == 1
    assert webhook.update_row(update["update_id"]) == ("done", 1, chat_id, None)


def test_a_delivery_while_another_is_running_is_told_to_retry_later(webhook: Webhook) -> None:
    update = start_update()
    chat_id = update["message"]["chat"]["id"]
    # What a first delivery still inside its handler looks like.
    webhook.db.run(
        "INSERT INTO processed_updates (bot_id, update_id, chat_id) VALUES (:bot, :id, :chat)",
        bot=BOT_ID,
        id=update["update_id"],
        chat=chat_id,
    )
    response = webhook.post_update(update)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert webhook.recorder.sent_to(chat_id) == []
    assert webhook.update_row(update["update_id"])[:2] == ("processing", 1)


def test_start_greets_in_english_keeps_a_promo_and_resets_the_fsm(webhook: Webhook) -> None:
    update = start_update("/start promo_SPRING-25", language_code="en-GB")
    user_id = update["message"]["from"]["id"]
    key = f"{BOT_ID}:{user_id}:{user_id}:::default"
    webhook.db.run(
        "INSERT INTO ui_state (key, state, data, expires_at) "
        "VALUES (:key, 'wizard:prompt', '{\"model\": \"x\"}', now() + interval '1 hour')",
        key=key,
    )
    response = webhook.post_update(update)
    assert response.status_code == 200
    (text,) = webhook.recorder.sent_to(user_id)
    assert text.startswith("Hello, Test!")
    assert "There is no such promo code" in text  # redeemed at once; this one does not exist
    rows = webhook.db.run(
        "SELECT start_payload, language FROM users WHERE telegram_id = :id", id=user_id
    )
    assert rows == [["promo_SPRING-25", "en"]]
    state = webhook.db.run("SELECT state, data FROM ui_state WHERE key = :key", key=key)
    assert state == [[None, {}]]
    # A second /start greets a returning user, still in English.
    again = start_update("/start", language_code="en", user_id=user_id)
    assert webhook.post_update(again).status_code == 200
    assert webhook.recorder.sent_to(user_id)[1].startswith("Welcome back, Test!")


def test_a_failing_update_is_retried_then_dropped_and_the_chat_moves_on(
    webhook: Webhook,
) -> None:
    update = start_update()
    chat_id = update["message"]["chat"]["id"]
    webhook.recorder.refused_chats.add(chat_id)
    statuses = [webhook.post_update(update).status_code for _ in range(ATTEMPTS_MAX)]
    assert statuses == [500] * (ATTEMPTS_MAX - 1) + [200]
    status, attempts, _, last_error = webhook.update_row(update["update_id"])
    assert (status, attempts) == ("failed", ATTEMPTS_MAX)
    assert last_error is not None and "chat not found" in last_error
    # Telegram resending it once more changes nothing and calls nothing.
    calls = len(webhook.recorder.sent_to(chat_id))
    late = webhook.post_update(update)
    assert (late.status_code, late.json()["outcome"]) == (200, "dropped after repeated failures")
    assert len(webhook.recorder.sent_to(chat_id)) == calls == ATTEMPTS_MAX
    # The next update of that chat is handled as usual once the chat works again.
    webhook.recorder.refused_chats.discard(chat_id)
    user_id = update["message"]["from"]["id"]
    following = start_update(user_id=user_id)
    assert webhook.post_update(following).json()["outcome"] == "handled"


def test_a_successful_payment_that_keeps_failing_is_kept_and_credited_by_the_sweeper(
    webhook: Webhook,
) -> None:
    from shared.payments.service import PaymentPolicy, Payments
    from shared.services.ledger import Ledger
    from shared.services.users import open_account

    ledger = Ledger(webhook.db, default_hold_ttl_s=3600)
    payments = Payments(
        webhook.db, ledger, PaymentPolicy(10_000, 1_000_000, kopecks_per_star=130, ttl_s=600)
    )
    user_id = new_telegram_id()
    account = open_account(webhook.db, user_id)
    payment = payments.create(account.user_id, "stars", 30_000)
    update = start_update(user_id=user_id)
    message = update["message"]
    del message["text"], message["entities"]
    message["successful_payment"] = {
        "currency": "XTR",
        "total_amount": payment.invoice_amount,
        "invoice_payload": payment.payload,
        "telegram_payment_charge_id": f"stx-dead-letter-{user_id}",
        "provider_payment_charge_id": f"{user_id}_1",
    }
    # Every attempt fails inside the credit's transaction, so nothing is credited.
    webhook.db.run("ALTER TABLE payment_events RENAME TO payment_events_away")
    try:
        statuses = [webhook.post_update(update).status_code for _ in range(ATTEMPTS_MAX)]
    finally:
        webhook.db.run("ALTER TABLE payment_events_away RENAME TO payment_events")
    assert statuses == [500] * (ATTEMPTS_MAX - 1) + [200]
    assert ledger.balance(account.wallet_id).balance_kopecks == 0
    kept = webhook.db.run(
        "SELECT telegram_id, resolved_at FROM payment_dead_letters WHERE update_id = :u",
        u=update["update_id"],
    )
    assert kept == [[user_id, None]]
    assert payments.retry_dead_letters() == [f"update {update['update_id']}: credited"]
    assert ledger.balance(account.wallet_id).balance_kopecks == payment.amount_kopecks
    assert payments.retry_dead_letters() == []  # resolved: nothing twice
