"""sweeper (every minute): finish late jobs, expire overdue ones, requeue stuck work,
release expired holds. One bounded pass per call; always 200 with what it did."""

from __future__ import annotations

import dataclasses

import functions_framework
from flask import Request

from shared.bootstrap import get_job_service, observe


@functions_framework.http
def sweeper(request: Request) -> tuple[dict[str, object], int]:
    observe(request.headers.get("X-Cloud-Trace-Context"))
    report = get_job_service().sweep()
    return dataclasses.asdict(report), 200
