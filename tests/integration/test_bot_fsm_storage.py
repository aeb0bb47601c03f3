"""One FSM storage contract for aiogram's MemoryStorage and our PostgresStorage; TTL for ours."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.db import Database
from shared.bot.fsm_storage import SWEEP_PER_WRITE, PostgresStorage, storage_key_text
from tests.ids import new_telegram_id

T = TypeVar("T")
TTL_S = 3600


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Wizard(StatesGroup):
    prompt = State()


def new_key(**changes: Any) -> StorageKey:
    user = new_telegram_id()
    return replace(StorageKey(bot_id=7903518264, chat_id=user, user_id=user), **changes)


@pytest.fixture(params=["memory", "postgres"])
def storage(request: pytest.FixtureRequest, db: Database) -> Iterator[BaseStorage]:
    backends: dict[str, Callable[[], BaseStorage]] = {
        "memory": MemoryStorage,
        "postgres": lambda: PostgresStorage(db, ttl_s=TTL_S),
    }
    made = backends[request.param]()
    yield made
    run(made.close())


def test_an_unknown_key_has_no_state_and_no_data(storage: BaseStorage) -> None:
    key = new_key()
    assert run(storage.get_state(key)) is None
    assert run(storage.get_data(key)) == {}


def test_set_and_get_state_by_string_and_by_state(storage: BaseStorage) -> None:
    key = new_key()
    run(storage.set_state(key, "menu:main"))
    assert run(storage.get_state(key)) == "menu:main"
    run(storage.set_state(key, Wizard.prompt))
    assert run(storage.get_state(key)) == "Wizard:prompt"
    run(storage.set_state(key, None))
    assert run(storage.get_state(key)) is None


def test_set_get_and_update_data(storage: BaseStorage) -> None:
    key = new_key()
    data = {"model": "veo3", "n": 2, "nested": {"ok": True, "list": [1, "два"]}}
    run(storage.set_data(key, data))
    assert run(storage.get_data(key)) == data
    merged = run(storage.update_data(key, {"n": 3, "prompt": "баннер"}))
    expected = {**data, "n": 3, "prompt": "баннер"}
    assert merged == expected
    assert run(storage.get_data(key)) == expected
    assert run(storage.get_value(key, "prompt")) == "баннер"
    assert run(storage.get_value(key, "missing", "fallback")) == "fallback"


def test_returned_data_is_a_copy(storage: BaseStorage) -> None:
    key = new_key()
    run(storage.set_data(key, {"a": 1}))
    run(storage.get_data(key))["a"] = 2
    assert run(storage.get_data(key)) == {"a": 1}


def test_state_and_data_are_independent(storage: BaseStorage) -> None:
    key = new_key()
    run(storage.set_state(key, "wizard:prompt"))
    run(storage.set_data(key, {"field": "prompt"}))
    run(storage.set_state(key, "wizard:summary"))
    assert run(storage.get_data(key)) == {"field": "prompt"}
    run(storage.set_data(key, {}))
    assert run(storage.get_state(key)) == "wizard:summary"


def test_clear_removes_state_and_data(storage: BaseStorage) -> None:
    key = new_key()
    run(storage.set_state(key, "wizard:prompt"))
    run(storage.set_data(key, {"field": "prompt"}))
    # What FSMContext.clear() does.
    run(storage.set_state(key, None))
    run(storage.set_data(key, {}))
    assert run(storage.get_state(key)) is None
    assert run(storage.get_data(key)) == {}


def test_update_data_on_an_unknown_key_starts_empty(storage: BaseStorage) -> None:
    key = new_key()
    assert run(storage.update_data(key, {"a": 1})) == {"a": 1}
    assert run(storage.get_state(key)) is None


def test_data_must_be_a_dict(storage: BaseStorage) -> None:
    with pytest.raises(DataNotDictLikeError):
        run(storage.set_data(new_key(), [("a", 1)]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field",
    ["bot_id", "chat_id", "user_id", "thread_id", "business_connection_id", "destiny"],
)
def test_keys_differing_in_one_field_are_isolated(storage: BaseStorage, field: str) -> None:
    key = new_key(thread_id=None)
    other_value: dict[str, Any] = {
        "bot_id": key.bot_id + 1,
        "chat_id": -key.chat_id,
        "user_id": key.user_id + 1,
        "thread_id": 77,
        "business_connection_id": "biz:1",
        "destiny": "album",
    }
    other = replace(key, **{field: other_value[field]})
    run(storage.set_state(key, "a"))
    run(storage.set_data(key, {"who": "a"}))
    run(storage.set_state(other, "b"))
    run(storage.set_data(other, {"who": "b"}))
    assert run(storage.get_state(key)) == "a"
    assert run(storage.get_data(key)) == {"who": "a"}
    assert run(storage.get_state(other)) == "b"
    assert run(storage.get_data(other)) == {"who": "b"}


def test_key_text_is_stable_and_cannot_collide_through_separators() -> None:
    key = StorageKey(bot_id=1, chat_id=-2, user_id=3, thread_id=4, business_connection_id="a:b")
    assert storage_key_text(key) == "1:-2:3:4:a%3Ab:default"
    # Without quoting, these two would share a row.
    left = StorageKey(bot_id=1, chat_id=2, user_id=3, business_connection_id="x:y", destiny="z")
    right = StorageKey(bot_id=1, chat_id=2, user_id=3, business_connection_id="x", destiny="y:z")
    assert storage_key_text(left) != storage_key_text(right)


# --- TTL (Postgres only) -------------------------------------------------------


def expire(db: Database, key: StorageKey) -> None:
    db.run(
        "UPDATE ui_state SET expires_at = now() - interval '1 second' WHERE key = :key",
        key=storage_key_text(key),
    )


def expires_in_s(db: Database, key: StorageKey) -> float:
    rows = db.run(
        "SELECT extract(epoch FROM expires_at - now())::float8 FROM ui_state WHERE key = :key",
        key=storage_key_text(key),
    )
    return float(rows[0][0])


def test_every_write_refreshes_the_expiry(db: Database) -> None:
    storage = PostgresStorage(db, ttl_s=TTL_S)
    key = new_key()
    run(storage.set_state(key, "a"))
    assert TTL_S - 5 < expires_in_s(db, key) <= TTL_S
    for write in (
        storage.set_state(key, "b"),
        storage.set_data(key, {"x": 1}),
        storage.update_data(key, {"y": 2}),
    ):
        db.run(
            "UPDATE ui_state SET expires_at = now() + interval '10 seconds' WHERE key = :key",
            key=storage_key_text(key),
        )
        run(write)
        assert TTL_S - 5 < expires_in_s(db, key) <= TTL_S


def test_an_expired_row_reads_as_empty_and_is_rewritten_from_empty(db: Database) -> None:
    storage = PostgresStorage(db, ttl_s=TTL_S)
    key = new_key()
    run(storage.set_state(key, "wizard:prompt"))
    run(storage.set_data(key, {"old": True}))
    expire(db, key)
    assert run(storage.get_state(key)) is None
    assert run(storage.get_data(key)) == {}
    run(storage.set_state(key, "menu"))
    assert run(storage.get_data(key)) == {}
    expire(db, key)
    assert run(storage.update_data(key, {"new": 1})) == {"new": 1}
    assert run(storage.get_state(key)) is None
    expire(db, key)
    run(storage.set_data(key, {"fresh": 1}))
    assert run(storage.get_state(key)) is None
    assert run(storage.get_data(key)) == {"fresh": 1}


def test_a_short_ttl_expires_for_real(db: Database) -> None:
    storage = PostgresStorage(db, ttl_s=1)
    key = new_key()
    run(storage.set_state(key, "a"))
    assert run(storage.get_state(key)) == "a"
    db.run("SELECT pg_sleep(1.1)")
    assert run(storage.get_state(key)) is None


def test_writes_remove_expired_rows_a_few_at_a_time(db: Database) -> None:
    storage = PostgresStorage(db, ttl_s=TTL_S)
    stale = [new_key() for _ in range(SWEEP_PER_WRITE * 2 + 1)]
    for key in stale:
        run(storage.set_state(key, "old"))
    # Older than anything another test leaves expired, so these go first.
    db.run(
        "UPDATE ui_state SET expires_at = now() - interval '100 years' WHERE key = ANY(:keys)",
        keys=[storage_key_text(key) for key in stale],
    )

    def remaining() -> int:
        return int(
            db.run(
                "SELECT count(*) FROM ui_state WHERE key = ANY(:keys)",
                keys=[storage_key_text(key) for key in stale],
            )[0][0]
        )

    run(storage.set_state(new_key(), "x"))
    assert remaining() == SWEEP_PER_WRITE + 1
    run(storage.set_data(new_key(), {"x": 1}))
    assert remaining() == 1
    run(storage.update_data(new_key(), {"x": 1}))
    assert remaining() == 0


_ids = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_keys = st.builds(
    StorageKey,
    bot_id=_ids,
    chat_id=_ids,
    user_id=_ids,
    thread_id=st.none() | _ids,
    business_connection_id=st.none() | st.text(max_size=12),
    destiny=st.text(min_size=1, max_size=12),
)


@given(_keys, _keys)
def test_key_text_is_injective(left: StorageKey, right: StorageKey) -> None:
    # "" and None for the business connection are the same thing to aiogram (no connection).
    same = replace(left, business_connection_id=left.business_connection_id or None) == replace(
        right, business_connection_id=right.business_connection_id or None
    )
    assert (storage_key_text(left) == storage_key_text(right)) == same
