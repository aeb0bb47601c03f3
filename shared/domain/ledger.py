"""The ledger's vocabulary: entry kinds, results, and typed errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.money import MAX_AMOUNT_KOPECKS

REF_MAX_LENGTH = 200
REASON_MAX_LENGTH = 500
# Refs come from durable facts (update ids, job ids, charge ids): printable ASCII, no spaces.
REF_PATTERN = re.compile(r"^[\x21-\x7e]+$")


class EntryKind(StrEnum):
    TOPUP = "topup"
    BONUS = "bonus"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class HoldStatus(StrEnum):
    OPEN = "open"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger entry as written (or, with `replayed`, as first written)."""

    entry_id: int
    wallet_id: int
    kind: EntryKind
    ref: str
    amount_kopecks: int
    balance_after: int
    held_after: int
    hold_id: int | None
    replayed: bool
    created_at: datetime

    @property
    def available_after(self) -> int:
        return self.balance_after - self.held_after


@dataclass(frozen=True)
class WalletBalance:
    wallet_id: int
    balance_kopecks: int
    held_kopecks: int

    @property
    def available_kopecks(self) -> int:
        return self.balance_kopecks - self.held_kopecks


class LedgerError(Exception):
    """Base of every refusal by the ledger; nothing was written."""


class InvalidAmount(LedgerError, ValueError):
    def __init__(self, amount: object) -> None:
        super().__init__(
            f"amount must be a whole number of kopecks in 1..{MAX_AMOUNT_KOPECKS}, got {amount!r}"
        )
        self.amount = amount


class InvalidRef(LedgerError, ValueError):
    def __init__(self, ref: object) -> None:
        super().__init__(
            f"ref must be 1..{REF_MAX_LENGTH} printable ASCII characters without spaces, "
            f"got {ref!r:.80}"
        )
        self.ref = ref


class InvalidArgument(LedgerError, ValueError):
    """Another argument (ttl, reason) is out of bounds."""


class InsufficientFunds(LedgerError):
    def __init__(self, available_kopecks: int, requested_kopecks: int) -> None:
        super().__init__(
            f"insufficient funds: {available_kopecks} kopecks available, "
            f"{requested_kopecks} requested"
        )
        self.available_kopecks = available_kopecks
        self.requested_kopecks = requested_kopecks


class RefConflict(LedgerError):
    """The ref was already used for a different operation (an idempotency-key misuse)."""

    def __init__(self, ref: str, first_params: str) -> None:
        super().__init__(f"ref {ref!r} was already used for a different operation: {first_params}")
        self.ref = ref
        self.first_params = first_params


class UnknownWallet(LedgerError):
    def __init__(self, wallet_id: int) -> None:
        super().__init__(f"unknown wallet {wallet_id}")
        self.wallet_id = wallet_id


class UnknownHold(LedgerError):
    def __init__(self, hold_ref: str) -> None:
        super().__init__(f"unknown hold {hold_ref!r}")
        self.hold_ref = hold_ref


class HoldNotOpen(LedgerError):
    """The hold was already resolved (captured, released or expired)."""

    def __init__(self, hold_ref: str, status: HoldStatus) -> None:
        super().__init__(f"hold {hold_ref!r} is {status}, not open")
        self.hold_ref = hold_ref
        self.status = status


class CaptureExceedsHold(LedgerError):
    def __init__(self, hold_ref: str, hold_kopecks: int, requested_kopecks: int) -> None:
        super().__init__(
            f"capture of {requested_kopecks} exceeds hold {hold_ref!r} of {hold_kopecks} kopecks"
        )
        self.hold_kopecks = hold_kopecks
        self.requested_kopecks = requested_kopecks


class RefundExceedsCaptured(LedgerError):
    def __init__(self, hold_ref: str, refundable_kopecks: int, requested_kopecks: int) -> None:
        super().__init__(
            f"refund of {requested_kopecks} exceeds the {refundable_kopecks} kopecks "
            f"still refundable on {hold_ref!r}"
        )
        self.refundable_kopecks = refundable_kopecks
        self.requested_kopecks = requested_kopecks


def check_amount(amount: object) -> int:
    # bool is an int subclass; True kopecks is a bug, not a payment.
    if (
        not isinstance(amount, int)
        or isinstance(amount, bool)
        or not 0 < amount <= MAX_AMOUNT_KOPECKS
    ):
        raise InvalidAmount(amount)
    return amount


def check_ref(ref: object) -> str:
    if not isinstance(ref, str) or not 0 < len(ref) <= REF_MAX_LENGTH or not REF_PATTERN.match(ref):
        raise InvalidRef(ref)
    return ref


def check_reason(reason: str | None, *, required: bool = False) -> str | None:
    if reason is None or not reason.strip():
        if required:
            raise InvalidArgument("a reason is required")
        return None
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidArgument(f"reason is over {REASON_MAX_LENGTH} characters")
    return reason.strip()
