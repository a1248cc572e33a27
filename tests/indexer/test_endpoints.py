import dataclasses
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.indexer.service import write_snapshot
from app.kit.units import fraction_str
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
    body = (await client.get("/v1/subnets/1/history")).json()
    raw = body["points"]
    assert [p["block"] for p in raw] == list(range(21, 9, -1))  # newest first
    assert raw[-1]["tao_in"] == "1000000000000" and body["next_before_block"] is None
    assert raw[0]["time"] == (T0 + timedelta(seconds=12 * 11)).isoformat()  # the block's time
    # Paging with the cursor walks back through every block once.
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 5} | ({"before_block": cursor} if cursor is not None else {})
        page = (await client.get("/v1/subnets/1/history", params=params)).json()
        seen += [p["block"] for p in page["points"]]
        cursor = page["next_before_block"]
        if cursor is None:
            break
    assert seen == list(range(21, 9, -1))
    per_minute = (await client.get("/v1/subnets/1/history", params={"resolution": "1m"})).json()[
        "points"
    ]
    # [12:00, 12:01): blocks 10..14, [12:01, 12:02): 15..19, [12:02, ...): 20, 21; last of each
    assert [p["block"] for p in per_minute] == [21, 19, 14]
    first = (
        await client.get("/v1/subnets/1/history", params={"resolution": "1m", "limit": 2})
    ).json()
    assert [p["block"] for p in first["points"]] == [21, 19]
    assert first["next_before_block"] == 15  # the oldest bucket's first block: none is split
    rest = (
        await client.get(
            "/v1/subnets/1/history",
            params={"resolution": "1m", "limit": 2, "before_block": 15},
        )
    ).json()
    assert [p["block"] for p in rest["points"]] == [14] and rest["next_before_block"] is None
    window = (
        await client.get(
            "/v1/subnets/1/history",
            params={
                "from": (T0 + timedelta(seconds=24)).isoformat(),
                "to": (T0 + timedelta(seconds=48)).isoformat(),
            },
        )
    ).json()["points"]
    assert [p["block"] for p in window] == [13, 12]


async def test_validators_sorted_by_stake(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    await _index(db, [(10, T0, [subnet(1)])])
    vals = (await client.get("/v1/subnets/1/validators")).json()
    assert [v["hotkey"] for v in vals] == ["5HK2", "5HK1"]
    assert vals[0]["total_stake"] == "5000000000000"
    assert vals[0]["take"] == "0.179995"  # 11796 / 65535, rounded down


async def test_trader_figures_of_a_subnet(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    """Price change and volume per interval of block time, market cap, liquidity, emission per
    day, root proportion, the next epoch, registration cost and the switches; every hotkey
    with its nominators, takes and APY."""
    latest = T0 + timedelta(days=31)
    alpha_in, alpha_out = 1000 * 10**9, 3000 * 10**9
    # (time, price in rao per alpha, cumulative volume)
    series = [
        (latest - timedelta(days=31), 100_000_000, 1_000),
        (latest - timedelta(days=7, minutes=10), 200_000_000, 5_000),
        (latest - timedelta(hours=24), 400_000_000, 9_000),  # exactly 24 h back: counts
        (latest - timedelta(minutes=30), 500_000_000, 9_500),
        (latest, 450_000_000, 10_000),
    ]
    maker = async_sessionmaker(db, expire_on_commit=False)
    root_tao, tao_weight = 5_000_000 * 10**9, 971_718_665_099_567_868
    for i, (when, price, volume) in enumerate(series):
        block = 1000 + i
        net = subnet(
            1,
            tao_in=price * alpha_in // 10**9,
            alpha_in=alpha_in,
            alpha_out=alpha_out,
            volume=volume,
            tao_in_emission=40_000_000,
            excess_tao=10_000_000,
            alpha_out_emission=10**9,
            last_epoch_block=990,
            pending_epoch_at=1_002 if block < 1_002 else 0,
            epoch_index=77,
            registration_cost=123_456_789,
            transfer_enabled=False,
        )
        root = subnet(0, mechanism=0, tao_in=root_tao, alpha_in=0, alpha_out=0)
        v = dataclasses.replace(
            validator(1, 0, "5HK1", 10**12),
            childkey_take=3276,
            alpha_dividends=10**9,
            total_alpha_last_epoch=10**12,
            nominators=12 if block == 1000 else None,  # counted now and then, kept between
        )
        miner = dataclasses.replace(validator(1, 1, "5MINER", 10**9), validator_permit=False)
        async with maker() as session:
            await write_snapshot(
                session,
                snapshot(block, [root, net], validators=[v, miner], tao_weight=tao_weight),
                chain="test",
                head_block=block,
                block_time=when,
            )
            await session.commit()

    s = (await client.get("/v1/subnets/1")).json()
    assert s["price"] == "450000000"
    assert s["price_change"] == {
        "1h": "0.125000",
        "24h": "0.125000",
        "7d": "1.250000",
        "30d": "3.500000",
    }
    assert s["volume_by_interval"] == {"1h": "1000", "24h": "1000", "7d": "5000", "30d": "9000"}
    assert s["market_cap"] == str(450_000_000 * 4000)  # price x (alpha in + alpha out)
    assert s["liquidity"] == str(450 * 10**9 + 450 * 10**9)  # TAO reserve + alpha at price
    assert s["emission_per_day"] == {
        "tao": str(50_000_000 * 7200),
        "chain_buys": str(10_000_000 * 7200),
        "alpha": str(10**9 * 7200),
    }
    weighted = Fraction(root_tao) * Fraction(tao_weight, 2**64 - 1)
    expected = weighted / (weighted + alpha_in + alpha_out)
    assert s["root_proportion"] == fraction_str(expected, 9)
    # The owner's trigger (pending at 1_002) fired: the cycle runs from LastEpochBlock.
    assert (s["epoch_index"], s["next_epoch_block"], s["blocks_to_next_epoch"]) == (77, 1350, 346)
    assert s["registration_cost"] == "123456789"
    assert (s["subtoken_enabled"], s["transfer_enabled"]) == (True, False)
    assert s["quote_weight"] == "0.5"
    listed = {x["netuid"]: x for x in (await client.get("/v1/subnets")).json()}
    assert listed[1]["price_change"] == s["price_change"]
    assert listed[0]["price"] == "1000000000" and listed[0]["next_epoch_block"] is None

    vals = {v["hotkey"]: v for v in (await client.get("/v1/subnets/1/validators")).json()}
    assert set(vals) == {"5HK1", "5MINER"} and vals["5MINER"]["validator_permit"] is False
    hk = vals["5HK1"]
    assert hk["nominators"] == 12 and hk["childkey_take"] == "0.049988"  # 3276 / 65535
    take = 11796 / 65535
    per_epoch = 10**9 / (10**12 - 10**9 / (1 - take))
    apy = (1 + per_epoch) ** (7200 * 365 / 360) - 1
    assert abs(float(hk["apy"]) - apy) < 1e-5 * apy
    assert vals["5MINER"]["apy"] is None  # no dividends yet
