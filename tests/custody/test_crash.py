"""The server is SIGKILLed between signing and broadcasting a withdrawal, and between
broadcasting it and its finality: on restart it is sent exactly once (the recorded bytes,
never a second signature), and it completes; nothing is lost, nothing sent twice."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import Keypair, SubstrateInterface

from app.chain.devnet.server import DevnetThread
from app.models import ChainTransaction, Withdrawal
from tests.conftest import fast_devnet
from tests.custody.conftest import ALICE, CONFIG, SIGNER, TAO
from tests.custody.server import CustodyServer
from tests.custody.test_ccxt_end_to_end import make_key
from tests.orders.conftest import ledger_ok
from tests.signing import SignedClient

DESTINATION = Keypair.create_from_uri("//Devnet//Tests//crash").ss58_address
OMNIBUS = SIGNER.omnibus.ss58_address


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(**CONFIG)


@pytest.fixture
def server(
    database_url: str, devnet: DevnetThread, db: AsyncEngine, tmp_path: Path
) -> Iterator[CustodyServer]:
    s = CustodyServer(
        database_url, devnet.url, tmp_path / "server.log", EXCHANGE_INDEXER_ENABLED="false"
    )
    s.start()
    yield s
    s.stop()


@pytest.fixture
async def user(server: CustodyServer, db: AsyncEngine) -> AsyncIterator[SignedClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield SignedClient(http, *await make_key(db, "crash@custody.test", "read,withdraw"))


async def withdrawal_txs(db: AsyncEngine) -> list[ChainTransaction]:
    async with async_sessionmaker(db, expire_on_commit=False)() as s:
        return list(
            await s.scalars(
                select(ChainTransaction)
                .where(ChainTransaction.purpose == "withdrawal")
                .order_by(ChainTransaction.id)
            )
        )


async def withdrawal(db: AsyncEngine) -> Withdrawal:
    async with async_sessionmaker(db, expire_on_commit=False)() as s:
        found = await s.scalar(select(Withdrawal))
        assert found is not None
        return found


async def until(check: Any, what: str) -> Any:
    for _ in range(1200):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def fund_and_request(
    user: SignedClient, devnet: DevnetThread, db: AsyncEngine, amount: int
) -> None:
    """Deposit 10 TAO from //Alice, wait until it is swept to the omnibus, then ask for a
    withdrawal of `amount` to DESTINATION."""
    address = (await user.post("/v1/deposit-addresses", {})).json()["address"]
    with SubstrateInterface(url=devnet.url, ss58_format=42) as wallet:
        call = wallet.compose_call(
            "Balances", "transfer_keep_alive", {"dest": address, "value": 10 * TAO}
        )
        wallet.submit_extrinsic(wallet.create_signed_extrinsic(call, ALICE, era={"period": 64}))

    async def swept() -> bool:
        devnet.chain.produce_block()
        async with async_sessionmaker(db)() as s:
            states = list(await s.scalars(select(ChainTransaction.state)))
        return states == ["success"]  # the sweep, settled at finality

    await until(swept, "the sweep")
    r = await user.post("/v1/withdrawal-addresses", {"name": "cold", "address": DESTINATION})
    assert r.status_code == 201, r.text
    r = await user.post(
        "/v1/withdrawals",
        {"asset": "TAO", "amount": str(amount), "address_name": "cold", "idempotency_key": "c1"},
    )
    assert r.status_code == 201, r.text


async def completed(db: AsyncEngine, devnet: DevnetThread) -> None:
    async def done() -> bool:
        devnet.chain.produce_block()
        return (await withdrawal(db)).state == "completed"

    await until(done, "the withdrawal to complete")


async def test_killed_between_sign_and_broadcast(
    server: CustodyServer, devnet: DevnetThread, user: SignedClient, db: AsyncEngine
) -> None:
    # The signer stops after recording the withdrawal's transaction, before broadcasting it.
    server.stop()
    server.start(EXCHANGE_CUSTODY_FAILPOINT="after_record:withdrawal")
    await fund_and_request(user, devnet, db, 4 * TAO)

    async def recorded() -> list[ChainTransaction]:
        return await withdrawal_txs(db)

    [tx] = await until(recorded, "the recorded transaction")
    assert tx.state == "signed"
    server.kill()
    assert devnet.chain.pending_extrinsics() == []  # it never reached the node
    devnet.chain.produce_blocks(3)
    assert devnet.chain.free_balance(DESTINATION) == 0

    server.start()  # no failpoint: the recorded bytes are broadcast on start
    await completed(db, devnet)
    txs = await withdrawal_txs(db)
    assert [(t.extrinsic_hash, t.state) for t in txs] == [(tx.extrinsic_hash, "success")]
    assert devnet.chain.free_balance(DESTINATION) == 4 * TAO
    await ledger_ok(db)


async def test_killed_between_broadcast_and_finality(
    server: CustodyServer, devnet: DevnetThread, user: SignedClient, db: AsyncEngine
) -> None:
    await fund_and_request(user, devnet, db, 4 * TAO)

    async def broadcast() -> list[ChainTransaction]:
        txs = await withdrawal_txs(db)
        return txs if txs and txs[0].state == "broadcast" else []

    [tx] = await until(broadcast, "the broadcast")
    server.kill()
    assert [x.hash_hex for x in devnet.chain.pending_extrinsics()] == [tx.extrinsic_hash]
    # Included and finalized while the server is down.
    devnet.chain.produce_blocks(3)
    assert devnet.chain.free_balance(DESTINATION) == 4 * TAO
    assert (await withdrawal(db)).state == "sending"

    server.start()
    await completed(db, devnet)
    txs = await withdrawal_txs(db)
    assert [(t.extrinsic_hash, t.state) for t in txs] == [(tx.extrinsic_hash, "success")]
    devnet.chain.produce_blocks(3)
    assert devnet.chain.free_balance(DESTINATION) == 4 * TAO  # once
    await ledger_ok(db)
