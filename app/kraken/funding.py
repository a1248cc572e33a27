"""Kraken's funding methods, adapted onto app/custody: deposit methods and addresses, the
status of deposits and withdrawals, withdrawal keys (the address book), `Withdraw` and
`WithdrawCancel`.

One method per asset, "Bittensor": TAO arrives by `transfer_keep_alive`, alpha by
`transfer_stake` to the same address. A withdrawal's `key` is the name of an address of
the user's book. `amount` is what reaches the address: a TAO withdrawal's chain fee is
charged on top (at most the `fee` WithdrawInfo quotes), alpha withdrawals' fees are the
exchange's. Kraken's `refid`s name deposits (`D...`) and withdrawals (`W...`) reversibly.
"""

from datetime import UTC, datetime
from typing import Any

from app.custody import addresses, deposits, withdrawals
from app.custody.errors import CustodyNotConfigured, UnsupportedAsset, WithdrawalAddressNotFound
from app.custody.policy import TAO, Policy
from app.kraken.context import Context
from app.kraken.errors import UNKNOWN_ASSET, KrakenError, invalid_arguments
from app.kraken.schemas import to_units, units
from app.kraken.txid import deposit_refid, withdrawal_id_of, withdrawal_refid
from app.ledger.errors import InsufficientFunds, UnknownAsset, WithdrawalNotFound
from app.ledger.statement import user_balances
from app.models import ChainDeposit, Withdrawal

METHOD = "Bittensor"
NETWORK = "Bittensor"
MAX_LIMIT = 500
UNKNOWN_REFID = "EFunding:Unknown reference id"
UNKNOWN_KEY = "EFunding:Unknown withdraw key"
INSUFFICIENT = "EFunding:Insufficient funds"


def _policy(ctx: Context) -> Policy:
    policy: Policy | None = getattr(ctx.request.app.state, "custody_policy", None)
    if policy is None:
        raise CustodyNotConfigured("custody is not configured on this server")
    return policy


async def _asset(ctx: Context, *, required: bool = True) -> str | None:
    """The asset parameter: TAO or a listed alpha, as its code."""
    text = ctx.params.text("asset", required=required)
    if text is None:
        return None
    code = text.upper()
    if code in ("ZTAO", "XTAO"):
        code = TAO
    if len(code) > 16:
        raise KrakenError(UNKNOWN_ASSET)
    try:
        await withdrawals.withdrawable_asset(ctx.session, code)
    except (UnknownAsset, UnsupportedAsset):
        raise KrakenError(UNKNOWN_ASSET) from None
    return code


def _method(ctx: Context) -> None:
    method = ctx.params.text("method")
    if method is not None and method != METHOD:
        raise invalid_arguments("method")


def _limit(ctx: Context) -> int:
    return ctx.params.integer("limit", MAX_LIMIT, minimum=1, maximum=MAX_LIMIT) or MAX_LIMIT


def _window(ctx: Context) -> tuple[datetime | None, datetime | None]:
    start, end = ctx.params.seconds("start"), ctx.params.seconds("end")
    since = datetime.fromtimestamp(start, UTC) if start is not None else None
    until = datetime.fromtimestamp(end, UTC) if end is not None else None
    return since, until


def _cursor(ctx: Context) -> tuple[bool, int | None]:
    """Kraken's `cursor`: absent (a plain list), `true` (paged from the newest), or the
    `next_cursor` of the previous page (a native id to continue below)."""
    value = ctx.params.text("cursor")
    if value is None or value.lower() == "false":
        return False, None
    if value.lower() == "true":
        return True, None
    cursor = ctx.params.integer("cursor", None, minimum=1)
    return True, cursor


# ---------------------------------------------------------------------------- deposits


async def deposit_methods(ctx: Context) -> list[dict[str, Any]]:
    asset = await _asset(ctx)
    assert asset is not None
    policy = _policy(ctx)
    return [
        {
            "method": METHOD,
            "limit": False,
            "fee": units(0),
            "gen-address": True,
            "minimum": units(policy.minimum_deposit(asset)),
            "network": NETWORK,
        }
    ]


async def deposit_addresses(ctx: Context) -> list[dict[str, Any]]:
    """The user's active deposit addresses (one is created if there is none, or a new one
    with `new=true`), newest first. Every address takes TAO and every alpha."""
    await _asset(ctx)
    _method(ctx)
    policy = _policy(ctx)
    rows = await addresses.list_addresses(ctx.session, ctx.user_id)
    created = None
    if ctx.params.flag("new") or not rows:
        created = await addresses.new_address(ctx.session, policy.keys, ctx.user_id)
        rows.append(created)
    return [
        {"address": r.address, "expiretm": "0", "new": r is created}
        for r in sorted(rows, key=lambda r: -r.index)
    ]


def _deposit_status(d: ChainDeposit) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": METHOD,
        "aclass": "currency",
        "asset": d.asset or f"netuid {d.netuid}",
        "refid": deposit_refid(d.id),
        "txid": d.extrinsic_hash or f"{d.block_number}-{d.extrinsic_index}",
        "info": d.address,
        "amount": units(d.amount),
        "fee": units(0),
        "time": int(d.created_at.timestamp()),
        "status": "Success",
        "network": NETWORK,
    }
    if d.state != "credited":
        out["status-prop"] = "on-hold"  # recorded, waiting for an admin
    return out


async def deposit_status(ctx: Context) -> Any:
    asset = await _asset(ctx, required=False)
    _method(ctx)
    since, until = _window(ctx)
    paged, before = _cursor(ctx)
    limit = _limit(ctx)
    rows = await deposits.list_deposits(
        ctx.session,
        ctx.user_id,
        asset=asset,
        before_id=before,
        since=since,
        until=until,
        limit=limit,
    )
    items = [_deposit_status(d) for d in rows]
    if not paged:
        return items
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return {"deposit": items, "next_cursor": next_cursor}


# ---------------------------------------------------------------------------- withdrawals


async def withdraw_methods(ctx: Context) -> list[dict[str, Any]]:
    asset = await _asset(ctx, required=False)
    policy = _policy(ctx)
    codes = [asset] if asset else await withdrawals.withdrawable_assets(ctx.session)
    out = []
    for code in codes:
        minimum = await withdrawals.minimum_withdrawal(ctx.session, policy, code)
        out.append(
            {
                "asset": code,
                "method": METHOD,
                "network": NETWORK,
                "minimum": units(minimum),
                "fee": units(policy.fee_reserve(code)),
            }
        )
    return out


async def withdraw_addresses(ctx: Context) -> list[dict[str, Any]]:
    asset = await _asset(ctx, required=False)
    _method(ctx)
    key = ctx.params.text("key")
    verified = ctx.params.text("verified")
    if verified is not None and verified.lower() not in ("true", "false"):
        raise invalid_arguments("verified")
    now = datetime.now(UTC)
    out = []
    for row in await withdrawals.list_addresses(ctx.session, ctx.user_id, asset):
        is_verified = row.unlocks_at <= now
        if key is not None and row.name != key:
            continue
        if verified is not None and is_verified != (verified.lower() == "true"):
            continue
        out.append(
            {
                "address": row.address,
                "asset": row.asset or asset or "*",
                "method": METHOD,
                "key": row.name,
                "verified": is_verified,
            }
        )
    return out


async def _key(ctx: Context) -> str:
    key = ctx.params.required("key")
    if len(key) > 64:
        raise KrakenError(UNKNOWN_KEY)
    return key


async def withdraw_info(ctx: Context) -> dict[str, str]:
    asset = await _asset(ctx)
    assert asset is not None
    key = await _key(ctx)
    amount = to_units("amount", ctx.params.text("amount"))
    policy = _policy(ctx)
    try:
        await withdrawals.get_address(ctx.session, ctx.user_id, key)
    except WithdrawalAddressNotFound:
        raise KrakenError(UNKNOWN_KEY) from None
    fee = policy.fee_reserve(asset)
    available = next(
        (b.available for b in await user_balances(ctx.session, ctx.user_id) if b.asset == asset), 0
    )
    return {
        "method": METHOD,
        "limit": units(max(0, available - fee)),
        "amount": units(amount),
        "fee": units(fee),
    }


async def withdraw(ctx: Context) -> dict[str, str]:
    asset = await _asset(ctx)
    assert asset is not None
    key = await _key(ctx)
    amount = to_units("amount", ctx.params.text("amount"))
    policy = _policy(ctx)
    max_fee = ctx.params.text("max_fee")
    if max_fee is not None and to_units("max_fee", max_fee, positive=False) < policy.fee_reserve(
        asset
    ):
        raise KrakenError("EFunding:Max fee exceeded")
    address = ctx.params.text("address")
    try:
        book = await withdrawals.get_address(ctx.session, ctx.user_id, key)
        if address is not None and address != book.address:
            raise invalid_arguments("address")
        result = await withdrawals.request_withdrawal(
            ctx.session,
            policy,
            user_id=ctx.user_id,
            asset=asset,
            amount=amount,
            address_name=key,
            idempotency_key=None,
        )
    except WithdrawalAddressNotFound:
        raise KrakenError(UNKNOWN_KEY) from None
    except InsufficientFunds:
        raise KrakenError(INSUFFICIENT) from None
    return {"refid": withdrawal_refid(result.withdrawal.id)}


STATUS = {
    "pending_approval": ("Initial", "onhold"),
    "queued": ("Initial", None),
    "sending": ("Pending", None),
    "completed": ("Success", None),
    "failed": ("Failure", None),
    "rejected": ("Failure", None),
    "cancelled": ("Failure", "canceled"),
}


def _withdrawal_status(w: Withdrawal) -> dict[str, Any]:
    status, prop = STATUS[w.state]
    out: dict[str, Any] = {
        "method": METHOD,
        "aclass": "currency",
        "asset": w.asset,
        "refid": withdrawal_refid(w.id),
        "txid": w.external_tx_ref,
        "info": w.destination,
        "amount": units(w.amount),
        "fee": units(w.fee),
        "time": int(w.created_at.timestamp()),
        "status": status,
        "key": w.address_name,
        "network": NETWORK,
    }
    if prop is not None:
        out["status-prop"] = prop
    return out


async def withdraw_status(ctx: Context) -> Any:
    asset = await _asset(ctx, required=False)
    _method(ctx)
    since, until = _window(ctx)
    paged, before = _cursor(ctx)
    limit = _limit(ctx)
    rows = await withdrawals.list_withdrawals(
        ctx.session,
        ctx.user_id,
        asset=asset,
        before_id=before,
        since=since,
        until=until,
        limit=limit,
    )
    items = [_withdrawal_status(w) for w in rows]
    if not paged:
        return items
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return {"withdrawals": items, "next_cursor": next_cursor}


async def withdraw_cancel(ctx: Context) -> bool:
    """Cancel a withdrawal not being sent yet. Kraken answers `true` for a cancellation
    request; here it is done at once."""
    await _asset(ctx)
    refid = ctx.params.required("refid")
    withdrawal_id = withdrawal_id_of(refid) if len(refid) <= 32 else None
    if withdrawal_id is None:
        raise KrakenError(UNKNOWN_REFID)
    try:
        await withdrawals.cancel_withdrawal(ctx.session, withdrawal_id, ctx.user_id)
    except WithdrawalNotFound:
        raise KrakenError(UNKNOWN_REFID) from None
    return True
