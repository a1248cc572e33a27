"""A real server process with two listed markets, funded users and their API keys, for
driving the Kraken surface with real Kraken clients (CCXT, krakenex)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import ccxt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth.scopes import Scope
from app.auth.service import create_api_key
from app.kit.crypto import SecretBox
from app.ledger import service as L
from tests.conftest import SERVER_KEY, truncate_all
from tests.orders.conftest import market  # noqa: F401  (the SN1/TAO fixture, for in-process tests)
from tests.orders.test_crash import Server

TAO = ALPHA = 10**9
PRICE = 50_000_000  # 0.05 TAO per alpha
TICK = 1_000  # 0.000001 TAO
LOT = 1_000_000  # 0.001 alpha
MIN_SIZE = 10_000_000  # 0.01 alpha
HOTKEY = "5FFApaS75bv5pJHfAp2FVLBj9ZaXuFDjEypsaBNc1wCfe52v"


@dataclass
class Key:
    key: str
    secret: str
    user_id: int


@dataclass
class Env:
    url: str
    keys: dict[str, Key] = field(default_factory=dict)

    def ccxt(self, who: str) -> ccxt.kraken:
        key = self.keys[who]
        return client(self.url, key.key, key.secret)


def client(url: str, key: str, secret: str) -> ccxt.kraken:
    """CCXT's Kraken class, changed only in its base URL."""
    exchange = ccxt.kraken({"apiKey": key, "secret": secret, "enableRateLimit": False})
    exchange.urls["api"] = {"public": url, "private": url}
    return exchange


async def _subnet_and_market(s: Any, netuid: int, state: str) -> None:
    await L.ensure_asset(s, f"SN{netuid}", f"alpha {netuid}", netuid=netuid)
    await s.execute(
        text(
            "INSERT INTO subnets (netuid, registered_at, status, symbol, name, owner_coldkey, "
            "owner_hotkey, mechanism, tempo, tao_in, alpha_in, alpha_out, price_rao, "
            "moving_price_bits, volume, tao_in_emission, alpha_in_emission, alpha_out_emission, "
            "fee_rate, quote_weight, first_seen_block, last_block) VALUES (:n, 1, 'active', 'a', "
            "'n', 'o', 'h', 1, 360, 1, 1, 0, :p, 0, 0, 0, 0, 0, 33, 500000000000000000, 1, 1)"
        ),
        {"n": netuid, "p": PRICE},
    )
    await s.execute(
        text(
            "INSERT INTO markets (symbol, base_asset, quote_asset, subnet_id, netuid, state, "
            "tick_size, lot_size, min_size, min_notional, maker_fee_bps, taker_fee_bps, "
            "price_band_bps) SELECT :sym, :base, 'TAO', id, :n, :state, :t, :l, :m, 0, "
            "10, 20, 5000 FROM subnets WHERE netuid = :n"
        ),
        {
            "sym": f"SN{netuid}/TAO",
            "base": f"SN{netuid}",
            "n": netuid,
            "state": state,
            "t": TICK,
            "l": LOT,
            "m": MIN_SIZE,
        },
    )


async def seed(engine: AsyncEngine) -> dict[str, Key]:
    box = SecretBox(SERVER_KEY.encode())
    users = {
        # name: (scopes, TAO, SN1)
        "alice": ([Scope.READ, Scope.TRADE], 100 * TAO, 1000 * ALPHA),
        "bob": ([Scope.READ, Scope.TRADE], 100 * TAO, 1000 * ALPHA),
        "carol": ([Scope.READ, Scope.TRADE], 100 * TAO, 1000 * ALPHA),
        "poor": ([Scope.READ, Scope.TRADE], TAO // 100, 0),
        "reader": ([Scope.READ], 10 * TAO, 0),
        "nonce": ([Scope.READ], 0, 0),
    }
    keys: dict[str, Key] = {}
    async with async_sessionmaker(engine, expire_on_commit=False)() as s:
        await _subnet_and_market(s, 1, "trading")
        await _subnet_and_market(s, 2, "cancel_only")
        await s.execute(
            text(
                "INSERT INTO validators (subnet_id, hotkey, uid, validator_permit, take, "
                "total_alpha, name, last_block) SELECT id, :h, 0, true, 11796, :a, 'v0', 1 "
                "FROM subnets WHERE netuid = 1"
            ),
            {"h": HOTKEY, "a": 10**6 * ALPHA},
        )
        for name, (scopes, tao, alpha) in users.items():
            uid = int(
                await s.scalar(
                    text("INSERT INTO users (email) VALUES (:e) RETURNING id"),
                    {"e": f"{name}@kraken.test"},
                )
            )
            for asset, amount in (("TAO", tao), ("SN1", alpha)):
                if amount:
                    custody = await L.system_account_id(s, asset, "custody")
                    avail = await L.get_account_id(s, uid, asset, "available")
                    await L.apply_batch(
                        s, [L.TransferSpec(f"d{uid}{asset}", custody, avail, amount, "deposit")]
                    )
            issued = await create_api_key(s, box, uid, scopes)
            keys[name] = Key(issued.key, issued.secret, uid)
        await s.commit()
    return keys


@pytest.fixture(scope="module")
async def kraken(engine: AsyncEngine, database_url: str) -> AsyncIterator[Env]:
    await truncate_all(engine)
    keys = await seed(engine)
    server = Server(database_url)
    server.start()
    try:
        yield Env(server.url, keys)
    finally:
        server.stop()
        await truncate_all(engine)
