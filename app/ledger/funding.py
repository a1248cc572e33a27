"""Deposits (admin-credited until on-chain deposits exist) and withdrawals (a hold that an
admin posts to custody or rejects, or the owner cancels while pending)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.ss58 import InvalidSS58, validate_address
from app.ledger.errors import (
    DepositConflict,
    InvalidAddress,
    InvalidState,
    InvalidTransfer,
    UnknownAsset,
    UserNotFound,
    WithdrawalNotFound,
)
from app.ledger.service import (
    TransferSpec,
    apply_batch,
    asset_decimals,
    get_account_id,
    parse_amount,
    place_hold,
    post_hold,
    system_account_id,
    void_hold,
)
from app.models import Deposit, Withdrawal


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
    admin_id: int | None = None,
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
        {"u": user_id, "a": asset, "m": value, "r": external_ref, "t": transfer_id, "by": admin_id},
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
    return DepositResult(deposit, True)


async def request_withdrawal(
    session: AsyncSession, *, user_id: int, asset: str, amount: object, destination: str
) -> Withdrawal:
    """Place a hold on `amount` and record a pending withdrawal to `destination`."""
    value = parse_amount(amount)
    await _require_asset(session, asset)
    try:
        validate_address(destination)
    except InvalidSS58 as exc:
        raise InvalidAddress(f"destination is not a valid SS58 address: {exc}") from exc
    hold_id = f"withdrawal:{uuid.uuid4().hex}"
    # The hold comes first: it raises insufficient_funds before anything is written.
    await place_hold(session, hold_id, user_id, asset, value, reference="withdrawal")
    withdrawal = Withdrawal(
        user_id=user_id,
        asset=asset,
        amount=value,
        destination=destination,
        state="pending",
        hold_id=hold_id,
    )
    session.add(withdrawal)
    await session.flush()
    await session.refresh(withdrawal)
    return withdrawal


async def _pending_for_update(
    session: AsyncSession, withdrawal_id: int, user_id: int | None = None
) -> Withdrawal:
    query = select(Withdrawal).where(Withdrawal.id == withdrawal_id).with_for_update()
    if user_id is not None:
        query = query.where(Withdrawal.user_id == user_id)
    withdrawal = await session.scalar(query)
    if withdrawal is None:
        raise WithdrawalNotFound(f"no withdrawal {withdrawal_id}")
    if withdrawal.state != "pending":
        raise InvalidState(f"withdrawal {withdrawal_id} is {withdrawal.state}, not pending")
    return withdrawal


async def approve_withdrawal(
    session: AsyncSession, withdrawal_id: int, external_tx_ref: str
) -> Withdrawal:
    """The funds left on chain: post the hold to custody and record the transaction."""
    if not external_tx_ref or len(external_tx_ref) > 128:
        raise InvalidTransfer("external_tx_ref must have 1 to 128 characters")
    withdrawal = await _pending_for_update(session, withdrawal_id)
    custody = await system_account_id(session, withdrawal.asset, "custody")
    await post_hold(
        session,
        withdrawal.hold_id,
        credit_account_id=custody,
        code="withdrawal",
        reference=f"withdrawal:{withdrawal.id}",
    )
    withdrawal.state = "approved"
    withdrawal.external_tx_ref = external_tx_ref
    withdrawal.resolved_at = datetime.now(UTC)
    await session.flush()
    return withdrawal


async def _void(
    session: AsyncSession, withdrawal: Withdrawal, state: str, reason: str | None
) -> Withdrawal:
    await void_hold(session, withdrawal.hold_id)
    withdrawal.state = state
    withdrawal.reason = reason
    withdrawal.resolved_at = datetime.now(UTC)
    await session.flush()
    return withdrawal


async def reject_withdrawal(
    session: AsyncSession, withdrawal_id: int, reason: str | None = None
) -> Withdrawal:
    withdrawal = await _pending_for_update(session, withdrawal_id)
    return await _void(session, withdrawal, "rejected", reason)


async def cancel_withdrawal(session: AsyncSession, withdrawal_id: int, user_id: int) -> Withdrawal:
    withdrawal = await _pending_for_update(session, withdrawal_id, user_id)
    return await _void(session, withdrawal, "cancelled", "cancelled by the owner")


async def list_withdrawals(
    session: AsyncSession, user_id: int, *, before_id: int | None = None, limit: int = 100
) -> list[Withdrawal]:
    query = select(Withdrawal).where(Withdrawal.user_id == user_id)
    if before_id is not None:
        query = query.where(Withdrawal.id < before_id)
    rows = await session.scalars(query.order_by(Withdrawal.id.desc()).limit(limit))
    return list(rows)


async def list_all_withdrawals(
    session: AsyncSession, *, state: str | None, before_id: int | None, limit: int
) -> list[Withdrawal]:
    """Every user's withdrawals (an admin's review queue with `state="pending"`), newest first."""
    query = select(Withdrawal)
    if state is not None:
        query = query.where(Withdrawal.state == state)
    if before_id is not None:
        query = query.where(Withdrawal.id < before_id)
    return list(await session.scalars(query.order_by(Withdrawal.id.desc()).limit(limit)))


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
