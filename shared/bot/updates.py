"""Telegram update dedupe and poison handling on `processed_updates`.

Telegram resends an update until it gets a 2xx, and holds back the rest of that
chat meanwhile. So each (bot, update_id) is claimed once: a done update is a
duplicate; a failed one is tried again until `attempts_max`, then dropped with a
2xx so one poison update cannot block its chat for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.adapters.db import Database

# A claim younger than this is taken to be still running; an older one belonged to a
# process that died, and the update may be claimed again. Above the webhook's own
# budget for one update (Telegram gives up after 60 s and resends).
CLAIM_LEASE_S = 90
ERROR_TEXT_MAX = 500

_CLAIM_SQL = (
    "SELECT outcome, attempts FROM bot_claim_update("
    "CAST(:bot_id AS bigint), CAST(:update_id AS bigint), CAST(:chat_id AS bigint), "
    "CAST(:attempts_max AS integer), CAST(:lease_s AS integer))"
)
_DONE_SQL = """
UPDATE processed_updates SET status = 'done', finished_at = now(), last_error = NULL
 WHERE bot_id = :bot_id AND update_id = :update_id AND status = 'processing'
"""
_FAILED_SQL = """
UPDATE processed_updates SET status = 'failed', finished_at = now(), last_error = :error
 WHERE bot_id = :bot_id AND update_id = :update_id AND status = 'processing'
RETURNING attempts
"""


class Claim(StrEnum):
    PROCESS = "process"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in_flight"
    GIVE_UP = "give_up"


class AfterFailure(StrEnum):
    RETRY = "retry"  # answer non-2xx: Telegram resends and we try again
    GIVE_UP = "give_up"  # attempts exhausted: answer 2xx so the chat moves on


@dataclass(frozen=True)
class UpdateClaim:
    outcome: Claim
    attempts: int


class UpdateLog:
    """Claims, completes and fails updates for one bot."""

    def __init__(
        self, db: Database, bot_id: int, *, attempts_max: int, lease_s: int = CLAIM_LEASE_S
    ) -> None:
        if attempts_max < 1:
            raise ValueError("attempts_max must be at least 1")
        self._db = db
        self._bot_id = bot_id
        self._attempts_max = attempts_max
        self._lease_s = lease_s

    @property
    def bot_id(self) -> int:
        return self._bot_id

    @property
    def attempts_max(self) -> int:
        return self._attempts_max

    def claim(self, update_id: int, chat_id: int | None) -> UpdateClaim:
        """One statement: decides and records whether this delivery processes the update."""
        row = self._db.run(
            _CLAIM_SQL,
            bot_id=self._bot_id,
            update_id=update_id,
            chat_id=chat_id,
            attempts_max=self._attempts_max,
            lease_s=self._lease_s,
        )[0]
        return UpdateClaim(Claim(row[0]), int(row[1]))

    def mark_done(self, update_id: int) -> None:
        self._db.run(_DONE_SQL, idempotent=True, bot_id=self._bot_id, update_id=update_id)

    def mark_failed(self, update_id: int, error: str) -> AfterFailure:
        """Records a failed attempt; says whether another delivery should try again."""
        rows = self._db.run(
            _FAILED_SQL,
            idempotent=True,
            bot_id=self._bot_id,
            update_id=update_id,
            error=error[:ERROR_TEXT_MAX],
        )
        if rows and int(rows[0][0]) < self._attempts_max:
            return AfterFailure.RETRY
        return AfterFailure.GIVE_UP
