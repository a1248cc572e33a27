"""Outgoing extrinsics after they are signed: what their finalized outcome does to the ledger.

The scanner, walking finalized blocks, finds each recorded transaction by its hash and
calls `settle` in that block's transaction (exactly once: the row leaves the open states),
or `expire` once the last block its era allowed is finalized without it.

Ledger effects, by purpose (custody mirrors the chain):
- every fee the exchange pays (sweeps, top-ups, stake moves, alpha withdrawals, failed
  attempts) moves network_fees -> custody: the chain holds that much less;
- a TAO withdrawal posts its hold to custody: the amount sent and the fee the user pays
  (at most the reserve; beyond it the exchange pays), the rest returns to available;
- an alpha withdrawal consumes from its hold what `StakeAdded` shows arrived; if the chain
  capped it (`transfer_stake` sends at most the stake held under that hotkey), the rest
  goes in another transaction until all of it is sent;
- moves between the exchange's own accounts (sweeps, top-ups, the stake manager's moves)
  change nothing else, but stake moved into, within or out of the omnibus's positions is
  recorded as staking chain flows, so that reward periods do not count it as emissions; a
  stake move's operation records what the chain moved, or that it failed or expired.
"""

import logging
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.custody.classify import Outcome
from app.custody.deposits import asset_of_netuid
from app.custody.policy import TAO, Policy
from app.custody.withdrawals import release
from app.ledger.service import (
    TransferSpec,
    apply_batch,
    apply_group,
    get_hold,
    post_hold,
    system_account_id,
)
from app.models import (
    ChainDeposit,
    ChainTransaction,
    DepositAddress,
    Market,
    RewardDistribution,
    StakingChainFlow,
    StakingOperation,
    Withdrawal,
)
from app.models.chain_transaction import OPEN_STATES

log = logging.getLogger("app.custody")

MAX_ATTEMPTS = 3  # failed (included, ExtrinsicFailed) attempts before a withdrawal fails


async def open_transactions(session: AsyncSession) -> list[ChainTransaction]:
    rows = await session.scalars(
        select(ChainTransaction)
        .where(ChainTransaction.state.in_(OPEN_STATES))
        .order_by(ChainTransaction.id)
    )
    return list(rows)


async def book_network_fee(
    session: AsyncSession, tx: ChainTransaction, asset: str, amount: int
) -> None:
    if amount <= 0:
        return
    custody = await system_account_id(session, asset, "custody")
    cost = await system_account_id(session, asset, "network_fees")
    await apply_batch(
        session,
        [
            TransferSpec(
                f"network-fee:{tx.extrinsic_hash}:{asset}",
                cost,
                custody,
                amount,
                "network_fee",
                f"tx:{tx.id}",
            )
        ],
    )


async def _stake_flow(
    session: AsyncSession,
    netuid: int,
    hotkey: str,
    amount: int,
    block: int,
    reason: str,
    operation_id: int | None = None,
) -> None:
    """A staking chain flow for the omnibus's position, if the subnet is listed. A flow at or
    before a closed reward period is recorded just after it (never lost)."""
    if amount == 0:
        return
    asset = await asset_of_netuid(session, netuid)
    if asset is None:
        return
    subnet_id = await session.scalar(select(Market.subnet_id).where(Market.base_asset == asset))
    if subnet_id is None:  # pragma: no cover - asset_of_netuid found its market
        return
    closed = await session.scalar(
        select(func.max(RewardDistribution.end_block)).where(
            RewardDistribution.subnet_id == subnet_id, RewardDistribution.hotkey == hotkey
        )
    )
    at = block if closed is None or block > closed else closed + 1
    session.add(
        StakingChainFlow(
            subnet_id=subnet_id,
            hotkey=hotkey,
            block_number=at,
            amount=amount,
            reason=reason,
            operation_id=operation_id,
        )
    )


async def settle(
    session: AsyncSession,
    policy: Policy,
    tx: ChainTransaction,
    block_number: int,
    block_hash: str,
    outcome: Outcome,
) -> None:
    """Record a finalized inclusion and apply its effects, once."""
    tx.state = "success" if outcome.success else "failed"
    tx.block_number = block_number
    tx.block_hash = block_hash
    tx.extrinsic_index = outcome.extrinsic
    tx.fee = outcome.fee
    tx.fee_alpha = outcome.fee_alpha
    tx.dispatch_error = outcome.dispatch_error
    tx.resolved_at = datetime.now(UTC)
    alpha_asset = None if tx.netuid is None else await asset_of_netuid(session, tx.netuid)
    withdrawal = None
    if tx.withdrawal_id is not None:
        withdrawal = await session.get(Withdrawal, tx.withdrawal_id, with_for_update=True)
    user_pays_fee = (
        withdrawal is not None and withdrawal.asset == TAO and outcome.success and tx.asset == TAO
    )
    if not user_pays_fee:
        await book_network_fee(session, tx, TAO, outcome.fee)
    if outcome.fee_alpha and alpha_asset is not None:
        await book_network_fee(session, tx, alpha_asset, outcome.fee_alpha)
    omnibus_paid_alpha = outcome.fee_alpha and tx.signer == policy.keys.omnibus
    if omnibus_paid_alpha and tx.netuid is not None and tx.hotkey is not None:
        await _stake_flow(
            session, tx.netuid, tx.hotkey, -outcome.fee_alpha, block_number, "fee in alpha"
        )

    if tx.purpose == "withdrawal":
        assert withdrawal is not None
        await _settle_withdrawal(session, policy, tx, withdrawal, outcome)
    elif tx.purpose == "sweep" and outcome.success and tx.netuid is not None and tx.hotkey:
        moved = outcome.alpha_to(policy.keys.omnibus, tx.netuid, tx.hotkey)
        earned = moved - await _swept_deposits(session, tx, moved)
        tx.delivered = moved
        await _stake_flow(session, tx.netuid, tx.hotkey, moved, block_number, f"sweep {tx.id}")
        if earned > 0 and alpha_asset is not None:
            # What the stake earned at the deposit address before the sweep: the exchange's
            # (the user was credited what arrived), booked so custody mirrors the chain.
            custody = await system_account_id(session, alpha_asset, "custody")
            fees = await system_account_id(session, alpha_asset, "fees")
            await apply_batch(
                session,
                [
                    TransferSpec(
                        f"sweep-earnings:{tx.extrinsic_hash}",
                        custody,
                        fees,
                        earned,
                        "deposit_earnings",
                        f"tx:{tx.id}",
                    )
                ],
            )
    elif tx.purpose == "sweep" and outcome.success:
        tx.delivered = outcome.tao_to(tx.signer, policy.keys.omnibus)
    elif tx.purpose == "topup" and outcome.success:
        tx.delivered = outcome.tao_to(tx.signer, str(tx.args.get("dest")))
    elif tx.purpose == "stake_move":
        await _settle_stake_move(session, policy, tx, block_number, outcome)
    if tx.deposit_address_id is not None:
        address = await session.get(DepositAddress, tx.deposit_address_id)
        if address is not None:
            address.sweep_pending = True  # look again: is anything left?
    await session.flush()
    if not outcome.success:
        log.warning(
            "transaction failed on chain",
            extra={"tx": tx.id, "purpose": tx.purpose, "error": outcome.dispatch_error},
        )


async def _swept_deposits(session: AsyncSession, tx: ChainTransaction, moved: int) -> int:
    """The deposits a sweep of `moved` alpha carries: what the scanner recorded arriving at
    the address under that hotkey, less what earlier sweeps carried. The rest is what the
    stake earned at the deposit address before it was swept."""
    where = (
        ChainDeposit.deposit_address_id == tx.deposit_address_id,
        ChainDeposit.netuid == tx.netuid,
        ChainDeposit.hotkey == tx.hotkey,
    )
    recorded = int(
        await session.scalar(select(func.coalesce(func.sum(ChainDeposit.amount), 0)).where(*where))
        or 0
    )
    before = int(
        await session.scalar(
            select(func.coalesce(func.sum(ChainTransaction.delivered), 0)).where(
                ChainTransaction.purpose == "sweep",
                ChainTransaction.state == "success",
                ChainTransaction.deposit_address_id == tx.deposit_address_id,
                ChainTransaction.netuid == tx.netuid,
                ChainTransaction.hotkey == tx.hotkey,
                ChainTransaction.id != tx.id,
            )
        )
        or 0
    )
    return min(before + moved, recorded) - min(before, recorded)


async def _settle_stake_move(
    session: AsyncSession,
    policy: Policy,
    tx: ChainTransaction,
    block_number: int,
    outcome: Outcome,
) -> None:
    """A stake manager's `move_stake`: what arrived under the destination hotkey (the chain
    caps a move at the stake held) left the origin; both are stake flows of the period."""
    operation = (
        None
        if tx.operation_id is None
        else await session.get(StakingOperation, tx.operation_id, with_for_update=True)
    )
    origin = str(tx.args.get("origin_hotkey"))
    destination = str(tx.args.get("destination_hotkey"))
    moved = 0
    if outcome.success and tx.netuid is not None:
        moved = outcome.alpha_to(policy.keys.omnibus, tx.netuid, destination)
        reason = f"move_stake operation {tx.operation_id}"
        for hotkey, amount in ((origin, -moved), (destination, moved)):
            await _stake_flow(
                session, tx.netuid, hotkey, amount, block_number, reason, tx.operation_id
            )
    tx.delivered = moved
    if operation is not None and operation.status == "sending":
        operation.status = "executed" if outcome.success else "failed"
        operation.moved = moved
        operation.error = outcome.dispatch_error
        operation.executed_block = block_number
        operation.executed_at = datetime.now(UTC)


async def _settle_withdrawal(
    session: AsyncSession,
    policy: Policy,
    tx: ChainTransaction,
    w: Withdrawal,
    outcome: Outcome,
) -> None:
    w.external_tx_ref = tx.extrinsic_hash
    w.block_number = tx.block_number
    if not outcome.success:
        w.attempts += 1
        if w.attempts >= MAX_ATTEMPTS:
            await release(session, w, "failed", f"failed on chain: {outcome.dispatch_error}")
        else:
            w.state = "queued"
            w.reason = f"attempt {w.attempts} failed on chain: {outcome.dispatch_error}"
        return
    custody = await system_account_id(session, w.asset, "custody")
    if w.asset == TAO:
        sent = outcome.tao_to(tx.signer, w.destination)
        user_fee = min(outcome.fee, w.fee_reserve)
        await book_network_fee(session, tx, TAO, outcome.fee - user_fee)
        tx.delivered = sent
        w.sent = sent
        w.fee = user_fee
        await post_hold(
            session,
            w.hold_id,
            credit_account_id=custody,
            amount=sent + user_fee,
            code="withdrawal",
            transfer_id=f"withdrawal:{w.id}:post",
            reference=f"withdrawal:{w.id}",
        )
        w.state = "completed"
        w.reason = None
        w.resolved_at = datetime.now(UTC)
        return
    assert w.netuid is not None
    sent = min(outcome.alpha_to(w.destination, w.netuid), w.amount - w.sent)
    tx.delivered = sent
    if tx.hotkey:
        await _stake_flow(
            session, w.netuid, tx.hotkey, -sent, tx.block_number or 0, f"withdrawal {w.id}"
        )
    done = w.sent + sent == w.amount
    if sent:
        spec = TransferSpec(
            f"withdrawal:{w.id}:tx:{tx.id}",
            (await get_hold(session, w.hold_id)).account_id,
            custody,
            sent,
            "withdrawal",
            f"withdrawal:{w.id}",
            w.hold_id,
        )
        # The last leg also resolves the hold (the fee reserve of alpha is 0: nothing left).
        await apply_group(session, [spec], resolve={w.hold_id: "posted"} if done else None)
        w.sent += sent
    if done:
        w.state = "completed"
        w.reason = None
        w.resolved_at = datetime.now(UTC)
    else:
        w.state = "queued"  # capped by the chain: the rest goes in another transaction
        w.reason = f"{w.sent} of {w.amount} sent; sending the rest"


async def expire(session: AsyncSession, tx: ChainTransaction, block_number: int) -> None:
    """The era ended and no finalized block included it: it can never be; its work may be
    signed again (with the same nonce, which it did not use)."""
    tx.state = "expired"
    tx.block_number = block_number
    tx.resolved_at = datetime.now(UTC)
    if tx.withdrawal_id is not None:
        w = await session.get(Withdrawal, tx.withdrawal_id, with_for_update=True)
        if w is not None and w.state == "sending":
            w.state = "queued"
            w.reason = "the transaction expired unincluded; signing it again"
    if tx.deposit_address_id is not None:
        address = await session.get(DepositAddress, tx.deposit_address_id)
        if address is not None:
            address.sweep_pending = True
    if tx.operation_id is not None:
        operation = await session.get(StakingOperation, tx.operation_id, with_for_update=True)
        if operation is not None and operation.status == "sending":
            operation.status = "expired"
            operation.executed_block = block_number
    await session.flush()
    log.warning("transaction expired", extra={"tx": tx.id, "purpose": tx.purpose})
