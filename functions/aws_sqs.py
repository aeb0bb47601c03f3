"""AWS Lambda entry points for the queue targets, fed by SQS in batches.

Each record is one task; the answer lists only the records to retry (SQS's
partial batch failure), so one bad task never resends its batch-mates.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.bootstrap import get_job_service, observe
from shared.jobs.service import JobNotFound, RetryLater
from shared.queue.sqs import handle_sqs_batch


def _submit(payload: dict[str, Any]) -> bool:
    try:
        job_id = str(uuid.UUID(str(payload.get("job_id"))))
    except ValueError:
        return True  # not a job id, and retrying will not make it one: drop it
    try:
        get_job_service().submit(job_id)
    except JobNotFound:
        return True
    except RetryLater:
        return False
    return True


def submit_job(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    observe(None)
    return handle_sqs_batch(event, _submit)
