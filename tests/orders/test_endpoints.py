"""Orders through the HTTP API: placement, matching, settlement to the rao, cancels."""

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.orders.conftest import ALPHA, PRICE, TAO, Market, balances, counts, ledger_ok, limit
from tests.signing import next_nonce


async def test_a_trade_settles_to_the_rao(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed, tao=0, alpha=10 * ALPHA)
    bob = await market.trader(signed, tao=10 * TAO, alpha=0)

    r = await alice.post("/v1/orders", limit("sell", PRICE, 4 * ALPHA))
    assert r.status_code == 201, r.text
    ask = r.json()
    assert ask["status"] == "open" and ask["hold"] == str(4 * ALPHA)
    b = await balances(alice)
    assert b["SN1"] == {"available": 6 * ALPHA, "held": 4 * ALPHA, "staked": 0, "total": 10 * ALPHA}

    # Bob buys 3 alpha with a higher limit: fills at the maker's price.
    r = await bob.post("/v1/orders", limit("buy", PRICE + 5_000_000, 3 * ALPHA))
    assert r.status_code == 201, r.text
    bid = r.json()
    assert bid["status"] == "filled" and bid["filled_qty"] == str(3 * ALPHA)
    quote = PRICE * 3  # 0.15 TAO
    assert bid["filled_quote"] == str(quote)
    taker_fee, maker_fee = quote * 20 // 10_000, quote * 10 // 10_000
    assert bid["fee"] == str(taker_fee)

    b = await balances(bob)
    assert b["TAO"] == {
        "available": 10 * TAO - quote - taker_fee,
        "held": 0,
        "staked": 0,
        "total": 10 * TAO - quote - taker_fee,
    }
    assert b["SN1"]["available"] == 3 * ALPHA
    a = await balances(alice)
    assert a["TAO"]["available"] == quote - maker_fee
    assert a["SN1"] == {"available": 6 * ALPHA, "held": 1 * ALPHA, "staked": 0, "total": 7 * ALPHA}

    fills = (await bob.get("/v1/fills")).json()["fills"]
    assert [(f["side"], f["liquidity"], f["qty"], f["price"], f["fee"]) for f in fills] == [
        ("buy", "taker", str(3 * ALPHA), str(PRICE), str(taker_fee))
    ]
    fills = (await alice.get("/v1/fills")).json()["fills"]
    assert [(f["side"], f["liquidity"], f["fee"]) for f in fills] == [
        ("sell", "maker", str(maker_fee))
    ]
    async with db.connect() as conn:
        fees = await conn.scalar(
            text("SELECT balance FROM ledger_accounts WHERE kind = 'fees' AND asset = 'TAO'")
        )
    assert fees == maker_fee + taker_fee
    await ledger_ok(db)

    # Alice cancels the rest: her held alpha returns.
    r = await alice.delete(f"/v1/orders/{ask['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    a = await balances(alice)
    assert a["SN1"] == {"available": 7 * ALPHA, "held": 0, "staked": 0, "total": 7 * ALPHA}
    await ledger_ok(db)


async def test_market_orders_by_qty_and_by_budget(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    maker = await market.trader(signed)
    taker = await market.trader(signed, tao=10 * TAO, alpha=0)
    for i in range(3):
        assert (
            await maker.post("/v1/orders", limit("sell", PRICE + i * 1000, ALPHA))
        ).status_code == 201
    r = await taker.post(
        "/v1/orders", {"market": "SN1-TAO", "side": "buy", "type": "market", "qty": str(2 * ALPHA)}
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "filled" and r.json()["filled_quote"] == str(PRICE + PRICE + 1000)
    budget = PRICE // 2  # half an alpha's worth at the best ask
    r = await taker.post(
        "/v1/orders",
        {"market": "SN1TAO", "side": "buy", "type": "market", "quote_budget": str(budget)},
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "filled" and int(order["filled_quote"]) <= budget
    assert int(order["filled_qty"]) == 499 * 10**6  # whole lots the budget pays for at 0.050002
    b = await balances(taker)
    assert b["TAO"]["held"] == 0
    await ledger_ok(db)


async def test_ioc_fok_and_post_only(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    maker = await market.trader(signed)
    taker = await market.trader(signed)
    await maker.post("/v1/orders", limit("sell", PRICE, ALPHA))
    r = await taker.post("/v1/orders", limit("buy", PRICE, 2 * ALPHA, time_in_force="ioc"))
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "ioc_remainder"
    assert r.json()["filled_qty"] == str(ALPHA)
    await maker.post("/v1/orders", limit("sell", PRICE, ALPHA))
    r = await taker.post("/v1/orders", limit("buy", PRICE, 2 * ALPHA, time_in_force="fok"))
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "fok_unfilled"
    assert r.json()["filled_qty"] == "0"
    before = await counts(db)
    r = await taker.post("/v1/orders", limit("buy", PRICE, ALPHA, post_only=True))
    assert r.status_code == 409 and r.json()["code"] == "post_only_would_take"
    assert await counts(db) == before
    r = await taker.post("/v1/orders", limit("buy", PRICE - 1000, ALPHA, post_only=True))
    assert r.status_code == 201 and r.json()["status"] == "open"
    b = await balances(taker)
    notional = PRICE - 1000
    assert b["TAO"]["held"] == notional + -(-notional * 20 // 10_000)  # plus the fee, ceil
    await ledger_ok(db)


async def test_bad_input_writes_nothing(
    market: Market, signed: SignedFactory, db: AsyncEngine, client: httpx.AsyncClient
) -> None:
    poor = await market.trader(signed, tao=TAO // 100, alpha=ALPHA)
    await poor.post("/v1/orders", limit("sell", PRICE, ALPHA // 2, client_order_id="c1"))
    before = await counts(db)
    cases = [
        (
            {"market": "SN9/TAO", "side": "buy", "price": str(PRICE), "qty": str(ALPHA)},
            404,
            "market_not_found",
        ),
        (limit("buy", PRICE + 1, ALPHA), 400, "invalid_tick"),
        (limit("buy", PRICE, 0), 400, "non_positive_amount"),
        (limit("buy", PRICE, ALPHA + 1), 400, "invalid_lot"),
        (limit("buy", PRICE * 3, ALPHA), 400, "price_out_of_band"),
        (limit("buy", PRICE, 10 * ALPHA), 400, "insufficient_funds"),
        (
            limit(
                "sell",
                PRICE,
                ALPHA // 2,
                client_order_id="c1",
            ),
            201,
            None,
        ),  # a retry: same order
        (
            limit("sell", PRICE + 1000, ALPHA // 2, client_order_id="c1"),
            409,
            "duplicate_client_order_id",
        ),
        (limit("buy", "12.5", ALPHA), 400, "invalid_amount"),
        (limit("buy", str(2**70), ALPHA), 400, "amount_too_large"),
        (
            {
                "market": "SN1/TAO",
                "side": "buy",
                "type": "market",
                "qty": str(ALPHA),
                "quote_budget": "5",
            },
            400,
            "invalid_order_type",
        ),
        (
            {"market": "SN1/TAO", "side": "sideways", "price": str(PRICE), "qty": str(ALPHA)},
            422,
            "validation_error",
        ),
    ]
    for body, status, code in cases:
        r = await poor.post("/v1/orders", body)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["code"] == code, (body, r.json())
    assert await counts(db) == before
    nonce = next_nonce()
    raw = b'{"nonce": %d, "market": "SN1/TAO", "side": ' % nonce
    r = await client.post(
        "/v1/orders",
        content=raw,
        headers={**poor.headers("/v1/orders", nonce, raw), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    assert await counts(db) == before


async def test_client_order_id_retry_returns_the_original(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed)
    first = await alice.post(
        "/v1/orders", limit("buy", PRICE - 1000, ALPHA, client_order_id="retry-1")
    )
    again = await asyncio.gather(
        *(
            alice.post("/v1/orders", limit("buy", PRICE - 1000, ALPHA, client_order_id="retry-1"))
            for _ in range(3)
        )
    )
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    assert (await counts(db))["orders"] == 1
    r = await alice.delete("/v1/orders", {"client_order_id": "retry-1"})
    assert r.status_code == 200 and [o["id"] for o in r.json()["cancelled"]] == [first.json()["id"]]
    # Once closed, the id may be used again.
    r = await alice.post("/v1/orders", limit("buy", PRICE - 1000, ALPHA, client_order_id="retry-1"))
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_users_see_and_cancel_only_their_own_orders(
    market: Market, signed: SignedFactory
) -> None:
    alice = await market.trader(signed)
    mallory = await market.trader(signed)
    order = (await alice.post("/v1/orders", limit("buy", PRICE - 1000, ALPHA))).json()
    assert (await mallory.get(f"/v1/orders/{order['id']}")).status_code == 404
    r = await mallory.delete(f"/v1/orders/{order['id']}")
    assert r.status_code == 404 and r.json()["code"] == "order_not_found"
    assert (await mallory.get("/v1/orders")).json()["orders"] == []
    assert (await mallory.delete("/v1/orders")).json()["cancelled"] == []
    assert [o["id"] for o in (await alice.get("/v1/orders")).json()["orders"]] == [order["id"]]
    assert (await alice.get(f"/v1/orders/{order['id']}")).json()["status"] == "open"


async def test_cancel_all_and_listing_pages(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed)
    ids = [
        (await alice.post("/v1/orders", limit("buy", PRICE - 1000 * (i + 1), ALPHA))).json()["id"]
        for i in range(5)
    ]
    page = (await alice.get("/v1/orders", {"limit": 2})).json()
    assert [o["id"] for o in page["orders"]] == ids[::-1][:2]
    page2 = (await alice.get("/v1/orders", {"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [o["id"] for o in page2["orders"]] == ids[::-1][2:4]
    r = await alice.delete("/v1/orders", {"market": "SN1-TAO"})
    assert sorted(o["id"] for o in r.json()["cancelled"]) == ids
    assert (await balances(alice))["TAO"]["held"] == 0
    closed = (await alice.get("/v1/orders", {"status": "closed"})).json()["orders"]
    assert len(closed) == 5 and {o["cancel_reason"] for o in closed} == {"user"}
    await ledger_ok(db)


async def test_batch_is_all_or_nothing(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed, tao=TAO, alpha=0)
    before = await counts(db)
    good = limit("buy", PRICE - 1000, ALPHA)
    r = await alice.post("/v1/orders/batch", {"orders": [good, limit("buy", PRICE + 1, ALPHA)]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_tick"
    # Each fits alone, not together: 12 x 0.05 TAO > 1 TAO... 20 alpha at 0.049 = 0.98 TAO each.
    big = limit("buy", PRICE - 1000, 15 * ALPHA)
    r = await alice.post("/v1/orders/batch", {"orders": [big, big]})
    assert r.status_code == 400 and r.json()["code"] == "insufficient_funds"
    assert await counts(db) == before
    r = await alice.post("/v1/orders/batch", {"orders": [good] * 15})
    assert r.status_code == 201 and len(r.json()) == 15
    r = await alice.post("/v1/orders/batch", {"orders": [good] * 16})
    assert r.status_code == 422


async def test_market_states_are_honoured(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed)
    bob = await market.trader(signed)
    resting = (await alice.post("/v1/orders", limit("sell", PRICE, ALPHA))).json()
    await market.set_state("post_only")
    r = await bob.post("/v1/orders", limit("buy", PRICE, ALPHA))
    assert r.status_code == 409 and r.json()["code"] == "market_post_only"
    r = await bob.post(
        "/v1/orders", {"market": "SN1/TAO", "side": "buy", "type": "market", "qty": str(ALPHA)}
    )
    assert r.status_code == 409 and r.json()["code"] == "market_post_only"
    assert (await bob.post("/v1/orders", limit("buy", PRICE - 1000, ALPHA))).status_code == 201
    await market.set_state("cancel_only")
    r = await bob.post("/v1/orders", limit("buy", PRICE - 2000, ALPHA))
    assert r.status_code == 409 and r.json()["code"] == "market_cancel_only"
    await market.set_state("halted")
    r = await bob.post("/v1/orders", limit("buy", PRICE - 2000, ALPHA))
    assert r.status_code == 409 and r.json()["code"] == "market_halted"
    r = await alice.delete(f"/v1/orders/{resting['id']}")
    assert r.status_code == 409 and r.json()["code"] == "market_halted"
    await market.set_state("cancel_only")
    assert (await alice.delete(f"/v1/orders/{resting['id']}")).status_code == 200
    # Delisting cancels every open order and releases its funds.
    await market.set_state("delisted")
    assert (await bob.get("/v1/orders")).json()["orders"] == []
    closed = (await bob.get("/v1/orders", {"status": "closed"})).json()["orders"]
    assert closed[0]["cancel_reason"] == "delisted"
    assert (await balances(bob))["TAO"]["held"] == 0
    await ledger_ok(db)


async def test_amend_keeps_priority_when_reducing_and_re_holds_when_raising(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    first = await market.trader(signed)
    second = await market.trader(signed)
    taker = await market.trader(signed)
    a = (await first.post("/v1/orders", limit("sell", PRICE, 4 * ALPHA))).json()
    b = (await second.post("/v1/orders", limit("sell", PRICE, 4 * ALPHA))).json()
    r = await first.patch(f"/v1/orders/{a['id']}", {"qty": str(2 * ALPHA)})
    assert r.status_code == 200 and r.json()["qty"] == str(2 * ALPHA)
    assert (await balances(first))["SN1"]["held"] == 2 * ALPHA  # the excess is released at once
    # Still first in the queue: a 1-alpha buy fills against the reduced order.
    await taker.post("/v1/orders", limit("buy", PRICE, ALPHA))
    assert (await first.get(f"/v1/orders/{a['id']}")).json()["filled_qty"] == str(ALPHA)
    assert (await second.get(f"/v1/orders/{b['id']}")).json()["filled_qty"] == "0"
    # More than the hold covers is held from available (and loses time priority)...
    r = await first.patch(f"/v1/orders/{a['id']}", {"qty": str(10 * ALPHA)})
    assert r.status_code == 200 and r.json()["hold"] == str(12 * ALPHA)  # 4 + 8 held in all
    assert (await balances(first))["SN1"]["held"] == 9 * ALPHA
    # ... unless available cannot pay for it: refused, nothing changes.
    r = await first.patch(f"/v1/orders/{a['id']}", {"qty": str(2000 * ALPHA)})
    assert r.status_code == 400 and r.json()["code"] == "insufficient_funds"
    assert (await balances(first))["SN1"]["held"] == 9 * ALPHA
    r = await first.patch(f"/v1/orders/{a['id']}", {"qty": str(2 * ALPHA)})
    assert r.status_code == 200 and (await balances(first))["SN1"]["held"] == ALPHA
    r = await first.patch(f"/v1/orders/{a['id']}", {"price": str(PRICE + 1000)})
    assert r.status_code == 200 and r.json()["price"] == str(PRICE + 1000)
    await taker.post("/v1/orders", limit("buy", PRICE, ALPHA))
    assert (await second.get(f"/v1/orders/{b['id']}")).json()["filled_qty"] == str(ALPHA)
    r = await second.patch("/v1/orders/999999", {"qty": str(ALPHA)})
    assert r.status_code == 404 and r.json()["code"] == "order_not_found"
    # Cancelling the amended order releases exactly what is left of its hold.
    await first.delete(f"/v1/orders/{a['id']}")
    assert (await balances(first))["SN1"] == {
        "available": 999 * ALPHA,
        "held": 0,
        "staked": 0,
        "total": 999 * ALPHA,
    }
    await ledger_ok(db)


async def test_validate_only_places_nothing(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    alice = await market.trader(signed)
    before = await counts(db)
    r = await alice.post("/v1/orders", limit("buy", PRICE, ALPHA, validate_only=True))
    assert r.status_code == 201 and r.json()["status"] == "validated"
    assert r.json()["hold"] == str(PRICE + -(-PRICE * 20 // 10_000))
    r = await alice.post("/v1/orders", limit("buy", PRICE + 1, ALPHA, validate_only=True))
    assert r.status_code == 400 and r.json()["code"] == "invalid_tick"
    assert await counts(db) == before


async def test_fills_from_a_time(market: Market, signed: SignedFactory) -> None:
    from datetime import UTC, datetime, timedelta

    maker = await market.trader(signed)
    taker = await market.trader(signed)
    await maker.post("/v1/orders", limit("sell", PRICE, ALPHA))
    await taker.post("/v1/orders", limit("buy", PRICE, ALPHA))
    now = datetime.now(UTC)
    assert (
        len(
            (
                await taker.get("/v1/fills", {"from": (now - timedelta(minutes=1)).isoformat()})
            ).json()["fills"]
        )
        == 1
    )
    assert (
        await taker.get("/v1/fills", {"from": (now + timedelta(minutes=1)).isoformat()})
    ).json()["fills"] == []
    r = await taker.get("/v1/fills", {"from": "yesterday"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"


async def _until(condition: "Callable[[], Awaitable[bool]]", seconds: float = 30) -> None:
    """Wait for a condition (bounded), not for a fixed time."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.05)


async def test_the_dead_mans_switch_cancels_everything_when_its_deadline_passes(
    market: Market, signed: SignedFactory, db: AsyncEngine
) -> None:
    from app.orders.deadman import DeadMansSwitch

    alice = await market.trader(signed)
    placed = (await alice.post("/v1/orders", limit("buy", PRICE, ALPHA))).json()
    r = await alice.post("/v1/orders/cancel-after", {"timeout": 60})
    assert r.status_code == 200 and r.json()["trigger_time"] is not None
    r = await alice.post("/v1/orders/cancel-after", {"timeout": 0})  # disarmed
    assert r.json()["trigger_time"] is None
    async with db.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM cancel_after")) == 0
    r = await alice.post("/v1/orders/cancel-after", {"timeout": 1})
    assert r.status_code == 200

    async def cancelled() -> bool:
        status = (await alice.get(f"/v1/orders/{placed['id']}")).json()["status"]
        return bool(status == "cancelled")

    await _until(cancelled)
    assert (await balances(alice))["TAO"]["held"] == 0
    # A deadline that passed while no switch ran (a restart) fires when one starts.
    other = (await alice.post("/v1/orders", limit("buy", PRICE, ALPHA))).json()
    await market.app.state.deadman.stop()
    await alice.post("/v1/orders/cancel-after", {"timeout": 60})
    async with db.begin() as conn:
        await conn.execute(text("UPDATE cancel_after SET deadline = now() - interval '1 s'"))
    restarted = DeadMansSwitch(market.app.state.sessionmaker, market.app.state.orders)
    await restarted.fire_expired()
    assert restarted.fired == 1
    assert (await alice.get(f"/v1/orders/{other['id']}")).json()["status"] == "cancelled"
    async with db.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM cancel_after")) == 0
    await ledger_ok(db)


async def test_order_and_fill_history_take_time_ranges_and_keyset_pages(
    market: Market, signed: SignedFactory
) -> None:
    from datetime import UTC, datetime, timedelta

    maker, taker = await market.trader(signed), await market.trader(signed)
    ids = [
        (await maker.post("/v1/orders", limit("sell", PRICE + k * 1000, ALPHA))).json()["id"]
        for k in range(3)
    ]
    await taker.post(
        "/v1/orders", {"market": "SN1/TAO", "side": "buy", "type": "market", "qty": str(2 * ALPHA)}
    )
    now = datetime.now(UTC)
    past, future = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    page = (await maker.get("/v1/orders", {"status": "closed", "limit": 1})).json()
    assert [o["id"] for o in page["orders"]] == [ids[1]] and page["next_cursor"] == ids[1]
    page = (
        await maker.get("/v1/orders", {"status": "closed", "cursor": page["next_cursor"]})
    ).json()
    assert [o["id"] for o in page["orders"]] == [ids[0]] and page["next_cursor"] is None
    r = await maker.get("/v1/orders", {"status": "open", "from": future})
    assert r.json()["orders"] == []
    r = await maker.get("/v1/orders", {"status": "open", "from": past, "to": future})
    assert [o["id"] for o in r.json()["orders"]] == [ids[2]]
    fills = (await maker.get("/v1/fills", {"from": past, "to": future})).json()["fills"]
    assert [f["order_id"] for f in fills] == [ids[1], ids[0]]
    assert (await maker.get("/v1/fills", {"to": past})).json()["fills"] == []
