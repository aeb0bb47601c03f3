"""Long polling (make run with a real token) against the Bot API emulator: updates reach
the same handlers as the webhook's, each once, and the offset moves past them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.job_stack import BOT_TOKEN
from scripts.telegram_emulator.server import TelegramEmulator
from scripts.telegram_polling import Poller, PollingError
from shared.adapters.db import Database
from shared.config import load_settings
from tests.conftest import DatabaseFactory
from tests.ids import new_telegram_id


@pytest.fixture(scope="module")
def emulator() -> Iterator[TelegramEmulator]:
    telegram = TelegramEmulator(token=BOT_TOKEN)
    telegram.start()
    yield telegram
    telegram.stop()


@pytest.fixture(scope="module")
def polling_db(make_test_database: DatabaseFactory) -> Iterator[Database]:
    db = make_test_database(max_size=4)
    yield db
    db.close()


def poller_for(emulator: TelegramEmulator, db: Database, token: str = BOT_TOKEN) -> Poller:
    settings = load_settings(
        _env_file=None, telegram_bot_token=token, telegram_api_base=emulator.base_url
    )
    return Poller(settings, db, poll_timeout_s=0)


def replies(emulator: TelegramEmulator, user_id: int) -> list[str]:
    chat = emulator.chat(user_id)["messages"]
    return [m.get("text") or "" for m in chat if m["direction"] == "out"]


def test_polled_updates_reach_the_handlers_once(
    emulator: TelegramEmulator, polling_db: Database
) -> None:
    poller = poller_for(emulator, polling_db)
    try:
        poller.start()
        user_id = new_telegram_id()
        emulator.send_text(user_id, "/start")
        emulator.send_text(user_id, "/paysupport")
        assert poller.poll_once() == 2
        texts = replies(emulator, user_id)
        assert len(texts) == 2 and "Вопросы об оплате" in texts[1]
        assert poller.poll_once() == 0  # the offset moved: nothing comes twice
        assert replies(emulator, user_id) == texts
        done = polling_db.run("SELECT count(*) FROM processed_updates WHERE status = 'done'")
        assert done == [[2]]
    finally:
        poller.close()


def test_a_wrong_token_stops_polling_with_a_clear_error(
    emulator: TelegramEmulator, polling_db: Database
) -> None:
    poller = poller_for(emulator, polling_db, token="123456:AAAwrong-token-for-the-emulator")
    try:
        with pytest.raises(PollingError, match="TELEGRAM_BOT_TOKEN"):
            poller.start()
    finally:
        poller.close()
