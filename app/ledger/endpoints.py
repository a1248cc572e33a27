"""Ledger HTTP API: admin deposits, withdrawals, balances, the statement."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from app.auth.dependencies import AdminPrincipal, ReadPrincipal, WithdrawPrincipal
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt, Timestamp
from app.ledger import funding
from app.ledger.schemas import (
    MAX_ASSET,
    AdminWithdrawalOut,
    AdminWithdrawalsOut,
    ApproveIn,
    BalanceOut,
    BalancesOut,
    DepositIn,
    DepositOut,
    DepositsOut,
    EntriesOut,
    EntryOut,
    RejectIn,
    WithdrawalIn,
    WithdrawalOut,
    WithdrawalsOut,
)
from app.ledger.statement import user_balances, user_entries
from app.models import Deposit, Withdrawal

router = APIRouter(prefix="/v1", tags=["ledger"])
WithdrawalId = Annotated[PositiveInt, Path()]


def _deposit_out(d: Deposit) -> DepositOut:
    return DepositOut(
        id=d.id,
        user_id=d.user_id,
        asset=d.asset,
        amount=str(d.amount),
        external_ref=d.external_ref,
        transfer_id=d.transfer_id,
        created_at=d.created_at,
    )


def _withdrawal_out(w: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut(
        id=w.id,
        asset=w.asset,
        amount=str(w.amount),
        destination=w.destination,
        state=w.state,
        external_tx_ref=w.external_tx_ref,
        reason=w.reason,
        created_at=w.created_at,
        resolved_at=w.resolved_at,
    )


@router.post("/admin/deposits", response_model=DepositOut, status_code=201)
async def create_deposit(
    body: DepositIn, principal: AdminPrincipal, session: Session, response: Response
) -> DepositOut:
    """Credit a user (201); the same `external_ref` again returns the first deposit (200)."""
    result = await funding.admin_deposit(
        session,
        user_id=body.user_id,
        asset=body.asset,
        amount=body.amount,
        external_ref=body.external_ref,
        admin_id=principal.user_id,
    )
    if not result.created:
        response.status_code = 200
    return _deposit_out(result.deposit)


@router.get("/admin/deposits", response_model=DepositsOut)
async def list_deposits(
    _: AdminPrincipal,
    session: Session,
    user_id: Annotated[PositiveInt | None, Query()] = None,
    before_id: Annotated[PositiveInt | None, Query()] = None,
    limit: Annotated[int, Canonical(1, 500), Query()] = 100,
) -> DepositsOut:
    """Credited deposits of every user (or of `user_id`), newest first."""
    rows = await funding.list_deposits(session, user_id=user_id, before_id=before_id, limit=limit)
    return DepositsOut(
        deposits=[_deposit_out(d) for d in rows],
        next_cursor=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/admin/withdrawals", response_model=AdminWithdrawalsOut)
async def list_all_withdrawals(
    _: AdminPrincipal,
    session: Session,
    state: Annotated[
        Literal["pending", "approved", "rejected", "cancelled"] | None, Query()
    ] = None,
    before_id: Annotated[PositiveInt | None, Query()] = None,
    limit: Annotated[int, Canonical(1, 500), Query()] = 100,
) -> AdminWithdrawalsOut:
    """Every user's withdrawals, newest first; `state=pending` is the review queue."""
    rows = await funding.list_all_withdrawals(
        session, state=state, before_id=before_id, limit=limit
    )
    return AdminWithdrawalsOut(
        withdrawals=[
            AdminWithdrawalOut(**_withdrawal_out(w).model_dump(), user_id=w.user_id) for w in rows
        ],
        next_cursor=rows[-1].id if len(rows) == limit else None,
    )


@router.post("/withdrawals", response_model=WithdrawalOut, status_code=201)
async def create_withdrawal(
    body: WithdrawalIn, principal: WithdrawPrincipal, session: Session
) -> WithdrawalOut:
    withdrawal = await funding.request_withdrawal(
        session,
        user_id=principal.user_id,
        asset=body.asset,
        amount=body.amount,
        destination=body.destination,
    )
    return _withdrawal_out(withdrawal)


@router.get("/withdrawals", response_model=WithdrawalsOut)
async def get_withdrawals(
    principal: ReadPrincipal,
    session: Session,
    before_id: Annotated[PositiveInt | None, Query()] = None,
    limit: Annotated[int, Canonical(1, 500), Query()] = 100,
) -> WithdrawalsOut:
    rows = await funding.list_withdrawals(
        session, principal.user_id, before_id=before_id, limit=limit
    )
    return WithdrawalsOut(withdrawals=[_withdrawal_out(w) for w in rows])


@router.post("/withdrawals/{withdrawal_id}/cancel", response_model=WithdrawalOut)
async def cancel_withdrawal(
    withdrawal_id: WithdrawalId, principal: WithdrawPrincipal, session: Session
) -> WithdrawalOut:
    w = await funding.cancel_withdrawal(session, withdrawal_id, principal.user_id)
    return _withdrawal_out(w)


@router.post("/admin/withdrawals/{withdrawal_id}/approve", response_model=WithdrawalOut)
async def approve_withdrawal(
    withdrawal_id: WithdrawalId, body: ApproveIn, principal: AdminPrincipal, session: Session
) -> WithdrawalOut:
    w = await funding.approve_withdrawal(session, withdrawal_id, body.external_tx_ref)
    return _withdrawal_out(w)


@router.post("/admin/withdrawals/{withdrawal_id}/reject", response_model=WithdrawalOut)
async def reject_withdrawal(
    withdrawal_id: WithdrawalId, body: RejectIn, principal: AdminPrincipal, session: Session
) -> WithdrawalOut:
    w = await funding.reject_withdrawal(session, withdrawal_id, body.reason)
    return _withdrawal_out(w)


@router.get("/balances", response_model=BalancesOut)
async def get_balances(principal: ReadPrincipal, session: Session) -> BalancesOut:
    """Per asset: available, held (open orders, pending withdrawals), staked, total, as strings
    of integer base units."""
    rows = await user_balances(session, principal.user_id)
    return BalancesOut(
        balances=[
            BalanceOut(
                asset=b.asset,
                decimals=b.decimals,
                available=str(b.available),
                held=str(b.held),
                staked=str(b.staked),
                total=str(b.total),
            )
            for b in rows
        ]
    )


@router.get("/ledger/entries", response_model=EntriesOut)
async def get_entries(
    principal: ReadPrincipal,
    session: Session,
    asset: Annotated[str | None, Query(max_length=MAX_ASSET)] = None,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Annotated[Timestamp | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Canonical(1, 1000), Query()] = 100,
) -> EntriesOut:
    """The user's statement, oldest first; pass `next_cursor` back as `cursor` for the next
    page. `from` is inclusive, `to` exclusive (ISO 8601)."""
    entries, next_cursor = await user_entries(
        session, principal.user_id, asset=asset, from_=from_, to=to, cursor=cursor, limit=limit
    )
    return EntriesOut(
        entries=[
            EntryOut(
                transfer_id=e.transfer_id,
                created_at=e.created_at,
                asset=e.asset,
                account=e.kind,
                amount=str(e.amount),
                code=e.code,
                reference=e.reference,
                cursor=e.cursor,
            )
            for e in entries
        ],
        next_cursor=next_cursor,
    )
