"""One shape of history query for the custody records (chain deposits, withdrawals): newest
first, filtered by user, asset, states and a time range, paged by id (`before_id`)."""

from datetime import datetime
from typing import Any, TypedDict, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import Unpack

Row = TypeVar("Row")


class Filters(TypedDict, total=False):
    asset: str | None
    states: tuple[str, ...] | None
    before_id: int | None
    since: datetime | None
    until: datetime | None
    limit: int


async def newest_first(
    session: AsyncSession, model: type[Row], user_id: int | None, **filters: Unpack[Filters]
) -> list[Row]:
    """`user_id` None: every user's (admins)."""
    asset, states = filters.get("asset"), filters.get("states")
    before_id, since, until = filters.get("before_id"), filters.get("since"), filters.get("until")
    limit = filters.get("limit", 100)
    m: Any = model
    query = select(m)
    if user_id is not None:
        query = query.where(m.user_id == user_id)
    if asset is not None:
        query = query.where(m.asset == asset)
    if states:
        query = query.where(m.state.in_(states))
    if before_id is not None:
        query = query.where(m.id < before_id)
    if since is not None:
        query = query.where(m.created_at >= since)
    if until is not None:
        query = query.where(m.created_at < until)
    return list(await session.scalars(query.order_by(m.id.desc()).limit(limit)))
