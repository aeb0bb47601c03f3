"""Every ledger operation against real Postgres: effects, replays, conflicts, refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError

from shared.adapters.db import Database, sqlstate
from shared.domain.ledger import (
    CaptureExceedsHold,
    EntryKind,
    HoldNotOpen,
    HoldStatus,
    InsufficientFunds,
    InvalidAmount,
    InvalidArgument,
    InvalidRef,
    LedgerError,
    RefConflict,
    RefundExceedsCaptured,
    UnknownHold,
    UnknownWallet,
)
from shared.services.ledger import Ledger
from shared.services.users import Account
from tests.conftest import DatabaseFactory
from tests.ids import new_ref

pytestmark = pytest.mark.usefixtures("audited")


def snapshot(db: Database, wallet_id: int) -> tuple[Any, ...]:
    """Everything an operation could have written for this wallet."""
    row = db.run(
        """SELECT w.balance, w.held, w.version,
                  (SELECT count(*) FROM ledger WHERE wallet_id = w.id),
                  (SELECT count(*) FROM holds WHERE wallet_id = w.id),
                  (SELECT coalesce(sum(refunded), 0) FROM holds WHERE wallet_id = w.id),
                  (SELECT string_agg(status, ',' ORDER BY id) FROM holds WHERE wallet_id = w.id)
             FROM wallets w WHERE w.id = :w""",
        w=wallet_id,
    )
    return tuple(row[0])


def funded(ledger: Ledger, account: Account, amount: int = 10_000) -> int:
    ledger.topup(account.wallet_id, amount, new_ref("topup"))
    return account.wallet_id


def test_topup_and_bonus_add_to_balance(ledger: Ledger, account: Account) -> None:
    first = ledger.topup(account.wallet_id, 30_000, new_ref("stars"), reason="Stars 300")
    second = ledger.bonus(account.wallet_id, 5_000, new_ref("signup"))
    assert (first.kind, first.balance_after, first.held_after) == (EntryKind.TOPUP, 30_000, 0)
    assert (second.kind, second.balance_after) == (EntryKind.BONUS, 35_000)
    assert ledger.balance(account.wallet_id).available_kopecks == 35_000
    assert [e.kind for e in ledger.entries(account.wallet_id)] == [EntryKind.BONUS, EntryKind.TOPUP]


def test_hold_reserves_without_spending(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account)
    entry = ledger.hold(wallet, 4_800, new_ref("hold"))
    assert (entry.balance_after, entry.held_after, entry.available_after) == (10_000, 4_800, 5_200)
    assert entry.hold_id is not None


def test_capture_less_than_hold_releases_the_rest(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account)
    hold_ref = new_ref("hold")
    ledger.hold(wallet, 4_800, hold_ref)
    entry = ledger.capture(hold_ref, new_ref("capture"), amount=3_000)
    assert (entry.kind, entry.amount_kopecks) == (EntryKind.CAPTURE, 3_000)
    assert (entry.balance_after, entry.held_after) == (7_000, 0)
    assert ledger.hold_status(hold_ref) is HoldStatus.CAPTURED


def test_capture_without_amount_takes_the_whole_hold(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account)
    hold_ref = new_ref("hold")
    ledger.hold(wallet, 2_500, hold_ref)
    entry = ledger.capture(hold_ref, new_ref("capture"))
    assert (entry.amount_kopecks, entry.balance_after, entry.held_after) == (2_500, 7_500, 0)


def test_release_returns_the_whole_hold(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account)
    hold_ref = new_ref("hold")
    ledger.hold(wallet, 4_800, hold_ref)
    entry = ledger.release(hold_ref, new_ref("release"), reason="KIE failed")
    assert (entry.kind, entry.amount_kopecks) == (EntryKind.RELEASE, 4_800)
    assert (entry.balance_after, entry.held_after) == (10_000, 0)
    assert ledger.hold_status(hold_ref) is HoldStatus.RELEASED


def test_refund_after_capture_in_parts_up_to_the_capture(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account)
    hold_ref = new_ref("hold")
    ledger.hold(wallet, 4_000, hold_ref)
    ledger.capture(hold_ref, new_ref("capture"), amount=3_000)
    assert ledger.refund(hold_ref, 1_000, new_ref("refund")).balance_after == 8_000
    assert ledger.refund(hold_ref, 2_000, new_ref("refund")).balance_after == 10_000
    before = snapshot(ledger._db, wallet)
    with pytest.raises(RefundExceedsCaptured) as refused:
        ledger.refund(hold_ref, 1, new_ref("refund"))
    assert refused.value.refundable_kopecks == 0
    assert snapshot(ledger._db, wallet) == before


def test_adjust_both_ways_with_a_reason(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account, 1_000)
    assert ledger.adjust(wallet, 500, new_ref("adm"), "goodwill").balance_after == 1_500
    entry = ledger.adjust(wallet, -1_500, new_ref("adm"), "chargeback")
    assert (entry.kind, entry.amount_kopecks, entry.balance_after) == (
        EntryKind.ADJUSTMENT,
        1_500,
        0,
    )


def test_adjust_cannot_take_held_money(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account, 1_000)
    ledger.hold(wallet, 800, new_ref("hold"))
    with pytest.raises(InsufficientFunds) as refused:
        ledger.adjust(wallet, -300, new_ref("adm"), "correction")
    assert refused.value.available_kopecks == 200


@pytest.mark.parametrize(
    "operation",
    ["topup", "bonus", "hold", "capture", "release", "refund", "adjust"],
)
def test_same_ref_again_returns_the_first_result_and_writes_nothing(
    ledger: Ledger, account: Account, operation: str
) -> None:
    wallet = funded(ledger, account)
    hold_ref = new_ref("hold")
    ledger.hold(wallet, 2_000, hold_ref)
    if operation == "refund":
        ledger.capture(hold_ref, new_ref("capture"))
    ref = hold_ref if operation == "hold" else new_ref(operation)
    calls: dict[str, Callable[[], Any]] = {
        "topup": lambda: ledger.topup(wallet, 700, ref),
        "bonus": lambda: ledger.bonus(wallet, 700, ref, reason="promo"),
        "hold": lambda: ledger.hold(wallet, 2_000, ref),
        "capture": lambda: ledger.capture(hold_ref, ref, amount=1_500),
        "release": lambda: ledger.release(hold_ref, ref, reason="canceled"),
        "refund": lambda: ledger.refund(hold_ref, 500, ref),
        "adjust": lambda: ledger.adjust(wallet, -700, ref, "correction"),
    }
    first = calls[operation]()
    after_first = snapshot(ledger._db, wallet)
    again = calls[operation]()
    assert again.replayed and (operation == "hold" or not first.replayed)
    assert (again.entry_id, again.balance_after, again.held_after, again.amount_kopecks) == (
        first.entry_id,
        first.balance_after,
        first.held_after,
        first.amount_kopecks,
    )
    assert snapshot(ledger._db, wallet) == after_first


@pytest.mark.parametrize(
    "operation",
    [
        "topup",
        "hold",
        "capture",
        "release",
        "refund",
        "adjust",
        "kind",
        "hold after topup",
        "capture after topup",
        "release after topup",
    ],
)
def test_same_ref_with_other_parameters_is_a_conflict(
    ledger: Ledger, account: Account, operation: str
) -> None:
    wallet = funded(ledger, account)
    hold_ref, other_hold = new_ref("hold"), new_ref("hold")
    ledger.hold(wallet, 2_000, hold_ref)
    ledger.hold(wallet, 1_000, other_hold)
    ref = new_ref(operation.replace(" ", "-"))
    first: dict[str, Callable[[], Any]] = {
        "topup": lambda: ledger.topup(wallet, 700, ref),
        "hold": lambda: ledger.hold(wallet, 100, ref),
        "capture": lambda: ledger.capture(hold_ref, ref, amount=1_500),
        "release": lambda: ledger.release(hold_ref, ref),
        "refund": lambda: (ledger.capture(hold_ref, new_ref("c")), ledger.refund(hold_ref, 5, ref)),
        "adjust": lambda: ledger.adjust(wallet, 100, ref, "goodwill"),
        "kind": lambda: ledger.topup(wallet, 700, ref),
        "hold after topup": lambda: ledger.topup(wallet, 700, ref),
        "capture after topup": lambda: ledger.topup(wallet, 700, ref),
        "release after topup": lambda: ledger.topup(wallet, 700, ref),
    }
    conflicting: dict[str, Callable[[], Any]] = {
        "topup": lambda: ledger.topup(wallet, 701, ref),
        "hold": lambda: ledger.hold(wallet, 101, ref),
        "capture": lambda: ledger.capture(hold_ref, ref, amount=1_400),
        "release": lambda: ledger.release(other_hold, ref),
        "refund": lambda: ledger.refund(hold_ref, 6, ref),
        "adjust": lambda: ledger.adjust(wallet, 100, ref, "another reason"),
        "kind": lambda: ledger.bonus(wallet, 700, ref),
        "hold after topup": lambda: ledger.hold(wallet, 700, ref),
        "capture after topup": lambda: ledger.capture(hold_ref, ref),
        "release after topup": lambda: ledger.release(hold_ref, ref),
    }
    first[operation]()
    before = snapshot(ledger._db, wallet)
    with pytest.raises(RefConflict) as conflict:
        conflicting[operation]()
    assert conflict.value.ref == ref
    assert conflict.value.first_params  # names what the ref was first used for
    assert snapshot(ledger._db, wallet) == before


def test_insufficient_funds_carries_the_available_amount(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account, 1_000)
    ledger.hold(wallet, 600, new_ref("hold"))
    before = snapshot(ledger._db, wallet)
    with pytest.raises(InsufficientFunds) as refused:
        ledger.hold(wallet, 401, new_ref("hold"))
    assert (refused.value.available_kopecks, refused.value.requested_kopecks) == (400, 401)
    assert snapshot(ledger._db, wallet) == before
    assert ledger.hold(wallet, 400, new_ref("hold")).available_after == 0


def test_a_refused_ref_may_succeed_later(ledger: Ledger, account: Account) -> None:
    """A refusal is not recorded: confirming the same job after a top-up works."""
    wallet = account.wallet_id
    hold_ref = new_ref("job")
    with pytest.raises(InsufficientFunds):
        ledger.hold(wallet, 500, hold_ref)
    ledger.topup(wallet, 500, new_ref("topup"))
    assert not ledger.hold(wallet, 500, hold_ref).replayed


def test_expire_holds_releases_only_expired_ones(
    ledger: Ledger, account: Account, db: Database
) -> None:
    wallet = funded(ledger, account)
    short, long = new_ref("hold"), new_ref("hold")
    ledger.hold(wallet, 1_000, short, ttl_s=60)
    ledger.hold(wallet, 2_000, long, ttl_s=7_200)
    now = db.run("SELECT now()")[0][0]
    released = [e for e in ledger.expire_holds(now + timedelta(minutes=5)) if e.wallet_id == wallet]
    assert [(e.kind, e.amount_kopecks) for e in released] == [(EntryKind.RELEASE, 1_000)]
    assert ledger.hold_status(short) is HoldStatus.EXPIRED
    assert ledger.hold_status(long) is HoldStatus.OPEN
    assert ledger.balance(wallet).held_kopecks == 2_000
    # A second sweep finds nothing more of ours, and an expired hold can no longer be captured.
    again = ledger.expire_holds(now + timedelta(minutes=5))
    assert all(e.wallet_id != wallet for e in again)
    with pytest.raises(HoldNotOpen) as refused:
        ledger.capture(short, new_ref("capture"))
    assert refused.value.status is HoldStatus.EXPIRED


def test_expire_holds_uses_the_database_clock_by_default(ledger: Ledger, account: Account) -> None:
    wallet = funded(ledger, account)
    hold_ref = new_ref("hold")
    ledger.hold(wallet, 1_000, hold_ref, ttl_s=3_600)
    ledger.expire_holds()
    assert ledger.hold_status(hold_ref) is HoldStatus.OPEN


@dataclass(frozen=True)
class Holds:
    """Refs of one hold in each state, made fresh for each bad-input case."""

    open: str
    captured: str
    released: str


BadCall = Callable[[Ledger, int, Holds], Any]
BAD_CALLS: dict[str, tuple[BadCall, type[LedgerError]]] = {
    "zero topup": (lambda lg, w, h: lg.topup(w, 0, new_ref()), InvalidAmount),
    "negative topup": (lambda lg, w, h: lg.topup(w, -100, new_ref()), InvalidAmount),
    "float topup": (lambda lg, w, h: lg.topup(w, 10.5, new_ref()), InvalidAmount),  # type: ignore[arg-type]
    "bool amount": (lambda lg, w, h: lg.bonus(w, True, new_ref()), InvalidAmount),
    "negative hold": (lambda lg, w, h: lg.hold(w, -1, new_ref()), InvalidAmount),
    "zero capture": (lambda lg, w, h: lg.capture(h.open, new_ref(), amount=0), InvalidAmount),
    "negative refund": (lambda lg, w, h: lg.refund(h.captured, -5, new_ref()), InvalidAmount),
    "zero adjust": (lambda lg, w, h: lg.adjust(w, 0, new_ref(), "why"), InvalidArgument),
    "adjust without reason": (lambda lg, w, h: lg.adjust(w, 10, new_ref(), "  "), InvalidArgument),
    "zero ttl": (lambda lg, w, h: lg.hold(w, 10, new_ref(), ttl_s=0), InvalidArgument),
    "unknown wallet": (lambda lg, w, h: lg.topup(999_999_999, 10, new_ref()), UnknownWallet),
    "negative wallet id": (lambda lg, w, h: lg.hold(-1, 10, new_ref()), UnknownWallet),
    "ref over limit": (lambda lg, w, h: lg.topup(w, 10, "r" * 201), InvalidRef),
    "empty ref": (lambda lg, w, h: lg.topup(w, 10, ""), InvalidRef),
    "ref with spaces": (lambda lg, w, h: lg.topup(w, 10, "two words"), InvalidRef),
    "unknown hold": (lambda lg, w, h: lg.capture("no-such-hold", new_ref()), UnknownHold),
    "capture over hold": (
        lambda lg, w, h: lg.capture(h.open, new_ref(), amount=1_001),
        CaptureExceedsHold,
    ),
    "capture of a released hold": (lambda lg, w, h: lg.capture(h.released, new_ref()), HoldNotOpen),
    "release of a captured hold": (lambda lg, w, h: lg.release(h.captured, new_ref()), HoldNotOpen),
    "refund of an open hold": (lambda lg, w, h: lg.refund(h.open, 10, new_ref()), HoldNotOpen),
    "refund over capture": (
        lambda lg, w, h: lg.refund(h.captured, 501, new_ref()),
        RefundExceedsCaptured,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_is_a_typed_error_and_writes_nothing(
    ledger: Ledger, account: Account, db: Database, case: str
) -> None:
    wallet = funded(ledger, account)
    holds = Holds(open=new_ref("h"), captured=new_ref("c"), released=new_ref("r"))
    ledger.hold(wallet, 1_000, holds.open)
    ledger.hold(wallet, 500, holds.captured)
    ledger.capture(holds.captured, new_ref("cap"))
    ledger.hold(wallet, 200, holds.released)
    ledger.release(holds.released, new_ref("rel"))
    call, expected = BAD_CALLS[case]
    total_entries = db.run("SELECT count(*) FROM ledger")[0][0]
    before = snapshot(db, wallet)
    with pytest.raises(expected) as refused:
        call(ledger, wallet, holds)
    assert str(refused.value)  # every refusal explains itself
    assert snapshot(db, wallet) == before
    assert db.run("SELECT count(*) FROM ledger")[0][0] == total_entries


def test_ledger_history_cannot_be_edited(ledger: Ledger, account: Account, db: Database) -> None:
    entry = ledger.topup(account.wallet_id, 100, new_ref())
    for statement in (
        "UPDATE ledger SET amount = 1 WHERE id = :id",
        "DELETE FROM ledger WHERE id = :id",
    ):
        with pytest.raises(DatabaseError) as refused:
            db.run(statement, id=entry.entry_id)
        assert sqlstate(refused.value) == "LD009"
    assert ledger.entries(account.wallet_id, limit=1)[0].amount_kopecks == 100


def test_the_database_itself_refuses_negative_available(
    ledger: Ledger, account: Account, db: Database
) -> None:
    funded(ledger, account, 100)
    with pytest.raises(DatabaseError) as refused:
        db.run("UPDATE wallets SET held = 101 WHERE id = :w", w=account.wallet_id)
    assert sqlstate(refused.value) == "23514"  # check_violation
    assert ledger.balance(account.wallet_id).held_kopecks == 0


def test_wallets_and_holds_are_never_deleted(
    ledger: Ledger, account: Account, db: Database
) -> None:
    funded(ledger, account, 500)
    hold = ledger.hold(account.wallet_id, 100, new_ref("hold"))
    for statement, key in (
        ("DELETE FROM holds WHERE id = :id", hold.hold_id),
        ("DELETE FROM wallets WHERE id = :id", account.wallet_id),
    ):
        with pytest.raises(DatabaseError) as refused:
            db.run(statement, id=key)
        assert sqlstate(refused.value) == "LD009"
    assert ledger.balance(account.wallet_id).held_kopecks == 100


def test_the_audit_finds_an_entry_that_points_nowhere(make_test_database: DatabaseFactory) -> None:
    from shared.services.ledger_audit import audit_ledger

    fresh = make_test_database()
    fresh.run(
        "INSERT INTO ledger (wallet_id, kind, ref, amount, balance_delta, held_delta, "
        "balance_after, held_after, params) VALUES (424242, 'topup', 'stray', 5, 5, 0, 5, 0, 'x')"
    )
    report = audit_ledger(fresh)
    assert not report.ok
    assert report.violations["references resolve"] == [
        "entry 1 (stray) points at a missing wallet or hold"
    ]
