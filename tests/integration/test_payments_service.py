"""The payments service on a real Postgres: each credit once, refusals change nothing."""

from __future__ import annotations

import threading

import pytest

from shared.adapters.db import Database
from shared.payments.errors import (
    AlreadyDecided,
    AmountMismatch,
    AmountOutOfBounds,
    DuplicateReceipt,
    MoneyAlreadySpent,
    PaymentExpired,
    PaymentNotFound,
    PaymentNotPending,
    PromoRefused,
    TransactionAlreadyCredited,
)
from shared.payments.growth import attach_referrer, create_promo, redeem_promo
from shared.payments.service import Payment, PaymentPolicy, Payments
from shared.services.ledger import Ledger
from shared.services.ledger_audit import audit_ledger
from shared.services.users import Account, open_account
from tests.ids import new_telegram_id

POLICY = PaymentPolicy(
    min_kopecks=10_000,
    max_kopecks=5_000_000,
    kopecks_per_star=130,
    ttl_s=3600,
    referral_bonus_kopecks=5_000,
)


@pytest.fixture
def payments(db: Database, ledger: Ledger) -> Payments:
    return Payments(db, ledger, POLICY)


def new_account(db: Database) -> tuple[Account, int]:
    telegram_id = new_telegram_id()
    return open_account(db, telegram_id), telegram_id


def balance(ledger: Ledger, account: Account) -> int:
    return ledger.balance(account.wallet_id).balance_kopecks


def pay(payments: Payments, payment: Payment, charge: str) -> int:
    credited = payments.credit_paid(
        payment.payload,
        payment.telegram_id,
        payment.currency,
        payment.invoice_amount,
        charge,
        "provider-1",
    )
    return 0 if credited.replayed else credited.entry.amount_kopecks


def test_stars_price_rounds_up_and_credits_what_was_paid(db: Database, payments: Payments) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "stars", 50_000)
    assert (payment.currency, payment.invoice_amount) == ("XTR", 385)  # 50000/130 = 384.6
    assert payment.amount_kopecks == 385 * 130


def test_a_successful_payment_delivered_twice_credits_once(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "card", 50_000)
    payments.check_pre_checkout(payment.payload, payment.telegram_id, "RUB", 50_000)
    assert pay(payments, payment, "charge-a") == 50_000
    assert pay(payments, payment, "charge-a") == 0
    assert balance(ledger, account) == 50_000
    assert payments.get(payment.id).status == "credited"
    # A second, different charge for a credited invoice is refused, not credited.
    with pytest.raises(PaymentNotPending):
        pay(payments, payment, "charge-b")
    assert balance(ledger, account) == 50_000
    assert audit_ledger(db).ok


def test_concurrent_deliveries_of_one_payment_credit_once(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "stars", 30_000)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(pay(payments, payment, "stx-1")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0] * 7 + [payment.amount_kopecks]
    assert balance(ledger, account) == payment.amount_kopecks


@pytest.mark.parametrize(
    ("currency", "amount", "error"),
    [("RUB", 50_001, AmountMismatch), ("XTR", 50_000, AmountMismatch)],
)
def test_pre_checkout_with_a_wrong_amount_or_currency_is_declined(
    db: Database, payments: Payments, currency: str, amount: int, error: type[Exception]
) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "card", 50_000)
    with pytest.raises(error):
        payments.check_pre_checkout(payment.payload, payment.telegram_id, currency, amount)


def test_pre_checkout_for_an_expired_paid_or_unknown_payload_is_declined(
    db: Database, payments: Payments
) -> None:
    account, _ = new_account(db)
    expired = payments.create(account.user_id, "stars", 30_000)
    db.run("UPDATE payments SET expires_at = now() - interval '1 s' WHERE id = :id", id=expired.id)
    with pytest.raises(PaymentExpired):
        payments.check_pre_checkout(expired.payload, expired.telegram_id, "XTR", 231)
    paid = payments.create(account.user_id, "stars", 30_000)
    pay(payments, paid, "stx-paid")
    with pytest.raises(PaymentNotPending):
        payments.check_pre_checkout(paid.payload, paid.telegram_id, "XTR", paid.invoice_amount)
    with pytest.raises(PaymentNotFound):
        payments.check_pre_checkout("pay_forged", paid.telegram_id, "XTR", 231)
    # Someone else's payload is not theirs to pay.
    with pytest.raises(PaymentNotFound):
        payments.check_pre_checkout(expired.payload, new_telegram_id(), "XTR", 231)


def test_amounts_outside_the_bounds_are_refused(db: Database, payments: Payments) -> None:
    account, _ = new_account(db)
    for kopecks in (9_999, 5_000_001):
        with pytest.raises(AmountOutOfBounds):
            payments.create(account.user_id, "card", kopecks)


def transfer_in_review(db: Database, payments: Payments, sha: str) -> Payment:
    account, telegram_id = new_account(db)
    payment = payments.create(account.user_id, "transfer", 100_000)
    assert payment.transfer_code and payment.transfer_code.startswith("KS-")
    payments.attach_receipt(payment.id, telegram_id, "file-1")
    payment, first = payments.record_reading(
        payment.id, sha, {"amount_kopecks": 100_000, "transaction_id": f"T{sha[:10]}"}
    )
    assert first
    return payment


def test_an_approval_credits_once_and_a_second_is_refused(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    payment = transfer_in_review(db, payments, "a" * 63 + "1")
    credited = payments.approve(payment.id, admin_id=1, kopecks=99_000)
    assert credited.entry.amount_kopecks == 99_000
    with pytest.raises(AlreadyDecided):
        payments.approve(payment.id, admin_id=1)
    with pytest.raises(AlreadyDecided):
        payments.reject(payment.id, admin_id=1, reason="late")
    assert ledger.balance(payment.wallet_id).balance_kopecks == 99_000


def test_the_same_receipt_image_cannot_pay_twice(db: Database, payments: Payments) -> None:
    sha = "b" * 63 + "2"
    transfer_in_review(db, payments, sha)
    account, telegram_id = new_account(db)
    other = payments.create(account.user_id, "transfer", 100_000)
    payments.attach_receipt(other.id, telegram_id, "file-2")
    with pytest.raises(DuplicateReceipt):
        payments.record_reading(other.id, sha, {})


def test_a_receipt_rejected_once_can_back_a_new_transfer(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    """Rejected as "transfer not found yet": the same genuine receipt, sent with a new
    transfer once the money arrived, is read and credited."""
    sha = "e" * 63 + "5"
    first = transfer_in_review(db, payments, sha)
    payments.reject(first.id, admin_id=1, reason="перевод ещё не пришёл")
    assert payments.get(first.id).status == "rejected"
    account = db.run("SELECT telegram_id FROM users WHERE id = :u", u=first.user_id)[0][0]
    again = payments.create(first.user_id, "transfer", 100_000)
    payments.attach_receipt(again.id, account, "file-again")
    again, _ = payments.record_reading(again.id, sha, {})
    assert payments.approve(again.id, admin_id=1).entry.amount_kopecks == 100_000
    assert ledger.balance(first.wallet_id).balance_kopecks == 100_000
    # A receipt that backs a credited transfer still cannot back another.
    other = payments.create(first.user_id, "transfer", 100_000)
    payments.attach_receipt(other.id, account, "file-other")
    with pytest.raises(DuplicateReceipt):
        payments.record_reading(other.id, sha, {})


def test_the_same_transaction_id_cannot_be_credited_twice(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    first = transfer_in_review(db, payments, "c" * 63 + "3")
    payments.approve(first.id, admin_id=1)
    account, telegram_id = new_account(db)
    second = payments.create(account.user_id, "transfer", 100_000)
    payments.attach_receipt(second.id, telegram_id, "file-3")
    second, _ = payments.record_reading(
        second.id, "d" * 63 + "4", {"transaction_id": first.transaction_id}
    )
    assert payments.duplicate_transaction(second)
    with pytest.raises(TransactionAlreadyCredited):
        payments.approve(second.id, admin_id=1)
    assert ledger.balance(account.wallet_id).balance_kopecks == 0
    assert payments.get(second.id).status == "review"


def test_a_stars_refund_takes_the_money_back_or_is_refused_when_spent(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "stars", 30_000)
    pay(payments, payment, "stx-refund")
    _, hold_ref = payments.begin_refund(payment.id, admin_id=1)
    _, again = payments.begin_refund(payment.id, admin_id=1)  # a repeat reserves nothing more
    assert again == hold_ref
    assert ledger.balance(account.wallet_id).available_kopecks == 0
    refunded = payments.finish_refund(payment.id, hold_ref, refunded=True)
    assert refunded.status == "refunded"
    assert ledger.balance(account.wallet_id).balance_kopecks == 0

    spent, _ = new_account(db)
    paid = payments.create(spent.user_id, "stars", 30_000)
    pay(payments, paid, "stx-spent")
    ledger.hold(spent.wallet_id, 10_000, f"job:{paid.id}")
    with pytest.raises(MoneyAlreadySpent):
        payments.begin_refund(paid.id, admin_id=1)
    assert payments.get(paid.id).status == "credited"
    assert audit_ledger(db).ok


def test_a_refused_refund_gives_the_reserved_money_back(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "stars", 30_000)
    pay(payments, payment, "stx-refused")
    _, first = payments.begin_refund(payment.id, admin_id=1)
    assert payments.finish_refund(payment.id, first, refunded=False).status == "credited"
    assert ledger.balance(account.wallet_id).available_kopecks == payment.amount_kopecks
    # Asked again later: a new reservation (the released one cannot hold anything), and
    # this time Telegram refunds, so the money goes.
    _, second = payments.begin_refund(payment.id, admin_id=1)
    assert second != first
    assert ledger.balance(account.wallet_id).available_kopecks == 0
    assert payments.finish_refund(payment.id, second, refunded=True).status == "refunded"
    assert ledger.balance(account.wallet_id).balance_kopecks == 0
    assert audit_ledger(db).ok


def test_a_promo_code_credits_once_per_user_within_its_uses(db: Database, ledger: Ledger) -> None:
    code = f"SPRING{new_telegram_id() % 10**6}"
    create_promo(db, code, 10_000, max_uses=2, days=7)
    first, _ = new_account(db)
    assert redeem_promo(db, ledger, first.user_id, code.lower()).amount_kopecks == 10_000
    with pytest.raises(PromoRefused, match="used"):
        redeem_promo(db, ledger, first.user_id, code)
    second, _ = new_account(db)
    redeem_promo(db, ledger, second.user_id, code)
    third, _ = new_account(db)
    with pytest.raises(PromoRefused, match="used_up"):
        redeem_promo(db, ledger, third.user_id, code)
    assert balance(ledger, first) == 10_000
    assert balance(ledger, third) == 0


def test_unknown_and_expired_promo_codes_credit_nothing(db: Database, ledger: Ledger) -> None:
    account, _ = new_account(db)
    with pytest.raises(PromoRefused, match="unknown"):
        redeem_promo(db, ledger, account.user_id, "NOSUCHCODE")
    code = f"OLD{new_telegram_id() % 10**6}"
    create_promo(db, code, 10_000, max_uses=5, days=1)
    db.run("UPDATE promo_codes SET expires_at = now() - interval '1 s' WHERE code = :c", c=code)
    with pytest.raises(PromoRefused, match="expired"):
        redeem_promo(db, ledger, account.user_id, code)
    assert balance(ledger, account) == 0
    assert db.run("SELECT used FROM promo_codes WHERE code = :c", c=code) == [[0]]


def test_the_referral_bonus_arrives_once_on_the_first_paid_top_up(
    db: Database, payments: Payments, ledger: Ledger
) -> None:
    referrer, referrer_tg = new_account(db)
    referee, _ = new_account(db)
    assert attach_referrer(db, referee.user_id, referrer_tg)
    assert not attach_referrer(db, referee.user_id, referrer_tg)  # kept once
    first = payments.create(referee.user_id, "card", 50_000)
    assert pay(payments, first, "ref-charge-1") == 50_000
    second = payments.create(referee.user_id, "card", 50_000)
    pay(payments, second, "ref-charge-2")
    assert balance(ledger, referrer) == POLICY.referral_bonus_kopecks


def test_no_self_referral_no_loop_no_unknown_referrer(db: Database) -> None:
    a, a_tg = new_account(db)
    b, b_tg = new_account(db)
    assert not attach_referrer(db, a.user_id, a_tg)
    assert attach_referrer(db, b.user_id, a_tg)
    assert not attach_referrer(db, a.user_id, b_tg)  # a → b → a would be a loop
    assert not attach_referrer(db, a.user_id, new_telegram_id())


def test_unpaid_payments_expire(db: Database, payments: Payments) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "stars", 30_000)
    db.run("UPDATE payments SET expires_at = now() - interval '1 s' WHERE id = :id", id=payment.id)
    assert payments.expire_pending() >= 1
    assert payments.get(payment.id).status == "expired"
    assert payments.events(payment.id) == ["created", "expired"]


def test_receipts_left_unread_are_found_for_the_sweeper(db: Database, payments: Payments) -> None:
    account, telegram_id = new_account(db)
    payment = payments.create(account.user_id, "transfer", 100_000)
    payments.attach_receipt(payment.id, telegram_id, "photo:file-late")
    assert payment.id not in payments.unread_receipts(older_than_s=300)
    db.run(
        "UPDATE payments SET updated_at = now() - interval '10 minutes' WHERE id = :id",
        id=payment.id,
    )
    assert payment.id in payments.unread_receipts(older_than_s=300)
    payments.record(payment.id, "admin_notified", {})
    assert payment.id not in payments.unread_receipts(older_than_s=300)


def test_the_audit_catches_a_credited_payment_without_its_top_up(
    db: Database, payments: Payments
) -> None:
    account, _ = new_account(db)
    payment = payments.create(account.user_id, "card", 50_000)
    pay(payments, payment, "audit-charge")
    assert "credited payments = top-ups" not in audit_ledger(db).violations
    # A credit recorded on the payment but never made in the ledger: a lost kopeck.
    ghost = payments.create(account.user_id, "card", 50_000)
    db.run(
        "UPDATE payments SET status = 'credited', credited_kopecks = 50000, "
        "telegram_charge_id = 'never-paid' WHERE id = :id",
        id=ghost.id,
    )
    found = audit_ledger(db).violations["credited payments = top-ups"]
    assert any(f"payment {ghost.id} is credited" in line for line in found)
    db.run("UPDATE payments SET status = 'expired' WHERE id = :id", id=ghost.id)
    assert "credited payments = top-ups" not in audit_ledger(db).violations
