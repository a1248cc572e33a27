import asyncio
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from app.chain.types import ChainSnapshot
from app.indexer.service import SyncResult, write_snapshot


async def index(app: FastAPI, snap: ChainSnapshot) -> SyncResult:
    """Write a snapshot with the app's own indexer listeners (candidates, auto-halts)."""
    async with app.state.sessionmaker() as session:
        result = await write_snapshot(
            session,
            snap,
            chain="test",
            head_block=snap.block_number,
            block_time=datetime.now(UTC),
            listeners=app.state.sync_listeners,
        )
        await session.commit()
        return result


async def until_state(client: httpx.AsyncClient, symbol: str, state: str) -> dict[str, object]:
    """The market once it is in `state` (the order service changes it after a notice)."""
    market: dict[str, object] = {}
    for _ in range(200):
        market = (await client.get(f"/v1/markets/{symbol}")).json()
        if market.get("state") == state:
            return market
        await asyncio.sleep(0.05)
    raise AssertionError(f"{symbol} never became {state}: {market}")
