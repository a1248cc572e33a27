"""Ledger invariants, checked against the database (`python -m app ledger check`).

1. Per asset, the sum of all balances is zero (double entry).
2. Every account's balance equals the sum of its transfers (credits - debits).
3. No account without `allow_negative` (every user account) is negative.
4. Every hold is consistent: consumed + released <= amount; a resolved hold is fully
   accounted for; its amount equals its placement and top-ups (code `hold`), its counters
   its consumptions and releases (a pending hold may release part of itself: an order
   amended down).
5. Every `held` account holds exactly what its pending holds have left.
6. Every reference holds: a transfer's accounts exist and are of its asset, its hold exists
   and is of its asset; a hold is between its user's `held` and `available` accounts of its
   asset (what the statement triggers of migration 0021 enforce on every insert).
"""

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    detail: str


@dataclass(slots=True)
class CheckReport:
    accounts: int = 0
    transfers: int = 0
    holds: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def render(self) -> str:
        head = (
            f"ledger check: {self.accounts} accounts, {self.transfers} transfers, "
            f"{self.holds} holds: "
        )
        if self.ok:
            return head + "OK"
        lines = [head + f"{len(self.violations)} VIOLATION(S)"]
        lines += [f"  [{v.invariant}] {v.detail}" for v in self.violations]
        return "\n".join(lines)


_QUERIES: list[tuple[str, str]] = [
    (
        "asset_sum_zero",
        "SELECT asset, sum(balance) AS s FROM ledger_accounts GROUP BY asset "
        "HAVING sum(balance) <> 0 ORDER BY asset",
    ),
    (
        "balance_equals_transfers",
        """
        SELECT a.id, a.asset, a.kind, a.balance,
               COALESCE(c.s, 0) - COALESCE(d.s, 0) AS journal
        FROM ledger_accounts a
        LEFT JOIN (SELECT credit_account_id AS id, sum(amount) AS s FROM ledger_transfers
                   GROUP BY credit_account_id) c ON c.id = a.id
        LEFT JOIN (SELECT debit_account_id AS id, sum(amount) AS s FROM ledger_transfers
                   GROUP BY debit_account_id) d ON d.id = a.id
        WHERE a.balance <> COALESCE(c.s, 0) - COALESCE(d.s, 0)
        ORDER BY a.id
        """,
    ),
    (
        "no_negative_user_balance",
        "SELECT id, user_id, asset, kind, balance FROM ledger_accounts "
        "WHERE balance < 0 AND (NOT allow_negative OR user_id IS NOT NULL) ORDER BY id",
    ),
    (
        "hold_counters",
        """
        SELECT id, state, amount, consumed, released FROM ledger_holds
        WHERE consumed < 0 OR released < 0 OR consumed + released > amount
           OR (state <> 'pending' AND consumed + released <> amount)
           OR state NOT IN ('pending', 'posted', 'voided')
        ORDER BY id
        """,
    ),
    (
        "hold_matches_transfers",
        """
        SELECT h.id, h.amount, h.consumed, h.released,
               COALESCE(t.placed, 0) AS placed, COALESCE(t.consumed, 0) AS t_consumed,
               COALESCE(t.released, 0) AS t_released
        FROM ledger_holds h
        LEFT JOIN (
            SELECT hold_id,
                   sum(amount) FILTER (WHERE code = 'hold') AS placed,
                   sum(amount) FILTER (WHERE code NOT IN ('hold', 'release')) AS consumed,
                   sum(amount) FILTER (WHERE code = 'release') AS released
            FROM ledger_transfers WHERE hold_id IS NOT NULL GROUP BY hold_id
        ) t ON t.hold_id = h.id
        WHERE COALESCE(t.placed, 0) <> h.amount OR COALESCE(t.consumed, 0) <> h.consumed
           OR COALESCE(t.released, 0) <> h.released
        ORDER BY h.id
        """,
    ),
    (
        "held_equals_pending_holds",
        """
        SELECT a.id, a.user_id, a.asset, a.balance, COALESCE(h.left_, 0) AS holds_left
        FROM ledger_accounts a
        LEFT JOIN (SELECT account_id, sum(amount - consumed - released) AS left_
                   FROM ledger_holds GROUP BY account_id) h ON h.account_id = a.id
        WHERE a.kind = 'held' AND a.balance <> COALESCE(h.left_, 0)
        ORDER BY a.id
        """,
    ),
    (
        "references",
        """
        SELECT 'transfer' AS row_kind, t.id FROM ledger_transfers t
        LEFT JOIN ledger_accounts d ON d.id = t.debit_account_id AND d.asset = t.asset
        LEFT JOIN ledger_accounts c ON c.id = t.credit_account_id AND c.asset = t.asset
        LEFT JOIN ledger_holds h ON h.id = t.hold_id AND h.asset = t.asset
        WHERE d.id IS NULL OR c.id IS NULL OR (t.hold_id IS NOT NULL AND h.id IS NULL)
        UNION ALL
        SELECT 'hold', h.id FROM ledger_holds h
        LEFT JOIN ledger_accounts a ON a.id = h.account_id AND a.user_id = h.user_id
            AND a.asset = h.asset AND a.kind = 'held'
        LEFT JOIN ledger_accounts v ON v.id = h.available_account_id AND v.user_id = h.user_id
            AND v.asset = h.asset AND v.kind = 'available'
        WHERE a.id IS NULL OR v.id IS NULL
        ORDER BY 1, 2
        """,
    ),
]


async def check_ledger(session: AsyncSession, *, limit: int = 50) -> CheckReport:
    """Run every invariant; at most `limit` rows are reported per invariant."""
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger_accounts) AS n_accounts, "
                "(SELECT count(*) FROM ledger_transfers) AS n_transfers, "
                "(SELECT count(*) FROM ledger_holds) AS n_holds"
            )
        )
    ).one()
    report = CheckReport(int(counts.n_accounts), int(counts.n_transfers), int(counts.n_holds))
    for name, sql in _QUERIES:
        rows = (await session.execute(text(f"{sql} LIMIT {int(limit)}"))).mappings().all()
        for row in rows:
            detail = ", ".join(f"{k}={v}" for k, v in row.items())
            report.violations.append(Violation(name, detail))
    return report
