"""Read side: a user's balances and statement (keyset-paginated journal entries)."""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.inputs import MAX_INT
from app.ledger.errors import InvalidCursor


@dataclass(frozen=True, slots=True)
class AssetBalance:
    asset: str
    decimals: int
    available: int
    held: int
    staked: int

    @property
    def total(self) -> int:
        return self.available + self.held + self.staked


async def user_balances(session: AsyncSession, user_id: int) -> list[AssetBalance]:
    rows = await session.execute(
        text(
            "SELECT a.asset, s.decimals, "
            "  sum(a.balance) FILTER (WHERE a.kind = 'available') AS available, "
            "  sum(a.balance) FILTER (WHERE a.kind = 'held') AS held, "
            "  sum(a.balance) FILTER (WHERE a.kind = 'staked') AS staked "
            "FROM ledger_accounts a JOIN assets s ON s.code = a.asset "
            "WHERE a.user_id = :u GROUP BY a.asset, s.decimals ORDER BY a.asset"
        ),
        {"u": user_id},
    )
    return [
        AssetBalance(
            r.asset, int(r.decimals), int(r.available or 0), int(r.held or 0), int(r.staked or 0)
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    leg: int  # 0: the account was debited, 1: credited
    transfer_id: str
    created_at: datetime
    asset: str
    kind: str
    amount: int  # signed: negative when the account was debited
    code: str
    reference: str | None

    @property
    def cursor(self) -> str:
        return f"{self.seq}.{self.leg}"


_CURSOR = re.compile(r"(0|[1-9][0-9]{0,18})\.([01])")  # "<seq>.<leg>", canonical digits


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return (0, 1)
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match.group(1)) > MAX_INT:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not one this API returned")
    return int(match.group(1)), int(match.group(2))


_ENTRIES_SQL = text(
    """
    SELECT * FROM (
        SELECT t.seq, 0 AS leg, t.id, t.created_at, a.asset, a.kind, -t.amount AS amount,
               t.code, t.reference
        FROM ledger_transfers t JOIN ledger_accounts a ON a.id = t.debit_account_id
        WHERE t.debit_account_id = ANY(CAST(:ids AS bigint[])) AND t.seq >= :seq
        UNION ALL
        SELECT t.seq, 1 AS leg, t.id, t.created_at, a.asset, a.kind, t.amount,
               t.code, t.reference
        FROM ledger_transfers t JOIN ledger_accounts a ON a.id = t.credit_account_id
        WHERE t.credit_account_id = ANY(CAST(:ids AS bigint[])) AND t.seq >= :seq
    ) e
    WHERE (e.seq, e.leg) > (:seq, :leg)
      AND (CAST(:from_ AS timestamptz) IS NULL OR e.created_at >= CAST(:from_ AS timestamptz))
      AND (CAST(:to_ AS timestamptz) IS NULL OR e.created_at < CAST(:to_ AS timestamptz))
    ORDER BY e.seq, e.leg
    LIMIT :limit
    """
)


async def user_entries(
    session: AsyncSession,
    user_id: int,
    *,
    asset: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[Entry], str | None]:
    """The user's entries in journal order after `cursor`, and the cursor of the next page
    (None on the last page). `from_` is inclusive, `to` exclusive."""
    seq, leg = parse_cursor(cursor)
    ids = list(
        await session.scalars(
            text(
                "SELECT id FROM ledger_accounts WHERE user_id = :u "
                "AND (CAST(:a AS text) IS NULL OR asset = CAST(:a AS text))"
            ),
            {"u": user_id, "a": asset},
        )
    )
    if not ids:
        return [], None
    rows = await session.execute(
        _ENTRIES_SQL,
        {"ids": ids, "seq": seq, "leg": leg, "from_": from_, "to_": to, "limit": limit + 1},
    )
    entries = [
        Entry(
            int(r.seq),
            int(r.leg),
            r.id,
            r.created_at,
            r.asset,
            r.kind,
            int(r.amount),
            r.code,
            r.reference,
        )
        for r in rows
    ]
    more = len(entries) > limit
    entries = entries[:limit]
    return entries, (entries[-1].cursor if more and entries else None)
