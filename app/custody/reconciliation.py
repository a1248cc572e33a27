"""Custody as the chain sees it, against the ledger, per asset.

On chain: the free TAO and the stake under EVERY hotkey (`StakingHotkeys`, not only
validators) of every custody account (the omnibus and every deposit address), read at the
last block the scanner processed, so that both sides describe the same moment. In the
ledger: what the custody account mirrors (minus its balance: it is credit-normal), the
users' liabilities, and the deposits recorded without a credit.

`difference = on_chain - ledger_custody`: zero when every movement was booked; positive is a
surplus (uncredited deposits, stake that grew before it was swept), negative is a deficit
(funds left custody without a ledger entry): `ok` is false then.
"""

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chain.custody import AsyncCustodyChain, Holdings
from app.custody.deposits import HELD_STATES
from app.custody.policy import TAO, Policy
from app.custody.schemas import AssetReconciliationOut, ReconciliationOut
from app.models import Asset, ChainDeposit, CustodyScanState, DepositAddress, LedgerAccount

ATTEMPTS = 3


async def _ledger(session: AsyncSession) -> tuple[dict[str, int], dict[str, int]]:
    """(custody mirror per asset, user liabilities per asset)."""
    rows = await session.execute(
        select(
            LedgerAccount.asset, LedgerAccount.kind, LedgerAccount.user_id, LedgerAccount.balance
        )
    )
    custody: dict[str, int] = defaultdict(int)
    users: dict[str, int] = defaultdict(int)
    for asset, kind, user_id, balance in rows:
        if kind == "custody":
            custody[asset] += -int(balance)
        elif user_id is not None:
            users[asset] += int(balance)
    return custody, users


async def reconcile(
    session: AsyncSession, chain: AsyncCustodyChain, policy: Policy
) -> ReconciliationOut:
    """The ledger is read while the scan state names block B, the chain at B; if the scanner
    committed another block meanwhile, again (so both sides describe the same block)."""
    for _ in range(ATTEMPTS):
        state = await session.get(CustodyScanState, 1, populate_existing=True)
        if state is None:
            head = await chain.finalized_head()
            block_number, block_hash = head.number, head.hash
        else:
            block_number, block_hash = state.last_block, state.last_block_hash
        addresses = list(await session.scalars(select(DepositAddress.address)))
        ledger = await _ledger(session)
        await session.commit()  # no transaction stays open while the chain is read
        holdings = await chain.holdings([policy.keys.omnibus, *addresses], block_hash)
        after = await session.get(CustodyScanState, 1, populate_existing=True)
        if state is None or (after is not None and after.last_block == block_number):
            break
    return await _report(session, ledger, holdings, block_number, block_hash, len(addresses) + 1)


async def _report(
    session: AsyncSession,
    ledger: tuple[dict[str, int], dict[str, int]],
    holdings: Holdings,
    block_number: int,
    block_hash: str,
    accounts: int,
) -> ReconciliationOut:
    custody, users = ledger
    held = dict(
        (
            await session.execute(
                select(ChainDeposit.asset, func.sum(ChainDeposit.amount))
                .where(ChainDeposit.state.in_(HELD_STATES), ChainDeposit.asset.is_not(None))
                .group_by(ChainDeposit.asset)
            )
        ).all()
    )
    netuids: dict[int, str] = {
        int(n or 0): code
        for n, code in await session.execute(
            select(Asset.netuid, Asset.code).where(Asset.netuid.is_not(None))
        )
    }
    on_chain: dict[str, int] = defaultdict(int)
    asset_netuid: dict[str, int | None] = {TAO: None}
    on_chain[TAO] = sum(holdings.free.values())
    for (_, _, netuid), stake in holdings.stake.items():
        code = netuids.get(netuid, f"netuid {netuid}")
        on_chain[code] += stake
        asset_netuid[code] = netuid
    for code in custody:
        asset_netuid.setdefault(code, None)
    for n, code in netuids.items():
        if code in asset_netuid:
            asset_netuid[code] = n
    rows = []
    for code in sorted(asset_netuid, key=lambda c: (c != TAO, c)):
        chain_amount, mirror = on_chain.get(code, 0), custody.get(code, 0)
        difference = chain_amount - mirror
        rows.append(
            AssetReconciliationOut(
                asset=code,
                netuid=asset_netuid[code],
                on_chain=str(chain_amount),
                ledger_custody=str(mirror),
                difference=str(difference),
                user_liabilities=str(users.get(code, 0)),
                uncredited_deposits=str(int(held.get(code, 0) or 0)),
                ok=difference >= 0,
            )
        )
    return ReconciliationOut(
        block_number=block_number,
        block_hash=block_hash,
        accounts=accounts,
        assets=rows,
        ok=all(r.ok for r in rows),
    )
