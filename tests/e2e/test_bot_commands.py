"""The bot's command menu per language: scripts/set_webhook.py sets it, the emulator keeps it
per language_code as Telegram does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scripts.telegram_emulator import TelegramEmulator
from shared.bot.commands import COMMANDS
from tests.e2e.test_set_webhook import TOKEN, run


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    telegram = TelegramEmulator(token=TOKEN)
    base = telegram.start()
    yield base
    telegram.stop()


def commands(base: str, **params: str) -> list[dict[str, str]]:
    answer = httpx.post(f"{base}/bot{TOKEN}/getMyCommands", json=params, timeout=10).json()
    assert answer["ok"], answer
    result: list[dict[str, str]] = answer["result"]
    return result


def test_set_webhook_sets_the_command_menu_in_russian_and_english(emulator: str) -> None:
    assert commands(emulator) == []
    done = run(
        emulator,
        TELEGRAM_WEBHOOK_URL="https://fn.example.com/telegram_webhook",
        TELEGRAM_WEBHOOK_SECRET="s3cret_Token-1",
    )
    assert done.returncode == 0, done.stderr
    assert "commands set for default, en" in done.stdout
    russian, english = commands(emulator), commands(emulator, language_code="en")
    assert [c["command"] for c in russian] == list(COMMANDS) == [c["command"] for c in english]
    assert russian[0]["description"] == "Начать сначала"
    assert english[0]["description"] == "Start over"
    # getMyCommands answers what is stored for that language only (as Telegram does);
    # clients in other languages are shown the default list.
    assert commands(emulator, language_code="de") == []


def test_the_emulator_refuses_a_command_telegram_would_refuse(emulator: str) -> None:
    bad = httpx.post(
        f"{emulator}/bot{TOKEN}/setMyCommands",
        json={"commands": [{"command": "Bad Command", "description": "x"}]},
        timeout=10,
    )
    assert bad.status_code == 400 and bad.json()["ok"] is False
    deleted = httpx.post(f"{emulator}/bot{TOKEN}/deleteMyCommands", json={}, timeout=10)
    assert deleted.json() == {"ok": True, "result": True}
    assert commands(emulator) == []
