"""AWS Lambda entry points for the queue targets, fed by SQS in batches.

Each record is one task; the answer lists only the records to retry (SQS's
partial batch failure), so one bad task never resends its batch-mates.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.bootstrap import get_job_service, observe
from shared.jobs.service import JobNotFound, RetryLater
from shared.observability import metrics
from shared.queue.sqs import handle_sqs_batch


def _job_id(payload: dict[str, Any]) -> str | None:
    try:
        return str(uuid.UUID(str(payload.get("job_id"))))
    except ValueError:
        return None  # not a job id, and retrying will not make it one: drop it


def _submit(payload: dict[str, Any]) -> bool:
    job_id = _job_id(payload)
    if job_id is None:
        return True
    try:
        get_job_service().submit(job_id)
    except JobNotFound:
        return True
    except RetryLater:
        metrics.emit(metrics.QUEUE_RETRY, target="submit_job", job_id=job_id)
        return False
    return True


def _deliver(payload: dict[str, Any]) -> bool:
    from functions.deliver_result import deliver
    from shared.bot.thread_loop import run_on_thread_loop

    job_id = _job_id(payload)
    if job_id is None:
        return True
    try:
        again, progress = bool(payload.get("again")), bool(payload.get("progress"))
        # The thread's kept loop: deliver() uses the thread's Bot API session, bound to it.
        run_on_thread_loop(deliver(job_id, again, progress))
    except JobNotFound:
        return True
    except RetryLater:
        # SQS brings the record back after the queue's visibility timeout (720 s), much
        # later than Telegram's retry_after asks: docs/OPERATIONS.md says so.
        metrics.emit(metrics.QUEUE_RETRY, target="deliver_result", job_id=job_id)
        return False
    return True


def submit_job(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    observe(None)
    return handle_sqs_batch(event, _submit)


def deliver_result(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    observe(None)
    return handle_sqs_batch(event, _deliver)
