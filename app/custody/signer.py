"""The signer: builds, records, broadcasts. Never sends twice, never loses one.

One transaction at a time per signing account (the omnibus, each deposit address): its
nonce is the account's nonce at the finalized head, read after the scanner has settled or
expired the previous one, so no two transactions ever compete for a nonce and a dead one
(expired era) can be replaced safely (`uq_chain_transactions_open_signer` enforces it).

    sign -> record (commit: signer, nonce, era, hash, bytes) -> broadcast -> [scanner]

- a crash before the record commits: nothing was broadcast; it is signed again later;
- a crash between record and broadcast: the recorded bytes are broadcast again on start
  (the same extrinsic: the chain includes it at most once);
- a crash after broadcast: the scanner finds it in a finalized block (or sees its era end)
  whenever it catches up; open transactions are re-broadcast every step until then, so a
  node that lost its pool (a restart) gets them again.
A refusal (1010 and the like) is never taken as proof that nothing will be included: an
extrinsic refused now may have been included before (a re-broadcast after a crash is
refused as stale, or with a bad signature once its era ended). Only the scanner decides,
from finalized blocks.
"""

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from substrateinterface import Keypair

from app.chain.custody import AsyncCustodyChain, Holdings
from app.custody.policy import EXISTENTIAL_DEPOSIT, TAO, Policy
from app.custody.transactions import open_transactions
from app.custody.withdrawals import announce
from app.models import ChainTransaction, StakingOperation, Withdrawal

log = logging.getLogger("app.custody.signer")

ALREADY_THERE = (1012, 1013)  # temporarily banned (seen before), already in the pool
# Test-only failpoint: stop after recording a transaction, before broadcasting it
# (`after_record`, or `after_record:<purpose>` for one purpose only).
FAILPOINT_AFTER_RECORD = "after_record"


class Signer:
    def __init__(
        self,
        chain: AsyncCustodyChain,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: Policy,
        *,
        failpoint: str | None = None,
    ) -> None:
        assert policy.signer is not None, "the signer needs the custody secret"
        self.chain = chain
        self.sessionmaker = sessionmaker
        self.policy = policy
        self.keys = policy.signer
        self.failpoint = failpoint

    @property
    def omnibus(self) -> Keypair:
        return self.keys.omnibus

    # --- the primitive --------------------------------------------------------------------------

    async def last_purpose(self) -> str | None:
        """What the omnibus's latest transaction was for (None: it has sent none)."""
        async with self.sessionmaker() as session:
            purpose: str | None = await session.scalar(
                select(ChainTransaction.purpose)
                .where(ChainTransaction.signer == self.omnibus.ss58_address)
                .order_by(ChainTransaction.id.desc())
                .limit(1)
            )
        return purpose

    async def open_signers(self) -> set[str]:
        async with self.sessionmaker() as session:
            return {t.signer for t in await open_transactions(session)}

    async def send(
        self,
        keypair: Keypair,
        purpose: str,
        pallet: str,
        call: str,
        args: dict[str, Any],
        *,
        asset: str | None = None,
        netuid: int | None = None,
        hotkey: str | None = None,
        amount: int | None = None,
        withdrawal_id: int | None = None,
        deposit_address_id: int | None = None,
        operation_id: int | None = None,
    ) -> ChainTransaction | None:
        """Sign, record and broadcast one transaction; None if it was not recorded (the
        signer has an open one, or the withdrawal or staking operation it carries is no
        longer waiting for one)."""
        head = await self.chain.finalized_head()
        nonce = await self.chain.account_nonce(keypair.ss58_address, head.hash)
        signed = await self.chain.sign(
            keypair,
            pallet,
            call,
            args,
            nonce=nonce,
            era_period=self.policy.era_period,
            current=head.number,
        )
        tx = ChainTransaction(
            purpose=purpose,
            withdrawal_id=withdrawal_id,
            deposit_address_id=deposit_address_id,
            operation_id=operation_id,
            signer=keypair.ss58_address,
            nonce=signed.nonce,
            era_birth=signed.era_birth,
            era_period=signed.era_period,
            pallet=pallet,
            call=call,
            args=args,
            asset=asset,
            netuid=netuid,
            hotkey=hotkey,
            amount=amount,
            extrinsic=signed.hex,
            extrinsic_hash=signed.hash,
            state="signed",
        )
        async with self.sessionmaker() as session:
            if withdrawal_id is not None:
                w = await session.get(Withdrawal, withdrawal_id, with_for_update=True)
                if w is None or w.state != "queued":
                    return None
                w.state = "sending"
                await announce(session, w)
            if operation_id is not None:
                operation = await session.get(StakingOperation, operation_id, with_for_update=True)
                if operation is None or operation.status != "planned":
                    return None
                operation.status = "sending"
            session.add(tx)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return None
        log.info(
            "transaction recorded",
            extra={"tx": tx.id, "purpose": purpose, "nonce": tx.nonce, "hash": tx.extrinsic_hash},
        )
        if self.failpoint in (FAILPOINT_AFTER_RECORD, f"{FAILPOINT_AFTER_RECORD}:{purpose}"):
            log.warning("failpoint after_record: not broadcasting")
            await asyncio.Event().wait()
        await self.broadcast(tx)
        return tx

    async def broadcast(self, tx: ChainTransaction) -> None:
        result = await self.chain.submit(tx.extrinsic)
        stale = result.message is not None and "outdated" in result.message.lower()
        reached = result.accepted or result.rpc_code in ALREADY_THERE or stale
        async with self.sessionmaker() as session:
            row = await session.get(ChainTransaction, tx.id, with_for_update=True)
            if row is None or row.state not in ("signed", "broadcast"):
                return
            if reached and row.state == "signed":
                row.state = "broadcast"
            row.submit_error = None if result.accepted else result.message
            await session.commit()
        if not reached:
            log.warning(
                "broadcast refused; it is tried again until its era ends",
                extra={"tx": tx.id, "code": result.rpc_code, "error": result.message},
            )

    async def rebroadcast(self) -> None:
        async with self.sessionmaker() as session:
            txs = await open_transactions(session)
        if not txs:
            return
        head = await self.chain.finalized_head()
        for tx in txs:
            if head.number < tx.death:
                await self.broadcast(tx)

    # --- withdrawals ------------------------------------------------------------------------------

    async def send_withdrawals(self) -> None:
        if self.omnibus.ss58_address in await self.open_signers():
            return
        async with self.sessionmaker() as session:
            queued = list(
                await session.scalars(
                    select(Withdrawal).where(Withdrawal.state == "queued").order_by(Withdrawal.id)
                )
            )
        if not queued:
            return
        head = await self.chain.finalized_head()
        holdings = await self.chain.holdings([self.omnibus.ss58_address], head.hash)
        for w in queued:
            sent = await self._send_withdrawal(w, holdings)
            if sent:
                return  # one open transaction per signer: the next one after this settles

    async def _send_withdrawal(self, w: Withdrawal, holdings: Holdings) -> bool:
        omnibus = self.omnibus.ss58_address
        remaining = w.amount - w.sent
        if w.asset == TAO:
            args: dict[str, Any] = {"dest": w.destination, "value": remaining}
            fee = await self.chain.fee(self.omnibus, "Balances", "transfer_keep_alive", args)
            if holdings.free.get(omnibus, 0) < remaining + fee + EXISTENTIAL_DEPOSIT:
                await self._note(w, "waiting for custody funds (TAO)")
                return False
            tx = await self.send(
                self.omnibus,
                "withdrawal",
                "Balances",
                "transfer_keep_alive",
                args,
                asset=TAO,
                amount=remaining,
                withdrawal_id=w.id,
            )
            return tx is not None
        assert w.netuid is not None
        stakes = {h: v for (h, n), v in holdings.stake_of(omnibus).items() if n == w.netuid}
        if sum(stakes.values()) < remaining:
            await self._note(w, f"waiting for custody funds ({w.asset})")
            return False
        validator = self.policy.validator_hotkey
        hotkey = (
            validator
            if validator in stakes
            else max(sorted(stakes), key=lambda h: stakes[h])  # the largest position
        )
        # The whole remainder from that hotkey: the chain caps it at the stake held there,
        # and the settlement sends what is left from the next one.
        args = {
            "destination_coldkey": w.destination,
            "hotkey": hotkey,
            "origin_netuid": w.netuid,
            "destination_netuid": w.netuid,
            "alpha_amount": remaining,
        }
        tx = await self.send(
            self.omnibus,
            "withdrawal",
            "SubtensorModule",
            "transfer_stake",
            args,
            asset=w.asset,
            netuid=w.netuid,
            hotkey=hotkey,
            amount=remaining,
            withdrawal_id=w.id,
        )
        return tx is not None

    async def _note(self, w: Withdrawal, reason: str) -> None:
        async with self.sessionmaker() as session:
            row = await session.get(Withdrawal, w.id, with_for_update=True)
            if row is not None and row.state == "queued" and row.reason != reason:
                row.reason = reason
                await session.commit()
                log.warning("withdrawal waiting", extra={"withdrawal": w.id, "reason": reason})
