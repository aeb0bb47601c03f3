"""sweeper (every minute): finish late jobs, expire overdue ones, requeue stuck work,
release expired holds, expire unpaid invoices, requeue unread receipts. One bounded
pass per call; always 200 with what it did."""

from __future__ import annotations

import dataclasses
import logging
import time

import functions_framework
from flask import Request

from shared.bootstrap import get_database, get_job_service, get_task_queue, observe

RECEIPT_OCR_LATE_S = 300
log = logging.getLogger("kie_studio.sweeper")


@functions_framework.http
def sweeper(request: Request) -> tuple[dict[str, object], int]:
    observe(request.headers.get("X-Cloud-Trace-Context"))
    report: dict[str, object] = {}
    try:
        report.update(dataclasses.asdict(get_job_service().sweep()))
    except Exception as error:
        # The payments' share (expiring invoices, crediting dead-lettered payments) must
        # not wait for the jobs' share to be fixed.
        log.exception("ALERT sweeper jobs: %s", error)
        report["job_errors"] = [str(error)]
    report.update(sweep_payments())
    return report, 200


def sweep_payments() -> dict[str, object]:
    """The payments' share of the pass; each part runs even when another fails."""
    from shared.payments.setup import payments_for

    payments = payments_for(get_database())
    report: dict[str, object] = {}
    errors: list[str] = []
    try:
        report["payments_expired"] = payments.expire_pending()
    except Exception as error:
        errors.append(f"expire_pending: {error}")
    try:
        late = payments.unread_receipts(RECEIPT_OCR_LATE_S)
        minute = int(time.time() // 60)
        for payment_id in late:
            name = f"ocr-{payment_id}-sweep-{minute}"
            get_task_queue().enqueue("ocr_receipt", {"payment_id": payment_id}, name=name)
        report["receipts_requeued"] = len(late)
    except Exception as error:
        errors.append(f"unread_receipts: {error}")
    try:
        dead_letters = payments.retry_dead_letters()
        for outcome in dead_letters:
            # Credited needs no one; a refusal or an error means money a person must match.
            credited = outcome.endswith(("credited", "replayed"))
            (log.warning if credited else log.error)("payment dead letter %s", outcome)
        report["payment_dead_letters"] = len(dead_letters)
    except Exception as error:
        errors.append(f"retry_dead_letters: {error}")
    if errors:
        log.error("ALERT sweeper payments: %s", "; ".join(errors))
        report["payment_errors"] = errors
    return report
