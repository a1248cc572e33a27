"""One bad member never fails its group for the others, and a failed group rebuilds only the
books it changed.

These tests hand commands to the sequencer directly, past the HTTP edge (which refuses
NUL bytes before a route runs: tests/kit), to prove the sequencer's own isolation."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kit.errors import AppError
from app.kit.metrics import REGISTRY
from app.orders.commands import LiveOrder, OrderRequest, PlaceOrders
from tests.conftest import SignedFactory
from tests.kraken.conftest import LOT as KLOT
from tests.kraken.conftest import PRICE as KPRICE
from tests.kraken.conftest import TICK as KTICK
from tests.kraken.conftest import Env, kraken  # noqa: F401  (a real server, seeded)
from tests.orders.conftest import LOT, PRICE, TICK, Market, balances, counts, ledger_ok
from tests.signing import SignedClient


def rebuilds(scope: str) -> float:
    return REGISTRY.get_sample_value("sequencer_rebuilds_total", {"scope": scope}) or 0.0


def _buy(i: int, **extra: object) -> OrderRequest:
    return OrderRequest(
        market="SN1/TAO", side="buy", type="limit", price=PRICE - (1 + i % 50) * TICK, qty=LOT,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


async def _submit_all(app: FastAPI, commands: list[PlaceOrders]) -> list[object]:
    sequencer = app.state.orders
    return await asyncio.gather(*(sequencer.submit(c) for c in commands), return_exceptions=True)


@pytest.mark.parametrize(
    ("poison", "where"),
    [
        ({"market": "SN1\x00/TAO"}, "read at the start of the group"),
        ({"client_order_id": "a\x00b"}, "written at the end of the group"),
    ],
)
async def test_a_poison_member_is_refused_alone(
    poison: dict[str, str],
    where: str,
    market: Market,
    signed: SignedFactory,
    app: FastAPI,
    db: AsyncEngine,
) -> None:
    honest = await market.trader(signed)
    mallory = await market.trader(signed)
    before_all = rebuilds("all")
    commands: list[PlaceOrders] = []
    for i in range(60):  # interleaved: every group holds honest and poison members
        if i % 2:
            request = _buy(i)
            if "market" in poison:
                request.market = poison["market"]
            else:
                request.client_order_id = f"{poison['client_order_id']}{i}"
            commands.append(PlaceOrders(mallory.user_id, [request]))
        else:
            commands.append(PlaceOrders(honest.user_id, [_buy(i)]))
    results = await _submit_all(app, commands)

    honest_results = results[0::2]
    poison_results = results[1::2]
    assert all(isinstance(r, list) and isinstance(r[0], LiveOrder) for r in honest_results), [
        r for r in honest_results if not isinstance(r, list)
    ][:2]
    assert all(isinstance(r, AppError) and r.code == "invalid_value" for r in poison_results), (
        where,
        poison_results[:2],
    )
    assert rebuilds("all") == before_all  # never every book

    async with db.connect() as conn:
        by_user = dict(
            (
                await conn.execute(text("SELECT user_id, count(*) FROM orders GROUP BY user_id"))
            ).all()
        )
    assert by_user.get(honest.user_id) == 30
    assert mallory.user_id not in by_user
    bal = await balances(mallory)
    assert bal["TAO"]["held"] == 0 and bal["TAO"]["available"] == 100 * 10**9
    # The in-memory book is what Postgres holds: 30 resting bids of the honest trader.
    book = (await market.admin.get("/v1/markets/SN1-TAO/book", {"depth": 1000})).json()
    assert sum(int(level["qty"]) for level in book["bids"]) == 30 * LOT
    await ledger_ok(db)


async def test_a_failed_group_rebuilds_only_the_books_it_changed(
    market: Market, signed: SignedFactory, app: FastAPI, db: AsyncEngine
) -> None:
    """A member that fails after changing a book (its row cannot be written) costs a
    rebuild of that market only; the others' orders stand, in memory and in Postgres."""
    honest = await market.trader(signed)
    resting = await app.state.orders.submit(PlaceOrders(honest.user_id, [_buy(1)]))
    before = (rebuilds("all"), rebuilds("markets"))
    results = await _submit_all(
        app,
        [
            PlaceOrders(honest.user_id, [_buy(2)]),
            PlaceOrders(honest.user_id, [_buy(3, client_order_id="x\x00")]),
            PlaceOrders(honest.user_id, [_buy(4)]),
        ],
    )
    assert isinstance(results[0], list) and isinstance(results[2], list)
    assert isinstance(results[1], AppError) and results[1].code == "invalid_value"
    assert rebuilds("all") == before[0]
    assert rebuilds("markets") > before[1]
    assert (await counts(db))["orders"] == 3
    async with db.connect() as conn:
        open_ids = set(
            (await conn.execute(text("SELECT id FROM orders WHERE status = 'open'"))).scalars()
        )
    assert open_ids == {resting[0].id, results[0][0].id, results[2][0].id}
    # The book the order service publishes is the one in Postgres.
    book = (await market.admin.get("/v1/markets/SN1-TAO/book", {"depth": 1000})).json()
    assert sum(int(level["qty"]) for level in book["bids"]) == 3 * LOT
    await ledger_ok(db)


# ---------------------------------------------------------------------------- real server


@pytest.mark.acceptance
async def test_a_poison_sender_over_http_costs_another_trader_nothing(
    kraken: Env,  # noqa: F811  (the fixture imported above)
    engine: AsyncEngine,
) -> None:
    """Orders with NUL bytes or lone surrogates get 400 at the edge, nothing written; the
    other trader's orders all go through; no book is ever rebuilt. (The throughput ratio
    with and without the poison sender is measured by `python -m bench.poison`.)"""
    async with httpx.AsyncClient(base_url=kraken.url, timeout=30) as http:
        alice = SignedClient(http, kraken.keys["alice"].key, kraken.keys["alice"].secret, 0)
        bob = SignedClient(http, kraken.keys["bob"].key, kraken.keys["bob"].secret, 0)
        for start in range(0, 600, 15):  # a deep book to rebuild, were anything rebuilt
            r = await bob.post(
                "/v1/orders/batch",
                {"orders": [_sell_body(start + i) for i in range(15)]},
            )
            assert r.status_code == 201, r.text
        metrics_before = (await http.get("/metrics")).text
        before = await counts(engine)
        stop = asyncio.Event()
        poison_answers: list[httpx.Response] = []

        async def poison() -> None:
            bodies = [
                {**_buy_body(0), "market": "SN1\x00/TAO"},
                {**_buy_body(0), "market": "SN1\ud800/TAO"},
                {**_buy_body(0), "client_order_id": "a\x00"},
            ]
            i = 0
            while not stop.is_set():
                poison_answers.append(await bob.post("/v1/orders", bodies[i % 3]))
                i += 1

        poisoner = asyncio.create_task(poison())
        placed = []
        for i in range(60):
            r = await alice.post("/v1/orders", _buy_body(i))
            assert r.status_code == 201, r.text
            placed.append(r.json()["id"])
        stop.set()
        await poisoner
        metrics_after = (await http.get("/metrics")).text

    assert len(poison_answers) >= 10
    assert {(r.status_code, r.json()["code"]) for r in poison_answers} == {(400, "invalid_text")}
    after = await counts(engine)
    assert after["orders"] == before["orders"] + 60
    rebuild_lines = [line for line in metrics_after.splitlines() if "sequencer_rebuilds" in line]
    assert rebuild_lines == [
        line for line in metrics_before.splitlines() if "sequencer_rebuilds" in line
    ]
    await ledger_ok(engine)


def _buy_body(i: int) -> dict[str, str]:
    return {
        "market": "SN1/TAO",
        "side": "buy",
        "price": str(KPRICE - (1 + i % 20) * KTICK),
        "qty": str(20 * KLOT),
    }


def _sell_body(i: int) -> dict[str, str]:
    return {
        "market": "SN1/TAO",
        "side": "sell",
        "price": str(KPRICE + (1 + i % 200) * KTICK),
        "qty": str(20 * KLOT),
    }
