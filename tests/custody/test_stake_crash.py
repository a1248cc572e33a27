"""SIGKILL during a move neither repeats nor loses it: the stake manager of a real `serve`
process is killed between signing and broadcasting a `move_stake`, and between broadcasting
it and its finality. On restart the move is sent exactly once (the recorded bytes, never a
second signature), its operation completes with what the chain moved, and no second move is
planned for the same gap.

The move is a user's: //Alice deposits TAO and SN1 to the user's deposit address; the sweeps
bring them to the omnibus under the depositor's hotkey, which is the float hotkey (nothing to
move); then the user allocates part of it to another validator, and the stake manager moves
that much from the float hotkey to it."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import SubstrateInterface

from app.chain.devnet.server import DevnetThread
from app.models import ChainTransaction, CustodyPosition, CustodyScanState, StakingOperation
from tests.conftest import fast_devnet
from tests.custody.conftest import ALICE, ALPHA, CONFIG, SIGNER, TAO, validator
from tests.custody.server import CustodyServer
from tests.custody.test_ccxt_end_to_end import make_key
from tests.custody.test_crash import until
from tests.orders.conftest import ledger_ok
from tests.signing import SignedClient

NETUID = 1
OMNIBUS = SIGNER.omnibus.ss58_address
DEPOSIT = 30 * ALPHA
ALLOCATED = 20 * ALPHA


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(**CONFIG)


@pytest.fixture
def float_hotkey(devnet: DevnetThread) -> str:
    """The exchange's own hotkey: uid 0's, where //Alice's stake (the deposits) is."""
    return validator(devnet, NETUID)


@pytest.fixture
def server(
    database_url: str, devnet: DevnetThread, db: AsyncEngine, tmp_path: Path, float_hotkey: str
) -> Iterator[CustodyServer]:
    """Not started: each test starts it (with or without the failpoint)."""
    s = CustodyServer(
        database_url,
        devnet.url,
        tmp_path / "server.log",
        EXCHANGE_CUSTODY_VALIDATOR_HOTKEY=float_hotkey,
    )
    yield s
    s.stop()


@dataclass
class Clients:
    admin: SignedClient
    user: SignedClient


@pytest.fixture
async def clients(server: CustodyServer, db: AsyncEngine) -> AsyncIterator[Clients]:
    admin = await make_key(db, "admin@stakecrash.test", "read,admin")
    user = await make_key(db, "user@stakecrash.test", "read,trade,withdraw")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield Clients(SignedClient(http, *admin), SignedClient(http, *user))


async def stake_moves(db: AsyncEngine) -> list[ChainTransaction]:
    async with async_sessionmaker(db, expire_on_commit=False)() as s:
        return list(
            await s.scalars(
                select(ChainTransaction)
                .where(ChainTransaction.purpose == "stake_move")
                .order_by(ChainTransaction.id)
            )
        )


async def operations(db: AsyncEngine) -> list[StakingOperation]:
    """Every operation the stake manager planned (superseded plans included)."""
    async with async_sessionmaker(db, expire_on_commit=False)() as s:
        return list(await s.scalars(select(StakingOperation).order_by(StakingOperation.id)))


async def operation(db: AsyncEngine, operation_id: int | None) -> StakingOperation:
    async with async_sessionmaker(db, expire_on_commit=False)() as s:
        found = await s.get(StakingOperation, operation_id)
        assert found is not None
        return found


def stakes(devnet: DevnetThread, *hotkeys: str) -> list[int]:
    return [devnet.chain.stake_of(h, OMNIBUS, NETUID) for h in hotkeys]


async def list_sn1(admin: SignedClient, devnet: DevnetThread) -> None:
    """The indexer (inside the server) finds the devnet's subnets: list netuid 1 as SN1/TAO."""

    async def candidate() -> dict[str, Any] | None:
        r = await admin.get("/v1/admin/listings", {"state": "candidate"})
        found = next((x for x in r.json() if x["netuid"] == NETUID), None)
        if found is None:
            devnet.chain.produce_block()
        return found

    listing = await until(candidate, "the SN1 listing candidate")
    r = await admin.post(
        f"/v1/admin/listings/{listing['id']}/approve",
        {"override_reason": "devnet", "min_notional": 1, "price_band_bps": 10000},
    )
    assert r.status_code == 200, r.text


async def deposit_and_sweep(
    clients: Clients, devnet: DevnetThread, db: AsyncEngine, float_hotkey: str
) -> None:
    """//Alice deposits 10 TAO and 30 SN1 (under the float hotkey) to the user's address;
    blocks until both are swept to the omnibus and settled. No stake move: the swept alpha is
    already under the float hotkey."""
    r = await clients.user.post("/v1/deposit-addresses", {})
    assert r.status_code == 201, r.text
    address = r.json()["address"]
    with SubstrateInterface(url=devnet.url, ss58_format=42) as wallet:
        for module, function, params in (
            ("Balances", "transfer_keep_alive", {"dest": address, "value": 10 * TAO}),
            (
                "SubtensorModule",
                "transfer_stake",
                {
                    "destination_coldkey": address,
                    "hotkey": float_hotkey,
                    "origin_netuid": NETUID,
                    "destination_netuid": NETUID,
                    "alpha_amount": DEPOSIT,
                },
            ),
        ):
            call = wallet.compose_call(module, function, params)
            wallet.submit_extrinsic(wallet.create_signed_extrinsic(call, ALICE, era={"period": 64}))

    async def swept() -> bool:
        async with db.connect() as conn:
            settled = (
                await conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE state = 'success'),"
                        " count(*) FILTER (WHERE state <> 'success'),"
                        " (SELECT count(*) FROM deposit_addresses WHERE sweep_pending)"
                        " FROM chain_transactions"
                    )
                )
            ).one()
        done = tuple(settled) == (2, 0, 0)  # the alpha sweep, then the TAO sweep
        if not done:
            devnet.chain.produce_block()
        return done

    await until(swept, "the sweeps")
    assert stakes(devnet, float_hotkey) == [DEPOSIT]
    assert devnet.chain.free_balance(OMNIBUS) > 9 * TAO


async def allocate(clients: Clients, float_hotkey: str) -> str:
    """The user allocates 20 of the 30 SN1 to a permitted validator other than the float's;
    returns its hotkey."""
    r = await clients.user.client.get("/v1/staking/validators", params={"market": "SN1-TAO"})
    assert r.status_code == 200, r.text
    permitted = [v["hotkey"] for v in r.json()["validators"] if v["validator_permit"]]
    target: str = next(h for h in permitted if h != float_hotkey)
    r = await clients.user.post(
        "/v1/staking/allocations",
        {"market": "SN1-TAO", "hotkey": target, "amount": str(ALLOCATED)},
    )
    assert r.status_code == 201, r.text
    return target


async def scanned_to_head(db: AsyncEngine, devnet: DevnetThread) -> None:
    """Produce a block and wait until the server's scanner has scanned to the finalized head;
    twice, so that at least one whole custody step (the stake manager included) ran on it."""
    for _ in range(2):
        devnet.chain.produce_block()
        await until(_scanned(db, devnet.chain.finalized.number), "the scanner at the head")


def _indexed(db: AsyncEngine, head: int) -> Any:
    async def caught_up() -> bool:
        async with async_sessionmaker(db)() as s:
            block = await s.scalar(select(func.max(CustodyPosition.block_number)))
        return block is not None and block >= head

    return caught_up


def _scanned(db: AsyncEngine, head: int) -> Any:
    async def caught_up() -> bool:
        async with async_sessionmaker(db)() as s:
            state = await s.get(CustodyScanState, 1)
        return state is not None and state.last_block >= head

    return caught_up


async def executed(db: AsyncEngine, devnet: DevnetThread, operation_id: int | None) -> None:
    async def done() -> bool:
        if (await operation(db, operation_id)).status == "executed":
            return True
        # No block while the recorded move waits for a restarted server to broadcast it:
        # blocks made meanwhile would only age its era (16 blocks here) until it expired.
        if devnet.chain.pending_extrinsics() or await _sent(db, operation_id):
            devnet.chain.produce_block()
        return False

    await until(done, "the move to be executed")


async def _sent(db: AsyncEngine, operation_id: int | None) -> bool:
    """The operation's transaction reached the node (or a block), as the signer knows it."""
    async with async_sessionmaker(db)() as s:
        states = await s.scalars(
            select(ChainTransaction.state).where(ChainTransaction.operation_id == operation_id)
        )
        return any(state != "signed" for state in states)


async def moved_once(
    db: AsyncEngine,
    devnet: DevnetThread,
    admin: SignedClient,
    tx: ChainTransaction,
    float_hotkey: str,
    target: str,
) -> None:
    """One transaction, the recorded one, settled; the chain moved the allocation once; more
    blocks and custody steps move nothing again and plan nothing new."""
    txs = await stake_moves(db)
    assert [(t.operation_id, t.extrinsic_hash, t.state) for t in txs] == [
        (tx.operation_id, tx.extrinsic_hash, "success")
    ]
    op = await operation(db, tx.operation_id)
    assert (op.origin_hotkey, op.destination_hotkey, op.amount, op.moved) == (
        float_hotkey,
        target,
        ALLOCATED,
        ALLOCATED,
    )
    assert stakes(devnet, float_hotkey, target) == [DEPOSIT - ALLOCATED, ALLOCATED]

    await scanned_to_head(db, devnet)
    await scanned_to_head(db, devnet)
    assert len(await stake_moves(db)) == 1
    assert [o.id for o in await operations(db) if o.status != "superseded"] == [op.id]
    assert stakes(devnet, float_hotkey, target) == [DEPOSIT - ALLOCATED, ALLOCATED]
    # The reconciliation compares with the custody stake the indexer last recorded.
    await until(_indexed(db, devnet.chain.finalized.number), "the indexer at the head")
    r = await admin.get("/v1/admin/staking/reconciliation")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True, body
    for row in body["positions"]:
        assert (row["difference"], row["in_flight"]) == ("0", "0"), row
    async with db.connect() as conn:
        flows = await conn.scalar(
            text("SELECT count(*) FROM staking_chain_flows WHERE operation_id = :id"),
            {"id": op.id},
        )
    assert flows == 2  # out of the float hotkey, into the target: recorded once
    await ledger_ok(db)


async def test_killed_between_sign_and_broadcast(
    server: CustodyServer,
    devnet: DevnetThread,
    clients: Clients,
    db: AsyncEngine,
    float_hotkey: str,
) -> None:
    # The signer stops after recording the stake move's transaction, before broadcasting it.
    server.start(EXCHANGE_CUSTODY_FAILPOINT="after_record:stake_move")
    await list_sn1(clients.admin, devnet)
    await deposit_and_sweep(clients, devnet, db, float_hotkey)
    target = await allocate(clients, float_hotkey)

    async def recorded() -> list[ChainTransaction]:
        return await stake_moves(db)  # no blocks: the move needs none

    [tx] = await until(recorded, "the recorded stake move")
    assert tx.state == "signed"
    assert (await operation(db, tx.operation_id)).status == "sending"
    server.kill()
    assert devnet.chain.pending_extrinsics() == []  # it never reached the node
    devnet.chain.produce_blocks(3)
    assert stakes(devnet, float_hotkey, target) == [DEPOSIT, 0]
    assert [t.state for t in await stake_moves(db)] == ["signed"]

    server.start()  # no failpoint: the recorded bytes are broadcast on start
    await executed(db, devnet, tx.operation_id)
    await moved_once(db, devnet, clients.admin, tx, float_hotkey, target)


async def test_killed_between_broadcast_and_finality(
    server: CustodyServer,
    devnet: DevnetThread,
    clients: Clients,
    db: AsyncEngine,
    float_hotkey: str,
) -> None:
    server.start()
    await list_sn1(clients.admin, devnet)
    await deposit_and_sweep(clients, devnet, db, float_hotkey)
    target = await allocate(clients, float_hotkey)

    async def broadcast() -> list[ChainTransaction]:
        txs = await stake_moves(db)  # no blocks: it stays in the pool
        return txs if txs and txs[0].state == "broadcast" else []

    [tx] = await until(broadcast, "the broadcast stake move")
    server.kill()
    assert [x.hash_hex for x in devnet.chain.pending_extrinsics()] == [tx.extrinsic_hash]
    # Included and finalized while the server is down.
    devnet.chain.produce_blocks(3)
    assert stakes(devnet, float_hotkey, target) == [DEPOSIT - ALLOCATED, ALLOCATED]
    assert (await operation(db, tx.operation_id)).status == "sending"

    server.start()
    await executed(db, devnet, tx.operation_id)
    await moved_once(db, devnet, clients.admin, tx, float_hotkey, target)
