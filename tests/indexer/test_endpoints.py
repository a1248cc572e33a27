from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.indexer.service import write_snapshot
from tests.indexer.snapshots import snapshot, subnet, validator

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def _index(db: AsyncEngine, blocks: list[tuple[int, datetime, list]]) -> None:  # type: ignore[type-arg]
    maker = async_sessionmaker(db, expire_on_commit=False)
    for block, when, subnets in blocks:
        async with maker() as session:
            await write_snapshot(
                session,
                snapshot(
                    block,
                    subnets,
                    validators=[
                        validator(1, 0, "5HK1", 10**12),
                        validator(1, 3, "5HK2", 5 * 10**12),
                    ],
                ),
                chain="test",
                head_block=block,
                block_time=when,
            )
            await session.commit()


async def test_subnets_list_and_detail(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    await _index(db, [(10, T0, [subnet(1), subnet(2, tao_in=123_456_789_012)])])
    r = await client.get("/v1/subnets")
    assert r.status_code == 200
    assert [s["netuid"] for s in r.json()] == [1, 2]
    s2 = (await client.get("/v1/subnets/2")).json()
    assert s2["tao_in"] == "123456789012"
    assert s2["alpha_in"] == "20000000000000"
    assert s2["price"] == "6172839"  # rao per alpha: 123.456789012 TAO / 20000 alpha, floor
    assert s2["fee_rate"] == 33 and s2["status"] == "active"


async def test_root_is_priced_one_and_the_weight_is_the_quote_weight(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    """Root (not dynamic) is 1.0 TAO per alpha whatever its reserves, as `Swap::current_price`
    has it; a dynamic pool's price follows the quote (TAO) weight w2: p = (1 - w2) y / (w2 x)."""
    root = subnet(0, mechanism=0, tao_in=7_000 * 10**9, alpha_in=3 * 10**9)
    heavy = subnet(2, quote_weight=4 * 10**17)  # TAO weight 0.4: alpha weight 0.6
    await _index(db, [(10, T0, [root, subnet(1), heavy])])
    by_netuid = {s["netuid"]: s for s in (await client.get("/v1/subnets")).json()}
    assert by_netuid[0]["price"] == "1000000000" and by_netuid[0]["mechanism"] == 0
    assert by_netuid[1]["quote_weight"] == "0.5" and by_netuid[1]["price"] == "50000000"
    assert by_netuid[2]["quote_weight"] == "0.4"
    # y = 2000 TAO, x = 20000 alpha: 0.6 * 2000 / (0.4 * 20000) = 0.15 TAO.
    assert by_netuid[2]["price"] == "150000000"


async def test_moving_price_is_exact(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    await _index(db, [(10, T0, [subnet(1, moving_price_bits=(1 << 32) + (1 << 31))])])
    assert (await client.get("/v1/subnets/1")).json()["moving_price"] == "1.5"


async def test_unknown_netuid_is_404_and_bad_params_422(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    r = await client.get("/v1/subnets/77")
    assert r.status_code == 404 and r.json()["code"] == "subnet_not_found"
    r = await client.get("/v1/subnets/notanumber")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "netuid"
    r = await client.get("/v1/subnets/70000")
    assert r.status_code == 422
    await _index(db, [(10, T0, [subnet(1)])])
    r = await client.get("/v1/subnets/1/history", params={"resolution": "7m"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "resolution"
    r = await client.get("/v1/subnets/1/history", params={"from": "yesterday"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"


async def test_history_raw_and_bucketed(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    blocks = [
        (10 + i, T0 + timedelta(seconds=12 * i), [subnet(1, tao_in=(1000 + i) * 10**9)])
        for i in range(12)  # 12 blocks over 2 min 12 s
    ]
    await _index(db, blocks)
    raw = (await client.get("/v1/subnets/1/history")).json()["points"]
    assert [p["block"] for p in raw] == list(range(10, 22))
    assert raw[0]["tao_in"] == "1000000000000"
    per_minute = (await client.get("/v1/subnets/1/history", params={"resolution": "1m"})).json()[
        "points"
    ]
    # [12:00, 12:01): blocks 10..14, [12:01, 12:02): 15..19, [12:02, ...): 20, 21; last of each
    assert [p["block"] for p in per_minute] == [14, 19, 21]
    window = (
        await client.get(
            "/v1/subnets/1/history",
            params={
                "from": (T0 + timedelta(seconds=24)).isoformat(),
                "to": (T0 + timedelta(seconds=48)).isoformat(),
            },
        )
    ).json()["points"]
    assert [p["block"] for p in window] == [12, 13]


async def test_validators_sorted_by_stake(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    await _index(db, [(10, T0, [subnet(1)])])
    vals = (await client.get("/v1/subnets/1/validators")).json()
    assert [v["hotkey"] for v in vals] == ["5HK2", "5HK1"]
    assert vals[0]["total_stake"] == "5000000000000"
    assert vals[0]["take"] == "0.179995"  # 11796 / 65535, rounded down
