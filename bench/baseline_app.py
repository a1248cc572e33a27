"""The baseline server of `bench.orders_http`: the least a durable write can cost through the
same stack (FastAPI, uvicorn, SQLAlchemy async + asyncpg): one INSERT and commit per request.

    BENCH_DATABASE_URL=postgresql+asyncpg://... uvicorn bench.baseline_app:app
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(os.environ["BENCH_DATABASE_URL"], pool_size=10, max_overflow=10)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, body text)")
        )
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/insert")
async def insert(body: dict[str, str]) -> dict[str, int]:
    async with engine.begin() as conn:
        new_id = await conn.scalar(
            text("INSERT INTO bench_baseline (body) VALUES (:b) RETURNING id"), {"b": str(body)}
        )
    return {"id": int(new_id or 0)}
