"""Messages per second per user: a token bucket in Postgres shared by every instance.
Its own stack, with a small bucket (3 at once, one more every 5 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.job_stack import Stack, job_stack
from tests.conftest import DatabaseFactory
from tests.e2e.test_journey import bot_messages, last_bot_message
from tests.ids import new_telegram_id

SLOW_DOWN = "Слишком много сообщений подряд. Подождите пару секунд — и продолжим."


@pytest.fixture(scope="module")
def stack(make_test_database: DatabaseFactory, pg_server_url: str) -> Iterator[Stack]:
    db = make_test_database(max_size=8)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    limits = {"USER_RATE_BURST": "3", "USER_RATE_PER_S": "0.2"}
    with job_stack(db, url, function_env_extra=limits, seed=13, delay_s=0.2) as running:
        yield running


def test_a_flood_is_told_once_to_slow_down_and_presses_are_still_answered(stack: Stack) -> None:
    user_id = new_telegram_id()
    for _ in range(6):
        stack.telegram.send_text(user_id, "/menu")
    texts = [m["text"] for m in bot_messages(stack, user_id)]
    # Three menus (the bucket), then one friendly line for the whole streak, then silence.
    assert texts[:3] == [texts[0]] * 3 and texts[0].startswith("Что создаём?")
    assert texts[3:] == [SLOW_DOWN]
    menu = bot_messages(stack, user_id)[0]
    answer = stack.telegram.press(user_id, menu["message_id"], "💳 Баланс")
    assert answer["answered"] is True and answer["answer"]["text"] == SLOW_DOWN
    assert last_bot_message(stack, user_id)["text"] == SLOW_DOWN  # the press did nothing else
    row = stack.db.run(
        "SELECT allowed, warned_at IS NOT NULL FROM user_rate WHERE telegram_id = :t", t=user_id
    )
    assert row == [[False, True]]


def test_another_user_is_not_slowed_down_by_someone_elses_flood(stack: Stack) -> None:
    flooder, other = new_telegram_id(), new_telegram_id()
    for _ in range(5):
        stack.telegram.send_text(flooder, "/menu")
    stack.telegram.send_text(other, "/menu")
    assert last_bot_message(stack, other)["text"].startswith("Что создаём?")


def test_the_bucket_refills_with_time(stack: Stack) -> None:
    user_id = new_telegram_id()
    for _ in range(4):
        stack.telegram.send_text(user_id, "/menu")
    assert last_bot_message(stack, user_id)["text"] == SLOW_DOWN
    # 5 s later one token is back: as if 5 s passed, by moving the last refill back.
    stack.db.run(
        "UPDATE user_rate SET refilled_at = refilled_at - interval '5 seconds' "
        "WHERE telegram_id = :t",
        t=user_id,
    )
    stack.telegram.send_text(user_id, "/menu")
    assert last_bot_message(stack, user_id)["text"].startswith("Что создаём?")
    stack.telegram.send_text(user_id, "/menu")  # empty again: a new streak, told again
    assert last_bot_message(stack, user_id)["text"] == SLOW_DOWN
    assert [m["text"] for m in bot_messages(stack, user_id)].count(SLOW_DOWN) == 2
