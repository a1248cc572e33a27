"""The sweeper: deposit addresses -> the omnibus account, alpha -> the exchange's validator.

For a deposit address with funds (`sweep_pending`, set by the scanner), one transaction at a
time, each signed with the address's own key (derived by the signer from the secret):
1. alpha first, one (hotkey, subnet) position after another: `transfer_stake` to the
   omnibus coldkey (the hotkey stays). The address pays the fee in TAO; one that has no
   TAO (alpha only) first gets `custody_sweep_topup` from the omnibus (`transfer_keep_alive`),
   since an account without a balance cannot sign;
2. then TAO: `transfer_all` to the omnibus, once it is worth more than twice the top-up.
Swept alpha keeps its hotkey in the omnibus; the stake manager then moves it where it
belongs (`app.custody.stake_manager`).

Moves between the exchange's own accounts change no ledger balance; only their fees do
(network_fees -> custody), so the ledger's custody stays equal to the chain.
"""

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.chain.types import minimum_stake_move
from app.custody.policy import EXISTENTIAL_DEPOSIT, TAO
from app.models import DepositAddress, Market, Subnet

if TYPE_CHECKING:
    from app.custody.signer import Signer

log = logging.getLogger("app.custody.sweeper")

BATCH = 50  # addresses looked at per step


async def _worth_moving(signer: "Signer", netuid: int, alpha: int) -> bool:
    """Whether `alpha` of `netuid` is worth more than the chain's minimum stake move (at the
    indexed pool price; unknown price: try)."""
    async with signer.sessionmaker() as session:
        price = await session.scalar(
            select(Subnet.price_rao)
            .join(Market, Market.subnet_id == Subnet.id)
            .where(Market.netuid == netuid, Subnet.status == "active")
        )
    if not price:
        return True
    return alpha >= minimum_stake_move(int(price))


async def sweep(signer: "Signer") -> None:
    busy = await signer.open_signers()
    async with signer.sessionmaker() as session:
        pending = list(
            await session.scalars(
                select(DepositAddress)
                .where(DepositAddress.sweep_pending.is_(True))
                .order_by(DepositAddress.id)
                .limit(BATCH)
            )
        )
    if pending:
        head = await signer.chain.finalized_head()
        for address in pending:
            if address.address in busy:
                continue
            await _sweep_address(signer, address, head.hash, busy)


async def _sweep_address(
    signer: "Signer", address: DepositAddress, block_hash: str, busy: set[str]
) -> None:
    policy = signer.policy
    omnibus = signer.omnibus.ss58_address
    holdings = await signer.chain.holdings([address.address, omnibus], block_hash)
    free = holdings.free.get(address.address, 0)
    keypair = signer.keys.keypair_for(address.address, address.user_id, address.index)
    stakes = holdings.stake_of(address.address)
    for (hotkey, netuid), alpha in sorted(stakes.items()):
        if not await _worth_moving(signer, netuid, alpha):
            continue
        args: dict[str, Any] = {
            "destination_coldkey": omnibus,
            "hotkey": hotkey,
            "origin_netuid": netuid,
            "destination_netuid": netuid,
            "alpha_amount": alpha,
        }
        fee = await signer.chain.fee(keypair, "SubtensorModule", "transfer_stake", args)
        if free < fee + 2 * EXISTENTIAL_DEPOSIT:
            if omnibus in busy:
                return
            topup = max(policy.sweep_topup, fee + 1_000)
            if holdings.free.get(omnibus, 0) < topup + 1_000_000:
                log.warning(
                    "the omnibus cannot pay a sweep's top-up", extra={"to": address.address}
                )
                return
            tx = await signer.send(
                signer.omnibus,
                "topup",
                "Balances",
                "transfer_keep_alive",
                {"dest": address.address, "value": topup},
                asset=TAO,
                amount=topup,
                deposit_address_id=address.id,
            )
            if tx is not None:
                busy.add(omnibus)
            return
        await signer.send(
            keypair,
            "sweep",
            "SubtensorModule",
            "transfer_stake",
            args,
            netuid=netuid,
            hotkey=hotkey,
            amount=alpha,
            deposit_address_id=address.id,
        )
        return
    if free > 2 * policy.sweep_topup:
        await signer.send(
            keypair,
            "sweep",
            "Balances",
            "transfer_all",
            {"dest": omnibus, "keep_alive": False},
            asset=TAO,
            amount=free,
            deposit_address_id=address.id,
        )
        return
    async with signer.sessionmaker() as session:
        row = await session.get(DepositAddress, address.id, with_for_update=True)
        if row is not None:
            row.sweep_pending = False
            await session.commit()
