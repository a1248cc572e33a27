from datetime import UTC, datetime

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
