"""Reading orders and fills (writes go through the sequencer). Every filter, order and page
is SQL on indexed columns: nothing is read to be filtered in Python.

- Native pages are keyset-paged: newest first by id (ids are handed out in time order),
  `cursor` the last id of the previous page, within an optional time range.
- Kraken's history pages (`ofs`) are offsets over the same ordered, filtered queries, with
  the total `count` counted in SQL.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.markets.rules import parse_symbol
from app.models import Fill, Market, Order
from app.orders.errors import OrderNotFound
from app.orders.schemas import FillOut, OrderOut

LIVE = ("open", "untriggered")


async def market_id_of(session: AsyncSession, symbol: str) -> int | None:
    return await session.scalar(select(Market.id).where(Market.symbol == parse_symbol(symbol)))


async def get_order(session: AsyncSession, user_id: int, order_id: int) -> OrderOut:
    """Another user's order is reported as not found, never as forbidden."""
    orders = await get_orders(session, user_id, [order_id])
    if not orders:
        raise OrderNotFound(f"no order {order_id}")
    return orders[0]


async def get_orders(session: AsyncSession, user_id: int, order_ids: list[int]) -> list[OrderOut]:
    """The user's orders among these ids (others' and unknown ones left out), in id order."""
    rows = await session.execute(
        select(Order, Market.symbol)
        .join(Market, Market.id == Order.market_id)
        .where(Order.id.in_(order_ids), Order.user_id == user_id)
        .order_by(Order.id)
    )
    return [OrderOut.of(o, symbol) for o, symbol in rows]


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """What to read of a user's orders: a time range on `created_at`, on `closed_at`
    (`by="close"`) or on either (`"both"`); `start` inclusive and `end` exclusive, or the
    other way round (`kraken`: Kraken's convention)."""

    status: str = "open"  # open (untriggered stops too) | closed
    market: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    by: str = "open"  # open | close | both
    client_order_id: str | None = None
    client_order_prefix: str | None = None  # e.g. a Kraken userref's "kr.u42."
    kraken: bool = False


def _orders_query(user_id: int, f: OrderFilter) -> "Select[Order, str]":
    stmt = (
        select(Order, Market.symbol)
        .join(Market, Market.id == Order.market_id)
        .where(Order.user_id == user_id)
    )
    live = Order.status.in_(LIVE)
    stmt = stmt.where(live if f.status == "open" else ~live)
    if f.market:
        stmt = stmt.where(Market.symbol == parse_symbol(f.market))
    if f.client_order_id is not None:
        stmt = stmt.where(Order.client_order_id == f.client_order_id)
    if f.client_order_prefix is not None:
        escaped = f.client_order_prefix.replace("\\", "\\\\").replace("%", r"\%")
        stmt = stmt.where(Order.client_order_id.like(escaped.replace("_", r"\_") + "%"))
    if f.start is not None or f.end is not None:
        ranges = []
        if f.by in ("open", "both"):
            ranges.append(_in_range(Order.created_at, f.start, f.end, f.kraken))
        if f.by in ("close", "both"):
            ranges.append(_in_range(Order.closed_at, f.start, f.end, f.kraken))
        stmt = stmt.where(or_(*ranges))
    return stmt


def _in_range(
    column: Any, start: datetime | None, end: datetime | None, kraken: bool
) -> ColumnElement[bool]:
    conditions = []
    if start is not None:
        conditions.append(column > start if kraken else column >= start)
    if end is not None:
        conditions.append(column <= end if kraken else column < end)
    return and_(*conditions)


async def list_orders(
    session: AsyncSession,
    user_id: int,
    f: OrderFilter,
    cursor: int | None,
    limit: int,
) -> tuple[list[OrderOut], int | None]:
    """Newest first (by id: ids are handed out in time order); `cursor` is the last id of
    the previous page."""
    stmt = _orders_query(user_id, f).order_by(Order.id.desc()).limit(limit)
    if cursor is not None:
        stmt = stmt.where(Order.id < cursor)
    rows = (await session.execute(stmt)).all()
    orders = [OrderOut.of(o, symbol) for o, symbol in rows]
    return orders, (orders[-1].id if len(orders) == limit else None)


async def page_orders(
    session: AsyncSession, user_id: int, f: OrderFilter, offset: int, limit: int
) -> tuple[list[OrderOut], int]:
    """Kraken's paging: the `limit` orders after `offset` and how many match in all. Closed
    orders by close time, newest first; open ones by open time."""
    stmt = _orders_query(user_id, f)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    key = Order.closed_at if f.status == "closed" else Order.created_at
    rows = await session.execute(
        stmt.order_by(key.desc(), Order.id.desc()).offset(offset).limit(limit)
    )
    return [OrderOut.of(o, symbol) for o, symbol in rows], total


# ---------------------------------------------------------------------------- fills


def _fill_outs(rows: Any, user_id: int, only: set[tuple[int, str]] | None = None) -> list[FillOut]:
    """Each fill as the user's side(s) of it (a self-trade has two)."""
    out: list[FillOut] = []
    for f, symbol in rows:
        for liquidity, order_id, fee, is_user in (
            ("maker", f.maker_order_id, f.maker_fee, f.maker_user_id == user_id),
            ("taker", f.taker_order_id, f.taker_fee, f.taker_user_id == user_id),
        ):
            if not is_user or (only is not None and (f.id, liquidity) not in only):
                continue
            taker_buys = f.taker_side == "buy"
            side = (
                ("buy" if taker_buys else "sell")
                if liquidity == "taker"
                else ("sell" if taker_buys else "buy")
            )
            out.append(
                FillOut(
                    id=f.id,
                    market=symbol,
                    order_id=order_id,
                    side=side,
                    liquidity=liquidity,
                    price=str(f.price),
                    qty=str(f.qty),
                    quote=str(f.quote),
                    fee=str(fee),
                    created_at=f.created_at,
                )
            )
    return out


def _user_fill_ids(
    user_id: int,
    market_id: int | None,
    start: datetime | None,
    end: datetime | None,
    before: int | None,
    limit: int | None,
) -> Any:
    """The ids of the user's fills, newest first: a union of two index scans (as maker, as
    taker), each bounded by `limit`."""
    branches = []
    for column in (Fill.maker_user_id, Fill.taker_user_id):
        stmt = select(Fill.id).where(column == user_id)
        if market_id is not None:
            stmt = stmt.where(Fill.market_id == market_id)
        if start is not None:
            stmt = stmt.where(Fill.created_at >= start)
        if end is not None:
            stmt = stmt.where(Fill.created_at < end)
        if before is not None:
            stmt = stmt.where(Fill.id < before)
        stmt = stmt.order_by(Fill.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        branches.append(stmt.subquery().select())
    return branches[0].union(branches[1]).subquery()


async def list_fills(
    session: AsyncSession,
    user_id: int,
    market: str | None,
    start: datetime | None,
    cursor: int | None,
    limit: int,
    end: datetime | None = None,
) -> tuple[list[FillOut], int | None]:
    """The user's fills, newest first (a self-trade appears once per side); `start`
    inclusive, `end` exclusive; `cursor` the last fill id of the previous page."""
    market_id = await market_id_of(session, market) if market else None
    if market and market_id is None:
        return [], None
    ids = _user_fill_ids(user_id, market_id, start, end, cursor, limit)
    rows = (
        await session.execute(
            select(Fill, Market.symbol)
            .join(Market, Market.id == Fill.market_id)
            .where(Fill.id.in_(select(ids.c.id)))
            .order_by(Fill.id.desc())
            .limit(limit)
        )
    ).all()
    return _fill_outs(rows, user_id), (rows[-1][0].id if len(rows) == limit else None)


_SIDES_SQL = """
    SELECT * FROM (
        (SELECT f.id, 'maker' AS liquidity FROM fills f WHERE f.maker_user_id = :u {where}
         ORDER BY f.id DESC LIMIT :n)
        UNION ALL
        (SELECT f.id, 'taker' AS liquidity FROM fills f WHERE f.taker_user_id = :u {where}
         ORDER BY f.id DESC LIMIT :n)
    ) s ORDER BY s.id DESC, s.liquidity OFFSET :ofs LIMIT :limit
"""
_COUNT_SQL = """
    SELECT (SELECT count(*) FROM fills f WHERE f.maker_user_id = :u {where})
         + (SELECT count(*) FROM fills f WHERE f.taker_user_id = :u {where})
"""


async def page_fills(
    session: AsyncSession,
    user_id: int,
    start: datetime | None,
    end: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[FillOut], int]:
    """Kraken's paging of the user's trades (one per side of a fill), newest first: the
    `limit` after `offset`, and how many there are. `start` exclusive, `end` inclusive."""
    where = ""
    params: dict[str, Any] = {"u": user_id, "n": offset + limit, "ofs": offset, "limit": limit}
    if start is not None:
        where += " AND f.created_at > :start"
        params["start"] = start
    if end is not None:
        where += " AND f.created_at <= :end"
        params["end"] = end
    sides = (await session.execute(text(_SIDES_SQL.format(where=where)), params)).all()
    count_params = {k: v for k, v in params.items() if k not in ("n", "ofs", "limit")}
    total = int(await session.scalar(text(_COUNT_SQL.format(where=where)), count_params) or 0)
    return await fills_by_side(session, user_id, [(int(i), str(s)) for i, s in sides]), total


async def fills_by_side(
    session: AsyncSession, user_id: int, sides: list[tuple[int, str]]
) -> list[FillOut]:
    """The user's sides (fill id, maker | taker) of these fills, in the order given; sides
    that are not the user's are left out. One query."""
    if not sides:
        return []
    rows = (
        await session.execute(
            select(Fill, Market.symbol)
            .join(Market, Market.id == Fill.market_id)
            .where(Fill.id.in_({i for i, _ in sides}))
        )
    ).all()
    found = {(f.id, f.liquidity): f for f in _fill_outs(rows, user_id, set(sides))}
    return [found[s] for s in sides if s in found]


async def fills_of_orders(
    session: AsyncSession, user_id: int, order_ids: list[int]
) -> dict[int, list[FillOut]]:
    """The user's fills of these orders, by order id, oldest first. One query."""
    if not order_ids:
        return {}
    rows = (
        await session.execute(
            select(Fill, Market.symbol)
            .join(Market, Market.id == Fill.market_id)
            .where(
                or_(
                    and_(Fill.maker_order_id.in_(order_ids), Fill.maker_user_id == user_id),
                    and_(Fill.taker_order_id.in_(order_ids), Fill.taker_user_id == user_id),
                )
            )
            .order_by(Fill.id)
        )
    ).all()
    wanted = set(order_ids)
    out: dict[int, list[FillOut]] = {}
    for fill in _fill_outs(rows, user_id):
        if fill.order_id in wanted:
            out.setdefault(fill.order_id, []).append(fill)
    return out


async def order_types(session: AsyncSession, order_ids: set[int]) -> dict[int, str]:
    """Each order's type, in one query."""
    if not order_ids:
        return {}
    rows = await session.execute(select(Order.id, Order.type).where(Order.id.in_(order_ids)))
    return {int(i): str(t) for i, t in rows}
