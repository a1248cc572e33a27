from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import NotFound
from app.models import IndexerState, Subnet, SubnetHistory, Validator

# Time buckets for history (Postgres date_bin), and "raw" for every indexed block.
RESOLUTIONS = {
    "raw": None,
    "1m": "1 minute",
    "5m": "5 minutes",
    "15m": "15 minutes",
    "1h": "1 hour",
    "4h": "4 hours",
    "1d": "1 day",
}
MAX_POINTS = 5000
# The intervals of price change and volume, as Postgres intervals of chain (block) time.
INTERVALS = {"1h": "1 hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}


class SubnetNotFound(NotFound):
    code = "subnet_not_found"


async def list_subnets(session: AsyncSession, status: str | None) -> list[Subnet]:
    stmt = select(Subnet).order_by(Subnet.netuid, Subnet.registered_at)
    if status:
        stmt = stmt.where(Subnet.status == status)
    return list(await session.scalars(stmt))


async def current_subnet(session: AsyncSession, netuid: int) -> Subnet:
    """The active token on a netuid, else the most recently retired one."""
    subnet = await session.scalar(
        select(Subnet)
        .where(Subnet.netuid == netuid)
        .order_by((Subnet.status == "active").desc(), Subnet.registered_at.desc())
        .limit(1)
    )
    if subnet is None:
        raise SubnetNotFound(f"no subnet with netuid {netuid}")
    return subnet


async def history(
    session: AsyncSession,
    subnet_id: int,
    start: datetime | None,
    end: datetime | None,
    resolution: str,
    *,
    limit: int = MAX_POINTS,
    before_block: int | None = None,
) -> tuple[list[SubnetHistory], int | None]:
    """Newest first: every indexed block (`raw`) or the last point of each time bucket, at
    most `limit`, older than `before_block` (a cursor). Returns the points and the cursor for
    the next (older) page, None when this page reached the oldest point."""
    stmt = select(SubnetHistory).where(SubnetHistory.subnet_id == subnet_id)
    if start is not None:
        stmt = stmt.where(SubnetHistory.block_time >= start)
    if end is not None:
        stmt = stmt.where(SubnetHistory.block_time < end)
    if before_block is not None:
        stmt = stmt.where(SubnetHistory.block_number < before_block)
    bucket = RESOLUTIONS[resolution]
    binned = None
    if bucket is None:
        stmt = stmt.order_by(SubnetHistory.block_number.desc())
    else:
        # The last indexed block of each bucket.
        binned = func.date_bin(
            text(f"interval '{bucket}'"), SubnetHistory.block_time, text("timestamptz 'epoch'")
        )
        stmt = stmt.ext(distinct_on(binned)).order_by(
            binned.desc(), SubnetHistory.block_number.desc()
        )
    rows = list(await session.scalars(stmt.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    oldest = rows[-1]
    if binned is None:
        return rows, oldest.block_number
    # The next page starts below the oldest bucket's first block: no bucket is split.
    first = await session.scalar(
        select(func.min(SubnetHistory.block_number)).where(
            SubnetHistory.subnet_id == subnet_id,
            binned
            == func.date_bin(
                text(f"interval '{bucket}'"),
                text(":oldest_time").bindparams(oldest_time=oldest.block_time),
                text("timestamptz 'epoch'"),
            ),
        )
    )
    return rows, int(first if first is not None else oldest.block_number)


async def interval_points(
    session: AsyncSession, subnet_ids: list[int]
) -> dict[int, dict[str, tuple[int, int] | None]]:
    """Per subnet and interval (`INTERVALS`): (price_rao, cumulative volume) at the last indexed
    block at least that long (in block time) before the subnet's latest indexed block; None
    when the history does not reach back that far. With the latest point under "now"."""
    if not subnet_ids:
        return {}
    values = ", ".join(f"('{label}', interval '{span}')" for label, span in INTERVALS.items())
    rows = await session.execute(
        text(
            f"""
            WITH latest AS (
                SELECT DISTINCT ON (subnet_id) subnet_id, block_time, price_rao, volume
                FROM subnet_history WHERE subnet_id = ANY(:ids)
                ORDER BY subnet_id, block_time DESC
            )
            SELECT l.subnet_id, 'now' AS label, l.price_rao, l.volume FROM latest l
            UNION ALL
            SELECT l.subnet_id, i.label, h.price_rao, h.volume
            FROM latest l
            CROSS JOIN (VALUES {values}) AS i(label, span)
            CROSS JOIN LATERAL (
                SELECT price_rao, volume FROM subnet_history h
                WHERE h.subnet_id = l.subnet_id AND h.block_time <= l.block_time - i.span
                ORDER BY h.block_time DESC LIMIT 1
            ) h
            """
        ),
        {"ids": subnet_ids},
    )
    out: dict[int, dict[str, tuple[int, int] | None]] = {
        i: dict.fromkeys(["now", *INTERVALS]) for i in subnet_ids
    }
    for subnet_id, label, price_rao, volume in rows:
        out[int(subnet_id)][str(label)] = (int(price_rao), int(volume))
    return out


async def tao_weight(session: AsyncSession) -> int:
    value = await session.scalar(select(IndexerState.tao_weight))
    return int(value or 0)


async def validators(session: AsyncSession, subnet_id: int) -> list[Validator]:
    stmt = (
        select(Validator)
        .where(Validator.subnet_id == subnet_id)
        .order_by(Validator.total_alpha.desc(), Validator.uid)
    )
    return list(await session.scalars(stmt))
