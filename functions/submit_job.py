"""submit_job (queue target): send one job to KIE and record its task id.

2xx when the job was submitted, finished, or can never be (the queue stops);
503 with Retry-After only when trying again later can help; 409 while another
attempt holds the job's lease.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

import functions_framework
from flask import Request

from shared.bootstrap import get_job_service, observe
from shared.jobs.service import JobNotFound, RetryLater
from shared.observability import metrics

log = logging.getLogger("kie_studio.submit_job")
Response = tuple[Mapping[str, object], int] | tuple[Mapping[str, object], int, Mapping[str, str]]


def job_id_of(request: Request) -> str | None:
    payload = request.get_json(silent=True)
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    try:
        return str(uuid.UUID(str(job_id))) if job_id else None
    except ValueError:
        return None


@functions_framework.http
def submit_job(request: Request) -> Response:
    observe(request.headers.get("X-Cloud-Trace-Context"))
    job_id = job_id_of(request)
    if job_id is None:
        log.error("submit_job: a task without a valid job_id was dropped")
        return {"status": "ignored", "reason": "no valid job_id"}, 200
    try:
        job = get_job_service().submit(job_id)
    except JobNotFound:
        return {"status": "ignored", "reason": "unknown job"}, 200
    except RetryLater as later:
        metrics.emit(metrics.QUEUE_RETRY, target="submit_job", job_id=job_id)
        body = {"status": "retry", "reason": str(later)}
        if later.retry_after_s is None:
            return body, later.http_status  # the queue's own backoff decides
        return body, later.http_status, {"Retry-After": str(max(1, round(later.retry_after_s)))}
    return {"status": "done", "job_id": job.id, "state": job.state.value}, 200
