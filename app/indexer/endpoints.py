from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.indexer import repository
from app.indexer.schemas import (
    HistoryOut,
    HistoryPoint,
    MarketContext,
    SubnetOut,
    ValidatorOut,
)
from app.kit.deps import PublicCache, Session
from app.kit.inputs import Canonical, Timestamp
from app.models import Subnet

router = APIRouter(prefix="/v1/subnets", tags=["subnets"], dependencies=[PublicCache])

Netuid = Annotated[int, Canonical(0, 65535), Path(description="subnet id (u16)")]


async def _with_context(session: AsyncSession, subnets: list[Subnet]) -> list[SubnetOut]:
    """Each subnet with its trader figures: price change and volume per interval (one query for
    all), the root stake and `TaoWeight` for the root proportion."""
    points = await repository.interval_points(session, [s.id for s in subnets])
    root = next(
        (s for s in await repository.list_subnets(session, "active") if s.netuid == 0), None
    )
    tao_weight = await repository.tao_weight(session)
    root_tao = root.tao_in if root is not None else 0
    return [
        SubnetOut.of(s, MarketContext(points.get(s.id, {}), root_tao, tao_weight)) for s in subnets
    ]


@router.get("", response_model=list[SubnetOut])
async def list_subnets(
    session: Session,
    status: Annotated[Literal["active", "retired"] | None, Query()] = None,
) -> list[SubnetOut]:
    """Every subnet token the indexer knows, with its latest pool state and trader figures."""
    return await _with_context(session, await repository.list_subnets(session, status))


@router.get("/{netuid}", response_model=SubnetOut)
async def get_subnet(netuid: Netuid, session: Session) -> SubnetOut:
    return (await _with_context(session, [await repository.current_subnet(session, netuid)]))[0]


@router.get("/{netuid}/history", response_model=HistoryOut)
async def get_history(
    netuid: Netuid,
    session: Session,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
    resolution: Annotated[Literal["raw", "1m", "5m", "15m", "1h", "4h", "1d"], Query()] = "raw",
    limit: Annotated[int, Canonical(1, repository.MAX_POINTS), Query()] = 1000,
    before_block: Annotated[int | None, Canonical(0), Query()] = None,
) -> HistoryOut:
    """Price and reserves per indexed block (`raw`), or the last point of each UTC bucket of
    block time, newest first; `next_before_block` pages to older points."""
    subnet = await repository.current_subnet(session, netuid)
    rows, cursor = await repository.history(
        session, subnet.id, start, end, resolution, limit=limit, before_block=before_block
    )
    return HistoryOut(
        netuid=netuid,
        resolution=resolution,
        points=[HistoryPoint.of(h) for h in rows],
        next_before_block=cursor,
    )


@router.get("/{netuid}/validators", response_model=list[ValidatorOut])
async def get_validators(netuid: Netuid, session: Session) -> list[ValidatorOut]:
    """Every hotkey registered on the subnet (with or without a validator permit)."""
    subnet = await repository.current_subnet(session, netuid)
    return [
        ValidatorOut.of(v, subnet.tempo) for v in await repository.validators(session, subnet.id)
    ]
