"""Fee tiers by 30-day volume: shown per user, charged per fill at the user's tier."""

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.orders.conftest import ALPHA, PRICE, TAO, Market, balances, ledger_ok, limit


async def test_tiers_lower_the_fees_of_users_past_their_volume(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    maker, taker = await market.trader(signed), await market.trader(signed)
    r = await market.admin.put(
        "/v1/admin/fee-tiers",
        {"tiers": [{"min_volume": str(TAO), "maker_fee_bps": 0, "taker_fee_bps": 10}]},
    )
    assert r.status_code == 200, r.text
    fees = (await taker.get("/v1/fees")).json()
    assert fees["volume_30d"] == "0"
    [sn1] = fees["markets"]
    assert (sn1["maker_fee_bps"], sn1["taker_fee_bps"]) == (10, 20)  # the market's own
    assert sn1["next_tier"] == {"min_volume": str(TAO), "maker_fee_bps": 0, "taker_fee_bps": 10}
    # 20 alpha at 0.05: 1 TAO of volume for both, at the market's own fees.
    await maker.post("/v1/orders", limit("sell", PRICE, 40 * ALPHA))
    r = await taker.post("/v1/orders", limit("buy", PRICE, 20 * ALPHA))
    assert r.json()["fee"] == str(TAO * 20 // 10_000)
    fees = (await taker.get("/v1/fees")).json()
    assert fees["volume_30d"] == str(TAO) and fees["markets"][0]["taker_fee_bps"] == 10
    # Now both are in the tier: the taker pays 10 bps, the maker nothing.
    before = (await balances(maker))["TAO"]["total"]
    r = await taker.post("/v1/orders", limit("buy", PRICE, 20 * ALPHA))
    assert r.json()["fee"] == str(TAO * 10 // 10_000)
    assert (await balances(maker))["TAO"]["total"] == before + TAO
    # A market's own tiers replace the global ones; bad tiers are refused.
    r = await market.admin.put(
        "/v1/admin/fee-tiers",
        {
            "market": "SN1/TAO",
            "tiers": [{"min_volume": str(100 * TAO), "maker_fee_bps": 1, "taker_fee_bps": 2}],
        },
    )
    assert r.status_code == 200, r.text
    sn1 = (await taker.get("/v1/fees")).json()["markets"][0]
    assert (sn1["maker_fee_bps"], sn1["taker_fee_bps"]) == (10, 20)
    r = await market.admin.put(
        "/v1/admin/fee-tiers",
        {"tiers": [{"min_volume": "1", "maker_fee_bps": 5, "taker_fee_bps": 5}] * 2},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_fee_tiers"
    await ledger_ok(db)
