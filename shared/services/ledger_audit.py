"""The ledger's invariants, checked against what is actually stored.

`balance = Σ entries` and `held = Σ open holds` per wallet, `available ≥ 0`,
every entry's running balance consistent, every hold resolved by exactly the
entries its status says, no job in a final state still holding money, and every
credited payment matched by exactly its top-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.adapters.db import Database

FINAL_JOB_STATES = ("succeeded", "delivered", "failed", "expired", "canceled")
SHOWN_PER_CHECK = 20

# Each check selects one human-readable line per violation.
CHECKS: dict[str, str] = {
    "balance = Σ entries": """
        SELECT format('wallet %s: balance %s, entries sum to %s', w.id, w.balance,
                      coalesce(s.total, 0))
          FROM wallets w
          LEFT JOIN (SELECT wallet_id, sum(balance_delta) AS total FROM ledger
                     GROUP BY wallet_id) s ON s.wallet_id = w.id
         WHERE w.balance <> coalesce(s.total, 0)""",
    "held = Σ open holds": """
        SELECT format('wallet %s: held %s, open holds sum to %s, held entries to %s', w.id,
                      w.held, coalesce(h.total, 0), coalesce(s.total, 0))
          FROM wallets w
          LEFT JOIN (SELECT wallet_id, sum(amount) AS total FROM holds WHERE status = 'open'
                     GROUP BY wallet_id) h ON h.wallet_id = w.id
          LEFT JOIN (SELECT wallet_id, sum(held_delta) AS total FROM ledger
                     GROUP BY wallet_id) s ON s.wallet_id = w.id
         WHERE w.held <> coalesce(h.total, 0) OR w.held <> coalesce(s.total, 0)""",
    "available ≥ 0": """
        SELECT format('wallet %s: balance %s < held %s', id, balance, held)
          FROM wallets WHERE balance - held < 0 OR held < 0""",
    "running balances": """
        SELECT format('entry %s (%s): balance_after %s/%s, running sums %s/%s', id, ref,
                      balance_after, held_after, running_balance, running_held)
          FROM (SELECT id, ref, balance_after, held_after,
                       sum(balance_delta) OVER w AS running_balance,
                       sum(held_delta) OVER w AS running_held
                  FROM ledger WINDOW w AS (PARTITION BY wallet_id ORDER BY id)) t
         WHERE balance_after <> running_balance OR held_after <> running_held""",
    "holds resolved as recorded": """
        SELECT format('hold %s (%s) is %s with %s resolving entries', h.id, h.ref, h.status,
                      count(e.id))
          FROM holds h
          LEFT JOIN ledger e ON e.hold_id = h.id AND e.kind IN ('capture', 'release')
         GROUP BY h.id
        HAVING (h.status = 'open') <> (count(e.id) = 0) OR count(e.id) > 1
            OR (h.status = 'captured' AND bool_or(e.kind = 'release'))
            OR (h.status IN ('released', 'expired') AND bool_or(e.kind = 'capture'))""",
    "refunds within captures": """
        SELECT format('hold %s: refunded %s, refund entries sum to %s', h.id, h.refunded,
                      coalesce(sum(e.amount), 0))
          FROM holds h LEFT JOIN ledger e ON e.hold_id = h.id AND e.kind = 'refund'
         GROUP BY h.id HAVING h.refunded <> coalesce(sum(e.amount), 0)""",
    "references resolve": """
        SELECT format('entry %s (%s) points at a missing wallet or hold', e.id, e.ref)
          FROM ledger e
         WHERE NOT EXISTS (SELECT 1 FROM wallets w WHERE w.id = e.wallet_id)
            OR (e.hold_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = e.hold_id
                                                      AND h.wallet_id = e.wallet_id))
        UNION ALL
        SELECT format('hold %s (%s) belongs to a missing wallet', h.id, h.ref)
          FROM holds h WHERE NOT EXISTS (SELECT 1 FROM wallets w WHERE w.id = h.wallet_id)""",
    "final jobs hold nothing": """
        SELECT format('job %s is %s but hold %s is still open', j.id, j.state, h.ref)
          FROM jobs j JOIN holds h ON h.ref = j.hold_ref
         WHERE j.state IN ('succeeded', 'delivered', 'failed', 'expired', 'canceled')
           AND h.status = 'open'""",
    "credited payments = top-ups": """
        WITH credit AS (
            SELECT p.id, p.status, p.credited_kopecks, w.id AS wallet_id,
                   CASE WHEN p.method = 'transfer' THEN 'transfer:' || p.id
                        ELSE 'tgcharge:' || p.telegram_charge_id END AS ref
              FROM payments p JOIN wallets w ON w.user_id = p.user_id)
        SELECT format('payment %s is %s for %s but its top-up %s is %s', c.id, c.status,
                      c.credited_kopecks, c.ref, coalesce(e.amount::text, 'missing'))
          FROM credit c LEFT JOIN ledger e ON e.ref = c.ref AND e.kind = 'topup'
                                          AND e.wallet_id = c.wallet_id
         WHERE (c.status IN ('credited', 'refunded')
                AND (e.id IS NULL OR e.amount <> c.credited_kopecks))
            OR (c.status NOT IN ('credited', 'refunded') AND e.id IS NOT NULL)
        UNION ALL
        SELECT format('top-up %s has no credited payment', e.ref)
          FROM ledger e
         WHERE e.kind = 'topup' AND (e.ref LIKE 'tgcharge:%' OR e.ref LIKE 'transfer:%')
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.status IN ('credited', 'refunded')
                 AND e.ref = CASE WHEN p.method = 'transfer' THEN 'transfer:' || p.id
                                  ELSE 'tgcharge:' || p.telegram_charge_id END)""",
}


@dataclass
class AuditReport:
    wallets: int
    entries: int
    open_holds: int
    total_balance_kopecks: int
    total_held_kopecks: int
    violations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        lines = [
            f"wallets {self.wallets}, entries {self.entries}, open holds {self.open_holds}",
            f"total balance {self.total_balance_kopecks} kop, held {self.total_held_kopecks} kop",
        ]
        for check in CHECKS:
            found = self.violations.get(check, [])
            lines.append(f"  {'FAIL' if found else 'ok  '} {check}")
            lines.extend(f"       {line}" for line in found)
        lines.append("ledger invariants: " + ("OK" if self.ok else "VIOLATED"))
        return "\n".join(lines)


def audit_ledger(db: Database) -> AuditReport:
    """Run every check in one snapshot (REPEATABLE READ), so a busy system audits consistently."""
    with db.connection() as conn:
        conn.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            totals = conn.run(
                """SELECT (SELECT count(*) FROM wallets), (SELECT count(*) FROM ledger),
                          (SELECT count(*) FROM holds WHERE status = 'open'),
                          (SELECT coalesce(sum(balance), 0) FROM wallets),
                          (SELECT coalesce(sum(held), 0) FROM wallets)"""
            )[0]
            violations: dict[str, list[str]] = {}
            for check, sql in CHECKS.items():
                found = [row[0] for row in conn.run(f"{sql} LIMIT {SHOWN_PER_CHECK}")]
                if found:
                    violations[check] = found
        finally:
            conn.run("ROLLBACK")
    return AuditReport(
        wallets=totals[0],
        entries=totals[1],
        open_holds=totals[2],
        total_balance_kopecks=int(totals[3]),
        total_held_kopecks=int(totals[4]),
        violations=violations,
    )
