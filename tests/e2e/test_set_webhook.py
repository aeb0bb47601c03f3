"""scripts/set_webhook.py as ops run it, against the Bot API emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.telegram_emulator import TelegramEmulator

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "7903518264:AAHxQ9c2-vZ1kP0rT4m8Yb3nW6sLe5dUf7g"


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    telegram = TelegramEmulator(token=TOKEN)
    base = telegram.start()
    yield base
    telegram.stop()


def run(base: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")},
        "TELEGRAM_API_BASE": base,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "scripts.set_webhook", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_set_show_and_delete_the_webhook(emulator: str) -> None:
    url = "https://fn.example.com/telegram_webhook"
    done = run(emulator, TELEGRAM_WEBHOOK_URL=url, TELEGRAM_WEBHOOK_SECRET="s3cret_Token-1")
    assert done.returncode == 0, done.stderr
    assert f"url: {url}" in done.stdout
    assert "allowed updates: message, callback_query, pre_checkout_query, my_chat_member" in (
        done.stdout
    )
    assert TOKEN.split(":")[1] not in done.stdout + done.stderr  # the token is never printed
    shown = run(emulator, "--info")
    assert f"url: {url}" in shown.stdout
    deleted = run(emulator, "--delete", "--drop")
    assert "webhook deleted, pending updates dropped" in deleted.stdout
    assert "url: (none)" in deleted.stdout


def test_setting_without_a_secret_is_refused(emulator: str) -> None:
    refused = run(emulator, TELEGRAM_WEBHOOK_URL="https://fn.example.com/telegram_webhook")
    assert refused.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in refused.stderr
