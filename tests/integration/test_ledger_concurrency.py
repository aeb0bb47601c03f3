"""Races on one wallet: the row lock grants exactly what fits, once per ref."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.db import Database
from shared.domain.ledger import InsufficientFunds, LedgerEntry
from shared.services.ledger import Ledger
from shared.services.users import Account
from tests.ids import new_ref

pytestmark = pytest.mark.usefixtures("audited")
THREADS = 50


def race(ledger: Ledger, calls: list[tuple[int, int, str]]) -> list[LedgerEntry | Exception]:
    """Start every hold at the same moment, one thread each."""
    barrier = threading.Barrier(len(calls))

    def attempt(call: tuple[int, int, str]) -> LedgerEntry | Exception:
        barrier.wait()
        try:
            return ledger.hold(*call)
        except InsufficientFunds as refused:
            return refused

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(attempt, calls))


@pytest.mark.parametrize(("amount", "granted"), [(1, 10), (3, 3), (10, 1), (11, 0)])
def test_fifty_racing_holds_grant_exactly_what_fits(
    ledger: Ledger, account: Account, db: Database, amount: int, granted: int
) -> None:
    ledger.topup(account.wallet_id, 10, new_ref("topup"))
    outcomes = race(ledger, [(account.wallet_id, amount, new_ref("job")) for _ in range(THREADS)])
    kinds = Counter(type(outcome).__name__ for outcome in outcomes)
    assert kinds == Counter({"LedgerEntry": granted, "InsufficientFunds": THREADS - granted})
    balance = ledger.balance(account.wallet_id)
    assert (balance.balance_kopecks, balance.held_kopecks) == (10, amount * granted)
    assert balance.available_kopecks >= 0
    refusals = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert all(0 <= r.available_kopecks < amount for r in refusals)


def test_fifty_racing_replays_of_one_ref_write_one_entry(
    ledger: Ledger, account: Account, db: Database
) -> None:
    ledger.topup(account.wallet_id, 1_000, new_ref("topup"))
    ref = new_ref("job")
    outcomes = race(ledger, [(account.wallet_id, 300, ref)] * THREADS)
    entries = [o for o in outcomes if isinstance(o, LedgerEntry)]
    assert len(entries) == THREADS
    assert len({e.entry_id for e in entries}) == 1
    assert sum(not e.replayed for e in entries) == 1
    assert db.run("SELECT count(*) FROM ledger WHERE ref = :r", r=ref)[0][0] == 1
    assert ledger.balance(account.wallet_id).held_kopecks == 300


def test_racing_capture_and_release_resolve_a_hold_once(ledger: Ledger, account: Account) -> None:
    ledger.topup(account.wallet_id, 1_000, new_ref("topup"))
    hold_ref = new_ref("job")
    ledger.hold(account.wallet_id, 600, hold_ref)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def capture() -> None:
        barrier.wait()
        try:
            ledger.capture(hold_ref, new_ref("capture"), amount=400)
            results.append("captured")
        except Exception as error:  # the loser's typed refusal is the point of the test
            results.append(type(error).__name__)

    def release() -> None:
        barrier.wait()
        try:
            ledger.release(hold_ref, new_ref("release"))
            results.append("released")
        except Exception as error:
            results.append(type(error).__name__)

    threads = [threading.Thread(target=capture), threading.Thread(target=release)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) in (["HoldNotOpen", "captured"], ["HoldNotOpen", "released"])
    expected_balance = 600 if "captured" in results else 1_000
    assert ledger.balance(account.wallet_id).balance_kopecks == expected_balance
