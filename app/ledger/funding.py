"""Admin-credited deposits: corrections beside the chain deposits that the custody scanner
credits (app/custody). Idempotent on the external reference and audited."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.service import Principal
from app.ledger.errors import DepositConflict, InvalidTransfer, UnknownAsset, UserNotFound
from app.ledger.service import (
    TransferSpec,
    apply_batch,
    asset_decimals,
    get_account_id,
    parse_amount,
    system_account_id,
)
from app.models import Deposit


@dataclass(frozen=True, slots=True)
class DepositResult:
    deposit: Deposit
    created: bool


async def _require_asset(session: AsyncSession, asset: str) -> None:
    if not isinstance(asset, str) or not asset or len(asset) > 16:
        raise UnknownAsset(f"unknown asset {asset!r}")
    await asset_decimals(session, asset)


async def _require_user(session: AsyncSession, user_id: int) -> None:
    if not await session.scalar(text("SELECT 1 FROM users WHERE id = :u"), {"u": user_id}):
        raise UserNotFound(f"no user {user_id}")


async def admin_deposit(
    session: AsyncSession,
    *,
    user_id: int,
    asset: str,
    amount: object,
    external_ref: str,
    admin: Principal | None = None,
    reason: str | None = None,
) -> DepositResult:
    """Credit `amount` to the user's available balance, debiting custody. Idempotent on
    `external_ref`: the same reference with the same content returns the first deposit."""
    value = parse_amount(amount)
    await _require_asset(session, asset)
    await _require_user(session, user_id)
    if not external_ref or len(external_ref) > 128:
        raise InvalidTransfer("external_ref must have 1 to 128 characters")
    transfer_id = f"deposit:{uuid.uuid4().hex}"
    new_id = await session.scalar(
        text(
            "INSERT INTO deposits (user_id, asset, amount, external_ref, transfer_id, created_by) "
            "VALUES (:u, :a, :m, :r, :t, :by) ON CONFLICT (external_ref) DO NOTHING RETURNING id"
        ),
        {
            "u": user_id,
            "a": asset,
            "m": value,
            "r": external_ref,
            "t": transfer_id,
            "by": admin.user_id if admin else None,
        },
    )
    if new_id is None:
        existing = await session.scalar(select(Deposit).where(Deposit.external_ref == external_ref))
        assert existing is not None
        if (existing.user_id, existing.asset, existing.amount) != (user_id, asset, value):
            raise DepositConflict(
                f"external_ref {external_ref!r} was already used for another deposit"
            )
        return DepositResult(existing, False)
    custody = await system_account_id(session, asset, "custody")
    available = await get_account_id(session, user_id, asset, "available")
    await apply_batch(
        session,
        [TransferSpec(transfer_id, custody, available, value, "deposit", f"deposit:{new_id}")],
    )
    deposit = await session.get(Deposit, int(new_id))
    assert deposit is not None
    await audit.record(
        session,
        admin,
        "deposit.admin",
        "deposit",
        deposit.id,
        None,
        {"user_id": user_id, "asset": asset, "amount": str(value), "external_ref": external_ref},
        reason,
    )
    return DepositResult(deposit, True)


async def list_deposits(
    session: AsyncSession, *, user_id: int | None, before_id: int | None, limit: int
) -> list[Deposit]:
    """Credited deposits, newest first."""
    query = select(Deposit)
    if user_id is not None:
        query = query.where(Deposit.user_id == user_id)
    if before_id is not None:
        query = query.where(Deposit.id < before_id)
    return list(await session.scalars(query.order_by(Deposit.id.desc()).limit(limit)))
