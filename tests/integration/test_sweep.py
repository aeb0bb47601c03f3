"""The sweeper's whole pass (shared/sweep.py) on a real Postgres, as both platforms call it:
the payments' share runs even when the jobs' share fails, and the AWS schedule's handler
does the same pass as the Cloud Function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.adapters.db import Database
from shared.payments.service import Payment, PaymentPolicy, Payments
from shared.queue.port import TaskQueue
from shared.services.ledger import Ledger
from shared.services.users import open_account
from shared.sweep import run_sweep
from tests.bootstrap_caches import clear_bootstrap_caches
from tests.conftest import DatabaseFactory
from tests.ids import new_telegram_id

POLICY = PaymentPolicy(min_kopecks=10_000, max_kopecks=5_000_000, kopecks_per_star=130, ttl_s=3600)


def overdue_invoice(db: Database, payments: Payments) -> Payment:
    account = open_account(db, new_telegram_id())
    payment = payments.create(account.user_id, "stars", 30_000)
    db.run("UPDATE payments SET expires_at = now() - interval '1 s' WHERE id = :id", id=payment.id)
    return payment


def no_queue() -> TaskQueue:
    raise AssertionError("nothing here should be enqueued")


def test_unpaid_invoices_expire_even_when_the_jobs_share_fails(
    db: Database, ledger: Ledger
) -> None:
    payments = Payments(db, ledger, POLICY)
    payment = overdue_invoice(db, payments)

    def broken_jobs() -> object:
        raise RuntimeError("the jobs' share is down")

    report = run_sweep(broken_jobs, lambda: payments, no_queue)  # type: ignore[arg-type]
    assert report["job_errors"] == ["the jobs' share is down"]
    assert isinstance(report["payments_expired"], int) and report["payments_expired"] >= 1
    assert payments.get(payment.id).status == "expired"


@pytest.fixture
def aws_environment(
    make_test_database: DatabaseFactory, pg_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    from shared import bootstrap

    db = make_test_database()
    monkeypatch.setenv("DATABASE_URL", pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database)
    clear_bootstrap_caches()
    yield db
    bootstrap.get_database().close()
    clear_bootstrap_caches()


def test_the_aws_schedule_runs_the_payments_share_too(aws_environment: Database) -> None:
    from functions import aws_schedule
    from shared.bootstrap import get_payments

    payment = overdue_invoice(aws_environment, get_payments())
    report = aws_schedule.sweeper({"source": "aws.events"}, None)
    assert "holds_expired" in report  # the jobs' share ran
    assert isinstance(report["payments_expired"], int) and report["payments_expired"] >= 1
    assert get_payments().get(payment.id).status == "expired"
