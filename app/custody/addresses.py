"""Deposit addresses: derived from the deposit root's public key, one index after another."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.service import Principal
from app.custody.errors import DepositAddressNotFound, TooManyDepositAddresses
from app.custody.keys import CustodyKeys
from app.ledger.errors import InvalidState
from app.models import DepositAddress

MAX_ACTIVE_ADDRESSES = 20


async def list_addresses(
    session: AsyncSession, user_id: int, *, include_retired: bool = False
) -> list[DepositAddress]:
    query = select(DepositAddress).where(DepositAddress.user_id == user_id)
    if not include_retired:
        query = query.where(DepositAddress.status == "active")
    return list(await session.scalars(query.order_by(DepositAddress.index)))


async def new_address(session: AsyncSession, keys: CustodyKeys, user_id: int) -> DepositAddress:
    """The user's next deposit address (index = the highest so far + 1)."""
    # Serialize per user: two concurrent requests must not both pass the limit.
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(7301, CAST(mod(CAST(:u AS bigint), 2147483647) AS int))"
        ),
        {"u": user_id},
    )
    active = await session.scalar(
        select(func.count())
        .select_from(DepositAddress)
        .where(DepositAddress.user_id == user_id, DepositAddress.status == "active")
    )
    if (active or 0) >= MAX_ACTIVE_ADDRESSES:
        raise TooManyDepositAddresses(
            f"at most {MAX_ACTIVE_ADDRESSES} active deposit addresses per user"
        )
    last = await session.scalar(
        select(func.max(DepositAddress.index)).where(DepositAddress.user_id == user_id)
    )
    index = 0 if last is None else int(last) + 1
    row = DepositAddress(user_id=user_id, index=index, address=keys.deposit_address(user_id, index))
    session.add(row)
    await session.flush()
    return row


async def current_address(session: AsyncSession, keys: CustodyKeys, user_id: int) -> DepositAddress:
    """The newest active address, created if the user has none."""
    rows = await list_addresses(session, user_id)
    return rows[-1] if rows else await new_address(session, keys, user_id)


def _snapshot(row: DepositAddress) -> dict[str, Any]:
    return {"address": row.address, "status": row.status, "user_id": row.user_id}


async def retire_address(
    session: AsyncSession, address_id: int, principal: Principal, reason: str | None
) -> DepositAddress:
    """An admin retires an address: funds sent to it later are recorded, not credited."""
    row = await session.get(DepositAddress, address_id, with_for_update=True)
    if row is None:
        raise DepositAddressNotFound(f"no deposit address {address_id}")
    if row.status != "active":
        raise InvalidState(f"deposit address {address_id} is already {row.status}")
    before = _snapshot(row)
    row.status = "retired"
    row.retired_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        principal,
        "deposit_address.retire",
        "deposit_address",
        row.id,
        before,
        _snapshot(row),
        reason,
    )
    return row


async def by_addresses(session: AsyncSession, addresses: set[str]) -> dict[str, DepositAddress]:
    if not addresses:
        return {}
    rows = await session.scalars(
        select(DepositAddress).where(DepositAddress.address.in_(sorted(addresses)))
    )
    return {r.address: r for r in rows}


async def is_exchange_address(session: AsyncSession, keys: CustodyKeys, address: str) -> bool:
    if address == keys.omnibus:
        return True
    found = await session.scalar(select(DepositAddress.id).where(DepositAddress.address == address))
    return found is not None
