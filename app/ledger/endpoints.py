"""Ledger HTTP API: admin-credited deposits (corrections, audited), balances, the statement.
Withdrawals and chain deposits are in app/custody."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import AdminPrincipal, ReadPrincipal
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt, Timestamp
from app.ledger import funding
from app.ledger.schemas import (
    MAX_ASSET,
    BalanceOut,
    BalancesOut,
    DepositIn,
    DepositOut,
    DepositsOut,
    EntriesOut,
    EntryOut,
)
from app.ledger.statement import user_balances, user_entries
from app.models import Deposit

router = APIRouter(prefix="/v1", tags=["ledger"])


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


@router.post("/admin/deposits", response_model=DepositOut, status_code=201)
async def create_deposit(
    body: DepositIn, principal: AdminPrincipal, session: Session, response: Response
) -> DepositOut:
    """Credit a user (201); the same `external_ref` again returns the first deposit (200).
    For corrections: chain deposits are credited by the scanner. Audited (`deposit.admin`)."""
    result = await funding.admin_deposit(
        session,
        user_id=body.user_id,
        asset=body.asset,
        amount=body.amount,
        external_ref=body.external_ref,
        admin=principal,
        reason=body.reason,
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
