"""AWS Lambda entry points for the queue targets, fed by SQS in batches.

Each record is one task; the answer lists only the records to retry (SQS's
partial batch failure), so one bad task never resends its batch-mates. A retry that
names its wait (Telegram's retry_after) comes back after that wait, not after the
queue's whole visibility timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.bootstrap import get_job_service, get_task_queue, observe
from shared.jobs.service import JobNotFound, RetryLater
from shared.observability import metrics
from shared.queue.sqs import RetryAfter, SqsTaskQueue, handle_sqs_batch


def _job_id(payload: dict[str, Any]) -> str | None:
    try:
        return str(uuid.UUID(str(payload.get("job_id"))))
    except ValueError:
        return None  # not a job id, and retrying will not make it one: drop it


def _retry(error: RetryLater) -> bool | RetryAfter:
    return False if error.retry_after_s is None else RetryAfter(error.retry_after_s)


def _postponer(target: str) -> Callable[[str, RetryAfter], None]:
    def postpone(receipt_handle: str, retry: RetryAfter) -> None:
        queue = get_task_queue()
        if isinstance(queue, SqsTaskQueue):
            queue.postpone(target, receipt_handle, retry)

    return postpone


def _submit(payload: dict[str, Any]) -> bool | RetryAfter:
    job_id = _job_id(payload)
    if job_id is None:
        return True
    try:
        get_job_service().submit(job_id)
    except JobNotFound:
        return True
    except RetryLater as error:
        metrics.emit(metrics.QUEUE_RETRY, target="submit_job", job_id=job_id)
        return _retry(error)
    return True


def _deliver(payload: dict[str, Any]) -> bool | RetryAfter:
    from functions.deliver_result import again_request, deliver
    from shared.bot.thread_loop import run_on_thread_loop

    job_id = _job_id(payload)
    if job_id is None:
        return True
    try:
        again, progress = bool(payload.get("again")), bool(payload.get("progress"))
        # The thread's kept loop: deliver() uses the thread's Bot API session, bound to it.
        run_on_thread_loop(deliver(job_id, again, progress, again_request(payload)))
    except JobNotFound:
        return True
    except RetryLater as error:
        metrics.emit(metrics.QUEUE_RETRY, target="deliver_result", job_id=job_id)
        return _retry(error)
    return True


def submit_job(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    observe(None)
    return handle_sqs_batch(event, _submit, postpone=_postponer("submit_job"))


def deliver_result(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    observe(None)
    return handle_sqs_batch(event, _deliver, postpone=_postponer("deliver_result"))
