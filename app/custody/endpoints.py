"""Custody HTTP API: deposit addresses, deposits, withdrawal addresses, withdrawals, and the
admin's views (held deposits, approvals, transactions, the reconciliation)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from app.auth.dependencies import AdminPrincipal, ReadPrincipal, WithdrawPrincipal
from app.chain.custody import AsyncCustodyChain
from app.custody import addresses, deposits, withdrawals
from app.custody.errors import CustodyNotConfigured
from app.custody.policy import Policy
from app.custody.reconciliation import reconcile
from app.custody.schemas import (
    NAME_PATTERN,
    AdminChainDepositOut,
    AdminChainDepositsOut,
    AdminDepositAddressOut,
    AdminWithdrawalOut,
    AdminWithdrawalsOut,
    ChainDepositOut,
    ChainDepositsOut,
    DepositAddressesOut,
    DepositAddressOut,
    DepositState,
    ReasonIn,
    ReconciliationOut,
    TransactionOut,
    TransactionsOut,
    TransactionState,
    WithdrawalAddressesOut,
    WithdrawalAddressIn,
    WithdrawalAddressOut,
    WithdrawalIn,
    WithdrawalOut,
    WithdrawalsOut,
    WithdrawalState,
)
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt
from app.ledger.schemas import MAX_ASSET
from app.models import ChainTransaction

router = APIRouter(prefix="/v1", tags=["custody"])
admin = APIRouter(prefix="/v1/admin/custody", tags=["custody admin"])

Id = Annotated[PositiveInt, Path()]
Limit = Annotated[int, Canonical(1, 500), Query()]
BeforeId = Annotated[PositiveInt | None, Query()]
AssetQuery = Annotated[str | None, Query(max_length=MAX_ASSET)]


def custody_policy(request: Request) -> Policy:
    policy: Policy | None = getattr(request.app.state, "custody_policy", None)
    if policy is None:
        raise CustodyNotConfigured(
            getattr(request.app.state, "custody_problem", None) or "custody is not configured"
        )
    return policy


CustodyPolicy = Annotated[Policy, Depends(custody_policy)]


# ---------------------------------------------------------------------------- deposits


@router.get("/deposit-addresses", response_model=DepositAddressesOut)
async def get_deposit_addresses(
    principal: ReadPrincipal, session: Session, policy: CustodyPolicy
) -> DepositAddressesOut:
    """Your active deposit addresses (create one with POST). One address takes TAO
    (`transfer_keep_alive`) and every listed subnet's alpha (`transfer_stake` to it)."""
    rows = await addresses.list_addresses(session, principal.user_id)
    return DepositAddressesOut(addresses=[DepositAddressOut.of(r) for r in rows])


@router.post("/deposit-addresses", response_model=DepositAddressOut, status_code=201)
async def create_deposit_address(
    principal: ReadPrincipal, session: Session, policy: CustodyPolicy
) -> DepositAddressOut:
    row = await addresses.new_address(session, policy.keys, principal.user_id)
    return DepositAddressOut.of(row)


@router.get("/deposits", response_model=ChainDepositsOut)
async def get_deposits(
    principal: ReadPrincipal,
    session: Session,
    asset: AssetQuery = None,
    state: Annotated[DepositState | None, Query()] = None,
    before_id: BeforeId = None,
    limit: Limit = 100,
) -> ChainDepositsOut:
    """Deposits seen on chain, newest first (`before_id` pages back)."""
    rows = await deposits.list_deposits(
        session,
        principal.user_id,
        asset=asset,
        states=(state,) if state else None,
        before_id=before_id,
        limit=limit,
    )
    return ChainDepositsOut(deposits=[ChainDepositOut.of(d) for d in rows])


# ---------------------------------------------------------------------------- address book

AddressName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]


@router.get("/withdrawal-addresses", response_model=WithdrawalAddressesOut)
async def get_withdrawal_addresses(
    principal: ReadPrincipal, session: Session, asset: AssetQuery = None
) -> WithdrawalAddressesOut:
    rows = await withdrawals.list_addresses(session, principal.user_id, asset)
    now = datetime.now(UTC)
    return WithdrawalAddressesOut(addresses=[WithdrawalAddressOut.of(r, now) for r in rows])


@router.post("/withdrawal-addresses", response_model=WithdrawalAddressOut, status_code=201)
async def add_withdrawal_address(
    body: WithdrawalAddressIn,
    principal: WithdrawPrincipal,
    session: Session,
    policy: CustodyPolicy,
) -> WithdrawalAddressOut:
    """Add an address to your book by name; usable once it unlocks (the configured delay)."""
    row = await withdrawals.add_address(
        session, policy, principal.user_id, body.name, body.address, body.asset
    )
    return WithdrawalAddressOut.of(row, datetime.now(UTC))


@router.delete("/withdrawal-addresses/{name}", response_model=WithdrawalAddressOut)
async def delete_withdrawal_address(
    name: AddressName, principal: WithdrawPrincipal, session: Session
) -> WithdrawalAddressOut:
    row = await withdrawals.delete_address(session, principal.user_id, name)
    return WithdrawalAddressOut.of(row, datetime.now(UTC))


# ---------------------------------------------------------------------------- withdrawals


@router.post("/withdrawals", response_model=WithdrawalOut, status_code=201)
async def create_withdrawal(
    body: WithdrawalIn,
    principal: WithdrawPrincipal,
    session: Session,
    policy: CustodyPolicy,
    response: Response,
) -> WithdrawalOut:
    """Withdraw `amount` to an address of your book: held at once, sent by the signer. The
    same `idempotency_key` again returns the first withdrawal (200), nothing new."""
    result = await withdrawals.request_withdrawal(
        session,
        policy,
        user_id=principal.user_id,
        asset=body.asset,
        amount=body.amount,
        address_name=body.address_name,
        idempotency_key=body.idempotency_key,
    )
    if not result.created:
        response.status_code = 200
    return WithdrawalOut.of(result.withdrawal)


@router.get("/withdrawals", response_model=WithdrawalsOut)
async def get_withdrawals(
    principal: ReadPrincipal,
    session: Session,
    asset: AssetQuery = None,
    state: Annotated[WithdrawalState | None, Query()] = None,
    before_id: BeforeId = None,
    limit: Limit = 100,
) -> WithdrawalsOut:
    rows = await withdrawals.list_withdrawals(
        session,
        principal.user_id,
        asset=asset,
        states=(state,) if state else None,
        before_id=before_id,
        limit=limit,
    )
    return WithdrawalsOut(withdrawals=[WithdrawalOut.of(w) for w in rows])


@router.get("/withdrawals/{withdrawal_id}", response_model=WithdrawalOut)
async def get_withdrawal(
    withdrawal_id: Id, principal: ReadPrincipal, session: Session
) -> WithdrawalOut:
    w = await withdrawals.get_withdrawal(session, withdrawal_id, principal.user_id)
    return WithdrawalOut.of(w)


@router.post("/withdrawals/{withdrawal_id}/cancel", response_model=WithdrawalOut)
async def cancel_withdrawal(
    withdrawal_id: Id, principal: WithdrawPrincipal, session: Session
) -> WithdrawalOut:
    """Cancel a withdrawal that is not being sent yet (`pending_approval` or `queued`)."""
    w = await withdrawals.cancel_withdrawal(session, withdrawal_id, principal.user_id)
    return WithdrawalOut.of(w)


# ---------------------------------------------------------------------------- admin


@admin.get("/deposits", response_model=AdminChainDepositsOut)
async def admin_deposits(
    principal: AdminPrincipal,
    session: Session,
    state: Annotated[DepositState | None, Query()] = None,
    before_id: BeforeId = None,
    limit: Limit = 100,
) -> AdminChainDepositsOut:
    """Every user's chain deposits; `state=below_minimum` (etc.) for those not credited."""
    rows = await deposits.list_deposits(
        session, None, states=(state,) if state else None, before_id=before_id, limit=limit
    )
    return AdminChainDepositsOut(deposits=[AdminChainDepositOut.of(d) for d in rows])


@admin.post("/deposits/{deposit_id}/credit", response_model=AdminChainDepositOut)
async def admin_credit_deposit(
    deposit_id: Id, body: ReasonIn, principal: AdminPrincipal, session: Session
) -> AdminChainDepositOut:
    """Credit a deposit that was recorded without a credit (audited)."""
    d = await deposits.credit_held(session, deposit_id, principal, body.reason)
    return AdminChainDepositOut.of(d)


@admin.post("/deposit-addresses/{address_id}/retire", response_model=AdminDepositAddressOut)
async def admin_retire_address(
    address_id: Id, body: ReasonIn, principal: AdminPrincipal, session: Session
) -> AdminDepositAddressOut:
    """Retire a deposit address: what arrives later is recorded for an admin, not credited."""
    row = await addresses.retire_address(session, address_id, principal, body.reason)
    return AdminDepositAddressOut.of(row)


@admin.get("/withdrawals", response_model=AdminWithdrawalsOut)
async def admin_withdrawals(
    principal: AdminPrincipal,
    session: Session,
    state: Annotated[WithdrawalState | None, Query()] = None,
    before_id: BeforeId = None,
    limit: Limit = 100,
) -> AdminWithdrawalsOut:
    rows = await withdrawals.list_withdrawals(
        session, None, states=(state,) if state else None, before_id=before_id, limit=limit
    )
    return AdminWithdrawalsOut(withdrawals=[AdminWithdrawalOut.of(w) for w in rows])


@admin.post("/withdrawals/{withdrawal_id}/approve", response_model=AdminWithdrawalOut)
async def admin_approve_withdrawal(
    withdrawal_id: Id, principal: AdminPrincipal, session: Session
) -> AdminWithdrawalOut:
    """Release a withdrawal above the approval threshold to the signer (audited)."""
    w = await withdrawals.approve_withdrawal(session, withdrawal_id, principal)
    return AdminWithdrawalOut.of(w)


@admin.post("/withdrawals/{withdrawal_id}/reject", response_model=AdminWithdrawalOut)
async def admin_reject_withdrawal(
    withdrawal_id: Id, body: ReasonIn, principal: AdminPrincipal, session: Session
) -> AdminWithdrawalOut:
    """Refuse a withdrawal not yet being sent: its hold returns to available (audited)."""
    w = await withdrawals.reject_withdrawal(session, withdrawal_id, principal, body.reason)
    return AdminWithdrawalOut.of(w)


@admin.get("/transactions", response_model=TransactionsOut)
async def admin_transactions(
    principal: AdminPrincipal,
    session: Session,
    state: Annotated[TransactionState | None, Query()] = None,
    before_id: BeforeId = None,
    limit: Limit = 100,
) -> TransactionsOut:
    """The extrinsics the signer recorded, newest first."""
    query = select(ChainTransaction)
    if state:
        query = query.where(ChainTransaction.state == state)
    if before_id is not None:
        query = query.where(ChainTransaction.id < before_id)
    rows = await session.scalars(query.order_by(ChainTransaction.id.desc()).limit(limit))
    return TransactionsOut(transactions=[TransactionOut.of(t) for t in rows])


@admin.get("/reconciliation", response_model=ReconciliationOut)
async def admin_reconciliation(
    request: Request, principal: AdminPrincipal, session: Session, policy: CustodyPolicy
) -> ReconciliationOut:
    """Per asset: custody on chain (free TAO; alpha under every hotkey) of the omnibus and
    every deposit address, at the last scanned block, against the ledger."""
    chain: AsyncCustodyChain | None = getattr(request.app.state, "custody_chain", None)
    if chain is None:
        raise CustodyNotConfigured("this process has no chain connection for custody")
    return await reconcile(session, chain, policy)
