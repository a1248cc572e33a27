from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import NotFound
from app.models import Subnet, SubnetHistory, Validator

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
) -> list[SubnetHistory]:
    stmt = select(SubnetHistory).where(SubnetHistory.subnet_id == subnet_id)
    if start is not None:
        stmt = stmt.where(SubnetHistory.block_time >= start)
    if end is not None:
        stmt = stmt.where(SubnetHistory.block_time < end)
    bucket = RESOLUTIONS[resolution]
    if bucket is None:
        stmt = stmt.order_by(SubnetHistory.block_number)
    else:
        # The last indexed block of each bucket.
        binned = func.date_bin(
            text(f"interval '{bucket}'"), SubnetHistory.block_time, text("timestamptz 'epoch'")
        )
        stmt = stmt.ext(distinct_on(binned)).order_by(binned, SubnetHistory.block_number.desc())
    rows = list(await session.scalars(stmt.limit(MAX_POINTS)))
    rows.sort(key=lambda h: h.block_number)
    return rows


async def validators(session: AsyncSession, subnet_id: int) -> list[Validator]:
    stmt = (
        select(Validator)
        .where(Validator.subnet_id == subnet_id)
        .order_by(Validator.total_alpha.desc(), Validator.uid)
    )
    return list(await session.scalars(stmt))
