"""Chain deposits: recorded once per (block hash, event index), credited custody -> the
user's available in the scanner's transaction, or held for an admin."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import Unpack

from app.audit import service as audit
from app.auth.service import Principal
from app.chain.client import BlockRef
from app.custody.classify import Inflow
from app.custody.errors import ChainDepositNotFound, DepositNotHeld
from app.custody.history import Filters, newest_first
from app.custody.policy import TAO, Policy
from app.ledger.service import TransferSpec, apply_batch, get_account_id, system_account_id
from app.markets.rules import DELISTED
from app.models import ChainDeposit, DepositAddress, Market, Subnet

HELD_STATES = ("below_minimum", "retired_address", "unlisted_asset")


def transfer_id(block_hash: str, event_index: int) -> str:
    """The credit's ledger transfer id: the deposit's own key, so it is made once."""
    return f"deposit:{block_hash}:{event_index}"


async def asset_of_netuid(session: AsyncSession, netuid: int) -> str | None:
    """The listed asset of the subnet that holds `netuid` now (a reused netuid is another
    token), or None when it has no market."""
    return await session.scalar(
        select(Market.base_asset)
        .join(Subnet, Subnet.id == Market.subnet_id)
        .where(Market.netuid == netuid, Subnet.status == "active", Market.state != DELISTED)
    )


async def record_inflow(
    session: AsyncSession,
    policy: Policy,
    block: BlockRef,
    inflow: Inflow,
    address: DepositAddress,
    extrinsic_hash: str | None,
) -> ChainDeposit | None:
    """Record (and credit, when it may be) one inflow; None if it was recorded before."""
    asset = TAO if inflow.netuid is None else await asset_of_netuid(session, inflow.netuid)
    if asset is None:
        state = "unlisted_asset"
    elif address.status != "active":
        state = "retired_address"
    elif inflow.amount < policy.minimum_deposit(asset):
        state = "below_minimum"
    else:
        state = "credited"
    values: dict[str, Any] = {
        "user_id": address.user_id,
        "deposit_address_id": address.id,
        "address": address.address,
        "asset": asset,
        "netuid": inflow.netuid,
        "hotkey": inflow.hotkey,
        "sender": inflow.sender,
        "amount": inflow.amount,
        "block_number": block.number,
        "block_hash": block.hash,
        "event_index": inflow.event_index,
        "extrinsic_index": inflow.extrinsic,
        "extrinsic_hash": extrinsic_hash,
        "state": state,
        "transfer_id": transfer_id(block.hash, inflow.event_index) if state == "credited" else None,
        "credited_at": datetime.now(UTC) if state == "credited" else None,
    }
    new_id = await session.scalar(
        insert(ChainDeposit)
        .values(values)
        .on_conflict_do_nothing(constraint="uq_chain_deposits_block_event")
        .returning(ChainDeposit.id)
    )
    address.sweep_pending = True
    if new_id is None:
        return None
    deposit = await session.get(ChainDeposit, int(new_id))
    assert deposit is not None
    if state == "credited":
        await _credit(session, deposit)
    return deposit


async def _credit(session: AsyncSession, deposit: ChainDeposit) -> None:
    """custody -> available, once: the transfer id is the deposit's (block hash, event)."""
    assert deposit.asset is not None
    custody = await system_account_id(session, deposit.asset, "custody")
    available = await get_account_id(session, deposit.user_id, deposit.asset, "available")
    tid = transfer_id(deposit.block_hash, deposit.event_index)
    await apply_batch(
        session,
        [TransferSpec(tid, custody, available, deposit.amount, "deposit", f"chain:{deposit.id}")],
    )
    deposit.state = "credited"
    deposit.transfer_id = tid
    deposit.credited_at = deposit.credited_at or datetime.now(UTC)
    await session.flush()


async def credit_held(
    session: AsyncSession, deposit_id: int, principal: Principal, reason: str | None
) -> ChainDeposit:
    """An admin credits a deposit that was recorded without a credit (audited)."""
    deposit = await session.get(ChainDeposit, deposit_id, with_for_update=True)
    if deposit is None:
        raise ChainDepositNotFound(f"no deposit {deposit_id}")
    if deposit.state not in HELD_STATES:
        raise DepositNotHeld(f"deposit {deposit_id} is {deposit.state}")
    if deposit.asset is None:
        asset = await asset_of_netuid(session, deposit.netuid or 0)
        if asset is None:
            raise DepositNotHeld(f"subnet {deposit.netuid} has no listed asset to credit yet")
        deposit.asset = asset
    before = {"state": deposit.state}
    await _credit(session, deposit)
    deposit.credited_by = principal.user_id
    await session.flush()
    await audit.record(
        session,
        principal,
        "deposit.credit",
        "chain_deposit",
        deposit.id,
        before,
        {"state": deposit.state, "asset": deposit.asset, "amount": str(deposit.amount)},
        reason,
    )
    return deposit


async def list_deposits(
    session: AsyncSession,
    user_id: int | None,
    **filters: Unpack[Filters],
) -> list[ChainDeposit]:
    """Newest first (see `app.custody.history.newest_first` for the filters)."""
    return await newest_first(session, ChainDeposit, user_id, **filters)
