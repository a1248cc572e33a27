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


# --- a user's ledger as Kraken shows it ------------------------------------------------------

# Kraken's ledger entry types, by transfer code (anything else is an adjustment).
LEDGER_TYPES = {
    "trade": "trade",
    "deposit": "deposit",
    "withdrawal": "withdrawal",
    "stake": "transfer",
    "unstake": "transfer",
    "stake_reward": "staking",
}

_TYPE_SQL = (
    "CASE e.code "
    + " ".join(f"WHEN '{code}' THEN '{kind}'" for code, kind in LEDGER_TYPES.items())
    + " ELSE 'adjustment' END"
)

_LEDGER_SQL = """
WITH mine AS (
    SELECT id, asset, kind FROM ledger_accounts
    WHERE user_id = :u AND kind IN ('available', 'held', 'staked')
), legs AS (
    SELECT t.seq, t.id, t.created_at, t.code, t.reference, m.asset,
           m.kind = 'staked' AS staked, -t.amount AS amount
    FROM ledger_transfers t JOIN mine m ON m.id = t.debit_account_id
    UNION ALL
    SELECT t.seq, t.id, t.created_at, t.code, t.reference, m.asset,
           m.kind = 'staked' AS staked, t.amount
    FROM ledger_transfers t JOIN mine m ON m.id = t.credit_account_id
), grouped AS (
    -- One entry per fill and asset (its legs together), else per transfer; moves between
    -- the user's own available and held (holds, releases) net to nothing and are left out.
    SELECT min(seq) AS seq, min(created_at) AS created_at, min(code) AS code,
           min(reference) AS reference, asset, staked, sum(amount) AS net
    FROM legs
    GROUP BY CASE WHEN code = 'trade' THEN 'f' || reference ELSE 't' || id END, asset, staked
    HAVING sum(amount) <> 0
), e AS (
    SELECT g.*, sum(g.net) OVER (PARTITION BY g.asset, g.staked ORDER BY g.seq) AS balance,
           f.id AS fill_id, f.taker_user_id = :u AS taker,
           CASE WHEN g.code = 'trade' AND g.asset = :quote AND NOT g.staked THEN
               (CASE WHEN f.maker_user_id = :u THEN f.maker_fee ELSE 0 END)
             + (CASE WHEN f.taker_user_id = :u THEN f.taker_fee ELSE 0 END)
           ELSE 0 END AS fee
    FROM grouped g
    LEFT JOIN fills f
        ON f.market_id = CASE WHEN g.code = 'trade' AND g.reference LIKE 'fill:%'
                              THEN CAST(split_part(g.reference, ':', 2) AS bigint) END
        AND f.match_id = CASE WHEN g.code = 'trade' AND g.reference LIKE 'fill:%'
                              THEN CAST(split_part(g.reference, ':', 3) AS bigint) END
)
SELECT e.seq, e.created_at, e.code, e.reference, e.asset, e.staked, e.net, e.balance,
       e.fill_id, e.taker, e.fee, {type} AS type, count(*) OVER () AS total
FROM e
WHERE (CAST(:assets AS text[]) IS NULL OR e.asset = ANY(CAST(:assets AS text[])))
  AND (CAST(:types AS text[]) IS NULL OR {type} = ANY(CAST(:types AS text[])))
  AND (CAST(:start AS timestamptz) IS NULL OR e.created_at > CAST(:start AS timestamptz))
  AND (CAST(:end_ AS timestamptz) IS NULL OR e.created_at <= CAST(:end_ AS timestamptz))
  AND (CAST(:seqs AS bigint[]) IS NULL OR e.seq = ANY(CAST(:seqs AS bigint[])))
ORDER BY e.seq DESC
OFFSET :ofs LIMIT :limit
"""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change of a user's balance of an asset (staked alpha is its own asset, as
    Kraken's `SN64.B`): `amount - fee` is the change, `balance` the total after it."""

    seq: int  # its first transfer's journal position: with `staked`, its id
    created_at: datetime
    type: str  # trade | deposit | withdrawal | transfer | staking | adjustment
    code: str
    reference: str | None
    asset: str
    staked: bool
    amount: int
    fee: int
    balance: int
    fill_id: int | None  # a trade's fill, and whether the user took in it
    taker: bool


async def user_ledger(
    session: AsyncSession,
    user_id: int,
    quote_asset: str,
    *,
    assets: list[str] | None = None,
    types: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    seqs: list[int] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[LedgerEntry], int]:
    """The user's ledger, newest first, from `offset`, and how many entries match (all in
    SQL). `start` exclusive, `end` inclusive (Kraken's). Entries of one asset sum to its
    balance: a fill's quote entry is its gross amount and the user's fee."""
    rows = await session.execute(
        text(_LEDGER_SQL.format(type=_TYPE_SQL)),
        {
            "u": user_id,
            "quote": quote_asset,
            "assets": assets,
            "types": types,
            "start": start,
            "end_": end,
            "seqs": seqs,
            "ofs": offset,
            "limit": limit,
        },
    )
    entries: list[LedgerEntry] = []
    total = 0
    for r in rows:
        total = int(r.total)
        fee = int(r.fee or 0)
        entries.append(
            LedgerEntry(
                seq=int(r.seq),
                created_at=r.created_at,
                type=str(r.type),
                code=str(r.code),
                reference=r.reference,
                asset=str(r.asset),
                staked=bool(r.staked),
                amount=int(r.net) + fee,
                fee=fee,
                balance=int(r.balance),
                fill_id=None if r.fill_id is None else int(r.fill_id),
                taker=bool(r.taker),
            )
        )
    if not entries and offset:
        total = await _count(session, user_id, quote_asset, assets, types, start, end)
    return entries, total


async def _count(
    session: AsyncSession,
    user_id: int,
    quote_asset: str,
    assets: list[str] | None,
    types: list[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> int:
    """The count when the page is past the end (no row carried it)."""
    _, total = await user_ledger(
        session, user_id, quote_asset, assets=assets, types=types, start=start, end=end, limit=1
    )
    return total
