"""Writes one chain snapshot into Postgres, in the caller's transaction.

Idempotent and resumable: a snapshot at or below the recorded block is skipped, history rows
are keyed by block, and `indexer_state` moves in the same transaction as the data, so a
crash at any point leaves either all of a block or none of it.
"""

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, literal_column, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.chain.types import ChainSnapshot, SubnetState
from app.kit.units import exact_decimal
from app.models import CustodyPosition, IndexerState, Subnet, SubnetHistory, Validator


@dataclass(slots=True)
class SyncResult:
    block_number: int
    skipped: bool = False
    new_subnets: list[Subnet] = field(default_factory=list)
    retired_subnets: list[Subnet] = field(default_factory=list)


# Called inside the snapshot's transaction, so that what they write (listing candidates,
# halted markets) commits or rolls back together with the block.
SyncListener = Callable[[AsyncSession, SyncResult], Awaitable[None]]


def _display_name(state: SubnetState) -> str:
    name = state.identity.subnet_name.strip() if state.identity else ""
    return name or f"Subnet {state.netuid}"


def _subnet_row(state: SubnetState, block: int) -> dict[str, Any]:
    return {
        "netuid": state.netuid,
        "registered_at": state.registered_at,
        "status": "active",
        "symbol": state.symbol,
        "name": _display_name(state),
        "identity": dataclasses.asdict(state.identity) if state.identity else None,
        "owner_coldkey": state.owner_coldkey,
        "owner_hotkey": state.owner_hotkey,
        "mechanism": state.mechanism,
        "tempo": state.tempo,
        "tao_in": state.tao_in,
        "alpha_in": state.alpha_in,
        "alpha_out": state.alpha_out,
        "price_rao": state.price_rao,
        "moving_price_bits": state.moving_price_bits,
        "volume": state.volume,
        "tao_in_emission": state.tao_in_emission,
        "alpha_in_emission": state.alpha_in_emission,
        "alpha_out_emission": state.alpha_out_emission,
        "fee_rate": state.fee_rate,
        "quote_weight": state.quote_weight,
        "last_epoch_block": state.last_epoch_block,
        "pending_epoch_at": state.pending_epoch_at,
        "epoch_index": state.epoch_index,
        "excess_tao": state.excess_tao,
        "registration_cost": state.registration_cost,
        "subtoken_enabled": state.subtoken_enabled,
        "transfer_enabled": state.transfer_enabled,
        "first_seen_block": block,
        "last_block": block,
    }


_NOT_UPDATED = {"netuid", "registered_at", "status", "first_seen_block"}


async def write_snapshot(
    session: AsyncSession,
    snapshot: ChainSnapshot,
    *,
    chain: str,
    head_block: int,
    block_time: datetime,
    listeners: list[SyncListener] | None = None,
) -> SyncResult:
    block = snapshot.block_number
    state = await session.get(IndexerState, 1, with_for_update=True)
    if state is not None and block <= state.last_block:
        return SyncResult(block, skipped=True)

    active = {
        s.netuid: s
        for s in await session.scalars(
            select(Subnet).where(Subnet.status == "active").with_for_update()
        )
    }
    result = SyncResult(block)

    # Tokens whose netuid vanished or was re-registered at another block are retired.
    for netuid, subnet in active.items():
        current = snapshot.subnets.get(netuid)
        if current is None or current.registered_at != subnet.registered_at:
            subnet.status = "retired"
            subnet.retired_at_block = block
            result.retired_subnets.append(subnet)
    await session.flush()

    ids = await _upsert_subnets(session, snapshot, result)
    await _insert_history(session, snapshot, ids, block_time)
    await _sync_validators(session, snapshot, ids)
    await _insert_positions(session, snapshot, ids)

    values = {
        "id": 1,
        "chain": chain,
        "last_block": block,
        "last_block_hash": snapshot.block_hash,
        "head_block": max(head_block, block),
        # When the indexer synced (staleness is measured by it), not the block's own time.
        "synced_at": datetime.now(UTC),
        "tao_weight": snapshot.tao_weight,
    }
    await session.execute(
        insert(IndexerState)
        .values(values)
        .on_conflict_do_update(
            index_elements=["id"], set_={k: v for k, v in values.items() if k != "id"}
        )
    )
    for listener in listeners or []:
        await listener(session, result)
    await session.flush()
    return result


async def _upsert_subnets(
    session: AsyncSession, snapshot: ChainSnapshot, result: SyncResult
) -> dict[int, int]:
    """Upsert every subnet of the snapshot; returns netuid -> subnets.id."""
    if not snapshot.subnets:
        return {}
    rows = [_subnet_row(s, snapshot.block_number) for s in snapshot.subnets.values()]
    stmt = insert(Subnet).values(rows)
    upsert: Any = stmt.on_conflict_do_update(
        index_elements=["netuid", "registered_at"],
        set_={k: stmt.excluded[k] for k in rows[0] if k not in _NOT_UPDATED},
    ).returning(Subnet.id, Subnet.netuid, literal_column("(xmax = 0)").label("inserted"))
    ids: dict[int, int] = {}
    new_ids: list[int] = []
    for row in await session.execute(upsert):
        ids[row.netuid] = row.id
        if row.inserted:
            new_ids.append(row.id)
    if new_ids:
        result.new_subnets = list(
            await session.scalars(
                select(Subnet).where(Subnet.id.in_(new_ids)).order_by(Subnet.netuid)
            )
        )
    return ids


async def _insert_history(
    session: AsyncSession, snapshot: ChainSnapshot, ids: dict[int, int], block_time: datetime
) -> None:
    rows = [
        {
            "subnet_id": ids[s.netuid],
            "block_number": snapshot.block_number,
            "block_time": block_time,
            "tao_in": s.tao_in,
            "alpha_in": s.alpha_in,
            "alpha_out": s.alpha_out,
            "price_rao": s.price_rao,
            "moving_price_bits": s.moving_price_bits,
            "volume": s.volume,
            "tao_in_emission": s.tao_in_emission,
            "alpha_in_emission": s.alpha_in_emission,
            "alpha_out_emission": s.alpha_out_emission,
            "epoch_index": s.epoch_index,
            "last_epoch_block": s.last_epoch_block,
        }
        for s in snapshot.subnets.values()
    ]
    if rows:
        await session.execute(insert(SubnetHistory).values(rows).on_conflict_do_nothing())


async def _sync_validators(
    session: AsyncSession, snapshot: ChainSnapshot, ids: dict[int, int]
) -> None:
    block = snapshot.block_number
    rows = [
        {
            "subnet_id": ids[v.netuid],
            "hotkey": v.hotkey,
            "uid": v.uid,
            "validator_permit": v.validator_permit,
            "take": v.take,
            "total_alpha": v.total_alpha,
            "childkey_take": v.childkey_take,
            "alpha_dividends": v.alpha_dividends,
            "total_alpha_last_epoch": v.total_alpha_last_epoch,
            "nominators": v.nominators,
            "nominators_block": block if v.nominators is not None else None,
            "last_block": block,
        }
        for v in snapshot.validators
        if v.netuid in ids
    ]
    if rows:
        stmt = insert(Validator).values(rows)
        updated = (
            "uid",
            "validator_permit",
            "take",
            "total_alpha",
            "childkey_take",
            "alpha_dividends",
            "total_alpha_last_epoch",
            "last_block",
        )
        set_: dict[str, Any] = {k: stmt.excluded[k] for k in updated}
        # Nominators are counted now and then: a snapshot without counts keeps the last ones.
        for k in ("nominators", "nominators_block"):
            set_[k] = func.coalesce(stmt.excluded[k], getattr(Validator, k))
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["subnet_id", "hotkey"], set_=set_)
        )
    # Hotkeys no longer registered on a subnet of this snapshot.
    if ids:
        await session.execute(
            delete(Validator).where(
                Validator.subnet_id.in_(list(ids.values())), Validator.last_block < block
            )
        )


async def _insert_positions(
    session: AsyncSession, snapshot: ChainSnapshot, ids: dict[int, int]
) -> None:
    rows = [
        {
            "subnet_id": ids[p.netuid],
            "hotkey": p.hotkey,
            "coldkey": p.coldkey,
            "block_number": snapshot.block_number,
            "stake": p.stake,
            "shares": exact_decimal(p.shares),
            "total_shares": exact_decimal(p.total_shares),
            "total_alpha": p.total_alpha,
        }
        for p in snapshot.positions
        if p.netuid in ids
    ]
    if rows:
        await session.execute(insert(CustodyPosition).values(rows).on_conflict_do_nothing())


async def latest_positions(session: AsyncSession, subnet_ids: list[int]) -> list[CustodyPosition]:
    """The most recent indexed custody position per (subnet, hotkey, coldkey)."""
    stmt = (
        select(CustodyPosition)
        .where(CustodyPosition.subnet_id.in_(subnet_ids))
        .ext(
            distinct_on(CustodyPosition.subnet_id, CustodyPosition.hotkey, CustodyPosition.coldkey)
        )
        .order_by(
            CustodyPosition.subnet_id,
            CustodyPosition.hotkey,
            CustodyPosition.coldkey,
            CustodyPosition.block_number.desc(),
        )
    )
    return list(await session.scalars(stmt))
