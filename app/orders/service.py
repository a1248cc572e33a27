"""Reading orders and fills (writes go through the sequencer)."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.markets.rules import parse_symbol
from app.models import Fill, Market, Order
from app.orders.errors import OrderNotFound
from app.orders.schemas import FillOut, OrderOut


async def market_id_of(session: AsyncSession, symbol: str) -> int | None:
    return await session.scalar(select(Market.id).where(Market.symbol == parse_symbol(symbol)))


async def get_order(session: AsyncSession, user_id: int, order_id: int) -> OrderOut:
    """Another user's order is reported as not found, never as forbidden."""
    row = (
        await session.execute(
            select(Order, Market.symbol)
            .join(Market, Market.id == Order.market_id)
            .where(Order.id == order_id, Order.user_id == user_id)
        )
    ).first()
    if row is None:
        raise OrderNotFound(f"no order {order_id}")
    return OrderOut.of(row[0], row[1])


async def list_orders(
    session: AsyncSession,
    user_id: int,
    status: str,
    market: str | None,
    cursor: int | None,
    limit: int,
) -> tuple[list[OrderOut], int | None]:
    """Newest first; `cursor` is the last id of the previous page."""
    stmt = (
        select(Order, Market.symbol)
        .join(Market, Market.id == Order.market_id)
        .where(Order.user_id == user_id)
        .order_by(Order.id.desc())
        .limit(limit)
    )
    live = Order.status.in_(("open", "untriggered"))
    stmt = stmt.where(live if status == "open" else ~live)
    if market:
        stmt = stmt.where(Market.symbol == parse_symbol(market))
    if cursor is not None:
        stmt = stmt.where(Order.id < cursor)
    rows = (await session.execute(stmt)).all()
    orders = [OrderOut.of(o, symbol) for o, symbol in rows]
    return orders, (orders[-1].id if len(orders) == limit else None)


async def list_fills(
    session: AsyncSession,
    user_id: int,
    market: str | None,
    start: datetime | None,
    cursor: int | None,
    limit: int,
) -> tuple[list[FillOut], int | None]:
    """The user's fills, newest first (a self-trade appears once per side)."""
    stmt = (
        select(Fill, Market.symbol)
        .join(Market, Market.id == Fill.market_id)
        .where(or_(Fill.maker_user_id == user_id, Fill.taker_user_id == user_id))
        .order_by(Fill.id.desc())
        .limit(limit)
    )
    if market:
        stmt = stmt.where(Market.symbol == parse_symbol(market))
    if start is not None:
        stmt = stmt.where(Fill.created_at >= start)
    if cursor is not None:
        stmt = stmt.where(Fill.id < cursor)
    rows = (await session.execute(stmt)).all()
    out: list[FillOut] = []
    for f, symbol in rows:
        for liquidity, order_id, fee, is_user in (
            ("maker", f.maker_order_id, f.maker_fee, f.maker_user_id == user_id),
            ("taker", f.taker_order_id, f.taker_fee, f.taker_user_id == user_id),
        ):
            if not is_user:
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
    return out, (rows[-1][0].id if len(rows) == limit else None)
