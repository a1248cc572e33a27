"""A listed market SN1/TAO (pool price 0.05 TAO) and funded traders."""

import itertools
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.indexer.snapshots import snapshot, subnet
from tests.listings.helpers import index
from tests.signing import SignedClient

PRICE = 50_000_000  # rao per alpha: 0.05 TAO
TICK = 1_000
LOT = 1_000_000  # 0.001 alpha
ALPHA = 10**9
TAO = 10**9
_refs = itertools.count()


@dataclass
class Market:
    symbol: str
    admin: SignedClient
    app: FastAPI

    async def fund(self, user: SignedClient, asset: str, amount: int) -> None:
        r = await self.admin.post(
            "/v1/admin/deposits",
            {
                "user_id": user.user_id,
                "asset": asset,
                "amount": str(amount),
                "external_ref": f"tx{next(_refs)}",
            },
        )
        assert r.status_code in (200, 201), r.text

    async def trader(
        self, signed: SignedFactory, tao: int = 100 * TAO, alpha: int = 1000 * ALPHA
    ) -> SignedClient:
        user = await signed("read,trade,withdraw")
        if tao:
            await self.fund(user, "TAO", tao)
        if alpha:
            await self.fund(user, "SN1", alpha)
        return user

    async def set_state(self, state: str) -> None:
        r = await self.admin.post("/v1/admin/markets/SN1-TAO/state", {"state": state})
        assert r.status_code == 200, r.text


@pytest.fixture
async def market(app: FastAPI, signed: SignedFactory) -> Market:
    return await make_market(app, signed)


async def make_market(app: FastAPI, signed: SignedFactory) -> Market:
    admin = await signed("admin")
    await index(
        app,
        snapshot(
            60_000, [subnet(1, registered_at=1, tao_in=50_000 * TAO, alpha_in=1_000_000 * ALPHA)]
        ),
    )
    listing = (await admin.get("/v1/admin/listings")).json()[0]
    r = await admin.post(
        f"/v1/admin/listings/{listing['id']}/approve",
        {
            "tick_size": TICK,
            "lot_size": LOT,
            "min_size": LOT,
            "min_notional": 1,
            "maker_fee_bps": 10,
            "taker_fee_bps": 20,
            "price_band_bps": 5000,
        },
    )
    assert r.status_code == 200, r.text
    return Market("SN1/TAO", admin, app)


def limit(side: str, price: int, qty: int, **extra: object) -> dict[str, object]:
    """A limit order's body on SN1/TAO."""
    return {
        "market": "SN1/TAO",
        "side": side,
        "type": "limit",
        "price": str(price),
        "qty": str(qty),
        **extra,
    }


async def balances(user: SignedClient) -> dict[str, dict[str, int]]:
    r = await user.get("/v1/balances")
    assert r.status_code == 200, r.text
    return {
        b["asset"]: {k: int(b[k]) for k in ("available", "held", "staked", "total")}
        for b in r.json()["balances"]
    }


async def counts(db: AsyncEngine) -> dict[str, int]:
    async with db.connect() as conn:
        return {
            t: int(await conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0)
            for t in ("orders", "fills", "ledger_transfers", "ledger_holds")
        }


async def ledger_ok(db: AsyncEngine) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.ledger.check import check_ledger

    async with async_sessionmaker(db)() as session:
        report = await check_ledger(session)
    assert report.ok, report.render()
