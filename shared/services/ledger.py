"""The two-phase ruble ledger: topup, bonus, hold, capture, release, refund, adjust.

Each operation is one call of a SQL function (shared/migrations/0002_…): one
round trip, one short transaction, the wallet row locked inside it. Arguments
are checked here first so bad input never reaches the database; the database's
constraints hold the same rules again as the last word.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pg8000.exceptions import DatabaseError

from shared.adapters.db import Database, PooledConnection, sqlstate
from shared.domain.ledger import (
    CaptureExceedsHold,
    EntryKind,
    HoldNotOpen,
    HoldStatus,
    InsufficientFunds,
    InvalidArgument,
    LedgerEntry,
    LedgerError,
    RefConflict,
    RefundExceedsCaptured,
    UnknownHold,
    UnknownWallet,
    WalletBalance,
    check_amount,
    check_reason,
    check_ref,
)

MAX_HOLD_TTL_S = 30 * 24 * 3600
EXPIRE_BATCH_MAX = 500
# created_at travels as epoch seconds: pg8000's own timestamptz parser (strptime) was a
# tenth of the client's CPU per ledger call. Our connections now parse timestamps fast
# (shared/adapters/db.py), but a float still costs less than a datetime.
_RESULT_COLUMNS = (
    "entry_id, wallet_id, kind, ref, amount, balance_after, held_after, hold_id, replayed, "
    "extract(epoch FROM created_at)::float8"
)


def _entry(row: list[Any]) -> LedgerEntry:
    return LedgerEntry(
        entry_id=row[0],
        wallet_id=row[1],
        kind=EntryKind(row[2]),
        ref=row[3],
        amount_kopecks=row[4],
        balance_after=row[5],
        held_after=row[6],
        hold_id=row[7],
        replayed=row[8],
        created_at=datetime.fromtimestamp(row[9], UTC),
    )


def _check_wallet_id(wallet_id: object) -> int:
    if not isinstance(wallet_id, int) or isinstance(wallet_id, bool) or wallet_id <= 0:
        raise UnknownWallet(wallet_id)  # type: ignore[arg-type]
    return wallet_id


class Ledger:
    def __init__(self, db: Database, *, default_hold_ttl_s: int) -> None:
        self._db = db
        self._default_hold_ttl_s = default_hold_ttl_s

    # --- money in ---------------------------------------------------------------
    def topup(
        self,
        wallet_id: int,
        amount: int,
        ref: str,
        reason: str | None = None,
        *,
        conn: PooledConnection | None = None,
    ) -> LedgerEntry:
        """Money paid in (the payment's external id makes the ref)."""
        return self._credit(EntryKind.TOPUP, wallet_id, amount, ref, reason, conn)

    def bonus(
        self,
        wallet_id: int,
        amount: int,
        ref: str,
        reason: str | None = None,
        *,
        conn: PooledConnection | None = None,
    ) -> LedgerEntry:
        """Money given (signup, promo code, referral)."""
        return self._credit(EntryKind.BONUS, wallet_id, amount, ref, reason, conn)

    def _credit(
        self,
        kind: EntryKind,
        wallet_id: int,
        amount: int,
        ref: str,
        reason: str | None,
        conn: PooledConnection | None,
    ) -> LedgerEntry:
        return self._call(
            "ledger_credit(:wallet, :kind, :amount, :ref, :reason)",
            conn=conn,
            wallet=_check_wallet_id(wallet_id),
            kind=kind.value,
            amount=check_amount(amount),
            ref=check_ref(ref),
            reason=check_reason(reason),
        )

    # --- two phases -------------------------------------------------------------
    def hold(
        self,
        wallet_id: int,
        amount: int,
        ref: str,
        ttl_s: int | None = None,
        *,
        conn: PooledConnection | None = None,
    ) -> LedgerEntry:
        """Reserve `amount`; InsufficientFunds (carrying what is available) if it does not fit."""
        ttl = self._default_hold_ttl_s if ttl_s is None else ttl_s
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_HOLD_TTL_S:
            raise InvalidArgument(f"hold ttl must be 1..{MAX_HOLD_TTL_S} s, got {ttl!r}")
        return self._call(
            "ledger_hold(:wallet, :amount, :ref, :ttl)",
            conn=conn,
            wallet=_check_wallet_id(wallet_id),
            amount=check_amount(amount),
            ref=check_ref(ref),
            ttl=ttl,
            requested=amount,
        )

    def capture(
        self,
        hold_ref: str,
        ref: str,
        amount: int | None = None,
        *,
        conn: PooledConnection | None = None,
    ) -> LedgerEntry:
        """Take `amount` (default: all) of an open hold; the rest returns in the same step."""
        return self._call(
            "ledger_capture(:hold_ref, :amount, :ref)",
            conn=conn,
            hold_ref=check_ref(hold_ref),
            amount=None if amount is None else check_amount(amount),
            ref=check_ref(ref),
            requested=amount,
        )

    def release(
        self,
        hold_ref: str,
        ref: str,
        reason: str | None = None,
        *,
        conn: PooledConnection | None = None,
    ) -> LedgerEntry:
        """Return a whole open hold (job failed or canceled)."""
        return self._call(
            "ledger_release(:hold_ref, :ref, :reason)",
            conn=conn,
            hold_ref=check_ref(hold_ref),
            ref=check_ref(ref),
            reason=check_reason(reason),
        )

    def refund(
        self, hold_ref: str, amount: int, ref: str, reason: str | None = None
    ) -> LedgerEntry:
        """Give back up to what a capture took."""
        return self._call(
            "ledger_refund(:hold_ref, :amount, :ref, :reason)",
            hold_ref=check_ref(hold_ref),
            amount=check_amount(amount),
            ref=check_ref(ref),
            reason=check_reason(reason),
            requested=amount,
        )

    def adjust(self, wallet_id: int, delta: int, ref: str, reason: str) -> LedgerEntry:
        """An admin's correction, positive or negative; the reason is required."""
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidArgument(f"an adjustment needs a non-zero whole number, got {delta!r}")
        check_amount(abs(delta))
        return self._call(
            "ledger_adjust(:wallet, :delta, :ref, :reason)",
            wallet=_check_wallet_id(wallet_id),
            delta=delta,
            ref=check_ref(ref),
            reason=check_reason(reason, required=True),
            requested=abs(delta),
        )

    def expire_holds(self, now: datetime | None = None, limit: int = 100) -> list[LedgerEntry]:
        """Release open holds whose expiry is at or before `now` (the database's clock
        when None); at most `limit` per call."""
        if not 0 < limit <= EXPIRE_BATCH_MAX:
            raise InvalidArgument(f"limit must be 1..{EXPIRE_BATCH_MAX}, got {limit!r}")
        rows = self._db.run(
            f"SELECT {_RESULT_COLUMNS} FROM ledger_expire_holds(coalesce(:now, now()), :limit)",
            idempotent=True,
            now=now,
            limit=limit,
        )
        return [_entry(row) for row in rows]

    # --- reads ------------------------------------------------------------------
    def balance(self, wallet_id: int, *, conn: PooledConnection | None = None) -> WalletBalance:
        sql = "SELECT balance, held FROM wallets WHERE id = :wallet"
        wallet = _check_wallet_id(wallet_id)
        rows = conn.run_prepared(sql, wallet=wallet) if conn else self._db.run(sql, wallet=wallet)
        if not rows:
            raise UnknownWallet(wallet_id)
        return WalletBalance(wallet_id, rows[0][0], rows[0][1])

    def hold_status(self, hold_ref: str, *, conn: PooledConnection | None = None) -> HoldStatus:
        sql = "SELECT status FROM holds WHERE ref = :ref"
        ref = check_ref(hold_ref)
        rows = conn.run_prepared(sql, ref=ref) if conn else self._db.run(sql, ref=ref)
        if not rows:
            raise UnknownHold(hold_ref)
        return HoldStatus(rows[0][0])

    def entries(self, wallet_id: int, limit: int = 20) -> list[LedgerEntry]:
        """The newest entries first (for receipts on the balance screen)."""
        rows = self._db.run(
            "SELECT id, wallet_id, kind, ref, amount, balance_after, held_after, hold_id, false, "
            "extract(epoch FROM created_at)::float8 FROM ledger WHERE wallet_id = :wallet "
            "ORDER BY id DESC LIMIT :limit",
            wallet=_check_wallet_id(wallet_id),
            limit=limit,
        )
        return [_entry(row) for row in rows]

    # --- one place where database refusals become typed errors -----------------
    def _call(
        self,
        call: str,
        *,
        requested: int | None = None,
        conn: PooledConnection | None = None,
        **params: Any,
    ) -> LedgerEntry:
        """Run one ledger function: on its own (retried), or inside the caller's transaction
        `conn` so that a job's state and its money move together (the caller retries)."""
        sql = f"SELECT {_RESULT_COLUMNS} FROM {call}"
        try:
            if conn is not None:
                rows = conn.run_prepared(sql, **params)
            else:
                # Safe to resend on a broken connection: the ref makes the call idempotent.
                rows = self._db.run(sql, idempotent=True, **params)
        except DatabaseError as error:
            if sqlstate(error) == "23505" and _fields(error).get("n") == "ledger_ref_key":
                # hold/capture/release met a ref that another kind of operation already used.
                if conn is not None:
                    raise  # the caller's transaction is aborted; it must roll back first
                raise self._conflict(params["ref"]) from None
            raise _translate(error, params, requested) from None
        return _entry(rows[0])

    def _conflict(self, ref: str) -> RefConflict:
        rows = self._db.run("SELECT params FROM ledger WHERE ref = :ref", ref=ref)
        return RefConflict(ref, rows[0][0] if rows else "")


def _fields(error: DatabaseError) -> dict[str, str]:
    """pg8000 puts the server's error fields (C: SQLSTATE, D: detail, n: constraint) in args[0]."""
    first = error.args[0] if error.args else None
    return first if isinstance(first, dict) else {}


def _translate(error: DatabaseError, params: dict[str, Any], requested: int | None) -> Exception:
    fields = _fields(error)
    detail = fields.get("D", "")
    hold_ref = str(params.get("hold_ref", ""))
    code = sqlstate(error)
    mapped: LedgerError | None = None
    if code == "LD001":
        mapped = InsufficientFunds(int(detail), requested or 0)
    elif code == "LD002":
        mapped = RefConflict(str(params.get("ref")), detail)
    elif code == "LD003":
        mapped = UnknownWallet(int(params.get("wallet", 0)))
    elif code == "LD004":
        mapped = UnknownHold(hold_ref)
    elif code == "LD005":
        mapped = HoldNotOpen(hold_ref, HoldStatus(detail))
    elif code == "LD006":
        mapped = CaptureExceedsHold(hold_ref, int(detail), requested or 0)
    elif code == "LD007":
        mapped = RefundExceedsCaptured(hold_ref, int(detail), requested or 0)
    elif code == "LD008":
        mapped = InvalidArgument(fields.get("M", "invalid argument"))
    return mapped if mapped is not None else error
