"""The order store: what the order path reads from Postgres and how it writes a group.

- `load`: the open orders and book counters of some (or all) markets, as committed, for
  the order core to restore.
- `read_group`: what one group reads at its start, in one round trip: the rules of the
  markets its commands name, and the available balances it may spend, locked (`FOR NO KEY
  UPDATE`, in id order) until it commits, so nobody else spends them meanwhile; the same
  statement records the nonces of its signed requests (`NonceWrite`).
- `write`: a group's `Outcome` in its transaction, in ONE statement (`app.kit.sql`): the
  ledger's legs and holds (`sequenced_write`; accounts resolved once per group), new and
  changed order rows, fills and volumes.
"""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import NonceWrite
from app.db import driver as raw_connection
from app.kit import metrics
from app.kit.sql import Part, combine, renumbered
from app.ledger.service import (
    SequencedHold,
    SequencedTransfer,
    fetch_writing,
    get_account_id,
    hold_transfer_id,
    sequenced_write,
)
from app.ledger.settlement import AccountRef
from app.markets.fees import tiers_of
from app.models import Fill, Market, Order
from app.orders.commands import LiveOrder
from app.orders.core import QUOTE, Funds, MarketRules, Outcome, rules_from
from app.orders.readmodel import FillRecord


@dataclass(frozen=True, slots=True)
class MarketBook:
    """A market's committed book: its parameters, open orders and next match id."""

    id: int
    symbol: str
    tick: int
    lot: int
    open_orders: list[LiveOrder]
    next_match_id: int
    stops: list[LiveOrder]  # untriggered stop orders
    last_price: int | None  # the price of the market's last trade


async def load(session: AsyncSession, market_ids: set[int] | None = None) -> list[MarketBook]:
    """Every market's committed book, or those of `market_ids`."""
    only = sorted(market_ids) if market_ids is not None else None
    open_orders = select(Order, Market.base_asset).join(Market, Market.id == Order.market_id)
    open_orders = open_orders.where(Order.status.in_(("open", "untriggered")))
    markets = select(Market)
    holds_sql = (
        "SELECT h.id, h.consumed + h.released, h.amount FROM ledger_holds h "
        "JOIN orders o ON o.hold_id = h.id WHERE o.status IN ('open', 'untriggered')"
    )
    last = select(Fill.market_id, func.max(Fill.match_id).label("last_match")).group_by(
        Fill.market_id
    )
    if only is not None:
        open_orders = open_orders.where(Order.market_id.in_(only))
        markets = markets.where(Market.id.in_(only))
        holds_sql += " AND o.market_id = ANY(:ids)"
        last = last.where(Fill.market_id.in_(only))
    last_ids = last.subquery()
    prices = select(Fill.market_id, Fill.price).join(
        last_ids,
        (last_ids.c.market_id == Fill.market_id) & (last_ids.c.last_match == Fill.match_id),
    )
    used = {
        hold_id: (int(n), int(amount))
        for hold_id, n, amount in await session.execute(
            text(holds_sql), {"ids": only} if only else {}
        )
    }
    match_ids = {int(m): int(n) for m, n in await session.execute(last)}
    last_prices = {int(m): int(p) for m, p in await session.execute(prices)}
    by_market: dict[int, list[LiveOrder]] = {}
    stops: dict[int, list[LiveOrder]] = {}
    for row, base in (await session.execute(open_orders)).all():
        live = _live(row, base)
        live.hold_used, live.hold_amount = used.get(row.hold_id, (0, row.hold_amount))
        (stops if row.status == "untriggered" else by_market).setdefault(row.market_id, []).append(
            live
        )
    return [
        MarketBook(
            m.id,
            m.symbol,
            m.tick_size,
            m.lot_size,
            by_market.get(m.id, []),
            match_ids.get(m.id, 0) + 1,
            sorted(stops.get(m.id, []), key=lambda o: o.id),
            last_prices.get(m.id),
        )
        for m in await session.scalars(markets)
    ]


async def last_order_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Order.id))) or 0)


_READ_BODY = """
    f AS (
        SELECT a.user_id, a.asset, a.balance FROM ledger_accounts a
        JOIN unnest($3::bigint[], $4::text[]) AS w(u, s)
          ON a.user_id = w.u AND a.asset = w.s AND a.kind = 'available'
        ORDER BY a.id FOR NO KEY UPDATE OF a
    )
    SELECT 'm' AS kind, m.id, m.symbol, m.base_asset, m.state, m.tick_size, m.lot_size,
           m.min_size, m.min_notional, m.maker_fee_bps, m.taker_fee_bps, m.price_band_bps,
           s.price_rao, NULL::bigint AS user_id, NULL::text AS asset, NULL::bigint AS balance,
           NULL::bool AS revoked
    FROM markets m JOIN subnets s ON s.id = m.subnet_id
    WHERE m.symbol = ANY($1::text[]) OR m.id = ANY($2::bigint[])
    UNION ALL
    SELECT 'f', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           f.user_id, f.asset, f.balance, NULL FROM f
    UNION ALL  -- the fee tiers (a small table): a market's, or the global ones (id NULL)
    SELECT 't', t.market_id, NULL, NULL, NULL, NULL, t.min_volume, NULL, NULL,
           t.maker_fee_bps, t.taker_fee_bps, NULL, NULL, NULL, NULL, NULL, NULL
    FROM fee_tiers t WHERE cardinality($1::text[]) + cardinality($2::bigint[]) > 0
"""
_READ_SQL = "WITH " + _READ_BODY
# With the group's nonces (`NonceWrite`, parameters $1, $2) recorded by the same statement:
# the refused ones are rows too.
_READ_NONCES_SQL = (
    f"WITH {NonceWrite.CTES},{renumbered(_READ_BODY, 2)}"
    "    UNION ALL  -- the nonces refused: key id, nonce, revoked\n"
    "    SELECT 'n', r.key_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    f" NULL, NULL, NULL, r.nonce, r.revoked FROM ({NonceWrite.REFUSED}) r"
)


async def read_group(
    session: AsyncSession,
    symbols: set[str],
    ids: set[int],
    needed: Iterable[tuple[int, str]],
    nonces: NonceWrite | None = None,
) -> tuple[list[MarketRules], Funds]:
    """In one round trip, what a group reads: the rules of the markets named by symbol or id
    (unknown ones left out) with their fee tiers, and the available balances of (user,
    asset) pairs, locked until the transaction ends (a user without such an account has 0:
    nothing is created). The group's nonces are recorded by the same statement (those it
    refuses: `nonces.refusal`)."""
    pairs = sorted(set(needed))
    funds: Funds = dict.fromkeys(pairs, 0)
    conn = await raw_connection(session)
    args = [sorted(symbols), sorted(ids), [u for u, _ in pairs], [a for _, a in pairs]]
    if nonces is None:
        rows = await conn.fetch(_READ_SQL, *args)
    else:
        rows = await conn.fetch(_READ_NONCES_SQL, *nonces.args, *args)
    markets = []
    tiers: dict[int | None, list[tuple[int, int, int]]] = {}
    refused = []
    for r in rows:
        kind = r["kind"]
        if kind == "f":
            funds[(r["user_id"], r["asset"])] = r["balance"]
        elif kind == "t":
            tiers.setdefault(r["id"], []).append(
                (r["lot_size"], r["maker_fee_bps"], r["taker_fee_bps"])
            )
        elif kind == "n":
            refused.append((r["id"], r["balance"], r["revoked"]))
        else:
            markets.append(r)
    if nonces is not None:
        nonces.learn(refused)
    return [rules_from(r, tiers_of(tiers, r["id"])) for r in markets], funds


async def write(session: AsyncSession, out: Outcome, timer: metrics.GroupTimer) -> None:
    """Everything a group did, in its transaction (the caller commits)."""
    accounts = await _resolve_accounts(session, out)
    timer.lap("write:accounts")
    transfers: list[SequencedTransfer] = []
    holds: list[SequencedHold] = []
    # Holds first: a leg may consume a hold placed by the same group.
    for h in out.holds:
        available, held = (
            accounts[(h.user_id, h.asset, "available")],
            accounts[(h.user_id, h.asset, "held")],
        )
        transfers.append(
            SequencedTransfer(
                hold_transfer_id(h.id),
                available,
                held,
                h.asset,
                h.amount,
                "hold",
                h.reference,
                h.id,
            )
        )
        holds.append(
            SequencedHold(h.id, h.user_id, h.asset, held, available, h.amount, h.reference)
        )
    # Top-ups of pending holds (amends up): more of the owner's available into the hold.
    transfers.extend(
        SequencedTransfer(
            t.transfer_id,
            accounts[(t.user_id, t.asset, "available")],
            accounts[(t.user_id, t.asset, "held")],
            t.asset,
            t.amount,
            "hold",
            t.hold_id,
            t.hold_id,
        )
        for t in out.top_ups
    )
    transfers.extend(
        SequencedTransfer(
            leg.id, accounts[leg.debit], accounts[leg.credit], leg.debit[1], leg.amount,
            leg.code, leg.reference, leg.hold_id,
        )
        for leg in out.legs
    )  # fmt: skip
    parts: list[Part] = []
    ledger = None
    if transfers or out.resolve:
        ledger = sequenced_write(
            transfers, new_holds=holds, resolve=out.resolve, batch_id=uuid.uuid4()
        )
        parts.append(ledger.part)
    created = [o for o in out.touched.values() if o.created]
    updated = [o for o in out.touched.values() if not o.created]
    if created or updated or out.fills:
        args = [
            *_orders_args(created, updated, out.fills),
            *_volumes(out),
            [o.trail_offset for o in created],
            [o.trail_bps for o in created],
            [o.trigger_price for o in updated],
        ]
        parts.append(Part(_ORDERS_CTES, args, _ORDERS_SELECT))
    if not parts:
        return
    sql, args = combine(parts)
    timer.lap("write:prepare")
    row = await fetch_writing(await raw_connection(session), sql, *args)
    if ledger is not None:
        ledger.check(row)
    timer.lap("write")


async def write_event(session: AsyncSession, event: dict[str, Any]) -> int:
    """The group's committed event into the outbox, in the group's transaction: its id."""
    conn = await raw_connection(session)
    event_id: int = await conn.fetchval(
        "INSERT INTO outbox_events (payload) VALUES ($1::jsonb) RETURNING id",
        json.dumps(event, separators=(",", ":")),
    )
    return event_id


async def last_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT coalesce(max(id), 0) FROM outbox_events")) or 0)


def _volumes(out: Outcome) -> tuple[list[int], list[int]]:
    """Each user's traded quote in the group (both sides of a fill, each for its user): the
    fee tiers' 30-day volume."""
    by_user: dict[int, int] = {}
    for f in out.fills:
        for user in (f.maker.user_id, f.taker.user_id):
            by_user[user] = by_user.get(user, 0) + f.quote
    users = sorted(by_user)
    return users, [by_user[u] for u in users]


def written(out: Outcome) -> None:
    """After the commit: the group's new orders are rows now."""
    for o in out.touched.values():
        o.created = False


async def _resolve_accounts(session: AsyncSession, out: Outcome) -> dict[AccountRef, int]:
    """Every account the group's legs and holds name, by id: once per group (from the
    ledger's cache; an account used for the first time is created)."""
    refs: set[AccountRef] = {leg.debit for leg in out.legs} | {leg.credit for leg in out.legs}
    for user_id, asset in [(h.user_id, h.asset) for h in out.holds] + [
        (t.user_id, t.asset) for t in out.top_ups
    ]:
        refs.add((user_id, asset, "available"))
        refs.add((user_id, asset, "held"))
    return {ref: await get_account_id(session, *ref) for ref in sorted(refs, key=_ref_key)}


def _ref_key(ref: AccountRef) -> tuple[int, str, str]:
    user, asset, kind = ref
    return (-1 if user is None else user, asset, kind)


# The group's order rows, fills and volumes: CTEs of the group's one statement, after the
# ledger's (their names differ from the ledger's).
_ORDERS_CTES = """
    o_ins AS (
        INSERT INTO orders (id, user_id, market_id, client_order_id, side, type, time_in_force,
            post_only, stp, price, qty, quote_budget, filled_qty, filled_quote, fee, status,
            cancel_reason, hold_id, hold_amount, priority_ts, created_at, closed_at, trigger,
            trigger_price, triggered_at, trail_offset, trail_bps)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
            $6::text[], $7::text[], $8::bool[], $9::text[], $10::bigint[], $11::bigint[],
            $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[],
            $17::text[], $18::text[], $19::bigint[], $20::bigint[], $21::timestamptz[],
            $22::timestamptz[], $45::text[], $46::bigint[], $47::timestamptz[], $52::bigint[],
            $53::int[])
        RETURNING 1
    ), o_upd AS (
        UPDATE orders o SET price = v.price, qty = v.qty, filled_qty = v.fq,
            filled_quote = v.fquote, fee = v.fee, status = v.status, cancel_reason = v.reason,
            priority_ts = v.pts, updated_at = now(), closed_at = v.closed,
            hold_amount = v.hold, triggered_at = v.triggered, trigger_price = v.trigger_price
        FROM unnest($23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[],
            $28::bigint[], $29::text[], $30::text[], $31::bigint[], $32::timestamptz[],
            $48::bigint[], $49::timestamptz[], $54::bigint[])
            AS v(id, price, qty, fq, fquote, fee, status, reason, pts, closed, hold, triggered,
                 trigger_price)
        WHERE o.id = v.id
        RETURNING 1
    ), o_fil AS (
        INSERT INTO fills (market_id, match_id, maker_order_id, taker_order_id, maker_user_id,
            taker_user_id, taker_side, price, qty, quote, maker_fee, taker_fee)
        SELECT * FROM unnest($33::bigint[], $34::bigint[], $35::bigint[], $36::bigint[],
            $37::bigint[], $38::bigint[], $39::text[], $40::bigint[], $41::bigint[],
            $42::bigint[], $43::bigint[], $44::bigint[])
        RETURNING 1
    ), o_vol AS (  -- each user's traded quote today: the fee tiers' 30-day volume
        INSERT INTO user_volume_daily (user_id, day, quote)
        SELECT u, (now() AT TIME ZONE 'UTC')::date, q FROM unnest($50::bigint[], $51::bigint[])
            AS v(u, q)
        ON CONFLICT (user_id, day) DO UPDATE SET quote = user_volume_daily.quote + EXCLUDED.quote
        RETURNING 1
    )
"""
_ORDERS_SELECT = (
    "(SELECT count(*) FROM o_ins) AS orders_ins, (SELECT count(*) FROM o_upd) AS orders_upd, "
    "(SELECT count(*) FROM o_fil) AS orders_fil, (SELECT count(*) FROM o_vol) AS orders_vol"
)


def _orders_args(
    created: list[LiveOrder], updated: list[LiveOrder], fills: list[FillRecord]
) -> list[list[Any]]:
    """The columns of `_ORDERS_SQL`, as arrays: new orders, changed orders, fills."""
    new: list[list[Any]] = [
        [o.id for o in created],
        [o.user_id for o in created],
        [o.market_id for o in created],
        [o.client_order_id for o in created],
        [o.side for o in created],
        [o.type for o in created],
        [o.time_in_force for o in created],
        [o.post_only for o in created],
        [o.stp for o in created],
        [o.price for o in created],
        [o.qty for o in created],
        [o.quote_budget for o in created],
        [o.filled_qty for o in created],
        [o.filled_quote for o in created],
        [o.fee for o in created],
        [o.status for o in created],
        [o.cancel_reason for o in created],
        [o.hold_id for o in created],
        [o.hold_amount for o in created],
        [o.priority_ts for o in created],
        [o.created_at for o in created],
        [o.closed_at for o in created],
    ]
    changed: list[list[Any]] = [
        [o.id for o in updated],
        [o.price for o in updated],
        [o.qty for o in updated],
        [o.filled_qty for o in updated],
        [o.filled_quote for o in updated],
        [o.fee for o in updated],
        [o.status for o in updated],
        [o.cancel_reason for o in updated],
        [o.priority_ts for o in updated],
        [o.closed_at for o in updated],
    ]
    matched: list[list[Any]] = [
        [f.market_id for f in fills],
        [f.match_id for f in fills],
        [f.maker.id for f in fills],
        [f.taker.id for f in fills],
        [f.maker.user_id for f in fills],
        [f.taker.user_id for f in fills],
        [f.taker_side for f in fills],
        [f.price for f in fills],
        [f.qty for f in fills],
        [f.quote for f in fills],
        [f.maker_fee for f in fills],
        [f.taker_fee for f in fills],
    ]
    stops: list[list[Any]] = [
        [o.trigger for o in created],
        [o.trigger_price for o in created],
        [o.triggered_at for o in created],
        [o.hold_amount for o in updated],
        [o.triggered_at for o in updated],
    ]
    return [*new, *changed, *matched, *stops]


def _live(row: Order, base: str) -> LiveOrder:
    return LiveOrder(
        id=row.id,
        user_id=row.user_id,
        market_id=row.market_id,
        side=row.side,
        type=row.type,
        time_in_force=row.time_in_force,
        post_only=row.post_only,
        stp=row.stp,
        price=row.price,
        qty=row.qty,
        quote_budget=row.quote_budget,
        client_order_id=row.client_order_id,
        hold_id=row.hold_id,
        hold_asset=QUOTE if row.side == "buy" else base,
        hold_amount=row.hold_amount,
        hold_used=0,
        filled_qty=row.filled_qty,
        filled_quote=row.filled_quote,
        fee=row.fee,
        status=row.status,
        cancel_reason=row.cancel_reason,
        priority_ts=row.priority_ts,
        created_at=row.created_at,
        trigger=row.trigger,
        trigger_price=row.trigger_price,
        triggered_at=row.triggered_at,
        trail_offset=row.trail_offset,
        trail_bps=row.trail_bps,
    )
