"""LocalTaskQueue delivering over real HTTP on 127.0.0.1 to a recording target."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest

from shared.queue import (
    MAX_DELAY_S,
    MAX_TASK_BYTES,
    InvalidDelay,
    InvalidPayload,
    InvalidTarget,
    InvalidTaskName,
    JsonValue,
    QueueClosed,
    task_id_for,
)
from shared.queue.backoff import backoff_s, retry_after_s
from shared.queue.local import LocalTaskQueue
from shared.queue.port import TASK_ID_PATTERN
from tests.integration.queue_helpers import RecordingTarget, Reply, serve_wsgi

SUBMIT = "/fn/submit_job"


@pytest.fixture
def target() -> Iterator[tuple[RecordingTarget, str]]:
    recorder = RecordingTarget()
    with serve_wsgi(recorder) as url:
        yield recorder, f"{url}/fn"


def make_queue(base_url: str, **overrides: Any) -> LocalTaskQueue:
    options: dict[str, Any] = {"min_backoff_s": 0.05, "max_backoff_s": 1.0, "max_attempts": 5}
    options.update(overrides)
    return LocalTaskQueue(base_url, **options)


def test_delivers_the_json_payload_with_cloud_tasks_headers(
    target: tuple[RecordingTarget, str],
) -> None:
    recorder, base_url = target
    with make_queue(base_url) as queue:
        enqueued_at = time.time()
        fields: dict[str, JsonValue] = {"job_id": 7, "text": "привет", "ids": (1, 2)}
        payload = MappingProxyType(fields)
        assert queue.enqueue("submit_job", payload, name="job-7") is True
        assert queue.wait_idle(5)
        stats = queue.stats()
    [delivery] = recorder.deliveries()
    assert delivery.path == SUBMIT
    assert delivery.json() == {"job_id": 7, "text": "привет", "ids": [1, 2]}
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Cloudtasks-Queuename"] == "submit_job"
    assert delivery.headers["X-Cloudtasks-Taskname"] == "job-7"
    assert delivery.headers["X-Cloudtasks-Taskretrycount"] == "0"
    assert delivery.headers["X-Cloudtasks-Taskexecutioncount"] == "0"
    assert abs(float(delivery.headers["X-Cloudtasks-Tasketa"]) - enqueued_at) < 1.0
    assert (stats.created, stats.attempts, stats.succeeded, stats.retries) == (1, 1, 1, 0)
    assert stats.pending == 0


def test_retries_after_5xx_with_growing_backoff_until_success(
    target: tuple[RecordingTarget, str],
) -> None:
    recorder, base_url = target
    recorder.script(SUBMIT, Reply(500), Reply(503), Reply(500), Reply(200))
    with make_queue(base_url, min_backoff_s=0.1, max_doublings=5) as queue:
        queue.enqueue("submit_job", {"job_id": 1})
        assert queue.wait_idle(5)
        stats = queue.stats()
    deliveries = recorder.deliveries(SUBMIT)
    assert len(deliveries) == 4
    assert [d.headers["X-Cloudtasks-Taskretrycount"] for d in deliveries] == ["0", "1", "2", "3"]
    # 5xx answers are not "responses" for the execution count (as in Cloud Tasks).
    assert {d.headers["X-Cloudtasks-Taskexecutioncount"] for d in deliveries} == {"0"}
    assert deliveries[1].headers["X-Cloudtasks-Taskpreviousresponse"] == "500"
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(deliveries)]
    # min_backoff 0.1 s doubling: 0.1, 0.2, 0.4 s. Never early; late only by scheduling noise.
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= expected * 0.95, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert (stats.attempts, stats.retries, stats.succeeded, stats.dead) == (4, 3, 1, 0)


def test_honours_retry_after_on_429(target: tuple[RecordingTarget, str]) -> None:
    recorder, base_url = target
    recorder.script(SUBMIT, Reply(429, headers={"Retry-After": "1"}), Reply(200))
    with make_queue(base_url, min_backoff_s=0.01) as queue:
        queue.enqueue("submit_job", {"job_id": 2})
        assert queue.wait_idle(5)
    first, second = recorder.deliveries(SUBMIT)
    assert 0.95 <= second.at - first.at < 1.5
    # A 429 is a response, so it counts towards the execution count.
    assert second.headers["X-Cloudtasks-Taskexecutioncount"] == "1"
    assert second.headers["X-Cloudtasks-Taskpreviousresponse"] == "429"


def test_named_task_is_deduplicated_while_live_and_within_the_window(
    target: tuple[RecordingTarget, str],
) -> None:
    recorder, base_url = target
    recorder.script(SUBMIT, Reply(200, sleep_s=0.2))
    with make_queue(base_url, dedupe_window_s=0.5) as queue:
        assert queue.enqueue("submit_job", {"n": 1}, name="submit-42") is True
        assert queue.enqueue("submit_job", {"n": 2}, name="submit-42") is False  # live
        assert queue.wait_idle(5)
        assert queue.enqueue("submit_job", {"n": 3}, name="submit-42") is False  # finished
        # Each target is its own queue: the same name elsewhere is a different task.
        assert queue.enqueue("deliver_result", {"n": 4}, name="submit-42") is True
        assert queue.wait_idle(5)
        time.sleep(0.6)  # past the retention window the name is free again
        assert queue.enqueue("submit_job", {"n": 5}, name="submit-42") is True
        assert queue.wait_idle(5)
        stats = queue.stats()
    assert [d.json()["n"] for d in recorder.deliveries(SUBMIT)] == [1, 5]
    assert (stats.created, stats.deduplicated) == (3, 2)


def test_a_paused_target_keeps_its_tasks_pending_until_resumed(
    target: tuple[RecordingTarget, str],
) -> None:
    recorder, base_url = target
    deliver = "/fn/deliver_result"
    with make_queue(base_url) as queue:
        queue.pause("deliver_result")
        assert queue.enqueue("deliver_result", {"n": 1}, name="deliver-1") is True
        assert queue.enqueue("deliver_result", {"n": 1}, name="deliver-1") is False  # deduped
        queue.enqueue("submit_job", {"n": 2})
        recorder.wait_for(1, SUBMIT)  # other targets go on
        assert not queue.wait_idle(0.3)
        assert recorder.deliveries(deliver) == []
        assert queue.stats().pending == 1
        queue.resume("deliver_result")
        assert queue.wait_idle(5)
    assert [d.json() for d in recorder.deliveries(deliver)] == [{"n": 1}]


def test_names_outside_cloud_tasks_alphabet_get_a_deterministic_hashed_id(
    target: tuple[RecordingTarget, str],
) -> None:
    recorder, base_url = target
    name = "job:42/submit ✓"
    derived = task_id_for(name)
    assert derived == task_id_for(name)
    assert TASK_ID_PATTERN.fullmatch(derived)
    assert derived != task_id_for("job:42/submit ✗")
    assert task_id_for("x" * 600) != task_id_for("x" * 601)
    assert len(task_id_for("é" * 600)) <= 500
    with make_queue(base_url) as queue:
        assert queue.enqueue("submit_job", {}, name=name) is True
        assert queue.enqueue("submit_job", {}, name=name) is False
        assert queue.wait_idle(5)
    [delivery] = recorder.deliveries(SUBMIT)
    assert delivery.headers["X-Cloudtasks-Taskname"] == derived


def test_delay_is_honoured(target: tuple[RecordingTarget, str]) -> None:
    recorder, base_url = target
    with make_queue(base_url) as queue:
        enqueued_mono, enqueued_wall = time.monotonic(), time.time()
        queue.enqueue("submit_job", {"late": True}, delay_s=0.5)
        queue.enqueue("submit_job", {"late": False})
        assert queue.wait_idle(5)
    early, late = recorder.deliveries(SUBMIT)
    assert early.json() == {"late": False}
    assert early.at - enqueued_mono < 0.45  # the undelayed task does not wait
    assert late.at - enqueued_mono >= 0.5
    assert abs(float(late.headers["X-Cloudtasks-Tasketa"]) - (enqueued_wall + 0.5)) < 0.1


def test_dead_letter_after_max_attempts(target: tuple[RecordingTarget, str]) -> None:
    recorder, base_url = target
    recorder.script(SUBMIT, *[Reply(500)] * 10)
    with make_queue(base_url, min_backoff_s=0.01, max_attempts=3) as queue:
        queue.enqueue("submit_job", {"job_id": 9}, name="doomed")
        assert queue.wait_idle(5)
        [dead] = queue.dead_letters()
        stats = queue.stats()
    assert len(recorder.deliveries(SUBMIT)) == 3
    assert (dead.target, dead.name, dead.attempts, dead.last_status) == (
        "submit_job",
        "doomed",
        3,
        500,
    )
    assert dead.payload() == {"job_id": 9}
    assert (stats.attempts, stats.retries, stats.dead, stats.succeeded) == (3, 2, 1, 0)


def test_unreachable_target_is_retried_then_dead() -> None:
    from shared.local_ports import free_port

    with make_queue(f"http://127.0.0.1:{free_port()}/fn", min_backoff_s=0.01, max_attempts=2) as q:
        q.enqueue("submit_job", {})
        assert q.wait_idle(5)
        [dead] = q.dead_letters()
    assert dead.last_status is None
    assert dead.last_error is not None and "Connection refused" in dead.last_error


def test_slow_success_beyond_the_attempt_timeout_is_delivered_again(
    target: tuple[RecordingTarget, str],
) -> None:
    recorder, base_url = target
    recorder.script(SUBMIT, Reply(200, sleep_s=0.6), Reply(200))
    with make_queue(base_url, attempt_timeout_s=0.2, min_backoff_s=0.05) as queue:
        queue.enqueue("submit_job", {"job_id": 3}, name="slow")
        assert queue.wait_idle(5)
        stats = queue.stats()
    deliveries = recorder.deliveries(SUBMIT)
    assert len(deliveries) == 2  # at least once: the handler ran twice
    assert deliveries[1].headers["X-Cloudtasks-Taskretrycount"] == "1"
    assert (stats.attempts, stats.retries, stats.succeeded) == (2, 1, 1)


def test_worker_pool_bounds_concurrent_dispatches(target: tuple[RecordingTarget, str]) -> None:
    recorder, base_url = target
    recorder.script(SUBMIT, *[Reply(200, sleep_s=0.15)] * 6)
    with make_queue(base_url, workers=2) as queue:
        for i in range(6):
            queue.enqueue("submit_job", {"i": i})
        assert queue.wait_idle(5)
    assert len(recorder.deliveries(SUBMIT)) == 6
    assert recorder.max_in_flight == 2


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda q: q.enqueue("../admin", {}), InvalidTarget),
        (lambda q: q.enqueue("", {}), InvalidTarget),
        (lambda q: q.enqueue("submit_job/x", {}), InvalidTarget),
        (lambda q: q.enqueue("submit_job", {}, name=""), InvalidTaskName),
        (lambda q: q.enqueue("submit_job", {}, delay_s=-1), InvalidDelay),
        (lambda q: q.enqueue("submit_job", {}, delay_s=math.nan), InvalidDelay),
        (lambda q: q.enqueue("submit_job", {}, delay_s=MAX_DELAY_S + 1), InvalidDelay),
        (lambda q: q.enqueue("submit_job", {"x": {1, 2}}), InvalidPayload),
        (lambda q: q.enqueue("submit_job", {"x": math.inf}), InvalidPayload),
        (lambda q: q.enqueue("submit_job", {"x": b"bytes"}), InvalidPayload),
        (lambda q: q.enqueue("submit_job", {"x": "a" * MAX_TASK_BYTES}), InvalidPayload),
        (lambda q: q.enqueue("submit_job", ["not", "an", "object"]), InvalidPayload),
    ],
)
def test_misuse_raises_typed_errors_and_creates_nothing(
    target: tuple[RecordingTarget, str], call: Any, error: type[Exception]
) -> None:
    _, base_url = target
    with make_queue(base_url) as queue:
        with pytest.raises(error):
            call(queue)
        assert queue.stats().created == 0


def test_closed_queue_refuses_tasks(target: tuple[RecordingTarget, str]) -> None:
    _, base_url = target
    queue = make_queue(base_url)
    queue.close()
    with pytest.raises(QueueClosed):
        queue.enqueue("submit_job", {})


def test_backoff_follows_retry_config_example() -> None:
    # RetryConfig's documented example: min 10 s, max 300 s, 3 doublings.
    schedule = [backoff_s(n, min_s=10, max_s=300, max_doublings=3) for n in range(1, 9)]
    assert schedule == [10, 20, 40, 80, 160, 240, 300, 300]
    assert backoff_s(1000, min_s=0.1, max_s=60, max_doublings=16) == 60


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("2") == 2.0
    assert retry_after_s("Thu, 26 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_s("Thu, 26 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None
