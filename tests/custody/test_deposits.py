"""Deposits: `//Alice` sends TAO (`transfer_keep_alive`) and alpha (`transfer_stake`) to a
user's deposit address; the scanner credits each exactly once, and only at finality."""

from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from substrateinterface import SubstrateInterface

from app.chain.devnet.server import DevnetThread
from app.custody.keys import CustodySigner
from app.custody.runner import CustodyWorker
from app.models import ChainDeposit
from tests.conftest import SignedFactory
from tests.custody.conftest import ALICE, ALPHA, TAO, finalize, send, validator
from tests.orders.conftest import balances, ledger_ok
from tests.signing import SignedClient


async def deposit_address(user: SignedClient) -> str:
    r = await user.post("/v1/deposit-addresses", {})
    assert r.status_code == 201, r.text
    address: str = r.json()["address"]
    return address


async def test_tao_and_alpha_are_credited_once_at_finality(
    app: FastAPI,
    signed: SignedFactory,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    worker: CustodyWorker,
    listed: str,
    db: AsyncEngine,
) -> None:
    user = await signed("read,trade,withdraw")
    address = await deposit_address(user)
    # Derived from the deposit root's PUBLIC key; the signer's secret derives the same.
    assert address == CustodySigner("//Exchange").deposit_keypair(user.user_id, 0).ss58_address
    await worker.scanner.scan()  # starts at the finalized head

    hotkey = validator(devnet, 1)
    send(
        devnet,
        wallet,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": address, "value": 5 * TAO},
    )
    send(
        devnet,
        wallet,
        ALICE,
        "SubtensorModule",
        "transfer_stake",
        {
            "destination_coldkey": address,
            "hotkey": hotkey,
            "origin_netuid": 1,
            "destination_netuid": 1,
            "alpha_amount": 10 * ALPHA,
        },
    )
    # The TAO block is final (the devnet finalizes head - 1), the alpha one is not yet.
    await worker.scanner.scan()
    early = await balances(user)
    assert early["TAO"]["available"] == 5 * TAO and "SN1" not in early

    finalize(devnet)
    await worker.scanner.scan()
    got = await balances(user)
    assert got["TAO"]["available"] == 5 * TAO
    assert got["SN1"]["available"] == 10 * ALPHA  # StakeAdded's alpha, not a TAO equivalent
    r = await user.get("/v1/deposits")
    deposits = r.json()["deposits"]
    assert {(d["asset"], d["amount"], d["state"]) for d in deposits} == {
        ("TAO", str(5 * TAO), "credited"),
        ("SN1", str(10 * ALPHA), "credited"),
    }
    alpha = next(d for d in deposits if d["asset"] == "SN1")
    assert alpha["hotkey"] == hotkey and alpha["sender"] == ALICE.ss58_address
    assert alpha["extrinsic_hash"].startswith("0x")

    # Scanning the same blocks again (a crash before the state was saved) credits nothing.
    async with db.begin() as conn:
        await conn.execute(
            text("UPDATE custody_scan_state SET last_block = last_block - 4, last_block_hash = :h"),
            {"h": devnet.chain.block_hash_at(devnet.chain.finalized.number - 4)},
        )
    await worker.scanner.scan()
    assert await balances(user) == got
    async with db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ChainDeposit)) == 2
    await ledger_ok(db)


async def test_held_deposits_are_recorded_for_admins_and_credited_once(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    worker: CustodyWorker,
    db: AsyncEngine,
) -> None:
    user = await signed("read")
    first = await deposit_address(user)
    second = await deposit_address(user)
    await worker.scanner.scan()
    # Below the minimum (0.001 TAO): recorded, not credited.
    send(
        devnet, wallet, ALICE, "Balances", "transfer_keep_alive", {"dest": first, "value": 600_000}
    )
    # Alpha of a subnet without a listed asset (nothing is listed in this test).
    params = {
        "destination_coldkey": first,
        "hotkey": validator(devnet, 2),
        "origin_netuid": 2,
        "destination_netuid": 2,
        "alpha_amount": 3 * ALPHA,
    }
    send(devnet, wallet, ALICE, "SubtensorModule", "transfer_stake", params)
    # To a retired address.
    ids = {
        a["address"]: a for a in (await admin.get("/v1/admin/custody/deposits")).json()["deposits"]
    }
    assert ids == {}
    async with db.connect() as conn:
        second_id = await conn.scalar(
            text("SELECT id FROM deposit_addresses WHERE address = :a"), {"a": second}
        )
    r = await admin.post(
        f"/v1/admin/custody/deposit-addresses/{second_id}/retire", {"reason": "leaked"}
    )
    assert r.status_code == 200 and r.json()["status"] == "retired", r.text
    send(
        devnet, wallet, ALICE, "Balances", "transfer_keep_alive", {"dest": second, "value": 2 * TAO}
    )
    finalize(devnet)
    await worker.scanner.scan()

    assert "TAO" not in await balances(user)
    held = (await admin.get("/v1/admin/custody/deposits")).json()["deposits"]
    states = {(d["state"], d["asset"], d["amount"]) for d in held}
    assert states == {
        ("below_minimum", "TAO", "600000"),
        ("unlisted_asset", None, str(3 * ALPHA)),
        ("retired_address", "TAO", str(2 * TAO)),
    }
    assert all(d["user_id"] == user.user_id for d in held)
    # The user sees them too; an admin credits the retired one (audited), once.
    assert len((await user.get("/v1/deposits")).json()["deposits"]) == 3
    retired = next(d for d in held if d["state"] == "retired_address")
    r = await admin.post(f"/v1/admin/custody/deposits/{retired['id']}/credit", {"reason": "ok'd"})
    assert r.status_code == 200 and r.json()["state"] == "credited", r.text
    r = await admin.post(f"/v1/admin/custody/deposits/{retired['id']}/credit", {})
    assert (r.status_code, r.json()["code"]) == (409, "deposit_not_held")
    unlisted = next(d for d in held if d["state"] == "unlisted_asset")
    r = await admin.post(f"/v1/admin/custody/deposits/{unlisted['id']}/credit", {})
    assert (r.status_code, r.json()["code"]) == (409, "deposit_not_held")
    assert (await balances(user))["TAO"]["available"] == 2 * TAO
    audit = (await admin.get("/v1/admin/audit")).json()["entries"]
    assert [e["action"] for e in audit] == ["deposit.credit", "deposit_address.retire"]
    await ledger_ok(db)
