"""Faults around the chain: the node stops and restarts while the scanner catches up and
while a withdrawal is in flight (with and without its transaction pool), an era ends before
inclusion, a transfer fails on chain, the chain caps a stake transfer, and a replayed or
tampered extrinsic is refused. Nothing is lost, nothing credited or sent twice."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from app.chain.client import ChainClient
from app.chain.custody import AsyncCustodyChain, CustodyChain
from app.chain.devnet.server import DevnetThread
from app.chain.errors import ChainError
from app.custody.runner import CustodyWorker
from app.models import ChainDeposit, ChainTransaction, Withdrawal
from tests.conftest import SignedFactory
from tests.custody.conftest import (
    ALICE,
    ALPHA,
    SIGNER,
    TAO,
    finalize,
    make_worker,
    send,
    settle_all,
    validator,
)
from tests.custody.test_deposits import deposit_address
from tests.custody.test_signer import reconciliation
from tests.orders.conftest import balances, ledger_ok
from tests.signing import SignedClient

OMNIBUS = SIGNER.omnibus.ss58_address


class Node:
    """The devnet as a node that can be stopped and restarted over its own chain."""

    def __init__(self, dev: DevnetThread) -> None:
        self.dev = dev
        self.running = True

    @property
    def chain(self) -> Any:
        return self.dev.chain

    def stop(self) -> None:
        self.dev.stop()
        self.running = False

    def restart(self, *, lose_pool: bool = False) -> None:
        if self.running:
            self.stop()
        if lose_pool:
            self.chain.forget_pending()
        self.dev = self.dev.restarted()
        self.running = True

    def wallet(self) -> SubstrateInterface:
        return SubstrateInterface(url=self.dev.url, ss58_format=42)


@pytest.fixture
def node(devnet: DevnetThread) -> Iterator[Node]:
    n = Node(devnet)
    yield n
    if n.running and n.dev is not devnet:
        n.dev.stop()


@pytest.fixture
async def flaky_chain(node: Node, app: FastAPI) -> AsyncIterator[AsyncCustodyChain]:
    """Few, short retries: a stopped node fails a step quickly (the runner retries steps)."""
    chain = AsyncCustodyChain(
        CustodyChain(ChainClient(node.dev.url, timeout=2.0, max_attempts=2, backoff=0.05))
    )
    app.state.custody_chain = chain
    yield chain
    await chain.close()


@pytest.fixture
async def fworker(app: FastAPI, flaky_chain: AsyncCustodyChain, db: AsyncEngine) -> CustodyWorker:
    return make_worker(app, flaky_chain)


async def rows(db: AsyncEngine, model: Any) -> list[Any]:
    async with async_sessionmaker(db, expire_on_commit=False)() as s:
        return list(await s.scalars(select(model).order_by(model.id)))


async def withdraw(user: SignedClient, asset: str, amount: int, key: str) -> dict[str, Any]:
    r = await user.post(
        "/v1/withdrawals",
        {"asset": asset, "amount": str(amount), "address_name": "out", "idempotency_key": key},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def funded_user(
    signed: SignedFactory, node: Node, worker: CustodyWorker, db: AsyncEngine, tao: int
) -> tuple[SignedClient, str]:
    """A user whose `tao` deposit was credited and swept to the omnibus, with an address
    `out` in their book (a fresh account)."""
    user = await signed("read,trade,withdraw")
    address = await deposit_address(user)
    await worker.scanner.scan()
    with node.wallet() as wallet:
        send(
            node.dev,
            wallet,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": address, "value": tao},
        )
    finalize(node.dev)
    await settle_all(worker, node.dev, db)
    destination = Keypair.create_from_uri(f"//Devnet//Tests//out{user.user_id}").ss58_address
    r = await user.post("/v1/withdrawal-addresses", {"name": "out", "address": destination})
    assert r.status_code == 201, r.text
    return user, destination


async def test_scanning_goes_on_across_a_node_restart(
    app: FastAPI, signed: SignedFactory, node: Node, fworker: CustodyWorker, db: AsyncEngine
) -> None:
    user = await signed("read")
    address = await deposit_address(user)
    await fworker.scanner.scan()
    with node.wallet() as wallet:
        for tao in (1, 2, 3):
            send(
                node.dev,
                wallet,
                ALICE,
                "Balances",
                "transfer_keep_alive",
                {"dest": address, "value": tao * TAO},
            )
    finalize(node.dev)
    await fworker.scanner.scan(max_blocks=2)  # part of the way: the first deposit
    node.stop()
    with pytest.raises(ChainError):
        await fworker.scanner.scan()
    node.restart()
    await fworker.scanner.scan()
    assert (await balances(user))["TAO"]["available"] == 6 * TAO
    # Dropped connections mid-way (a flaky network) change nothing either.
    with node.wallet() as wallet:
        send(
            node.dev,
            wallet,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": address, "value": 4 * TAO},
        )
    finalize(node.dev)
    node.dev.server.drop_connections()
    await fworker.scanner.scan()
    assert (await balances(user))["TAO"]["available"] == 10 * TAO
    assert sorted(d.amount for d in await rows(db, ChainDeposit)) == [
        TAO,
        2 * TAO,
        3 * TAO,
        4 * TAO,
    ]
    await ledger_ok(db)


@pytest.mark.parametrize("lose_pool", [False, True], ids=["pool-kept", "pool-lost"])
async def test_a_withdrawal_in_flight_survives_a_node_restart(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    node: Node,
    fworker: CustodyWorker,
    db: AsyncEngine,
    lose_pool: bool,
) -> None:
    user, destination = await funded_user(signed, node, fworker, db, 10 * TAO)
    await withdraw(user, "TAO", 2 * TAO, "w1")
    await fworker.step()  # signed, recorded, broadcast
    [tx] = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    assert tx.state == "broadcast"
    node.restart(lose_pool=lose_pool)
    assert [x.hash_hex for x in node.chain.pending_extrinsics()] == (
        [] if lose_pool else [tx.extrinsic_hash]
    )
    await settle_all(fworker, node.dev, db)  # the signer broadcasts the same bytes again
    txs = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    assert [(t.extrinsic_hash, t.state) for t in txs] == [(tx.extrinsic_hash, "success")]
    assert node.chain.free_balance(destination) == 2 * TAO
    [w] = await rows(db, Withdrawal)
    assert w.state == "completed" and w.sent == 2 * TAO
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0", rec
    await ledger_ok(db)


async def test_an_expired_transaction_is_signed_again_and_sent_once(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    node: Node,
    fworker: CustodyWorker,
    db: AsyncEngine,
) -> None:
    user, destination = await funded_user(signed, node, fworker, db, 10 * TAO)
    await withdraw(user, "TAO", 3 * TAO, "w1")
    await fworker.step()
    [first] = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    node.chain.forget_pending()  # never included
    # Only the scanner runs (no re-broadcast) while the era passes: it expires the record.
    node.dev.chain.produce_blocks(first.era_period + 2)
    await fworker.scanner.scan()
    [expired] = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    assert expired.state == "expired"
    assert (await rows(db, Withdrawal))[0].state == "queued"
    await settle_all(fworker, node.dev, db)  # signed again: the same nonce, a new era
    txs = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    assert [t.state for t in txs] == ["expired", "success"]
    assert txs[0].nonce == txs[1].nonce and txs[0].extrinsic_hash != txs[1].extrinsic_hash
    assert node.chain.free_balance(destination) == 3 * TAO
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0", rec
    await ledger_ok(db)


async def test_a_transfer_that_fails_on_chain_books_the_fee_and_voids(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    node: Node,
    flaky_chain: AsyncCustodyChain,
    db: AsyncEngine,
) -> None:
    worker = make_worker(app, flaky_chain, min_withdrawal_default=1)
    user, destination = await funded_user(signed, node, worker, db, 10 * TAO)
    before = (await balances(user))["TAO"]
    await withdraw(user, "TAO", 100, "dust")  # less than the existential deposit: refused
    await settle_all(worker, node.dev, db)
    [w] = await rows(db, Withdrawal)
    assert w.state == "failed" and "BelowMinimum" in (w.reason or ""), w.reason
    txs = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    assert [t.state for t in txs] == ["failed"] * 3  # retried, then given up
    assert node.chain.free_balance(destination) == 0
    assert (await balances(user))["TAO"] == before  # the user pays nothing for it
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0", rec  # the fees were booked (network_fees)
    await ledger_ok(db)


async def test_a_capped_stake_transfer_is_completed_from_another_hotkey(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    node: Node,
    flaky_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    worker = make_worker(app, flaky_chain)  # no validator: swept alpha keeps its hotkey
    h0, h1 = validator(node.dev, 1, 0), validator(node.dev, 1, 1)
    node.chain.seed_stake(ALICE.ss58_address, h1, 1, 100 * ALPHA)
    node.chain.produce_block()
    user, destination = await funded_user(signed, node, worker, db, 10 * TAO)
    address = await deposit_address(user)
    with node.wallet() as wallet:
        for hotkey, amount in ((h0, 5 * ALPHA), (h1, 7 * ALPHA)):
            params = {
                "destination_coldkey": address,
                "hotkey": hotkey,
                "origin_netuid": 1,
                "destination_netuid": 1,
                "alpha_amount": amount,
            }
            send(node.dev, wallet, ALICE, "SubtensorModule", "transfer_stake", params)
    finalize(node.dev)
    await settle_all(worker, node.dev, db)
    assert (node.chain.stake_of(h0, OMNIBUS, 1), node.chain.stake_of(h1, OMNIBUS, 1)) == (
        5 * ALPHA,
        7 * ALPHA,
    )

    await withdraw(user, listed, 10 * ALPHA, "a1")
    await settle_all(worker, node.dev, db)
    legs = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    # The whole amount was asked of the larger position; the chain sent 7; the rest followed.
    assert [(t.hotkey, t.amount, t.delivered) for t in legs] == [
        (h1, 10 * ALPHA, 7 * ALPHA),
        (h0, 3 * ALPHA, 3 * ALPHA),
    ]
    assert (node.chain.stake_of(h1, destination, 1), node.chain.stake_of(h0, destination, 1)) == (
        7 * ALPHA,
        3 * ALPHA,
    )
    [w] = [w for w in await rows(db, Withdrawal) if w.asset == listed]
    assert w.state == "completed" and w.sent == 10 * ALPHA
    assert (await balances(user))[listed] == {
        "available": 2 * ALPHA,
        "held": 0,
        "staked": 0,
        "total": 2 * ALPHA,
    }
    rec = await reconciliation(admin)
    assert rec["TAO"]["difference"] == "0" and rec[listed]["difference"] == "0", rec
    await ledger_ok(db)


async def test_replayed_and_tampered_extrinsics_are_refused(
    app: FastAPI, signed: SignedFactory, node: Node, fworker: CustodyWorker, db: AsyncEngine
) -> None:
    user, destination = await funded_user(signed, node, fworker, db, 10 * TAO)
    await withdraw(user, "TAO", TAO, "w1")
    await settle_all(fworker, node.dev, db)
    [tx] = [t for t in await rows(db, ChainTransaction) if t.purpose == "withdrawal"]
    assert node.chain.free_balance(destination) == TAO

    original = bytes.fromhex(tx.extrinsic[2:])
    tampered = bytearray(original)
    tampered[-1] ^= 0x01  # the last byte of the call: the amount
    with node.wallet() as wallet:
        for data, expected in ((original, (1012, 1010)), (bytes(tampered), (1010,))):
            with pytest.raises(SubstrateRequestException) as refused:
                wallet.rpc_request("author_submitExtrinsic", ["0x" + data.hex()])
            error = refused.value.args[0]
            assert error["code"] in expected, error
        # Past the ban, a replay is still refused: its era ended (a bad signature, as on
        # Substrate), and its nonce is used (outdated).
        node.chain.produce_blocks(node.chain.config.ban_blocks + 1)
        with pytest.raises(SubstrateRequestException) as stale:
            wallet.rpc_request("author_submitExtrinsic", [tx.extrinsic])
        assert stale.value.args[0]["code"] == 1010
        assert (
            "outdated" in stale.value.args[0]["data"]
            or "bad signature" in stale.value.args[0]["data"]
        )
    node.chain.produce_blocks(2)
    assert node.chain.free_balance(destination) == TAO  # sent once
    await fworker.scanner.scan()
    await ledger_ok(db)
