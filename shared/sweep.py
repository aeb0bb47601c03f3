"""The sweeper's whole pass, the same on every platform (Cloud Scheduler → functions/sweeper,
EventBridge → functions/aws_schedule): the jobs' share, then the payments' share. Each
part runs even when another fails, and the answer says what failed."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.jobs.service import JobService
    from shared.payments.service import Payments
    from shared.queue.port import TaskQueue

RECEIPT_OCR_LATE_S = 300
log = logging.getLogger("kie_studio.sweeper")


def run_sweep(
    jobs: Callable[[], JobService],
    payments: Callable[[], Payments],
    queue: Callable[[], TaskQueue],
) -> dict[str, object]:
    report: dict[str, object] = {}
    try:
        report.update(dataclasses.asdict(jobs().sweep()))
    except Exception as error:
        # The payments' share (expiring invoices, crediting dead-lettered payments) must
        # not wait for the jobs' share to be fixed.
        log.exception("ALERT sweeper jobs: %s", error)
        report["job_errors"] = [str(error)]
    report.update(sweep_payments(payments, queue))
    return report


def sweep_payments(
    payments: Callable[[], Payments], queue: Callable[[], TaskQueue]
) -> dict[str, object]:
    """Expire unpaid invoices, send unread receipts to OCR again, credit dead letters."""
    report: dict[str, object] = {}
    errors: list[str] = []
    try:
        service = payments()
    except Exception as error:
        log.exception("ALERT sweeper payments: %s", error)
        return {"payment_errors": [f"setup: {error}"]}
    try:
        report["payments_expired"] = service.expire_pending()
    except Exception as error:
        errors.append(f"expire_pending: {error}")
    try:
        late = service.unread_receipts(RECEIPT_OCR_LATE_S)
        minute = int(time.time() // 60)
        for payment_id in late:
            name = f"ocr-{payment_id}-sweep-{minute}"
            queue().enqueue("ocr_receipt", {"payment_id": payment_id}, name=name)
        report["receipts_requeued"] = len(late)
    except Exception as error:
        errors.append(f"unread_receipts: {error}")
    try:
        dead_letters = service.retry_dead_letters()
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
