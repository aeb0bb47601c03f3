"""Callback delivery: a timer thread hands due callbacks to a bounded pool of sender threads.

KIE's retry policy is undocumented for most families, so retries are off by default; every
attempt, good or bad, is recorded on its task for the tests to inspect.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3

from scripts.kie_simulator.state import CallbackRecord


def signature(task_id: str, timestamp: str, key: str) -> str:
    """KIE's webhook signature: base64(HMAC-SHA256(taskId + "." + timestamp, key))."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Delivery:
    task_id: str
    url: str
    body: dict[str, Any]
    label: str
    attempt: int = 1


@dataclass(frozen=True)
class DeliverySettings:
    hmac_key: str | None
    timeout_s: float
    retries: int
    retry_delay_s: float


class CallbackDispatcher:
    def __init__(
        self,
        settings: Callable[[], DeliverySettings],
        record: Callable[[str, CallbackRecord], None],
        workers: int = 8,
    ) -> None:
        self._settings = settings
        self._record = record
        self._workers = workers
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._pool: ThreadPoolExecutor | None = None
        self._timer: threading.Thread | None = None
        self._client: urllib3.PoolManager | None = None
        # The last send of each task: a task's callbacks go out one after another, in order.
        self._chains: dict[str, Future[CallbackRecord]] = {}
        self._chains_lock = threading.Lock()

    def start(self) -> None:
        self._stopping = False
        # urllib3: KIE is another machine, yet here it shares our two cores, and a request
        # costs about half of httpx's CPU. No retry, no redirect: the simulator's own.
        self._client = urllib3.PoolManager(maxsize=self._workers, retries=False)
        self._pool = ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="kie-sim-callback"
        )
        self._timer = threading.Thread(target=self._run_timer, name="kie-sim-timer", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._heap.clear()
            self._wake.notify_all()
        if self._timer is not None:
            self._timer.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.clear()

    def schedule(self, at: float, delivery: Delivery) -> None:
        with self._wake:
            heapq.heappush(self._heap, (at, next(self._order), delivery))
            self._wake.notify()

    def deliver_now(self, delivery: Delivery) -> CallbackRecord:
        """Send on a pool thread and wait: a callback that beats the create reply."""
        return self._submit(delivery).result()

    def _submit(self, delivery: Delivery) -> Future[CallbackRecord]:
        if self._pool is None:
            raise RuntimeError("dispatcher not started")
        with self._chains_lock:
            previous = self._chains.get(delivery.task_id)
            # No deadlock: the pool's queue is FIFO, so `previous` is running or done by the
            # time a worker picks this one up and waits for it.
            future = self._pool.submit(self._send_after, previous, delivery)
            self._chains[delivery.task_id] = future
        future.add_done_callback(lambda done: self._forget(delivery.task_id, done))
        return future

    def _forget(self, task_id: str, done: Future[CallbackRecord]) -> None:
        with self._chains_lock:
            if self._chains.get(task_id) is done:
                del self._chains[task_id]

    def _send_after(
        self, previous: Future[CallbackRecord] | None, delivery: Delivery
    ) -> CallbackRecord:
        if previous is not None:
            with contextlib.suppress(Exception):
                previous.result()
        return self._send(delivery)

    def pending(self) -> int:
        with self._wake:
            return len(self._heap)

    def _run_timer(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                if not self._heap:
                    self._wake.wait()
                    continue
                due, _, delivery = self._heap[0]
                wait = due - time.time()
                if wait > 0:
                    self._wake.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
            if self._pool is not None:
                try:
                    self._submit(delivery)
                except RuntimeError:
                    return  # the pool shut down under us: the simulator is stopping

    def _send(self, delivery: Delivery) -> CallbackRecord:
        settings = self._settings()
        headers = {"Content-Type": "application/json"}
        if settings.hmac_key:
            timestamp = str(int(time.time()))
            headers["X-Webhook-Timestamp"] = timestamp
            headers["X-Webhook-Signature"] = signature(
                delivery.task_id, timestamp, settings.hmac_key
            )
        status: int | None = None
        error: str | None = None
        client = self._client
        try:
            if client is None:
                raise RuntimeError("dispatcher not started")
            response = client.request(
                "POST",
                delivery.url,
                body=json.dumps(delivery.body).encode(),
                headers=headers,
                timeout=settings.timeout_s,
            )
            status = response.status
        except (urllib3.exceptions.HTTPError, RuntimeError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        record = CallbackRecord(delivery.label, time.time(), status, error, delivery.attempt)
        self._record(delivery.task_id, record)
        if not record.ok and delivery.attempt <= settings.retries and not self._stopping:
            retry = Delivery(
                delivery.task_id, delivery.url, delivery.body, delivery.label, delivery.attempt + 1
            )
            self.schedule(time.time() + settings.retry_delay_s, retry)
        return record
