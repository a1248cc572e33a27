"""The signer and the sweeper against the devnet: deposits are swept to the omnibus, alpha
moved to the exchange's validator, withdrawals paid out exactly; the ledger's custody stays
equal to the chain (the reconciliation)."""

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import SubstrateInterface

from app.chain.custody import AsyncCustodyChain
from app.chain.devnet.server import DevnetThread
from app.custody.runner import CustodyWorker
from app.models import ChainTransaction
from tests.conftest import SignedFactory
from tests.custody.conftest import (
    ALICE,
    ALPHA,
    BOB,
    SIGNER,
    TAO,
    finalize,
    make_worker,
    send,
    settle_all,
    validator,
)
from tests.custody.test_deposits import deposit_address
from tests.orders.conftest import balances, ledger_ok
from tests.signing import SignedClient

DESTINATION = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy"  # //Dave


async def reconciliation(admin: SignedClient) -> dict[str, dict[str, Any]]:
    r = await admin.get("/v1/admin/custody/reconciliation")
    assert r.status_code == 200, r.text
    return {a["asset"]: a for a in r.json()["assets"]}


async def deposit_both(
    devnet: DevnetThread, wallet: SubstrateInterface, address: str, tao: int, alpha: int
) -> None:
    send(devnet, wallet, ALICE, "Balances", "transfer_keep_alive", {"dest": address, "value": tao})
    params = {
        "destination_coldkey": address,
        "hotkey": validator(devnet, 1),
        "origin_netuid": 1,
        "destination_netuid": 1,
        "alpha_amount": alpha,
    }
    send(devnet, wallet, ALICE, "SubtensorModule", "transfer_stake", params)
    finalize(devnet)


async def test_sweep_then_withdraw_tao_and_alpha(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    hotkey_v = validator(devnet, 1, uid=1)  # the exchange's validator: another uid
    worker = make_worker(app, custody_chain, validator_hotkey=hotkey_v)
    user = await signed("read,trade,withdraw")
    address = await deposit_address(user)
    await worker.scanner.scan()
    await deposit_both(devnet, wallet, address, 20 * TAO, 30 * ALPHA)
    await settle_all(worker, devnet, db)

    omnibus = SIGNER.omnibus.ss58_address
    chain = devnet.chain
    assert chain.stake_of(hotkey_v, omnibus, 1) == 30 * ALPHA  # swept, then moved
    assert chain.free_balance(address) == 0  # swept with transfer_all
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0" and rec["SN1"]["difference"] == "0", rec
    assert rec["SN1"]["on_chain"] == str(30 * ALPHA)

    r = await user.post("/v1/withdrawal-addresses", {"name": "dave", "address": DESTINATION})
    assert r.status_code == 201, r.text
    tao_before = chain.free_balance(DESTINATION)
    stake_before = chain.stake_of(hotkey_v, DESTINATION, 1)
    for asset, amount, key in (("TAO", 7 * TAO, "t1"), ("SN1", 12 * ALPHA, "a1")):
        r = await user.post(
            "/v1/withdrawals",
            {"asset": asset, "amount": str(amount), "address_name": "dave", "idempotency_key": key},
        )
        assert r.status_code == 201, r.text
    await settle_all(worker, devnet, db)

    assert chain.free_balance(DESTINATION) - tao_before == 7 * TAO
    assert chain.stake_of(hotkey_v, DESTINATION, 1) - stake_before == 12 * ALPHA
    listed_w = {w["asset"]: w for w in (await user.get("/v1/withdrawals")).json()["withdrawals"]}
    assert {w["state"] for w in listed_w.values()} == {"completed"}
    fee = int(listed_w["TAO"]["fee"])
    assert 0 < fee <= 1_000_000 and listed_w["TAO"]["txid"].startswith("0x")
    got = await balances(user)
    assert got["TAO"] == {
        "available": 13 * TAO - fee,
        "held": 0,
        "staked": 0,
        "total": 13 * TAO - fee,
    }
    assert got["SN1"]["available"] == 18 * ALPHA and got["SN1"]["held"] == 0
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0" and rec["SN1"]["difference"] == "0", rec
    await ledger_ok(db)


async def test_alpha_only_deposit_gets_a_topup_to_be_swept(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    worker: CustodyWorker,
    listed: str,
    db: AsyncEngine,
) -> None:
    # The omnibus needs TAO to top up: a first user deposits TAO, swept to it.
    first = await signed("read")
    await worker.scanner.scan()
    send(
        devnet,
        wallet,
        BOB,
        "Balances",
        "transfer_keep_alive",
        {"dest": await deposit_address(first), "value": 5 * TAO},
    )
    finalize(devnet)
    await settle_all(worker, devnet, db)

    user = await signed("read")
    address = await deposit_address(user)
    params = {
        "destination_coldkey": address,
        "hotkey": validator(devnet, 1),
        "origin_netuid": 1,
        "destination_netuid": 1,
        "alpha_amount": 4 * ALPHA,
    }
    send(devnet, wallet, ALICE, "SubtensorModule", "transfer_stake", params)
    finalize(devnet)
    await settle_all(worker, devnet, db)
    omnibus = SIGNER.omnibus.ss58_address
    assert devnet.chain.stake_of(validator(devnet, 1), omnibus, 1) == 4 * ALPHA
    async with async_sessionmaker(db)() as s:
        purposes = [
            t.purpose
            for t in await s.scalars(select(ChainTransaction).order_by(ChainTransaction.id))
        ]
    assert purposes == ["sweep", "topup", "sweep"], purposes
    assert (await balances(user))["SN1"]["available"] == 4 * ALPHA
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0" and rec["SN1"]["difference"] == "0", rec
    await ledger_ok(db)
