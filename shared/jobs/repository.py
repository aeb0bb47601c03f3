"""Jobs in Postgres: SQL and row mapping only. Every state change is one conditional UPDATE."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.adapters.db import Database, PooledConnection
from shared.jobs.states import ALLOWED_FROM, JobState

_COLUMNS = (
    "j.id::text, j.user_id, w.id, j.model_id, j.state, j.inputs, j.price_kopecks, j.hold_ref, "
    "j.kie_task_id, j.result, j.error_code, j.error_message, j.credits_consumed, j.attempts, "
    "j.eta_at, j.deadline_at, j.created_at, j.delivery_attempts, j.client_ref"
)
_FROM = "FROM jobs j JOIN wallets w ON w.user_id = j.user_id"


@dataclass(frozen=True)
class Job:
    id: str
    user_id: int
    wallet_id: int
    model_id: str
    state: JobState
    inputs: dict[str, Any]
    price_kopecks: int | None
    hold_ref: str | None
    kie_task_id: str | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    credits_consumed: Decimal | None
    attempts: int
    eta_at: datetime | None
    deadline_at: datetime | None
    created_at: datetime
    delivery_attempts: int
    client_ref: str | None = None  # "tg:<chat>:<message>" names the job's progress line


def _job(row: Sequence[Any]) -> Job:
    return Job(
        id=row[0],
        user_id=row[1],
        wallet_id=row[2],
        model_id=row[3],
        state=JobState(row[4]),
        inputs=row[5] or {},
        price_kopecks=row[6],
        hold_ref=row[7],
        kie_task_id=row[8],
        result=row[9],
        error_code=row[10],
        error_message=row[11],
        credits_consumed=row[12],
        attempts=row[13],
        eta_at=row[14],
        deadline_at=row[15],
        created_at=row[16],
        delivery_attempts=row[17],
        client_ref=row[18],
    )


class JobRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def insert_quoted(
        self,
        user_id: int,
        model_id: str,
        inputs: Mapping[str, Any],
        price: int,
        client_ref: str,
        media_seconds: Mapping[str, float] | None = None,
    ) -> Job:
        """A new quoted job; the same client_ref again returns the first job (double clicks)."""
        rows = self._db.run(
            f"""WITH created AS (
                    INSERT INTO jobs (user_id, model_id, state, inputs, price_kopecks, client_ref,
                                      media_seconds)
                    VALUES (:user_id, :model_id, 'quoted', CAST(:inputs AS jsonb), :price,
                            :client_ref, CAST(:media_seconds AS jsonb))
                    ON CONFLICT (client_ref) DO NOTHING
                    RETURNING *)
                SELECT {_COLUMNS} FROM created j JOIN wallets w ON w.user_id = j.user_id
                UNION ALL
                SELECT {_COLUMNS} {_FROM} WHERE j.client_ref = :client_ref
                LIMIT 1""",
            user_id=user_id,
            model_id=model_id,
            inputs=json.dumps(dict(inputs), ensure_ascii=False),
            price=price,
            client_ref=client_ref,
            media_seconds=json.dumps(dict(media_seconds)) if media_seconds else None,
        )
        return _job(rows[0])

    def get(self, job_id: str, conn: PooledConnection | None = None) -> Job | None:
        sql = f"SELECT {_COLUMNS} {_FROM} WHERE j.id = CAST(:id AS uuid)"
        rows = conn.run_prepared(sql, id=job_id) if conn else self._db.run(sql, id=job_id)
        return _job(rows[0]) if rows else None

    def transition(
        self,
        job_id: str,
        event: str,
        to: JobState,
        conn: PooledConnection | None = None,
        **changes: Any,
    ) -> Job | None:
        """Move the job if it is in a state `event` may leave; None when it was elsewhere."""
        assignments = ["state = :to", "updated_at = now()"]
        if to.final:
            assignments.append("finished_at = now()")
        for column, value in changes.items():
            if column not in _CHANGEABLE:
                raise ValueError(f"{column} cannot be set by a transition")
            assignments.append(_CHANGEABLE[column])
            if column == "result" and value is not None:
                changes[column] = json.dumps(value, ensure_ascii=False)
        sql = f"""WITH moved AS (
                      UPDATE jobs SET {", ".join(assignments)}
                       WHERE id = CAST(:id AS uuid) AND state = ANY(CAST(:from_states AS text[]))
                      RETURNING *)
                  SELECT {_COLUMNS} FROM moved j JOIN wallets w ON w.user_id = j.user_id"""
        params = {
            "id": job_id,
            "to": to.value,
            "from_states": "{" + ",".join(s.value for s in ALLOWED_FROM[event]) + "}",
            **{k: v for k, v in changes.items() if f":{k}" in _CHANGEABLE[k]},
        }
        rows = conn.run_prepared(sql, **params) if conn else self._db.run(sql, **params)
        return _job(rows[0]) if rows else None

    def record_task_id(self, job_id: str, task_id: str) -> None:
        """Keep KIE's task id even when a callback finished the job first."""
        self._db.run(
            "UPDATE jobs SET kie_task_id = :task WHERE id = CAST(:id AS uuid) "
            "AND kie_task_id IS NULL",
            id=job_id,
            task=task_id,
        )

    def claim_for_submit(self, job_id: str, lease_s: float) -> Job | None:
        """Lease a job still waiting for submission and count the attempt (recorded before
        KIE is called); None when it is not waiting, or another attempt holds the lease."""
        return self._lease(
            job_id,
            "submit_lease_until",
            lease_s,
            also="attempts = attempts + 1",
            only_if="state IN ('held', 'queued')",
        )

    def extend_submit_lease(self, job_id: str, lease_s: float) -> None:
        """Lengthen the lease the caller holds (a slow model's attempt); never shortens it."""
        self._db.run(
            "UPDATE jobs SET submit_lease_until = greatest(submit_lease_until, "
            "now() + make_interval(secs => :lease_s)) "
            "WHERE id = CAST(:id AS uuid) AND submit_lease_until > now()",
            id=job_id,
            lease_s=float(lease_s),
        )

    def submit_lease_left_s(self, job_id: str) -> float:
        """Seconds until the job's submit lease ends; 0 when it has ended or was never taken."""
        rows = self._db.run(
            "SELECT extract(epoch FROM submit_lease_until - now()) FROM jobs "
            "WHERE id = CAST(:id AS uuid)",
            id=job_id,
        )
        left = rows[0][0] if rows else None
        return max(0.0, float(left)) if left is not None else 0.0

    def release_submit_lease(self, job_id: str) -> None:
        """The attempt is over without a task: the next one may go at once. The lease ends
        now rather than vanishing: its end is when the job was last tried (the sweeper
        leaves a job alone while its queue is still retrying it)."""
        self._db.run(
            "UPDATE jobs SET submit_lease_until = least(submit_lease_until, now()) "
            "WHERE id = CAST(:id AS uuid)",
            id=job_id,
        )

    def claim_for_delivery(self, job_id: str, lease_s: float) -> Job | None:
        """Lease a job for one delivery attempt; None when the job is unknown or another
        attempt holds the lease. The job is read in the same statement, so a delivery
        that finished just before is seen as finished."""
        return self._lease(job_id, "deliver_lease_until", lease_s)

    def _lease(
        self, job_id: str, column: str, lease_s: float, *, also: str = "", only_if: str = "true"
    ) -> Job | None:
        """Take the lease in `column` (a constant of this class, never input) when it is
        free, in one statement that returns the job as it is now."""
        rows = self._db.run(
            f"""WITH claimed AS (
                    UPDATE jobs SET {also + "," if also else ""}
                           {column} = now() + make_interval(secs => :lease_s)
                     WHERE id = CAST(:id AS uuid) AND {only_if}
                       AND ({column} IS NULL OR {column} <= now())
                    RETURNING *)
                SELECT {_COLUMNS} FROM claimed j JOIN wallets w ON w.user_id = j.user_id""",
            id=job_id,
            lease_s=float(lease_s),
        )
        return _job(rows[0]) if rows else None

    def release_delivery_lease(self, job_id: str) -> None:
        self._db.run(
            "UPDATE jobs SET deliver_lease_until = NULL WHERE id = CAST(:id AS uuid)", id=job_id
        )

    def set_hold_ref(self, job_id: str, hold_ref: str, conn: PooledConnection) -> None:
        conn.run_prepared(
            "UPDATE jobs SET hold_ref = :hold_ref WHERE id = CAST(:id AS uuid)",
            id=job_id,
            hold_ref=hold_ref,
        )

    def postpone(self, job_id: str, seconds: float) -> None:
        """The next time the sweeper should ask KIE about this job."""
        self._db.run(
            "UPDATE jobs SET eta_at = now() + make_interval(secs => :s) "
            "WHERE id = CAST(:id AS uuid)",
            id=job_id,
            s=seconds,
        )

    def redelivered(self, request: str) -> bool:
        """Whether the "send again" press `request` already had its results sent."""
        return bool(
            self._db.run("SELECT 1 FROM redeliveries WHERE request = :request", request=request)
        )

    def record_redelivery(self, request: str, job_id: str) -> None:
        self._db.run(
            "INSERT INTO redeliveries (request, job_id) VALUES (:request, CAST(:id AS uuid)) "
            "ON CONFLICT (request) DO NOTHING",
            request=request,
            id=job_id,
        )

    def delivery_sent(self, job_id: str) -> int:
        """Sends of the result that already reached the chat (a retry resumes after them)."""
        rows = self._db.run(
            "SELECT delivery_sent FROM jobs WHERE id = CAST(:id AS uuid)", id=job_id
        )
        return int(rows[0][0]) if rows else 0

    def count_sent(self, job_id: str, sent: int) -> None:
        self._db.run(
            "UPDATE jobs SET delivery_sent = greatest(delivery_sent, :sent) "
            "WHERE id = CAST(:id AS uuid)",
            id=job_id,
            sent=sent,
        )

    def count_delivery(self, job_id: str) -> None:
        self._db.run(
            "UPDATE jobs SET delivery_attempts = delivery_attempts + 1, updated_at = now() "
            "WHERE id = CAST(:id AS uuid)",
            id=job_id,
        )

    # --- the sweeper's scans (bounded) ---------------------------------------------------
    def late_in_flight(self, now: datetime, limit: int) -> list[Job]:
        return self._scan(
            "j.state IN ('submitted', 'running') AND j.eta_at <= CAST(:now AS timestamptz) "
            "ORDER BY j.eta_at",
            now,
            limit,
        )

    def stuck_before_submit(
        self, now: datetime, older_than_s: float, idle_s: float, limit: int
    ) -> list[Job]:
        """Jobs waiting for submission `older_than_s` whose last attempt (the end of its
        lease) is `idle_s` old: one still being retried by its queue is not stuck. Past
        its deadline, a job is due (to expire) unless an attempt is under way."""
        return self._scan(
            "j.state IN ('held', 'queued') "
            "AND j.updated_at <= CAST(:now AS timestamptz) "
            f"- interval '{float(older_than_s)} seconds' "
            "AND (coalesce(j.submit_lease_until, '-infinity') <= CAST(:now AS timestamptz) "
            f"- interval '{float(idle_s)} seconds' "
            "OR (j.deadline_at <= CAST(:now AS timestamptz) "
            "AND coalesce(j.submit_lease_until <= CAST(:now AS timestamptz), true))) "
            "ORDER BY j.updated_at",
            now,
            limit,
        )

    def stuck_before_delivery(
        self, now: datetime, older_than_s: float, max_attempts: int, limit: int
    ) -> list[Job]:
        # Jobs out of attempts (the user blocked the bot, Telegram refuses) stay succeeded
        # with the oldest updated_at: left in, they would fill every batch for good.
        return self._scan(
            "j.state = 'succeeded' "
            f"AND j.delivery_attempts < {int(max_attempts)} "
            "AND coalesce(j.deliver_lease_until <= CAST(:now AS timestamptz), true) "
            "AND j.updated_at <= CAST(:now AS timestamptz) "
            f"- interval '{float(older_than_s)} seconds' "
            "ORDER BY j.updated_at",
            now,
            limit,
        )

    def _scan(self, condition: str, now: datetime, limit: int) -> list[Job]:
        rows = self._db.run(
            f"SELECT {_COLUMNS} {_FROM} WHERE {condition} LIMIT :limit", now=now, limit=limit
        )
        return [_job(row) for row in rows]


_CHANGEABLE = {
    "hold_ref": "hold_ref = :hold_ref",
    "kie_task_id": "kie_task_id = coalesce(kie_task_id, :kie_task_id)",
    "result": "result = CAST(:result AS jsonb)",
    "error_code": "error_code = :error_code",
    "error_message": "error_message = left(:error_message, 2000)",
    "credits_consumed": "credits_consumed = :credits_consumed",
    # Times come from the database's clock: one clock for every process.
    "eta_s": "eta_at = now() + make_interval(secs => :eta_s)",
    "deadline_s": "deadline_at = coalesce(deadline_at, now() + make_interval(secs => :deadline_s))",
    "submitted": "submitted_at = coalesce(submitted_at, now())",
}
