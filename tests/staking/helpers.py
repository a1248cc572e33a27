"""Staking test helpers: markets from synthetic snapshots, deposits, ledger reads."""

from fractions import Fraction
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.chain.devnet.chain import account, ss58
from app.chain.types import ChainSnapshot, StakePosition, ValidatorState
from app.ledger.check import check_ledger
from app.models import LedgerTransfer, StakingAllocation, StakingAllocationEvent
from app.staking.service import check_staking
from tests.indexer.snapshots import position, snapshot, subnet, validator
from tests.listings.helpers import index
from tests.signing import SignedClient

CUSTODY = ss58(account(99, "custody"))
NETUID = 64
OTHER_NETUID = 65
TEMPO = 5
DEEP = 50_000 * 10**9
ALPHA = 10**9
HK = [ss58(account(7, "hotkey", i)) for i in range(4)]
FOREIGN_HK = ss58(account(7, "foreign"))


# The epochs of these synthetic chains, as the runtime's stateful scheduler ran them (tempo 5):
# every 5 blocks after `LastEpochBlock`, except that the slot due at 60_007 was deferred one
# block by the per-block cap (`PendingEpochAt = 60_008`), which moved the cycle to 60_008 + 5k.
DEFERRED = 60_007
EPOCH_BLOCKS = [60_002 - TEMPO * k for k in range(40, 0, -1)] + [60_002]
EPOCH_BLOCKS += [DEFERRED + 1 + TEMPO * k for k in range(40)]
INDEX_AT_60_002 = 10_011


def epoch_at(block: int) -> tuple[int, int, int]:
    """(SubnetEpochIndex, LastEpochBlock, PendingEpochAt) at `block`."""
    last = max(e for e in EPOCH_BLOCKS if e <= block)
    index = INDEX_AT_60_002 + EPOCH_BLOCKS.index(last) - EPOCH_BLOCKS.index(60_002)
    return index, last, DEFERRED + 1 if block == DEFERRED else 0


def chain_state(
    block: int, stakes: dict[str, int] | None = None, price: Fraction | None = None
) -> ChainSnapshot:
    """Subnet 64 (tempo 5) with validators HK[0..2], subnet 65 with FOREIGN_HK; the custody
    coldkey's stake per hotkey is `stakes`; `price` is the share price (total_alpha/shares);
    the epoch schedule is `epoch_at(block)`."""
    price = price or Fraction(1)
    index, last, pending = epoch_at(block)
    epochs = {"epoch_index": index, "last_epoch_block": last, "pending_epoch_at": pending}
    positions: list[StakePosition] = []
    for hotkey, stake in (stakes or {}).items():
        total_shares = Fraction(10**15)
        total_alpha = int(total_shares * price)
        shares = Fraction(int(Fraction(stake) / price))
        positions.append(position(NETUID, hotkey, CUSTODY, shares, total_shares, total_alpha))
    validators: list[ValidatorState] = [
        validator(NETUID, uid, hotkey, 10**15) for uid, hotkey in enumerate(HK[:3])
    ] + [validator(OTHER_NETUID, 0, FOREIGN_HK, 10**15)]
    return snapshot(
        block,
        [
            subnet(NETUID, registered_at=1, tao_in=DEEP, alpha_in=10**15, tempo=TEMPO, **epochs),
            subnet(
                OTHER_NETUID, registered_at=1, tao_in=DEEP, alpha_in=10**15, tempo=TEMPO, **epochs
            ),
        ],
        validators=validators,
        positions=positions,
    )


async def list_market(app: FastAPI, admin: SignedClient, block: int = 60_000, **kw: Any) -> str:
    """Index `block`, approve subnet 64 as SN64/TAO; returns the market symbol for paths."""
    await index(app, chain_state(block, **kw))
    listings = (await admin.get("/v1/admin/listings", {"state": "candidate"})).json()
    lid = next(item["id"] for item in listings if item["netuid"] == NETUID)
    r = await admin.post(f"/v1/admin/listings/{lid}/approve", {"override_reason": "test"})
    assert r.status_code == 200, r.text
    return "SN64-TAO"


async def deposit(admin: SignedClient, user_id: int, amount: int, asset: str = "SN64") -> None:
    r = await admin.post(
        "/v1/admin/deposits",
        {"user_id": user_id, "asset": asset, "amount": str(amount), "external_ref": f"d{user_id}"},
    )
    assert r.status_code == 201, r.text


async def balance(db: AsyncEngine, user_id: int | None, kind: str, asset: str = "SN64") -> int:
    async with db.connect() as conn:
        value = await conn.scalar(
            text(
                "SELECT balance FROM ledger_accounts WHERE user_id IS NOT DISTINCT FROM :u "
                "AND asset = :a AND kind = :k"
            ),
            {"u": user_id, "a": asset, "k": kind},
        )
    return int(value or 0)


async def counts(db: AsyncEngine) -> tuple[int, int, int]:
    async with db.connect() as conn:
        return (
            int(await conn.scalar(select(func.count()).select_from(StakingAllocation)) or 0),
            int(await conn.scalar(select(func.count()).select_from(StakingAllocationEvent)) or 0),
            int(await conn.scalar(select(func.count()).select_from(LedgerTransfer)) or 0),
        )


async def assert_books_balance(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        report = await check_ledger(session)
        assert report.ok, report.render()
        assert await check_staking(session) == []
