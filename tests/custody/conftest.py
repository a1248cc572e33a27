"""Custody against the devnet over real WebSocket JSON-RPC: a wallet outside the exchange
(`//Alice`, substrate-interface) deposits; the exchange's scanner and signer run as the
custody worker does, one step at a time, while the test produces blocks."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import Keypair, SubstrateInterface

from app.chain.client import AsyncChainClient, ChainClient
from app.chain.custody import AsyncCustodyChain, CustodyChain
from app.chain.devnet.chain import Block
from app.chain.devnet.encoding import ss58
from app.chain.devnet.server import DevnetThread
from app.custody.keys import CustodySigner
from app.custody.policy import Policy
from app.custody.runner import CustodyWorker
from app.models import ChainTransaction
from tests.conftest import SignedFactory, fast_devnet
from tests.indexer.test_runner import make_indexer
from tests.signing import SignedClient

TAO = ALPHA = 10**9
CONFIG: dict[str, Any] = {"seed": 21, "subnets": 4, "swaps_per_block": 0, "tempo": 5000}
ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")
SIGNER = CustodySigner("//Exchange")


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(**CONFIG)


@pytest.fixture
def wallet(devnet: DevnetThread) -> Iterator[SubstrateInterface]:
    with SubstrateInterface(url=devnet.url, ss58_format=42) as substrate:
        yield substrate


def validator(devnet: DevnetThread, netuid: int, uid: int = 0) -> str:
    """The hotkey of a subnet's uid (uid 0: where the development accounts' stake is)."""
    return ss58(devnet.chain.subnets[netuid].uids[uid])


def make_policy(**overrides: Any) -> Policy:
    options: dict[str, Any] = {"keys": SIGNER.keys, "signer": SIGNER, "era_period": 16}
    return Policy(**{**options, **overrides})


@pytest.fixture
def policy(app: FastAPI) -> Policy:
    p = make_policy()
    app.state.custody_policy = p
    return p


@pytest.fixture
async def custody_chain(devnet: DevnetThread, app: FastAPI) -> AsyncIterator[AsyncCustodyChain]:
    chain = AsyncCustodyChain(
        CustodyChain(ChainClient(devnet.url, timeout=5.0, max_attempts=3, backoff=0.05))
    )
    app.state.custody_chain = chain
    yield chain
    await chain.close()


def make_worker(app: FastAPI, chain: AsyncCustodyChain, **policy: Any) -> CustodyWorker:
    """A custody worker (scanner, signer, sweeper) with the test policy and `policy`'s
    overrides; the app's API sees the same policy."""
    app.state.custody_policy = make_policy(**policy)
    return CustodyWorker(
        chain, app.state.engine, app.state.custody_policy, label="devnet", poll_seconds=0.05
    )


@pytest.fixture
async def worker(
    app: FastAPI, policy: Policy, custody_chain: AsyncCustodyChain, db: AsyncEngine
) -> CustodyWorker:
    return make_worker(app, custody_chain)


@pytest.fixture
async def admin(signed: SignedFactory) -> SignedClient:
    return await signed("read,admin")


@pytest.fixture
async def listed(
    app: FastAPI, admin: SignedClient, devnet: DevnetThread, chain_client: AsyncChainClient
) -> str:
    """The devnet's subnet 1 indexed and listed as SN1/TAO; returns the asset code."""
    indexer = make_indexer(chain_client, app)
    await indexer.catch_up()
    listings = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    listing = next(x for x in listings if x["netuid"] == 1)
    r = await admin.post(
        f"/v1/admin/listings/{listing['id']}/approve",
        {"override_reason": "devnet", "min_notional": 1, "price_band_bps": 10000},
    )
    assert r.status_code == 200, r.text
    return "SN1"


def send(
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    keypair: Keypair,
    module: str,
    function: str,
    params: dict[str, Any],
) -> Block:
    """Sign with `keypair` (outside the exchange's code), submit, and include it in a block."""
    call = wallet.compose_call(module, function, params)
    extrinsic = wallet.create_signed_extrinsic(call, keypair, era={"period": 64})
    wallet.submit_extrinsic(extrinsic)
    return devnet.chain.produce_block()


def finalize(devnet: DevnetThread) -> Block:
    """Produce blocks until everything produced so far is finalized."""
    return devnet.chain.produce_blocks(devnet.chain.config.finality_lag)


async def open_transactions(db: AsyncEngine) -> list[ChainTransaction]:
    async with async_sessionmaker(db)() as session:
        return list(
            await session.scalars(
                select(ChainTransaction).where(ChainTransaction.state.in_(("signed", "broadcast")))
            )
        )


async def settle_all(
    worker: CustodyWorker, devnet: DevnetThread, db: AsyncEngine, steps: int = 60
) -> None:
    """Run worker steps and produce blocks until nothing is open and nothing is left to do."""
    for _ in range(steps):
        await worker.step()
        if not await open_transactions(db) and not await _pending_work(db):
            return
        devnet.chain.produce_block()
        finalize(devnet)
    raise AssertionError("custody work did not settle")


async def _pending_work(db: AsyncEngine) -> bool:
    async with db.connect() as conn:
        queued = await conn.scalar(
            text("SELECT count(*) FROM withdrawals WHERE state IN ('queued', 'sending')")
        )
        sweep = await conn.scalar(
            text("SELECT count(*) FROM deposit_addresses WHERE sweep_pending")
        )
        return bool(queued or sweep)
