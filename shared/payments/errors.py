"""Refusals of the payments service. Each names the fact; `key` is its text for the user
(under `payments.error.` in the locale files). Nothing was credited when one is raised."""

from __future__ import annotations


class PaymentError(Exception):
    key = "generic"


class PaymentNotFound(PaymentError):
    key = "not_found"

    def __init__(self, reference: str) -> None:
        super().__init__(f"no payment matches {reference!r}")


class PaymentNotPending(PaymentError):
    key = "not_pending"

    def __init__(self, payment_id: int, status: str) -> None:
        super().__init__(f"payment {payment_id} is {status}, not payable")
        self.status = status


class PaymentExpired(PaymentError):
    key = "expired"

    def __init__(self, payment_id: int) -> None:
        super().__init__(f"payment {payment_id} has expired")


class AmountMismatch(PaymentError):
    key = "amount_mismatch"

    def __init__(self, payment_id: int, expected: int, got: int) -> None:
        super().__init__(f"payment {payment_id}: expected {expected}, got {got}")


class AmountOutOfBounds(PaymentError):
    key = "amount_bounds"

    def __init__(self, kopecks: int, low: int, high: int) -> None:
        super().__init__(f"{kopecks} kopecks is outside {low}..{high}")
        self.low, self.high = low, high


class DuplicateReceipt(PaymentError):
    key = "duplicate_receipt"

    def __init__(self, payment_id: int) -> None:
        super().__init__(f"payment {payment_id}: this receipt image was already sent")


class ReceiptInReview(PaymentError):
    key = "receipt_in_review"

    def __init__(self, payment_id: int) -> None:
        super().__init__(f"payment {payment_id}: a receipt is already with an admin")


class AlreadyDecided(PaymentError):
    key = "already_decided"

    def __init__(self, payment_id: int, status: str) -> None:
        super().__init__(f"payment {payment_id} is already {status}")
        self.status = status


class TransactionAlreadyCredited(PaymentError):
    key = "duplicate_transaction"

    def __init__(self, payment_id: int, transaction_id: str) -> None:
        super().__init__(f"payment {payment_id}: transaction {transaction_id} was credited before")


class NotRefundable(PaymentError):
    key = "not_refundable"

    def __init__(self, payment_id: int, why: str) -> None:
        super().__init__(f"payment {payment_id} cannot be refunded: {why}")


class MoneyAlreadySpent(PaymentError):
    key = "money_spent"

    def __init__(self, payment_id: int, credited: int, available: int) -> None:
        super().__init__(
            f"payment {payment_id}: {credited} kopecks were credited, only {available} are left"
        )
        self.credited, self.available = credited, available


class PromoRefused(PaymentError):
    """A promo code that cannot be used: `reason` is unknown, expired, used_up or used."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"promo code {code!r}: {reason}")
        self.key = f"promo_{reason}"
        self.reason = reason
