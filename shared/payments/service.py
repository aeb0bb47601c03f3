"""Payments: create, check, credit, review, refund. Every credit is one transaction that
moves the payment's state and writes the ledger entry together, with a ref derived from
the external id, so a repeated update, a double press or a retry credits nothing twice.

Telegram-free on purpose: the bot's handlers and the OCR function both call it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.adapters.db import Database, PooledConnection, sqlstate
from shared.domain.ledger import InsufficientFunds, LedgerEntry
from shared.payments.codes import new_payment_code
from shared.payments.errors import (
    AlreadyDecided,
    AmountMismatch,
    AmountOutOfBounds,
    DuplicateReceipt,
    MoneyAlreadySpent,
    NotRefundable,
    PaymentError,
    PaymentExpired,
    PaymentNotFound,
    PaymentNotPending,
    ReceiptInReview,
    TransactionAlreadyCredited,
)
from shared.services.ledger import Ledger

Method = Literal["stars", "card", "transfer"]
REFUND_HOLD_TTL_S = 7 * 24 * 3600  # a refund's money stays reserved until Telegram answers

_COLUMNS = (
    "p.id, p.user_id, u.telegram_id, w.id, p.method, p.status, p.amount_kopecks, p.currency, "
    "p.invoice_amount, p.payload, p.transfer_code, p.telegram_charge_id, p.receipt_file_id, "
    "p.transaction_id, p.ocr, p.credited_kopecks, p.reject_reason, p.expires_at, "
    "p.expires_at < now(), u.language"
)
_FROM = "payments p JOIN users u ON u.id = p.user_id JOIN wallets w ON w.user_id = p.user_id"


@dataclass(frozen=True)
class PaymentPolicy:
    min_kopecks: int
    max_kopecks: int
    kopecks_per_star: int
    ttl_s: int
    referral_bonus_kopecks: int = 0


@dataclass(frozen=True)
class Payment:
    id: int
    user_id: int
    telegram_id: int
    wallet_id: int
    method: Method
    status: str
    amount_kopecks: int
    currency: str
    invoice_amount: int
    payload: str
    transfer_code: str | None
    telegram_charge_id: str | None
    receipt_file_id: str | None
    transaction_id: str | None
    ocr: dict[str, Any] | None
    credited_kopecks: int | None
    reject_reason: str | None
    expires_at: datetime
    expired: bool
    language: str


@dataclass(frozen=True)
class Credited:
    payment: Payment
    entry: LedgerEntry
    replayed: bool  # this call found the credit already made
    referral_bonus: ReferralBonus | None = None


@dataclass(frozen=True)
class ReferralBonus:
    referrer_telegram_id: int
    amount_kopecks: int
    language: str


def _payment(row: list[Any]) -> Payment:
    ocr = row[14]
    return Payment(
        id=row[0],
        user_id=row[1],
        telegram_id=row[2],
        wallet_id=row[3],
        method=row[4],
        status=row[5],
        amount_kopecks=row[6],
        currency=row[7],
        invoice_amount=row[8],
        payload=row[9],
        transfer_code=row[10],
        telegram_charge_id=row[11],
        receipt_file_id=row[12],
        transaction_id=row[13],
        ocr=json.loads(ocr) if isinstance(ocr, str) else ocr,
        credited_kopecks=row[15],
        reject_reason=row[16],
        expires_at=row[17],
        expired=bool(row[18]),
        language=row[19],
    )


def stars_for(kopecks: int, kopecks_per_star: int) -> int:
    """Whole Stars that cover `kopecks` (rounded up: the user never gets less than chosen)."""
    return max(1, -(-kopecks // kopecks_per_star))  # integer ceiling: money never passes a float


class Payments:
    def __init__(self, db: Database, ledger: Ledger, policy: PaymentPolicy) -> None:
        self._db = db
        self._ledger = ledger
        self._policy = policy

    # --- reads -------------------------------------------------------------------------
    def get(self, payment_id: int) -> Payment:
        rows = self._db.run(f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.id = :id", id=payment_id)
        if not rows:
            raise PaymentNotFound(str(payment_id))
        return _payment(rows[0])

    def by_payload(self, payload: str) -> Payment:
        rows = self._db.run(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.payload = :payload", payload=payload
        )
        if not rows:
            raise PaymentNotFound(payload)
        return _payment(rows[0])

    def events(self, payment_id: int) -> list[str]:
        rows = self._db.run(
            "SELECT kind FROM payment_events WHERE payment_id = :id ORDER BY id", id=payment_id
        )
        return [row[0] for row in rows]

    # --- creating ----------------------------------------------------------------------
    def check_amount(self, kopecks: int) -> int:
        if not self._policy.min_kopecks <= kopecks <= self._policy.max_kopecks:
            raise AmountOutOfBounds(kopecks, self._policy.min_kopecks, self._policy.max_kopecks)
        return kopecks

    def create(self, user_id: int, method: Method, kopecks: int) -> Payment:
        """A pending payment for `kopecks` chosen by the user: an invoice (Stars, card) or
        a transfer with its code. The payload is random, so it names one payment only."""
        self.check_amount(kopecks)
        if method == "stars":
            stars = stars_for(kopecks, self._policy.kopecks_per_star)
            currency, invoice_amount = "XTR", stars
            amount = stars * self._policy.kopecks_per_star
        else:
            currency, invoice_amount, amount = "RUB", kopecks, kopecks
        code = new_payment_code() if method == "transfer" else None
        payload = f"pay_{secrets.token_urlsafe(16)}"
        rows = self._db.run(
            "INSERT INTO payments (user_id, method, amount_kopecks, currency, invoice_amount, "
            "payload, transfer_code, expires_at) VALUES (:user_id, :method, :amount, :currency, "
            ":invoice_amount, :payload, :code, now() + make_interval(secs => :ttl)) RETURNING id",
            user_id=user_id,
            method=method,
            amount=amount,
            currency=currency,
            invoice_amount=invoice_amount,
            payload=payload,
            code=code,
            ttl=self._policy.ttl_s,
        )
        self.record(rows[0][0], "created", {"method": method, "amount_kopecks": amount})
        return self.get(rows[0][0])

    def record(self, payment_id: int, kind: str, data: dict[str, Any] | None = None) -> None:
        self._db.run(
            "INSERT INTO payment_events (payment_id, kind, data) VALUES (:id, :kind, :data)",
            id=payment_id,
            kind=kind,
            data=json.dumps(data or {}),
        )

    # --- invoices: pre-checkout and successful payment ---------------------------------
    def check_pre_checkout(
        self, payload: str, telegram_id: int, currency: str, total_amount: int
    ) -> Payment:
        """The payment behind a pre-checkout query, if it may still be paid; else an error."""
        payment = self.by_payload(payload)
        self._check_invoice(payment, telegram_id, currency, total_amount)
        if payment.status != "pending":
            raise PaymentNotPending(payment.id, payment.status)
        if payment.expired:
            raise PaymentExpired(payment.id)
        return payment

    def _check_invoice(
        self, payment: Payment, telegram_id: int, currency: str, total_amount: int
    ) -> None:
        if payment.method == "transfer" or payment.telegram_id != telegram_id:
            raise PaymentNotFound(payment.payload)
        if payment.currency != currency or payment.invoice_amount != total_amount:
            raise AmountMismatch(payment.id, payment.invoice_amount, total_amount)

    def credit_paid(
        self,
        payload: str,
        telegram_id: int,
        currency: str,
        total_amount: int,
        telegram_charge_id: str,
        provider_charge_id: str | None,
    ) -> Credited:
        """Credit a successful payment once, keyed on Telegram's charge id."""
        payment = self.by_payload(payload)
        self._check_invoice(payment, telegram_id, currency, total_amount)
        ref = f"tgcharge:{telegram_charge_id}"

        def work(conn: PooledConnection) -> Credited:
            locked = self._lock(conn, payment.id)
            if locked.status == "credited" and locked.telegram_charge_id != telegram_charge_id:
                raise PaymentNotPending(payment.id, locked.status)  # paid twice: a new charge
            if locked.status not in ("pending", "expired", "credited"):
                raise PaymentNotPending(payment.id, locked.status)
            # Accepted even when expired: the pre-checkout was answered while it was valid
            # and Telegram has taken the money.
            return self._credit(
                conn,
                locked,
                locked.amount_kopecks,
                ref,
                set_sql="telegram_charge_id = :charge, provider_charge_id = :provider",
                charge=telegram_charge_id,
                provider=provider_charge_id,
            )

        return self._db.in_transaction(work)

    # --- manual transfer ---------------------------------------------------------------
    def attach_receipt(self, payment_id: int, telegram_id: int, file_id: str) -> Payment:
        """The user's receipt image for a pending transfer (read by OCR next)."""
        payment = self.get(payment_id)
        if payment.telegram_id != telegram_id or payment.method != "transfer":
            raise PaymentNotFound(str(payment_id))
        rows = self._db.run(
            "UPDATE payments SET receipt_file_id = :file_id, status = 'review', updated_at = now()"
            " WHERE id = :id AND status = 'pending' AND expires_at > now() RETURNING id",
            id=payment_id,
            file_id=file_id,
        )
        if not rows:
            if payment.status == "review":
                raise ReceiptInReview(payment_id)  # one receipt at a time per transfer
            if payment.status == "pending":
                raise PaymentExpired(payment_id)
            raise PaymentNotPending(payment_id, payment.status)
        self.record(payment_id, "receipt_received", {"file_id": file_id})
        return self.get(payment_id)

    def record_reading(
        self, payment_id: int, sha256: str, reading: dict[str, Any]
    ) -> tuple[Payment, bool]:
        """Keep the receipt's hash and what OCR read. Returns (payment, first_time).
        The same image on another payment is refused: it cannot pay twice."""
        txn = reading.get("transaction_id")
        try:
            rows = self._db.run(
                "UPDATE payments SET receipt_sha256 = :sha, ocr = :ocr, transaction_id = :txn, "
                "updated_at = now() WHERE id = :id AND (receipt_sha256 IS NULL "
                "OR receipt_sha256 = :sha) RETURNING (xmax = 0)",
                id=payment_id,
                sha=sha256,
                ocr=json.dumps(reading),
                txn=txn if isinstance(txn, str) and txn else None,
            )
        except Exception as error:
            if sqlstate(error) == "23505":
                raise DuplicateReceipt(payment_id) from None
            raise
        if not rows:
            raise DuplicateReceipt(payment_id)
        first = not self._has_event(payment_id, "receipt_read")
        if first:
            self.record(payment_id, "receipt_read", reading)
        return self.get(payment_id), first

    def awaiting_receipt(self, telegram_id: int) -> int | None:
        """The user's newest open transfer: waiting for its receipt, or with an admin (so a
        second picture is answered, not ignored)."""
        rows = self._db.run(
            "SELECT p.id FROM payments p JOIN users u ON u.id = p.user_id "
            "WHERE u.telegram_id = :tg AND p.method = 'transfer' "
            "AND p.status IN ('pending', 'review') "
            "AND p.expires_at > now() ORDER BY p.id DESC LIMIT 1",
            tg=telegram_id,
        )
        return int(rows[0][0]) if rows else None

    def reject_receipt(self, payment_id: int, reason: str) -> Payment:
        """The system refuses a receipt (a duplicate, not an image): back to pending."""
        self._db.run(
            "UPDATE payments SET status = 'pending', receipt_file_id = NULL, receipt_sha256 = NULL,"
            " ocr = NULL, transaction_id = NULL, updated_at = now() "
            "WHERE id = :id AND status = 'review'",
            id=payment_id,
        )
        self.record(payment_id, "receipt_refused", {"reason": reason})
        return self.get(payment_id)

    def admins_notified(self, payment_id: int) -> set[int]:
        """The admins who already have this receipt's card."""
        rows = self._db.run(
            "SELECT (data->>'admin')::bigint FROM payment_events "
            "WHERE payment_id = :id AND kind = 'admin_notified' AND data ? 'admin'",
            id=payment_id,
        )
        return {int(row[0]) for row in rows}

    def duplicate_transaction(self, payment: Payment) -> bool:
        """Whether the transaction id OCR found was already credited on another payment."""
        if not payment.transaction_id:
            return False
        rows = self._db.run(
            "SELECT 1 FROM payments WHERE transaction_id = :txn AND id <> :id "
            "AND status IN ('credited', 'refunded')",
            txn=payment.transaction_id,
            id=payment.id,
        )
        return bool(rows)

    def approve(self, payment_id: int, admin_id: int, kopecks: int | None = None) -> Credited:
        """An admin's approval of a transfer: credits once; a second approval is refused."""

        def work(conn: PooledConnection) -> Credited:
            locked = self._lock(conn, payment_id)
            if locked.method != "transfer":
                raise PaymentNotFound(str(payment_id))
            if locked.status != "review":
                raise AlreadyDecided(payment_id, locked.status)
            amount = self.check_amount(kopecks if kopecks is not None else locked.amount_kopecks)
            try:
                return self._credit(
                    conn,
                    locked,
                    amount,
                    f"transfer:{payment_id}",
                    set_sql="decided_by = :admin",
                    admin=admin_id,
                )
            except Exception as error:
                if sqlstate(error) == "23505" and locked.transaction_id:
                    raise TransactionAlreadyCredited(payment_id, locked.transaction_id) from None
                raise

        return self._db.in_transaction(work)

    def reject(self, payment_id: int, admin_id: int, reason: str) -> Payment:
        # The receipt's hash is let go: "transfer not found yet" is a common reason, and the
        # same genuine receipt must be able to back a new transfer once the money arrives.
        rows = self._db.run(
            "UPDATE payments SET status = 'rejected', decided_by = :admin, reject_reason = :reason,"
            " receipt_sha256 = NULL, updated_at = now()"
            " WHERE id = :id AND method = 'transfer' AND status = 'review'"
            " RETURNING (SELECT receipt_sha256 FROM payments WHERE id = :id)",
            id=payment_id,
            admin=admin_id,
            reason=reason[:500],
        )
        if not rows:
            raise AlreadyDecided(payment_id, self.get(payment_id).status)
        self.record(
            payment_id,
            "rejected",
            {"admin": admin_id, "reason": reason[:500], "receipt_sha256": rows[0][0]},
        )
        return self.get(payment_id)

    # --- Stars refunds -----------------------------------------------------------------
    def begin_refund(self, payment_id: int, admin_id: int) -> tuple[Payment, str]:
        """Reserve the credited money before asking Telegram to refund: refused when the
        user has already spent it. Returns the payment and the reservation's hold ref.

        Each attempt has its own hold (`refund:<id>:<n>`): a repeat after a crash finds the
        open one again, and a retry after a refused or expired attempt opens a new one (a
        ref that was released cannot reserve anything again)."""
        payment = self.get(payment_id)
        if payment.method != "stars" or payment.telegram_charge_id is None:
            raise NotRefundable(payment_id, "only a Stars payment can be refunded here")
        if payment.status == "refunded":
            raise AlreadyDecided(payment_id, payment.status)
        if payment.status != "credited" or payment.credited_kopecks is None:
            raise NotRefundable(payment_id, f"the payment is {payment.status}")
        attempts = self._db.run(
            "SELECT ref, status FROM holds WHERE ref LIKE :prefix ORDER BY id",
            prefix=f"refund:{payment_id}:%",
        )
        for ref, status in attempts:
            if status == "open":
                return payment, str(ref)  # the same attempt, repeated
        hold_ref = f"refund:{payment_id}:{len(attempts) + 1}"
        try:
            self._ledger.hold(
                payment.wallet_id, payment.credited_kopecks, hold_ref, ttl_s=REFUND_HOLD_TTL_S
            )
        except InsufficientFunds as error:
            raise MoneyAlreadySpent(
                payment_id, payment.credited_kopecks, error.available_kopecks
            ) from None
        self.record(payment_id, "refund_requested", {"admin": admin_id, "hold": hold_ref})
        return payment, hold_ref

    def finish_refund(
        self, payment_id: int, hold_ref: str, refunded: bool, detail: str = ""
    ) -> Payment:
        """Take the reserved money when Telegram refunded the Stars, else give it back."""
        if refunded:

            def work(conn: PooledConnection) -> None:
                self._ledger.capture(hold_ref, f"{hold_ref}:done", conn=conn)
                conn.run_prepared(
                    "UPDATE payments SET status = 'refunded', updated_at = now() WHERE id = :id",
                    id=payment_id,
                )

            self._db.in_transaction(work)
            self.record(payment_id, "refunded", {"hold": hold_ref})
        else:
            self._ledger.release(hold_ref, f"{hold_ref}:undo", reason="refund refused")
            self.record(payment_id, "refund_refused", {"detail": detail[:500]})
        return self.get(payment_id)

    # --- housekeeping ------------------------------------------------------------------
    def expire_pending(self, limit: int = 500) -> int:
        """Unpaid invoices and transfers past their time: no longer payable (sweeper)."""
        rows = self._db.run(
            "WITH expired AS (UPDATE payments SET status = 'expired', updated_at = now() "
            "WHERE id IN (SELECT id FROM payments WHERE status = 'pending' AND expires_at < now()"
            " ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING id) "
            "INSERT INTO payment_events (payment_id, kind) SELECT id, 'expired' FROM expired "
            "RETURNING payment_id",
            limit=limit,
        )
        return len(rows)

    def unread_receipts(self, older_than_s: int, limit: int = 100) -> list[int]:
        """Receipts waiting for OCR longer than they should (a lost or failed task)."""
        rows = self._db.run(
            "SELECT p.id FROM payments p WHERE p.status = 'review' "
            "AND p.updated_at < now() - make_interval(secs => :age) AND NOT EXISTS ("
            "SELECT 1 FROM payment_events e WHERE e.payment_id = p.id "
            "AND e.kind IN ('admin_notified', 'receipt_refused') AND e.id > ("
            "SELECT max(r.id) FROM payment_events r WHERE r.payment_id = p.id "
            "AND r.kind = 'receipt_received')) ORDER BY p.id LIMIT :limit",
            age=older_than_s,
            limit=limit,
        )
        return [row[0] for row in rows]

    # --- successful payments whose update kept failing --------------------------------
    def keep_dead_letter(
        self, bot_id: int, update_id: int, telegram_id: int, payment: dict[str, Any], error: str
    ) -> None:
        self._db.run(
            "INSERT INTO payment_dead_letters (bot_id, update_id, telegram_id, payment, "
            "last_error) VALUES (:bot, :update, :user, :payment, :error) "
            "ON CONFLICT (bot_id, update_id) DO UPDATE SET last_error = excluded.last_error",
            idempotent=True,
            bot=bot_id,
            update=update_id,
            user=telegram_id,
            payment=json.dumps(payment),
            error=error[:500],
        )

    def retry_dead_letters(self, limit: int = 50) -> list[str]:
        """Credit kept payments (once, by charge id); what happened to each, for the log.
        A refusal (unknown payload, wrong amount) is final and needs a person."""
        rows = self._db.run(
            "SELECT bot_id, update_id, telegram_id, payment FROM payment_dead_letters "
            "WHERE resolved_at IS NULL ORDER BY created_at LIMIT :limit",
            limit=limit,
        )
        outcomes = []
        for bot_id, update_id, telegram_id, raw in rows:
            paid = json.loads(raw) if isinstance(raw, str) else raw
            try:
                credited = self.credit_paid(
                    str(paid.get("invoice_payload", "")),
                    int(telegram_id),
                    str(paid.get("currency", "")),
                    int(paid.get("total_amount", 0)),
                    str(paid.get("telegram_payment_charge_id", "")),
                    paid.get("provider_payment_charge_id"),
                )
                outcome = "replayed" if credited.replayed else "credited"
            except PaymentError as refused:
                outcome = f"refused: {refused}"
            except Exception as error:  # a bad row must not stall the others: kept, retried
                outcomes.append(f"update {update_id}: error {type(error).__name__}: {error}")
                self._db.run(
                    "UPDATE payment_dead_letters SET last_error = :error "
                    "WHERE bot_id = :bot AND update_id = :update",
                    error=f"{type(error).__name__}: {error}"[:500],
                    bot=bot_id,
                    update=update_id,
                )
                continue
            self._db.run(
                "UPDATE payment_dead_letters SET resolved_at = now(), outcome = :outcome "
                "WHERE bot_id = :bot AND update_id = :update",
                outcome=outcome[:200],
                bot=bot_id,
                update=update_id,
            )
            outcomes.append(f"update {update_id}: {outcome}")
        return outcomes

    # --- internals ---------------------------------------------------------------------
    def _lock(self, conn: PooledConnection, payment_id: int) -> Payment:
        rows = conn.run_prepared(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.id = :id FOR UPDATE OF p", id=payment_id
        )
        if not rows:
            raise PaymentNotFound(str(payment_id))
        return _payment(rows[0])

    def _has_event(self, payment_id: int, kind: str) -> bool:
        return bool(
            self._db.run(
                "SELECT 1 FROM payment_events WHERE payment_id = :id AND kind = :kind LIMIT 1",
                id=payment_id,
                kind=kind,
            )
        )

    def _credit(
        self,
        conn: PooledConnection,
        payment: Payment,
        amount: int,
        ref: str,
        *,
        set_sql: str,
        **params: Any,
    ) -> Credited:
        """The ledger credit and the payment's new state in the caller's transaction."""
        entry = self._ledger.topup(
            payment.wallet_id, amount, ref, reason=f"payment {payment.id}", conn=conn
        )
        if entry.replayed:
            return Credited(self._lock(conn, payment.id), entry, replayed=True)
        conn.run_prepared(
            f"UPDATE payments SET status = 'credited', credited_kopecks = :amount, {set_sql}, "
            "updated_at = now() WHERE id = :id",
            id=payment.id,
            amount=amount,
            **params,
        )
        conn.run_prepared(
            "INSERT INTO payment_events (payment_id, kind, data) VALUES (:id, 'credited', :data)",
            id=payment.id,
            data=json.dumps({"amount_kopecks": amount, "ref": ref}),
        )
        bonus = self._referral_bonus(conn, payment)
        return Credited(self._lock(conn, payment.id), entry, replayed=False, referral_bonus=bonus)

    def _referral_bonus(self, conn: PooledConnection, payment: Payment) -> ReferralBonus | None:
        """The referrer's bonus on the referee's first paid top-up; its ref is the referee's,
        so it is paid once whatever happens later."""
        amount = self._policy.referral_bonus_kopecks
        if amount <= 0:
            return None
        rows = conn.run_prepared(
            "SELECT r.telegram_id, w.id, r.language FROM users u "
            "JOIN users r ON r.id = u.referrer_id JOIN wallets w ON w.user_id = r.id "
            "WHERE u.id = :user_id AND NOT EXISTS (SELECT 1 FROM payments p WHERE "
            "p.user_id = u.id AND p.id <> :payment_id AND p.status IN ('credited', 'refunded'))",
            user_id=payment.user_id,
            payment_id=payment.id,
        )
        if not rows:
            return None
        referrer_telegram_id, referrer_wallet, language = rows[0]
        entry = self._ledger.bonus(
            referrer_wallet,
            amount,
            f"referral:{payment.user_id}",
            reason="referral",
            conn=conn,
        )
        if entry.replayed:
            return None
        return ReferralBonus(referrer_telegram_id, amount, language)
