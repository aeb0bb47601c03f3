"""Tasks, their predetermined outcome, and the seeded dice that decide it.

An outcome is fixed when the task is created, so the callback and the query endpoint can never
disagree: both read the same Task and the same clock. Every create request draws the same number
of values from the generator whatever the knobs say, so one seed gives the same task ids and the
same outcomes even when a test changes, say, only the duplicate rate.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Phase = Literal["waiting", "queuing", "generating", "done"]


@dataclass(frozen=True)
class FailureReason:
    code: str
    message: str
    content_policy: bool
    status: str = ""  # the family's own failure status word where it has one (Suno, 4o)


@dataclass(frozen=True)
class Draws:
    """The fixed set of uniform draws behind one create request."""

    reject_429: float
    reject_5xx: float
    reject_5xx_pick: float
    task_bits: int
    fail: float
    fail_pick: float
    duplicate: float
    out_of_order: float
    lost: float


@dataclass(frozen=True)
class Outcome:
    success: bool
    failure: FailureReason | None
    duplicate: bool
    out_of_order: bool
    lost: bool


@dataclass(frozen=True)
class CallbackRecord:
    label: str
    sent_at: float
    status_code: int | None
    error: str | None
    attempt: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Task:
    task_id: str
    family: str
    handler: str
    model_id: str | None
    create_path: str
    status_path: str | None
    body: dict[str, Any]
    callback_url: str | None
    credits: Decimal
    created_at: float
    finish_at: float
    outcome: Outcome
    callbacks: list[CallbackRecord] = field(default_factory=list)

    def phase(self, now: float | None = None) -> Phase:
        now = time.time() if now is None else now
        if now >= self.finish_at:
            return "done"
        span = max(self.finish_at - self.created_at, 1e-9)
        progress = (now - self.created_at) / span
        if progress < 0.2:
            return "waiting"
        if progress < 0.4:
            return "queuing"
        return "generating"

    def progress(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        span = max(self.finish_at - self.created_at, 1e-9)
        return min(max((now - self.created_at) / span, 0.0), 1.0)

    def summary(self, now: float | None = None) -> dict[str, Any]:
        phase = self.phase(now)
        state = phase if phase != "done" else ("success" if self.outcome.success else "fail")
        failure = self.outcome.failure
        return {
            "taskId": self.task_id,
            "family": self.family,
            "handler": self.handler,
            "model": self.model_id,
            "path": self.create_path,
            "state": state,
            "credits": float(self.credits),
            "callBackUrl": self.callback_url,
            "createdAt": self.created_at,
            "finishAt": self.finish_at,
            "outcome": {
                "success": self.outcome.success,
                "failCode": failure.code if failure else None,
                "failMsg": failure.message if failure else None,
                "contentPolicy": failure.content_policy if failure else False,
                "duplicate": self.outcome.duplicate,
                "outOfOrder": self.outcome.out_of_order,
                "lost": self.outcome.lost,
            },
            "callbacks": [
                {
                    "label": c.label,
                    "sentAt": c.sent_at,
                    "statusCode": c.status_code,
                    "error": c.error,
                    "attempt": c.attempt,
                    "ok": c.ok,
                }
                for c in list(self.callbacks)
            ],
        }


class Dice:
    """random.Random(seed) behind a lock: the only source of randomness in the simulator."""

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def draw(self) -> Draws:
        with self._lock:
            r = self._random
            return Draws(
                reject_429=r.random(),
                reject_5xx=r.random(),
                reject_5xx_pick=r.random(),
                task_bits=r.getrandbits(128),
                fail=r.random(),
                fail_pick=r.random(),
                duplicate=r.random(),
                out_of_order=r.random(),
                lost=r.random(),
            )


class TaskStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}

    def add(self, task: Task) -> None:
        with self._lock:
            self._tasks[task.task_id] = task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def all(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())

    def record_callback(self, task_id: str, record: CallbackRecord) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None:
                task.callbacks.append(record)


def pick(options: tuple[FailureReason, ...], draw: float) -> FailureReason:
    return options[min(int(draw * len(options)), len(options) - 1)]
