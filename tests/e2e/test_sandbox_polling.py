"""`make run` with a bot token: the same product by long polling, no emulator page. The
"real Telegram" here is the Bot API emulator on a port of its own, reached exactly as
api.telegram.org would be (TELEGRAM_API_BASE); then Ctrl-C leaves no process behind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.job_stack import BOT_TOKEN
from scripts.telegram_emulator.server import TelegramEmulator
from tests.e2e.sandbox_process import processes_of, run_sandbox
from tests.ids import new_telegram_id


def replies(telegram: TelegramEmulator, user_id: int) -> list[dict[str, Any]]:
    return [m for m in telegram.chat(user_id)["messages"] if m["direction"] == "out"]


def test_a_real_bot_token_runs_the_bot_by_long_polling(tmp_path: Path) -> None:
    telegram = TelegramEmulator(token=BOT_TOKEN)
    api_base = telegram.start()
    local_dir = tmp_path / "sandbox"
    try:
        env = {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_BASE": api_base}
        with run_sandbox(local_dir, env) as sandbox:
            assert "by long polling" in "".join(sandbox.output)
            with pytest.raises(httpx.ConnectError):  # no emulator, so no chat page either
                httpx.get(f"{sandbox.url}/", timeout=5)
            user_id = new_telegram_id()
            telegram.send_text(user_id, "/start")
            deadline = time.monotonic() + 60
            while not replies(telegram, user_id):
                assert time.monotonic() < deadline, "no answer by polling"
                time.sleep(0.2)
            assert "Здравствуйте" in str(replies(telegram, user_id)[0].get("text"))
            commands = [c.method for c in telegram.calls("setMyCommands")]
            assert len(commands) == 2  # ru (default) and en
            assert telegram.calls("getUpdates")
            assert not telegram.calls("setWebhook")
        deadline = time.monotonic() + 15
        while processes_of(local_dir):
            assert time.monotonic() < deadline, f"left behind: {processes_of(local_dir)}"
            time.sleep(0.2)
    finally:
        telegram.stop()
