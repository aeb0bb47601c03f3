"""AWS Lambda entry point for the sweeper, called by an EventBridge schedule every minute:
the same pass as functions/sweeper (shared/sweep.py)."""

from __future__ import annotations

from typing import Any

from shared.bootstrap import get_job_service, get_payments, get_task_queue, observe
from shared.sweep import run_sweep


def sweeper(event: dict[str, Any], context: object) -> dict[str, object]:
    observe(None)
    return run_sweep(get_job_service, get_payments, get_task_queue)
