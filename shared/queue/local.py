"""LocalTaskQueue: an in-process queue with Cloud Tasks' semantics, for the sandbox and tests.

At-least-once HTTP delivery by a bounded pool of worker threads; a 2xx acks,
anything else (or a timeout, or no connection) is retried on RetryConfig's
schedule, or after the response's Retry-After. Named tasks are deduplicated
for a retention window after they finish. Tasks live in memory only: closing
the queue drops what is still pending.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

from shared.queue.backoff import backoff_s, retry_after_s
from shared.queue.port import JsonValue, QueueClosed, prepare_task, target_url

logger = logging.getLogger(__name__)

_DedupeKey = tuple[str, str]  # (target, task id): each target is its own queue, as in production


@dataclass(frozen=True)
class QueueStats:
    created: int
    deduplicated: int
    attempts: int
    retries: int
    succeeded: int
    dead: int
    pending: int  # created and not yet finished (scheduled, waiting to retry, or in flight)


@dataclass(frozen=True)
class DeadTask:
    """A task that used up its attempts without a 2xx."""

    target: str
    name: str
    body: bytes
    attempts: int
    last_status: int | None  # None: the last attempt got no response (timeout, no connection)
    last_error: str | None

    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Task:
    target: str
    name: str
    dedupe_key: _DedupeKey | None
    url: str
    body: bytes
    due: float  # time.monotonic() of the next attempt
    eta: float  # the same instant as Unix time, for X-CloudTasks-TaskETA
    attempts: int = 0
    responses: int = 0  # non-5xx responses: what X-CloudTasks-TaskExecutionCount counts
    previous_status: int | None = None
    order: int = 0  # tie-break in the heap: equal due times keep enqueue order


@dataclass(frozen=True)
class _Outcome:
    status: int | None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def acked(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class LocalTaskQueue:
    """A TaskQueue that delivers to `{functions_base_url}/{target}` from this process."""

    def __init__(
        self,
        functions_base_url: str,
        *,
        workers: int = 8,
        min_backoff_s: float = 0.1,
        max_backoff_s: float = 60.0,
        max_doublings: int = 16,
        max_attempts: int | None = 20,
        attempt_timeout_s: float = 600.0,
        dedupe_window_s: float = 3600.0,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError("backoffs must satisfy 0 < min_backoff_s <= max_backoff_s")
        if max_doublings < 0:
            raise ValueError("max_doublings must be >= 0")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be >= 1, or None for unlimited")
        if attempt_timeout_s <= 0 or dedupe_window_s < 0:
            raise ValueError("attempt_timeout_s must be > 0 and dedupe_window_s >= 0")
        self._base_url = functions_base_url
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_doublings = max_doublings
        self._max_attempts = max_attempts
        self._attempt_timeout_s = attempt_timeout_s
        self._dedupe_window_s = dedupe_window_s
        # urllib3, not httpx: this client stands in for Cloud Tasks' own dispatcher, and
        # on loopback it costs about half of httpx's CPU per request, CPU the sandbox's
        # functions share. It reads no proxy from the environment; retries and redirects
        # are the queue's own business (Cloud Tasks follows no redirect either).
        self._client = urllib3.PoolManager(num_pools=4, maxsize=workers, retries=False)
        # One lock, two conditions: waking a waiter of wait_idle must never use up a
        # notification meant for a worker (and the other way round).
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Task]] = []
        self._paused: dict[str, list[_Task]] = {}  # paused target → its due tasks, in order
        self._order = itertools.count()
        self._names: dict[_DedupeKey, float | None] = {}  # None while the task is live
        self._finished_names: deque[tuple[float, _DedupeKey]] = deque()
        self._dead: list[DeadTask] = []
        self._closed = False
        self._created = self._deduplicated = self._attempts = 0
        self._retries = self._succeeded = self._dead_count = self._pending = 0
        self._workers = [
            threading.Thread(target=self._work, name=f"local-queue-{i}", daemon=True)
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    # --- TaskQueue ----------------------------------------------------------

    def enqueue(
        self,
        target: str,
        payload: Mapping[str, JsonValue],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> bool:
        prepared = prepare_task(target, payload, name=name, delay_s=delay_s)
        task_name = prepared.task_id or uuid.uuid4().hex
        key = None if prepared.task_id is None else (prepared.target, prepared.task_id)
        now = time.monotonic()
        with self._lock:
            if self._closed:
                raise QueueClosed("the local task queue is closed")
            self._forget_expired_names(now)
            if key is not None:
                if key in self._names:
                    self._deduplicated += 1
                    return False
                self._names[key] = None
            task = _Task(
                target=prepared.target,
                name=task_name,
                dedupe_key=key,
                url=target_url(self._base_url, prepared.target),
                body=prepared.body,
                due=now + prepared.delay_s,
                eta=time.time() + prepared.delay_s,
            )
            self._created += 1
            self._pending += 1
            self._schedule(task)
        return True

    # --- operations, as on a Cloud Tasks queue -----------------------------------

    def pause(self, target: str) -> None:
        """Stop dispatching to `target` (Cloud Tasks' "pause queue"): its tasks are still
        accepted and deduplicated, and wait, pending, until `resume`."""
        with self._lock:
            self._paused.setdefault(target, [])

    def resume(self, target: str) -> None:
        """Dispatch to `target` again; its waiting tasks keep their order and due times."""
        with self._lock:
            for task in self._paused.pop(target, []):
                self._schedule(task)

    # --- inspection and lifecycle -------------------------------------------

    def stats(self) -> QueueStats:
        with self._lock:
            return QueueStats(
                created=self._created,
                deduplicated=self._deduplicated,
                attempts=self._attempts,
                retries=self._retries,
                succeeded=self._succeeded,
                dead=self._dead_count,
                pending=self._pending,
            )

    def dead_letters(self) -> list[DeadTask]:
        with self._lock:
            return list(self._dead)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task is pending (delayed ones included); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers (an attempt in flight finishes first) and drop pending tasks."""
        with self._lock:
            self._closed = True
            self._work_ready.notify_all()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._client.clear()

    def __enter__(self) -> LocalTaskQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- workers ------------------------------------------------------------

    def _schedule(self, task: _Task) -> None:
        task.order = next(self._order)
        heapq.heappush(self._heap, (task.due, task.order, task))
        self._work_ready.notify()

    def _work(self) -> None:
        while (task := self._next_due()) is not None:
            outcome = self._attempt(task)
            self._settle(task, outcome)

    def _next_due(self) -> _Task | None:
        with self._lock:
            while not self._closed:
                if not self._heap:
                    self._work_ready.wait()
                    continue
                wait_s = self._heap[0][0] - time.monotonic()
                if wait_s > 0:
                    self._work_ready.wait(wait_s)
                    continue
                task = heapq.heappop(self._heap)[2]
                parked = self._paused.get(task.target)
                if parked is not None:
                    parked.append(task)
                    continue
                if self._heap:
                    # The worker that watched the old head may be this one: hand the watch on.
                    self._work_ready.notify()
                return task
            return None

    def _attempt(self, task: _Task) -> _Outcome:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Google-Cloud-Tasks",
            "X-CloudTasks-QueueName": task.target,
            "X-CloudTasks-TaskName": task.name,
            "X-CloudTasks-TaskRetryCount": str(task.attempts),
            "X-CloudTasks-TaskExecutionCount": str(task.responses),
            "X-CloudTasks-TaskETA": f"{task.eta:.6f}",
        }
        if task.previous_status is not None:
            headers["X-CloudTasks-TaskPreviousResponse"] = str(task.previous_status)
        task.attempts += 1
        try:
            response = self._client.request(
                "POST", task.url, body=task.body, headers=headers, timeout=self._attempt_timeout_s
            )
        except urllib3.exceptions.NewConnectionError as error:
            # Refused or unresolvable (a subclass of the timeouts below, but no time passed).
            return _Outcome(status=None, error=f"{type(error).__name__}: {error}")
        except urllib3.exceptions.TimeoutError:
            # Cloud Tasks' DEADLINE_EXCEEDED: the attempt failed, the handler may still run on.
            return _Outcome(status=None, error="attempt timed out")
        except urllib3.exceptions.HTTPError as error:
            return _Outcome(status=None, error=f"{type(error).__name__}: {error}")
        if response.status < 500:
            task.responses += 1
        return _Outcome(
            status=response.status,
            retry_after_s=retry_after_s(response.headers.get("Retry-After")),
        )

    def _settle(self, task: _Task, outcome: _Outcome) -> None:
        with self._lock:
            self._attempts += 1
            task.previous_status = outcome.status
            if outcome.acked:
                self._succeeded += 1
                self._finish(task)
                return
            if self._max_attempts is not None and task.attempts >= self._max_attempts:
                self._dead_count += 1
                self._dead.append(
                    DeadTask(
                        target=task.target,
                        name=task.name,
                        body=task.body,
                        attempts=task.attempts,
                        last_status=outcome.status,
                        last_error=outcome.error,
                    )
                )
                logger.warning(
                    "task %s/%s dead after %d attempts (last status %s, error %s)",
                    task.target,
                    task.name,
                    task.attempts,
                    outcome.status,
                    outcome.error,
                )
                self._finish(task)
                return
            if self._closed:
                return
            delay_s = outcome.retry_after_s
            if delay_s is None:
                delay_s = backoff_s(
                    task.attempts,
                    min_s=self._min_backoff_s,
                    max_s=self._max_backoff_s,
                    max_doublings=self._max_doublings,
                )
            self._retries += 1
            task.due = time.monotonic() + delay_s
            task.eta = time.time() + delay_s
            self._schedule(task)

    def _finish(self, task: _Task) -> None:
        self._pending -= 1
        if task.dedupe_key is not None:
            finished_at = time.monotonic()
            self._names[task.dedupe_key] = finished_at
            self._finished_names.append((finished_at, task.dedupe_key))
        if self._pending == 0:
            self._idle.notify_all()

    def _forget_expired_names(self, now: float) -> None:
        # Finish times are appended in order, so expired names sit at the left.
        while self._finished_names and self._finished_names[0][0] + self._dedupe_window_s <= now:
            finished_at, key = self._finished_names.popleft()
            if self._names.get(key) == finished_at:
                del self._names[key]
