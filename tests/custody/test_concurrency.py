"""200 concurrent withdrawals against one balance that covers only some of them."""

import asyncio
from dataclasses import replace

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.ledger.check import check_ledger
from tests.conftest import SignedFactory

ADDRESS = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


async def test_concurrent_withdrawals_spend_exactly_the_balance(
    signed: SignedFactory, app: FastAPI, db: AsyncEngine
) -> None:
    reserve = 1_000_003
    app.state.custody_policy = replace(app.state.custody_policy, tao_fee_reserve=reserve)
    admin = await signed("admin")
    # One key per request: a key's nonces must arrive in order, concurrent requests do not.
    first = await signed("read,withdraw", email="whale@example.com")
    clients = [first] + [
        await signed("read,withdraw", email="whale@example.com") for _ in range(199)
    ]
    amount, covered = 1_000_000_007, 37
    each = amount + reserve  # held per withdrawal: the amount and the TAO fee reserve
    r = await admin.post(
        "/v1/admin/deposits",
        json={
            "user_id": first.user_id,
            "asset": "TAO",
            "amount": str(each * covered + each // 2),
            "external_ref": "whale",
        },
    )
    assert r.status_code == 201, r.text
    r = await first.post("/v1/withdrawal-addresses", json={"name": "cold", "address": ADDRESS})
    assert r.status_code == 201, r.text

    responses = await asyncio.gather(
        *(
            c.post(
                "/v1/withdrawals",
                json={
                    "asset": "TAO",
                    "amount": str(amount),
                    "address_name": "cold",
                    "idempotency_key": f"w{i}",
                },
            )
            for i, c in enumerate(clients)
        )
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == covered, statuses
    refused = [r for r in responses if r.status_code != 201]
    assert len(refused) == 200 - covered
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(400, "insufficient_funds")}

    b = {x["asset"]: x for x in (await first.get("/v1/balances")).json()["balances"]}["TAO"]
    assert b["available"] == str(each // 2)
    assert b["held"] == str(each * covered)
    async with async_sessionmaker(db)() as s:
        assert await s.scalar(text("SELECT count(*) FROM withdrawals")) == covered
        assert await s.scalar(text("SELECT count(*) FROM ledger_holds")) == covered
        negative = await s.scalar(
            text("SELECT count(*) FROM ledger_accounts WHERE user_id IS NOT NULL AND balance < 0")
        )
        assert negative == 0
        report = await check_ledger(s)
        assert report.ok, report.render()
