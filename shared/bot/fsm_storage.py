"""aiogram FSM storage in Postgres (`ui_state`): state and data in one row, with a TTL.

aiogram's storage API is async and our pool is synchronous pg8000, so every call
goes through `run_blocking` (shared/bot/thread_loop.py): in place on a thread's own
one-update-at-a-time loop (the webhook, long polling), in a worker thread on any other
loop. The pool (thread-safe, one connection per borrower) is used as everywhere else.

Every write refreshes the expiry to now + ttl. A row past its expiry reads as
empty, is overwritten from empty by the next write, and expired rows of other
keys are deleted a few at a time by the writes (bounded: no sweeper needed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from shared.adapters.db import Database
from shared.bot.thread_loop import run_blocking

# Expired rows of other keys removed by one write; small, so a write stays cheap.
SWEEP_PER_WRITE = 8

# The data-modifying CTE shares the write's round trip; SKIP LOCKED keeps
# concurrent writers from waiting on each other's sweep.
_SWEEP = f"""
swept AS (
    DELETE FROM ui_state WHERE key IN (
        SELECT key FROM ui_state
         WHERE expires_at <= now() AND key <> :key
         ORDER BY expires_at LIMIT {SWEEP_PER_WRITE}
           FOR UPDATE SKIP LOCKED)
)"""
# A live row keeps what the write does not replace; an expired one starts empty.
_SET_STATE_SQL = f"""
WITH {_SWEEP}
INSERT INTO ui_state AS u (key, state, data, expires_at)
VALUES (:key, :state, '{{}}'::jsonb, now() + make_interval(secs => :ttl_s))
ON CONFLICT (key) DO UPDATE
   SET state = EXCLUDED.state,
       data = CASE WHEN u.expires_at > now() THEN u.data ELSE '{{}}'::jsonb END,
       expires_at = EXCLUDED.expires_at, updated_at = now()
"""
_SET_DATA_SQL = f"""
WITH {_SWEEP}
INSERT INTO ui_state AS u (key, state, data, expires_at)
VALUES (:key, NULL, CAST(:data AS jsonb), now() + make_interval(secs => :ttl_s))
ON CONFLICT (key) DO UPDATE
   SET data = EXCLUDED.data,
       state = CASE WHEN u.expires_at > now() THEN u.state END,
       expires_at = EXCLUDED.expires_at, updated_at = now()
"""
# jsonb || merges top-level keys exactly as dict.update does, in one atomic statement.
_UPDATE_DATA_SQL = f"""
WITH {_SWEEP}
INSERT INTO ui_state AS u (key, state, data, expires_at)
VALUES (:key, NULL, CAST(:data AS jsonb), now() + make_interval(secs => :ttl_s))
ON CONFLICT (key) DO UPDATE
   SET data = CASE WHEN u.expires_at > now() THEN u.data ELSE '{{}}'::jsonb END || EXCLUDED.data,
       state = CASE WHEN u.expires_at > now() THEN u.state END,
       expires_at = EXCLUDED.expires_at, updated_at = now()
RETURNING u.data
"""
_GET_SQL = "SELECT state, data FROM ui_state WHERE key = :key AND expires_at > now()"


def storage_key_text(key: StorageKey) -> str:
    """A stable text key with every StorageKey field, so no two keys share a row.

    Free-text fields are percent-quoted, so the separator cannot occur inside them.
    """
    thread = "" if key.thread_id is None else str(key.thread_id)
    business = quote(key.business_connection_id or "", safe="")
    return ":".join(
        (
            str(key.bot_id),
            str(key.chat_id),
            str(key.user_id),
            thread,
            business,
            quote(key.destiny, safe=""),
        )
    )


def _state_text(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


def _data_json(data: Mapping[str, Any]) -> str:
    # The same refusal as MemoryStorage, so both storages keep one contract.
    if not isinstance(data, dict):
        raise DataNotDictLikeError(
            f"Data must be a dict or dict-like object, got {type(data).__name__}"
        )
    return json.dumps(data, ensure_ascii=False)


class PostgresStorage(BaseStorage):
    """FSM state and data per StorageKey in `ui_state`; values must be JSON-serialisable."""

    def __init__(self, db: Database, *, ttl_s: int) -> None:
        if ttl_s < 1:
            raise ValueError("ttl_s must be positive")
        self._db = db
        self._ttl_s = ttl_s

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await run_blocking(
            self._db.run,
            _SET_STATE_SQL,
            key=storage_key_text(key),
            state=_state_text(state),
            ttl_s=self._ttl_s,
        )

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._read(key)
        return None if row is None else row[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await run_blocking(
            self._db.run,
            _SET_DATA_SQL,
            key=storage_key_text(key),
            data=_data_json(data),
            ttl_s=self._ttl_s,
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._read(key)
        return {} if row is None else dict(row[1])

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        rows = await run_blocking(
            self._db.run,
            _UPDATE_DATA_SQL,
            key=storage_key_text(key),
            data=_data_json(dict(data)),
            ttl_s=self._ttl_s,
        )
        return dict(rows[0][0])

    async def close(self) -> None:
        # The pool belongs to the process (shared/bootstrap.py), not to this storage.
        return None

    async def _read(self, key: StorageKey) -> tuple[str | None, dict[str, Any]] | None:
        rows = await run_blocking(self._db.run, _GET_SQL, key=storage_key_text(key))
        if not rows:
            return None
        return rows[0][0], rows[0][1]
