from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app.indexer import repository
from app.indexer.schemas import HistoryOut, HistoryPoint, SubnetOut, ValidatorOut
from app.kit.deps import PublicCache, Session
from app.kit.inputs import Canonical, Timestamp

router = APIRouter(prefix="/v1/subnets", tags=["subnets"], dependencies=[PublicCache])

Netuid = Annotated[int, Canonical(0, 65535), Path(description="subnet id (u16)")]


@router.get("", response_model=list[SubnetOut])
async def list_subnets(
    session: Session,
    status: Annotated[Literal["active", "retired"] | None, Query()] = None,
) -> list[SubnetOut]:
    """Every subnet token the indexer knows, with its latest pool state."""
    return [SubnetOut.of(s) for s in await repository.list_subnets(session, status)]


@router.get("/{netuid}", response_model=SubnetOut)
async def get_subnet(netuid: Netuid, session: Session) -> SubnetOut:
    return SubnetOut.of(await repository.current_subnet(session, netuid))


@router.get("/{netuid}/history", response_model=HistoryOut)
async def get_history(
    netuid: Netuid,
    session: Session,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
    resolution: Annotated[Literal["raw", "1m", "5m", "15m", "1h", "4h", "1d"], Query()] = "raw",
) -> HistoryOut:
    """Price and reserves per indexed block (`raw`), or the last point of each UTC bucket."""
    subnet = await repository.current_subnet(session, netuid)
    rows = await repository.history(session, subnet.id, start, end, resolution)
    return HistoryOut(
        netuid=netuid, resolution=resolution, points=[HistoryPoint.of(h) for h in rows]
    )


@router.get("/{netuid}/validators", response_model=list[ValidatorOut])
async def get_validators(netuid: Netuid, session: Session) -> list[ValidatorOut]:
    subnet = await repository.current_subnet(session, netuid)
    return [ValidatorOut.of(v) for v in await repository.validators(session, subnet.id)]
