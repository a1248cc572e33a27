"""The order store: what the order path reads from Postgres and how it writes a group.

- `load`: the open orders and book counters of some (or all) markets, as committed, for
  the order core to restore.
- `rules` and `lock_funds`: what one group reads at its start: the rules of the markets its
  commands name, and the available balances it may spend, locked (`FOR NO KEY UPDATE`, in
  id order) until it commits, so nobody else spends them meanwhile.
- `write`: a group's `Outcome` in its transaction, in a few bulk statements: the ledger
  legs and holds (accounts resolved once per group), new and changed order rows, fills.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import metrics
from app.ledger.service import (
    NewHold,
    TransferSpec,
    apply_sequenced_group,
    get_account_id,
    hold_placement,
)
from app.ledger.settlement import AccountRef
from app.models import Fill, Market, Order, Subnet
from app.orders.commands import LiveOrder
from app.orders.core import QUOTE, Funds, MarketRules, Markets, Outcome, rules_from


@dataclass(frozen=True, slots=True)
class MarketBook:
    """A market's committed book: its parameters, open orders and next match id."""

    id: int
    symbol: str
    tick: int
    lot: int
    open_orders: list[LiveOrder]
    next_match_id: int


async def load(session: AsyncSession, market_ids: set[int] | None = None) -> list[MarketBook]:
    """Every market's committed book, or those of `market_ids`."""
    only = sorted(market_ids) if market_ids is not None else None
    open_orders = select(Order, Market.base_asset).join(Market, Market.id == Order.market_id)
    open_orders = open_orders.where(Order.status == "open")
    markets = select(Market)
    holds_sql = (
        "SELECT h.id, h.consumed + h.released FROM ledger_holds h "
        "JOIN orders o ON o.hold_id = h.id WHERE o.status = 'open'"
    )
    last = select(Fill.market_id, func.max(Fill.match_id)).group_by(Fill.market_id)
    if only is not None:
        open_orders = open_orders.where(Order.market_id.in_(only))
        markets = markets.where(Market.id.in_(only))
        holds_sql += " AND o.market_id = ANY(:ids)"
        last = last.where(Fill.market_id.in_(only))
    used = {
        hold_id: int(n)
        for hold_id, n in await session.execute(text(holds_sql), {"ids": only} if only else {})
    }
    match_ids = {int(m): int(n) for m, n in await session.execute(last)}
    by_market: dict[int, list[LiveOrder]] = {}
    for row, base in (await session.execute(open_orders)).all():
        live = _live(row, base)
        live.hold_used = used.get(row.hold_id, 0)
        by_market.setdefault(row.market_id, []).append(live)
    return [
        MarketBook(
            m.id,
            m.symbol,
            m.tick_size,
            m.lot_size,
            by_market.get(m.id, []),
            match_ids.get(m.id, 0) + 1,
        )
        for m in await session.scalars(markets)
    ]


async def last_order_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Order.id))) or 0)


async def rules(session: AsyncSession, symbols: set[str], ids: set[int]) -> Markets:
    """The rules of the markets named by symbol or id (unknown ones are left out)."""
    if not symbols and not ids:
        return Markets([])
    rows = await session.execute(
        select(Market, Subnet.price_rao)
        .join(Subnet, Subnet.id == Market.subnet_id)
        .where(Market.symbol.in_(symbols) | Market.id.in_(ids))
    )
    return Markets(rules_of(m, price) for m, price in rows)


def rules_of(m: Market, price_rao: int) -> MarketRules:
    return rules_from({**{c: getattr(m, c) for c in _RULE_COLUMNS}, "price_rao": price_rao})


_RULE_COLUMNS = (
    "id", "symbol", "base_asset", "state", "tick_size", "lot_size", "min_size",
    "min_notional", "maker_fee_bps", "taker_fee_bps", "price_band_bps",
)  # fmt: skip


async def lock_funds(session: AsyncSession, needed: Iterable[tuple[int, str]]) -> Funds:
    """The available balances of (user, asset) pairs, locked until the transaction ends.
    A user without such an account has 0 (nothing is created for a read)."""
    pairs = sorted(set(needed))
    funds: Funds = dict.fromkeys(pairs, 0)
    if not pairs:
        return funds
    rows = await session.execute(
        text(
            "SELECT a.user_id, a.asset, a.balance FROM ledger_accounts a "
            "JOIN unnest(CAST(:users AS bigint[]), CAST(:assets AS text[])) AS w(u, s) "
            "ON a.user_id = w.u AND a.asset = w.s AND a.kind = 'available' "
            "ORDER BY a.id FOR NO KEY UPDATE OF a"
        ),
        {"users": [u for u, _ in pairs], "assets": [a for _, a in pairs]},
    )
    for user_id, asset, balance in rows:
        funds[(int(user_id), str(asset))] = int(balance)
    return funds


async def write(session: AsyncSession, out: Outcome, timer: metrics.GroupTimer) -> None:
    """Everything a group did, in its transaction (the caller commits)."""
    accounts = await _resolve_accounts(session, out)
    timer.lap("write:accounts")
    transfers: list[TransferSpec] = []
    assets: list[str] = []
    new_holds: list[NewHold] = []
    # Holds first: a leg may consume a hold placed by the same group.
    for h in out.holds:
        spec, hold = hold_placement(
            h.id,
            h.user_id,
            h.asset,
            h.amount,
            accounts[(h.user_id, h.asset, "available")],
            accounts[(h.user_id, h.asset, "held")],
            h.reference,
        )
        transfers.append(spec)
        assets.append(h.asset)
        new_holds.append(hold)
    for leg in out.legs:
        transfers.append(
            TransferSpec(
                leg.id,
                accounts[leg.debit],
                accounts[leg.credit],
                leg.amount,
                leg.code,
                leg.reference,
                leg.hold_id,
            )
        )
        assets.append(leg.debit[1])
    if transfers or out.resolve:
        await apply_sequenced_group(
            session,
            transfers,
            assets,
            new_holds=new_holds,
            resolve=out.resolve,
            batch_id=uuid.uuid4(),
        )
    timer.lap("write:ledger")
    created = [o for o in out.touched.values() if o.created]
    updated = [o for o in out.touched.values() if not o.created]
    if created:
        await session.execute(Order.__table__.insert(), [_row(o) for o in created])  # type: ignore[attr-defined]
    if updated:
        await session.execute(_UPDATE_ORDERS, _update_params(updated))
    timer.lap("write:orders")
    if out.fills:
        await session.execute(
            Fill.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "market_id": f.market_id,
                    "match_id": f.match_id,
                    "maker_order_id": f.maker.id,
                    "taker_order_id": f.taker.id,
                    "maker_user_id": f.maker.user_id,
                    "taker_user_id": f.taker.user_id,
                    "taker_side": f.taker_side,
                    "price": f.price,
                    "qty": f.qty,
                    "quote": f.quote,
                    "maker_fee": f.maker_fee,
                    "taker_fee": f.taker_fee,
                }
                for f in out.fills
            ],
        )
    timer.lap("write:fills")


def written(out: Outcome) -> None:
    """After the commit: the group's new orders are rows now."""
    for o in out.touched.values():
        o.created = False


async def _resolve_accounts(session: AsyncSession, out: Outcome) -> dict[AccountRef, int]:
    """Every account the group's legs and holds name, by id: once per group (from the
    ledger's cache; an account used for the first time is created)."""
    refs: set[AccountRef] = {leg.debit for leg in out.legs} | {leg.credit for leg in out.legs}
    for h in out.holds:
        refs.add((h.user_id, h.asset, "available"))
        refs.add((h.user_id, h.asset, "held"))
    return {ref: await get_account_id(session, *ref) for ref in sorted(refs, key=_ref_key)}


def _ref_key(ref: AccountRef) -> tuple[int, str, str]:
    user, asset, kind = ref
    return (-1 if user is None else user, asset, kind)


_UPDATE_ORDERS = text(
    "UPDATE orders o SET price = v.price, qty = v.qty, filled_qty = v.fq, "
    "filled_quote = v.fquote, fee = v.fee, status = v.status, "
    "cancel_reason = v.reason, priority_ts = v.pts, updated_at = now(), "
    "closed_at = v.closed "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:price AS bigint[]), "
    "CAST(:qty AS bigint[]), "
    "CAST(:fq AS bigint[]), CAST(:fquote AS bigint[]), CAST(:fee AS bigint[]), "
    "CAST(:status AS text[]), CAST(:reason AS text[]), CAST(:pts AS bigint[]), "
    "CAST(:closed AS timestamptz[])) "
    "AS v(id, price, qty, fq, fquote, fee, status, reason, pts, closed) "
    "WHERE o.id = v.id"
)


def _update_params(orders: list[LiveOrder]) -> dict[str, list[Any]]:
    return {
        "ids": [o.id for o in orders],
        "price": [o.price for o in orders],
        "qty": [o.qty for o in orders],
        "fq": [o.filled_qty for o in orders],
        "fquote": [o.filled_quote for o in orders],
        "fee": [o.fee for o in orders],
        "status": [o.status for o in orders],
        "reason": [o.cancel_reason for o in orders],
        "pts": [o.priority_ts for o in orders],
        "closed": [o.closed_at for o in orders],
    }


def _row(o: LiveOrder) -> dict[str, Any]:
    return {
        "id": o.id,
        "user_id": o.user_id,
        "market_id": o.market_id,
        "client_order_id": o.client_order_id,
        "side": o.side,
        "type": o.type,
        "time_in_force": o.time_in_force,
        "post_only": o.post_only,
        "stp": o.stp,
        "price": o.price,
        "qty": o.qty,
        "quote_budget": o.quote_budget,
        "filled_qty": o.filled_qty,
        "filled_quote": o.filled_quote,
        "fee": o.fee,
        "status": o.status,
        "cancel_reason": o.cancel_reason,
        "hold_id": o.hold_id,
        "hold_amount": o.hold_amount,
        "priority_ts": o.priority_ts,
        "created_at": o.created_at,
        "closed_at": o.closed_at,
    }


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
    )
