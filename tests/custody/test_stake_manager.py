"""Acceptance on the devnet, over several epochs (tempo 10): users deposit alpha on chain,
allocate to different validators, move an allocation, deallocate and withdraw; the custody
worker's stake manager signs the `move_stake` calls and the indexer's reward listener pays
epochs from the chain's own positions. Nothing is typed in by an admin.

After every settled phase, per hotkey on the devnet: the custody coldkey's stake equals the
users' allocations exactly (the exchange's own earnings on a position, below the chain's
smallest stake move, aside: they are counted and bounded), the float hotkey holds the rest,
and the ledger's custody equals the chain. Rewards paid per user equal an independent
computation from the devnet's share prices (`TotalHotkeyAlpha / TotalHotkeyShares` at the
epoch blocks)."""

import logging
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import Keypair, SubstrateInterface

from app.chain.client import AsyncChainClient
from app.chain.custody import AsyncCustodyChain
from app.chain.devnet.pallets import SUBTENSOR_ERRORS
from app.chain.devnet.server import DevnetThread
from app.chain.types import minimum_stake_move
from app.custody.runner import CustodyWorker
from app.indexer.runner import Indexer, IndexerOptions
from app.kit.metrics import STAKING_DRIFT_ALERTS
from app.models import (
    AuditEntry,
    ChainTransaction,
    RewardDistribution,
    StakingAllocationEvent,
    StakingChainFlow,
    StakingOperation,
    StakingReward,
    Subnet,
)
from app.staking.service import check_staking
from tests.conftest import SignedFactory, fast_devnet
from tests.custody.conftest import ALICE, ALPHA, SIGNER, TAO, make_worker, send, validator
from tests.custody.test_deposits import deposit_address
from tests.custody.test_signer import deposit_both
from tests.orders.conftest import ledger_ok
from tests.signing import SignedClient

NETUID = 1
OMNIBUS = SIGNER.omnibus.ss58_address
DESTINATION = Keypair.create_from_uri("//Devnet//Tests//stake").ss58_address


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(seed=21, subnets=4, swaps_per_block=0, tempo=10)


class Exchange:
    """The custody worker and the indexer, one step per block, as `serve` runs them."""

    def __init__(
        self, devnet: DevnetThread, worker: CustodyWorker, indexer: Indexer, db: AsyncEngine
    ) -> None:
        self.devnet, self.worker, self.indexer, self.db = devnet, worker, indexer, db

    @classmethod
    async def start(
        cls,
        app: FastAPI,
        devnet: DevnetThread,
        chain: AsyncCustodyChain,
        client: AsyncChainClient,
        db: AsyncEngine,
        float_hotkey: str,
    ) -> "Exchange":
        """The worker with `float_hotkey` as the exchange's validator, scanning from the
        head; the indexer following the omnibus's positions."""
        worker = make_worker(app, chain, validator_hotkey=float_hotkey)
        options = IndexerOptions(chain="devnet", poll_seconds=0.05, custody_coldkeys=(OMNIBUS,))
        indexer = Indexer(client, app.state.engine, options, app.state.sync_listeners)
        await worker.scanner.scan()
        return cls(devnet, worker, indexer, db)

    async def block(self) -> None:
        await self.worker.step()
        self.devnet.chain.produce_block()
        await self.indexer.catch_up()

    async def blocks(self, n: int) -> None:
        for _ in range(n):
            await self.block()

    async def settle(self, limit: int = 80) -> None:
        """Blocks until a worker step finds nothing to send and nothing in flight."""
        for _ in range(limit):
            await self.worker.step()
            if await self.quiet():
                await self.indexer.catch_up()
                return
            self.devnet.chain.produce_block()
            await self.indexer.catch_up()
        raise AssertionError("custody work did not settle")

    async def quiet(self) -> bool:
        async with self.db.connect() as conn:
            busy = await conn.scalar(
                text(
                    "SELECT (SELECT count(*) FROM chain_transactions"
                    "        WHERE state IN ('signed', 'broadcast'))"
                    " + (SELECT count(*) FROM staking_operations"
                    "    WHERE status IN ('planned', 'sending'))"
                    " + (SELECT count(*) FROM deposit_addresses WHERE sweep_pending)"
                    " + (SELECT count(*) FROM withdrawals WHERE state IN ('queued', 'sending'))"
                )
            )
        return not busy

    async def next_epoch(self) -> None:
        """Blocks until the subnet's epoch has run and its block is indexed (rewards of the
        period booked), then until the custody work settles."""
        start = self.devnet.chain.finalized.view.subnets[NETUID].epoch_index
        for _ in range(40):
            await self.block()
            if self.devnet.chain.finalized.view.subnets[NETUID].epoch_index > start:
                await self.settle()
                return
        raise AssertionError("no epoch ran")

    def stakes(self) -> dict[str, int]:
        """The omnibus's stake per hotkey on the subnet, as the devnet holds it now."""
        state = self.devnet.chain.finalized.view
        return {
            p.hotkey: int(p.total_alpha * p.shares / p.total_shares)
            for p in state.positions
            if p.netuid == NETUID and p.coldkey == OMNIBUS and p.shares
        }


def price_at(devnet: DevnetThread, block: int, hotkey: str) -> Fraction:
    """The hotkey pool's share price on the subnet at `block`, from the devnet's state."""
    found = devnet.chain.block_by_number(block)
    assert found is not None
    pool = next(p for p in found.view.positions if p.netuid == NETUID and p.hotkey == hotkey)
    return Fraction(pool.total_alpha) / Fraction(pool.total_shares)


async def allocations(user: SignedClient) -> dict[str, int]:
    r = await user.get("/v1/staking/positions")
    assert r.status_code == 200, r.text
    return {a["hotkey"]: int(a["amount"]) for a in r.json()["allocations"]}


async def stake_call(user: SignedClient, path: str, hotkey: str, amount: int | None) -> None:
    body: dict[str, Any] = {"market": "SN1-TAO", "hotkey": hotkey}
    if amount is not None:
        body["amount"] = str(amount)
    r = await user.post(f"/v1/staking/{path}", body)
    assert r.status_code in (200, 201), r.text


async def permitted_validators(admin: SignedClient) -> list[str]:
    r = await admin.client.get("/v1/staking/validators", params={"market": "SN1-TAO"})
    return [v["hotkey"] for v in r.json()["validators"] if v["validator_permit"]]


async def omnibus_holds(
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    admin: SignedClient,
    user: SignedClient,
    hotkey: str,
    *,
    fee_money: bool,
) -> None:
    """The omnibus holds 100 SN1 with `hotkey` (and, if `fee_money`, 1 TAO to pay fees
    with); the ledger owes the SN1 to `user` (an admin credit)."""
    devnet.chain.seed_stake(OMNIBUS, hotkey, NETUID, 100 * ALPHA)
    if fee_money:
        transfer = {"dest": OMNIBUS, "value": TAO}
        send(devnet, wallet, ALICE, "Balances", "transfer_keep_alive", transfer)
    else:
        devnet.chain.produce_block()
    credit = {"user_id": user.user_id, "asset": "SN1", "amount": str(100 * ALPHA)}
    r = await admin.post("/v1/admin/deposits", {**credit, "external_ref": f"seed-{user.user_id}"})
    assert r.status_code == 201, r.text


async def test_custody_stake_follows_allocations_and_rewards_come_from_the_chain(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    chain_client: AsyncChainClient,
    listed: str,
    db: AsyncEngine,
) -> None:
    r = await admin.put("/v1/admin/staking/settings/SN1-TAO", {"commission_bps": 0})
    assert r.status_code == 200, r.text
    permitted = await permitted_validators(admin)
    assert len(permitted) >= 3, permitted
    deposited = validator(devnet, NETUID)  # where //Alice's stake (the deposits) is
    assert deposited in permitted
    float_hotkey, vb = [h for h in permitted if h != deposited][:2]
    va = deposited
    ex = await Exchange.start(app, devnet, custody_chain, chain_client, db, float_hotkey)
    sessions = async_sessionmaker(db, expire_on_commit=False)
    async with sessions() as s:
        price = await s.scalar(select(Subnet.price_rao).where(Subnet.netuid == NETUID))
    minimum = minimum_stake_move(int(price or 0))

    # Deposits on chain: 300, 200 and 100 SN1 (and TAO for the fees), swept to the omnibus;
    # the stake manager moves the alpha from the depositor's hotkey to the float hotkey.
    u1, u2, u3 = [await signed("read,trade,withdraw") for _ in range(3)]
    addresses = [await deposit_address(u) for u in (u1, u2, u3)]
    for address, alpha in zip(addresses, (300, 200, 100), strict=True):
        await deposit_both(devnet, wallet, address, 5 * TAO, alpha * ALPHA)
    await ex.settle()
    assert set(ex.stakes()) == {float_hotkey}
    assert ex.stakes()[float_hotkey] >= 600 * ALPHA
    [(origin, destination)] = {
        (o.origin_hotkey, o.destination_hotkey) for o in await _executed(sessions)
    }
    assert (origin, destination) == (deposited, float_hotkey)

    async def kept_by_hotkey() -> dict[str, int]:
        """The exchange's own earnings booked per hotkey: retained, commission, rounding."""
        async with sessions() as s:
            rows = await s.execute(
                select(
                    RewardDistribution.hotkey,
                    func.sum(
                        RewardDistribution.retained
                        + RewardDistribution.commission
                        + RewardDistribution.rounding
                    ),
                ).group_by(RewardDistribution.hotkey)
            )
            return {hotkey: int(total or 0) for hotkey, total in rows}

    async def check_positions() -> dict[str, int]:
        """Per hotkey other than the float's: stake == allocations, but for the exchange's
        own earnings there (retained, commission, rounding) below the smallest move. Returns
        those earnings per hotkey. Checked after an epoch: what stake earned at a deposit
        address before its sweep is booked as the omnibus position's growth then."""
        await ex.next_epoch()
        stakes = ex.stakes()
        allocated: dict[str, int] = {}
        for user in (u1, u2, u3):
            for hotkey, amount in (await allocations(user)).items():
                allocated[hotkey] = allocated.get(hotkey, 0) + amount
        kept = await kept_by_hotkey()
        dust: dict[str, int] = {}
        for hotkey in set(stakes) | set(allocated):
            if hotkey == float_hotkey:
                continue
            surplus = stakes.get(hotkey, 0) - allocated.get(hotkey, 0)
            assert 0 <= surplus < minimum, (hotkey, stakes.get(hotkey), allocated.get(hotkey))
            assert surplus <= int(kept.get(hotkey) or 0), (hotkey, surplus)
            dust[hotkey] = surplus
        # The float hotkey holds the rest: its users' allocations and the float. All of it is
        # the ledger's custody of SN1, to the rao.
        r = await admin.get("/v1/admin/custody/reconciliation")
        sn1 = next(a for a in r.json()["assets"] if a["asset"] == "SN1")
        assert sn1["difference"] == "0", sn1
        assert int(sn1["on_chain"]) == sum(stakes.values())
        assert stakes[float_hotkey] >= allocated.get(float_hotkey, 0)
        return dust

    # Allocations to three validators (one of them the float hotkey itself).
    await stake_call(u1, "allocations", va, 120 * ALPHA)
    await stake_call(u2, "allocations", vb, 80 * ALPHA)
    await stake_call(u3, "allocations", float_hotkey, 50 * ALPHA)
    await ex.settle()
    await check_positions()
    async with sessions() as s:
        moved = list(
            await s.execute(
                select(
                    StakingOperation.origin_hotkey,
                    StakingOperation.destination_hotkey,
                    StakingOperation.moved,
                ).where(StakingOperation.status == "executed")
            )
        )
    assert (float_hotkey, va, 120 * ALPHA) in moved and (float_hotkey, vb, 80 * ALPHA) in moved
    assert all(status.strip() == "executed" for status in await _statuses(sessions)), (
        await _statuses(sessions)
    )

    # Three epochs with nothing changing: rewards compound, positions stay equal. What the
    # exchange earned on a position (where a user allocated mid-period) stays there, below
    # the smallest move, and earns: exactly what the epochs booked as the exchange's.
    dust, kept = await check_positions(), await kept_by_hotkey()
    await ex.blocks(32)
    await ex.settle()
    dust_after, kept_after = await check_positions(), await kept_by_hotkey()
    for hotkey in (va, vb):
        grown = dust_after[hotkey] - dust[hotkey]
        assert grown == kept_after.get(hotkey, 0) - kept.get(hotkey, 0) >= 0, hotkey

    # u1 moves 50 SN1 from va to vb: one move_stake va -> vb, netted (not through the float).
    r = await u1.post(
        "/v1/staking/moves",
        {"market": "SN1-TAO", "from_hotkey": va, "to_hotkey": vb, "amount": str(50 * ALPHA)},
    )
    assert r.status_code == 200, r.text
    before = {op.id for op in await _executed(sessions)}
    await ex.settle()
    [netted] = [op for op in await _executed(sessions) if op.id not in before]
    assert (netted.origin_hotkey, netted.destination_hotkey, netted.moved) == (va, vb, 50 * ALPHA)
    await check_positions()

    # u2 leaves vb; u3 takes 20 SN1 off the float hotkey and withdraws 30 SN1 (from the float).
    await stake_call(u2, "deallocations", vb, None)
    await stake_call(u3, "deallocations", float_hotkey, 20 * ALPHA)
    r = await u3.post("/v1/withdrawal-addresses", {"name": "dave", "address": DESTINATION})
    assert r.status_code == 201, r.text
    r = await u3.post(
        "/v1/withdrawals",
        {"asset": "SN1", "amount": str(30 * ALPHA), "address_name": "dave", "idempotency_key": "w"},
    )
    assert r.status_code == 201, r.text
    await ex.settle()
    await check_positions()
    [w] = (await u3.get("/v1/withdrawals")).json()["withdrawals"]
    assert (w["state"], w["amount"]) == ("completed", str(30 * ALPHA)), w
    # Sent from the float hotkey (it has earned since it arrived).
    assert devnet.chain.stake_of(float_hotkey, DESTINATION, NETUID) >= 30 * ALPHA
    await ex.blocks(25)
    await ex.settle()
    await check_positions()

    # Rewards: every period in which a user's allocation was the same from start to end, and
    # the exchange's stake with the validator was in place (no move in or out), is checked
    # against the devnet's share prices: allocation x (p_end / p_start - 1).
    async with sessions() as s:
        periods = list(
            await s.scalars(
                select(RewardDistribution)
                .where(RewardDistribution.kind != "baseline")
                .order_by(RewardDistribution.id)
            )
        )
        paid = {
            (r.distribution_id, r.user_id): r.amount for r in await s.scalars(select(StakingReward))
        }
        events = list(
            await s.scalars(select(StakingAllocationEvent).order_by(StakingAllocationEvent.id))
        )
    checked = 0
    for d in periods:
        assert d.users_total + d.commission + d.rounding + d.retained == max(d.growth, 0)
        if d.net_flow:
            continue
        p0 = price_at(devnet, d.start_block, d.hotkey)
        p1 = price_at(devnet, d.end_block, d.hotkey)
        for user in (u1, u2, u3):
            mine = [e for e in events if e.user_id == user.user_id and e.hotkey == d.hotkey]
            if any(d.start_block < e.block_number < d.end_block for e in mine) or any(
                e.block_number == d.end_block and e.kind != "reward" for e in mine
            ):
                continue  # changed within the period: time-weighted, checked by the sums
            held = sum(e.delta for e in mine if e.block_number <= d.start_block)
            if held <= 0:
                continue
            expected = held * (p1 / p0 - 1)
            got = paid.get((d.id, user.user_id), 0)
            assert abs(got - expected) <= 2, (d.hotkey, d.epoch, user.user_id, got, expected)
            checked += 1 if got else 0
    assert checked >= 6, checked  # several epochs, three validators

    # Nothing was typed in: every stake flow is the scanner's (sweeps, moves, withdrawals).
    async with sessions() as s:
        reasons = list(await s.scalars(select(StakingChainFlow.reason)))
        audited = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "staking.flow")
        )
        assert await check_staking(s) == []
    assert audited == 0 and reasons
    assert all(r.split()[0] in ("sweep", "move_stake", "withdrawal") for r in reasons), reasons
    r = await admin.get("/v1/admin/staking/reconciliation")
    body = r.json()
    assert body["ok"] is True and not any(p["alert"] for p in body["positions"]), body
    for row in body["positions"]:
        assert abs(int(row["difference"])) < minimum and row["in_flight"] == "0", row
    await ledger_ok(db)


async def _statuses(sessions: Any) -> list[str]:
    """The statuses of every move the manager sent (superseded plans aside)."""
    async with sessions() as s:
        return list(
            await s.scalars(
                select(
                    StakingOperation.status + " " + func.coalesce(StakingOperation.error, "")
                ).where(StakingOperation.status != "superseded")
            )
        )


async def _executed(sessions: Any) -> list[StakingOperation]:
    async with sessions() as s:
        return list(
            await s.scalars(
                select(StakingOperation)
                .where(StakingOperation.status == "executed")
                .order_by(StakingOperation.id)
            )
        )


async def test_a_lasting_difference_is_an_alert_until_the_manager_closes_it(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    chain_client: AsyncChainClient,
    listed: str,
    db: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    float_hotkey, va = (await permitted_validators(admin))[:2]
    user = await signed("read,trade")
    # No TAO to pay fees with.
    await omnibus_holds(devnet, wallet, admin, user, float_hotkey, fee_money=False)
    ex = await Exchange.start(app, devnet, custody_chain, chain_client, db, float_hotkey)
    assert ex.worker.stakes is not None
    ex.worker.stakes.alert_blocks = 5

    async def va_row() -> dict[str, Any]:
        r = await admin.get("/v1/admin/staking/reconciliation")
        assert r.status_code == 200, r.text
        return next(p for p in r.json()["positions"] if p["hotkey"] == va)

    await stake_call(user, "allocations", va, 40 * ALPHA)
    with caplog.at_level(logging.INFO, logger="app.custody.stake_manager"):
        await ex.blocks(3)
        row = await va_row()
        assert (row["difference"], row["in_flight"], row["alert"]) == (str(-40 * ALPHA), "0", False)
        assert row["drifting_since"] is not None and STAKING_DRIFT_ALERTS._value.get() == 0
        await ex.blocks(25)  # past both thresholds (the worker's 5, the API's default 20)
        # Both sides of the missing move: va short of 40 SN1, the float hotkey 40 over.
        assert STAKING_DRIFT_ALERTS._value.get() == 2
        assert (await va_row())["alert"] is True
        assert (await admin.get("/v1/admin/staking/reconciliation")).json()["ok"] is False
        alerts = [r for r in caplog.records if r.getMessage().startswith("custody stake differs")]
        assert sorted(r.__dict__["hotkey"] for r in alerts) == sorted([va, float_hotkey])
        assert {r.levelname for r in alerts} == {"ERROR"}  # once each, not every block
        assert any("cannot pay a stake move's fee" in r.getMessage() for r in caplog.records)

        # TAO for the fees arrives: the manager moves the stake, the alert ends.
        send(
            devnet,
            wallet,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": OMNIBUS, "value": TAO},
        )
        await ex.settle()
    row = await va_row()
    assert (row["difference"], row["in_flight"], row["alert"], row["drifting_since"]) == (
        "0",
        "0",
        False,
        None,
    )
    assert STAKING_DRIFT_ALERTS._value.get() == 0
    assert devnet.chain.stake_of(va, OMNIBUS, NETUID) == 40 * ALPHA
    assert any("back in line" in r.getMessage() for r in caplog.records)
    await ledger_ok(db)


async def test_a_move_the_chain_refuses_is_retried_then_waits(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    chain_client: AsyncChainClient,
    listed: str,
    db: AsyncEngine,
) -> None:
    """The float hotkey is misconfigured (no such hotkey on chain): every move to it fails
    on chain (`HotKeyAccountNotExists`). Each failure is recorded with its error and its fee;
    nothing moves, nothing is credited; after three the manager stops trying for a while."""
    origin = validator(devnet, NETUID)
    nowhere = Keypair.create_from_uri("//Devnet//Tests//no-such-hotkey").ss58_address
    user = await signed("read,trade")
    await omnibus_holds(devnet, wallet, admin, user, origin, fee_money=True)
    ex = await Exchange.start(app, devnet, custody_chain, chain_client, db, nowhere)
    sessions = async_sessionmaker(db, expire_on_commit=False)

    await ex.blocks(30)
    async with sessions() as s:
        sent = list(
            await s.scalars(
                select(StakingOperation)
                .where(StakingOperation.status != "superseded")
                .order_by(StakingOperation.id)
            )
        )
        txs = list(
            await s.scalars(
                select(ChainTransaction).where(ChainTransaction.purpose == "stake_move")
            )
        )
    assert [(o.status, o.moved) for o in sent] == [("failed", 0)] * 3
    not_exists = SUBTENSOR_ERRORS.index("HotKeyAccountNotExists")
    assert {o.error for o in sent} == {
        f"{{'Module': {{'index': 7, 'error': '0x{not_exists:02x}000000'}}}}"
    }
    assert {t.state for t in txs} == {"failed"} and all(t.fee > 0 for t in txs)
    assert devnet.chain.stake_of(origin, OMNIBUS, NETUID) >= 100 * ALPHA  # nothing moved out
    r = await admin.get("/v1/admin/staking/reconciliation")
    rows = {p["hotkey"]: p for p in r.json()["positions"]}
    assert rows[origin]["difference"] == rows[origin]["on_chain"] and rows[origin]["alert"] is True
    assert int(rows[origin]["on_chain"]) >= 100 * ALPHA
    await ledger_ok(db)  # the fees were booked (network_fees -> custody), nothing else


async def test_withdrawals_and_stake_moves_take_turns(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    chain_client: AsyncChainClient,
    listed: str,
    db: AsyncEngine,
) -> None:
    """The omnibus sends one transaction at a time: with withdrawals queued and a move due,
    the stake manager gets every other turn (a stream of withdrawals cannot starve it)."""
    float_hotkey, va = (await permitted_validators(admin))[:2]
    user = await signed("read,trade,withdraw")
    await omnibus_holds(devnet, wallet, admin, user, float_hotkey, fee_money=True)
    ex = await Exchange.start(app, devnet, custody_chain, chain_client, db, float_hotkey)
    r = await user.post("/v1/withdrawal-addresses", {"name": "dave", "address": DESTINATION})
    assert r.status_code == 201, r.text
    for key in ("w1", "w2"):
        body = {"asset": "SN1", "amount": str(10 * ALPHA), "address_name": "dave"}
        r = await user.post("/v1/withdrawals", {**body, "idempotency_key": key})
        assert r.status_code == 201, r.text
    await stake_call(user, "allocations", va, 40 * ALPHA)
    await ex.settle()
    async with async_sessionmaker(db)() as s:
        purposes = list(
            await s.scalars(
                select(ChainTransaction.purpose)
                .where(ChainTransaction.signer == OMNIBUS)
                .order_by(ChainTransaction.id)
            )
        )
    assert purposes == ["withdrawal", "stake_move", "withdrawal"]
    assert devnet.chain.stake_of(va, OMNIBUS, NETUID) >= 40 * ALPHA  # and its rewards since
    await ledger_ok(db)
