"""The withdrawal address book and withdrawal requests (everything before the signer).

A withdrawal names an address of the user's book (Kraken's withdrawal `key`), carries the
client's idempotency key (a retry after a lost answer returns the first withdrawal) and
holds `amount` (+ the TAO fee reserve) at once; nothing is held when it is refused.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import Unpack

from app.audit import service as audit
from app.auth.service import Principal
from app.chain.types import minimum_stake_move
from app.custody.addresses import is_exchange_address
from app.custody.deposits import asset_of_netuid
from app.custody.errors import (
    AmountBelowMinimum,
    ExchangeAddress,
    IdempotencyConflict,
    TooManyWithdrawalAddresses,
    UnsupportedAsset,
    WithdrawalAddressExists,
    WithdrawalAddressLocked,
    WithdrawalAddressNotFound,
    WrongAssetForAddress,
)
from app.custody.history import Filters, newest_first
from app.custody.notices import CUSTODY_EVENTS, notice
from app.custody.policy import TAO, Policy
from app.kit.notify import notify
from app.kit.ss58 import BITTENSOR_PREFIX, InvalidSS58, ss58_decode
from app.ledger.errors import InvalidAddress, InvalidState, UnknownAsset, WithdrawalNotFound
from app.ledger.service import asset_decimals, parse_amount, place_hold, post_hold, void_hold
from app.models import Asset, Market, Subnet, Withdrawal, WithdrawalAddress

MAX_WITHDRAWAL_ADDRESSES = 100


def check_address(address: str) -> str:
    """A valid SS58 account address of this network (prefix 42), or InvalidAddress."""
    try:
        prefix, _ = ss58_decode(address)
    except InvalidSS58 as exc:
        raise InvalidAddress(f"not a valid SS58 address: {exc}") from exc
    if prefix != BITTENSOR_PREFIX:
        raise InvalidAddress(
            f"an address of network prefix {prefix}; Bittensor addresses use prefix "
            f"{BITTENSOR_PREFIX} (they start with 5)",
            details={"prefix": prefix},
        )
    return address


# ---------------------------------------------------------------------------- address book


async def add_address(
    session: AsyncSession,
    policy: Policy,
    user_id: int,
    name: str,
    address: str,
    asset: str | None,
) -> WithdrawalAddress:
    check_address(address)
    if await is_exchange_address(session, policy.keys, address):
        raise ExchangeAddress("that is an address of this exchange; withdraw elsewhere")
    if asset is not None:
        await withdrawable_asset(session, asset)
    count = await session.scalar(
        select(func.count())
        .select_from(WithdrawalAddress)
        .where(WithdrawalAddress.user_id == user_id)
    )
    if (count or 0) >= MAX_WITHDRAWAL_ADDRESSES:
        raise TooManyWithdrawalAddresses(f"at most {MAX_WITHDRAWAL_ADDRESSES} addresses")
    exists = await session.scalar(
        select(WithdrawalAddress.id).where(
            WithdrawalAddress.user_id == user_id, WithdrawalAddress.name == name
        )
    )
    if exists is not None:
        raise WithdrawalAddressExists(f"you already have a withdrawal address named {name!r}")
    row = WithdrawalAddress(
        user_id=user_id,
        name=name,
        address=address,
        asset=asset,
        unlocks_at=datetime.now(UTC) + timedelta(seconds=policy.lock_seconds),
    )
    session.add(row)
    await session.flush()
    return row


async def list_addresses(
    session: AsyncSession, user_id: int, asset: str | None = None
) -> list[WithdrawalAddress]:
    query = select(WithdrawalAddress).where(WithdrawalAddress.user_id == user_id)
    if asset is not None:
        query = query.where(
            (WithdrawalAddress.asset == asset) | (WithdrawalAddress.asset.is_(None))
        )
    return list(await session.scalars(query.order_by(WithdrawalAddress.name)))


async def get_address(session: AsyncSession, user_id: int, name: str) -> WithdrawalAddress:
    row = await session.scalar(
        select(WithdrawalAddress).where(
            WithdrawalAddress.user_id == user_id, WithdrawalAddress.name == name
        )
    )
    if row is None:
        raise WithdrawalAddressNotFound(f"no withdrawal address named {name!r}")
    return row


async def delete_address(session: AsyncSession, user_id: int, name: str) -> WithdrawalAddress:
    row = await get_address(session, user_id, name)
    await session.delete(row)
    await session.flush()
    return row


# ---------------------------------------------------------------------------- requests


async def withdrawable_asset(session: AsyncSession, asset: str) -> int | None:
    """The asset's subnet (None for TAO); UnknownAsset / UnsupportedAsset otherwise."""
    if not isinstance(asset, str) or not asset or len(asset) > 16:
        raise UnknownAsset(f"unknown asset {asset!r}")
    row = await session.get(Asset, asset)
    if row is None:
        raise UnknownAsset(f"unknown asset {asset!r}")
    if asset == TAO:
        return None
    if row.netuid is None or await asset_of_netuid(session, row.netuid) != asset:
        raise UnsupportedAsset(f"{asset} cannot be withdrawn: its subnet is not listed now")
    return row.netuid


async def withdrawable_assets(session: AsyncSession) -> list[str]:
    """TAO and the alpha of every listed (not delisted) subnet."""
    rows = await session.scalars(
        select(Market.base_asset)
        .join(Subnet, Subnet.id == Market.subnet_id)
        .where(Subnet.status == "active", Market.state != "delisted")
        .order_by(Market.netuid)
    )
    return [TAO, *rows]


async def minimum_withdrawal(session: AsyncSession, policy: Policy, asset: str) -> int:
    """The configured minimum; for alpha at least twice DefaultMinStake's worth at the
    indexed pool price (the chain refuses smaller stake moves)."""
    minimum = policy.minimum_withdrawal(asset)
    if asset != TAO:
        price = await session.scalar(
            select(Subnet.price_rao)
            .join(Market, Market.subnet_id == Subnet.id)
            .where(Market.base_asset == asset)
        )
        if price:
            # Alpha moves as stake: moves worth less than DefaultMinStake are refused.
            minimum = max(minimum, minimum_stake_move(int(price)))
    return minimum


@dataclass(frozen=True, slots=True)
class WithdrawalResult:
    withdrawal: Withdrawal
    created: bool


def _same_request(w: Withdrawal, asset: str, amount: int, name: str) -> bool:
    return (w.asset, w.amount, w.address_name) == (asset, amount, name)


async def request_withdrawal(
    session: AsyncSession,
    policy: Policy,
    *,
    user_id: int,
    asset: str,
    amount: object,
    address_name: str,
    idempotency_key: str | None,
) -> WithdrawalResult:
    """Hold the funds and queue the withdrawal (or park it for an admin's approval).
    Idempotent on (user, idempotency_key)."""
    value = parse_amount(amount)
    # One request of a user at a time: an idempotency key is then looked up reliably.
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(7302, CAST(mod(CAST(:u AS bigint), 2147483647) AS int))"
        ),
        {"u": user_id},
    )
    if idempotency_key is not None:
        existing = await session.scalar(
            select(Withdrawal).where(
                Withdrawal.user_id == user_id, Withdrawal.idempotency_key == idempotency_key
            )
        )
        if existing is not None:
            if not _same_request(existing, asset, value, address_name):
                raise IdempotencyConflict(
                    f"idempotency key {idempotency_key!r} was used for another withdrawal"
                )
            return WithdrawalResult(existing, False)
    netuid = await withdrawable_asset(session, asset)
    await asset_decimals(session, asset)
    book = await get_address(session, user_id, address_name)
    if book.asset is not None and book.asset != asset:
        raise WrongAssetForAddress(f"address {address_name!r} is for {book.asset}, not {asset}")
    now = datetime.now(UTC)
    if book.unlocks_at > now:
        raise WithdrawalAddressLocked(
            f"address {address_name!r} can be used from {book.unlocks_at.isoformat()}",
            details={"unlocks_at": book.unlocks_at.isoformat()},
        )
    if await is_exchange_address(session, policy.keys, book.address):
        raise ExchangeAddress("that is an address of this exchange; withdraw elsewhere")
    minimum = await minimum_withdrawal(session, policy, asset)
    if value < minimum:
        raise AmountBelowMinimum(
            f"the minimum withdrawal of {asset} is {minimum}", details={"minimum": str(minimum)}
        )
    reserve = policy.fee_reserve(asset)
    withdrawal = Withdrawal(
        user_id=user_id,
        asset=asset,
        netuid=netuid,
        amount=value,
        address_name=address_name,
        destination=book.address,
        idempotency_key=idempotency_key,
        state="pending_approval" if policy.needs_approval(asset, value) else "queued",
        hold_id=f"withdrawal:{uuid.uuid4().hex}",
        fee_reserve=reserve,
    )
    # The hold first: insufficient_funds before anything is written.
    await place_hold(
        session, withdrawal.hold_id, user_id, asset, value + reserve, reference="withdrawal"
    )
    session.add(withdrawal)
    await session.flush()
    await session.refresh(withdrawal)
    await announce(session, withdrawal)
    return WithdrawalResult(withdrawal, True)


async def announce(session: AsyncSession, w: Withdrawal) -> None:
    """Tell every process (on commit) that the withdrawal changed: the WebSocket feed."""
    await notify(session, CUSTODY_EVENTS, notice("withdrawal", w.user_id, w.id))


async def get_withdrawal(
    session: AsyncSession, withdrawal_id: int, user_id: int | None = None, *, lock: bool = False
) -> Withdrawal:
    query = select(Withdrawal).where(Withdrawal.id == withdrawal_id)
    if user_id is not None:
        query = query.where(Withdrawal.user_id == user_id)
    if lock:
        query = query.with_for_update()
    withdrawal = await session.scalar(query)
    if withdrawal is None:
        raise WithdrawalNotFound(f"no withdrawal {withdrawal_id}")
    return withdrawal


async def list_withdrawals(
    session: AsyncSession,
    user_id: int | None,
    **filters: Unpack[Filters],
) -> list[Withdrawal]:
    """Newest first (see `app.custody.history.newest_first` for the filters)."""
    return await newest_first(session, Withdrawal, user_id, **filters)


async def release(session: AsyncSession, w: Withdrawal, state: str, reason: str | None) -> None:
    """End a withdrawal without (more) chain transfers: what was sent stays posted, the rest
    returns to available."""
    if w.sent:
        await post_hold(session, w.hold_id)  # consumed legs stay, the rest is released
    else:
        await void_hold(session, w.hold_id)
    w.state = state
    w.reason = reason
    w.resolved_at = datetime.now(UTC)
    await session.flush()
    await announce(session, w)


async def cancel_withdrawal(session: AsyncSession, withdrawal_id: int, user_id: int) -> Withdrawal:
    """The owner cancels a withdrawal that no transaction is carrying."""
    w = await get_withdrawal(session, withdrawal_id, user_id, lock=True)
    if w.state not in ("pending_approval", "queued"):
        raise InvalidState(
            f"withdrawal {withdrawal_id} is {w.state}: it can no longer be cancelled"
        )
    await release(session, w, "cancelled", "cancelled by the owner")
    return w


def _snapshot(w: Withdrawal) -> dict[str, Any]:
    return {"state": w.state, "asset": w.asset, "amount": str(w.amount), "to": w.destination}


async def approve_withdrawal(
    session: AsyncSession, withdrawal_id: int, principal: Principal
) -> Withdrawal:
    w = await get_withdrawal(session, withdrawal_id, lock=True)
    if w.state != "pending_approval":
        raise InvalidState(f"withdrawal {withdrawal_id} is {w.state}, not pending_approval")
    before = _snapshot(w)
    w.state = "queued"
    w.approved_by = principal.user_id
    await session.flush()
    await announce(session, w)
    await audit.record(
        session, principal, "withdrawal.approve", "withdrawal", w.id, before, _snapshot(w)
    )
    return w


async def reject_withdrawal(
    session: AsyncSession, withdrawal_id: int, principal: Principal, reason: str | None
) -> Withdrawal:
    w = await get_withdrawal(session, withdrawal_id, lock=True)
    if w.state not in ("pending_approval", "queued"):
        raise InvalidState(f"withdrawal {withdrawal_id} is {w.state}: it can no longer be rejected")
    before = _snapshot(w)
    await release(session, w, "rejected", reason)
    await audit.record(
        session, principal, "withdrawal.reject", "withdrawal", w.id, before, _snapshot(w), reason
    )
    return w
