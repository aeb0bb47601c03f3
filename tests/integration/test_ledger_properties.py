"""Random operation sequences, each reply predicted by an independent model.

After every sequence the stored ledger must satisfy its invariants too
(the audit), and every wallet must equal the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.db import Database
from shared.domain.ledger import (
    CaptureExceedsHold,
    HoldNotOpen,
    InsufficientFunds,
    LedgerEntry,
    LedgerError,
    RefundExceedsCaptured,
)
from shared.services.ledger import Ledger
from shared.services.ledger_audit import audit_ledger
from shared.services.users import open_account
from tests.ids import new_ref, new_telegram_id

WALLETS = 3
amounts = st.integers(min_value=1, max_value=2_000)
operations = st.one_of(
    st.tuples(st.just("topup"), st.integers(0, WALLETS - 1), amounts),
    st.tuples(st.just("hold"), st.integers(0, WALLETS - 1), amounts),
    st.tuples(st.just("capture"), st.integers(0, 50), st.none() | amounts),
    st.tuples(st.just("release"), st.integers(0, 50), st.none()),
    st.tuples(st.just("refund"), st.integers(0, 50), amounts),
    st.tuples(st.just("adjust"), st.integers(0, WALLETS - 1), st.integers(-1_000, 1_000)),
    st.tuples(st.just("replay"), st.integers(0, 50), st.none()),
)


@dataclass
class ModelHold:
    wallet: int
    amount: int
    status: str = "open"
    captured: int = 0
    refunded: int = 0


@dataclass
class Model:
    """What the ledger must answer, computed without a database."""

    balance: list[int] = field(default_factory=lambda: [0] * WALLETS)
    held: list[int] = field(default_factory=lambda: [0] * WALLETS)
    holds: dict[str, ModelHold] = field(default_factory=dict)

    def available(self, wallet: int) -> int:
        return self.balance[wallet] - self.held[wallet]

    def expect(self, op: str, target: Any, amount: int | None) -> type[LedgerError] | int:
        """The error to expect, or the index of the wallet the operation changes."""
        if op in ("topup", "adjust") and (amount or 0) >= 0:
            return int(target)
        if op in ("hold", "adjust"):
            need = abs(amount or 0)
            return int(target) if self.available(target) >= need else InsufficientFunds
        hold = self.holds[target]
        if op == "refund":
            if hold.status != "captured":
                return HoldNotOpen
            return (
                hold.wallet
                if (amount or 0) <= hold.captured - hold.refunded
                else RefundExceedsCaptured
            )
        if hold.status != "open":
            return HoldNotOpen
        if op == "capture" and amount is not None and amount > hold.amount:
            return CaptureExceedsHold
        return hold.wallet

    def apply(self, op: str, target: Any, amount: int | None, hold_ref: str) -> None:
        if op in ("topup", "adjust"):
            self.balance[target] += amount or 0
        elif op == "hold":
            self.held[target] += amount or 0
            self.holds[hold_ref] = ModelHold(target, amount or 0)
        elif op == "capture":
            hold = self.holds[target]
            taken = hold.amount if amount is None else amount
            hold.status, hold.captured = "captured", taken
            self.balance[hold.wallet] -= taken
            self.held[hold.wallet] -= hold.amount
        elif op == "release":
            hold = self.holds[target]
            hold.status = "released"
            self.held[hold.wallet] -= hold.amount
        elif op == "refund":
            hold = self.holds[target]
            hold.refunded += amount or 0
            self.balance[hold.wallet] += amount or 0


def call(
    ledger: Ledger, wallets: list[int], op: str, target: Any, amount: int | None, ref: str
) -> LedgerEntry:
    if op == "topup":
        return ledger.topup(wallets[target], amount or 0, ref)
    if op == "hold":
        return ledger.hold(wallets[target], amount or 0, ref)
    if op == "capture":
        return ledger.capture(target, ref, amount=amount)
    if op == "release":
        return ledger.release(target, ref)
    if op == "refund":
        return ledger.refund(target, amount or 0, ref)
    return ledger.adjust(wallets[target], amount or 0, ref, "property test")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(operations, min_size=1, max_size=40))
def test_random_sequences_match_the_model_and_keep_invariants(
    db: Database, ledger: Ledger, sequence: list[tuple[str, int, int | None]]
) -> None:
    wallets = [open_account(db, new_telegram_id()).wallet_id for _ in range(WALLETS)]
    model = Model()
    hold_refs: list[str] = []
    done: list[tuple[tuple[str, Any, int | None, str], LedgerEntry]] = []
    for op, index, amount in sequence:
        if op == "replay":
            if not done:
                continue
            (r_op, r_target, r_amount, r_ref), first = done[index % len(done)]
            again = call(ledger, wallets, r_op, r_target, r_amount, r_ref)
            assert again.replayed and again.entry_id == first.entry_id
            continue
        if op == "adjust" and amount == 0:
            continue
        target: Any = index
        if op in ("capture", "release", "refund"):
            if not hold_refs:
                continue
            target = hold_refs[index % len(hold_refs)]
        ref = new_ref(op)
        expected = model.expect(op, target, amount)
        if isinstance(expected, type):
            try:
                call(ledger, wallets, op, target, amount, ref)
            except expected:
                continue
            raise AssertionError(f"{op} {target} {amount} should have raised {expected.__name__}")
        entry = call(ledger, wallets, op, target, amount, ref)
        model.apply(op, target, amount, ref)
        if op == "hold":
            hold_refs.append(ref)
        assert not entry.replayed
        assert (entry.balance_after, entry.held_after) == (
            model.balance[expected],
            model.held[expected],
        )
        done.append(((op, target, amount, ref), entry))
    for position, wallet in enumerate(wallets):
        balance = ledger.balance(wallet)
        assert (balance.balance_kopecks, balance.held_kopecks) == (
            model.balance[position],
            model.held[position],
        )
    report = audit_ledger(db)
    assert report.ok, report.summary()
