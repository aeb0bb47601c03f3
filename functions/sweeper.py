"""sweeper (every minute): finish late jobs, expire overdue ones, requeue stuck work,
release expired holds, expire unpaid invoices, requeue unread receipts, credit dead-lettered
payments. One bounded pass per call (shared/sweep.py); always 200 with what it did."""

from __future__ import annotations

import functions_framework
from flask import Request

from shared.bootstrap import get_job_service, get_payments, get_task_queue, observe
from shared.sweep import run_sweep


@functions_framework.http
def sweeper(request: Request) -> tuple[dict[str, object], int]:
    observe(request.headers.get("X-Cloud-Trace-Context"))
    return run_sweep(get_job_service, get_payments, get_task_queue), 200
