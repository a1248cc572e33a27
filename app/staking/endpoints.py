"""Staking HTTP API: validators, allocations, positions, rewards; admin reconciliation."""

from fractions import Fraction
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.audit import service as audit
from app.auth.dependencies import AdminPrincipal, ReadPrincipal, TradePrincipal
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt
from app.kit.units import fraction_str
from app.ledger.errors import InvalidAmount
from app.ledger.service import parse_amount
from app.markets.schemas import SymbolPath
from app.markets.service import get_market
from app.models import Market, StakingAllocation, StakingOperation, StakingUnbonding
from app.staking import reconciliation as recon
from app.staking import rewards, service
from app.staking.schemas import (
    AllocationIn,
    AllocationOut,
    DeallocationIn,
    DeallocationOut,
    FlowIn,
    FlowOut,
    MismatchOut,
    MoveIn,
    MoveOut,
    OperationOut,
    OperationsOut,
    PositionsOut,
    ReconciliationOut,
    ReconciliationRow,
    RewardOut,
    RewardsOut,
    SettingsIn,
    SettingsOut,
    UnbondingOut,
    ValidatorOut,
    ValidatorsOut,
)

router = APIRouter(prefix="/v1/staking", tags=["staking"])
admin = APIRouter(prefix="/v1/admin/staking", tags=["admin"])

APR_DECIMALS = 6


def _allocation_out(a: StakingAllocation, m: Market) -> AllocationOut:
    return AllocationOut(
        market=m.symbol, asset=a.asset, netuid=m.netuid, hotkey=a.hotkey, amount=str(a.amount)
    )


def _unbonding_out(u: StakingUnbonding, m: Market) -> UnbondingOut:
    return UnbondingOut(
        id=u.id,
        market=m.symbol,
        asset=u.asset,
        hotkey=u.hotkey,
        amount=str(u.amount),
        requested_block=u.requested_block,
        release_block=u.release_block,
        state=u.state,
    )


def _rate(value: Fraction | None) -> str | None:
    if value is None:
        return None
    if value < 0:
        return "-" + fraction_str(-value, APR_DECIMALS)
    return fraction_str(value, APR_DECIMALS)


@router.get("/validators", response_model=ValidatorsOut)
async def list_validators(
    session: Session, market: Annotated[str, Query(max_length=32, examples=["SN64-TAO"])]
) -> ValidatorsOut:
    """The market's subnet validators, the exchange's stake with each and an APR estimate
    from the growth of their share price over the last epochs (see the README)."""
    m = await get_market(session, market)
    settings = await service.staking_settings(session, m.id)
    keep = Fraction(10_000 - settings.commission_bps, 10_000)
    views = await recon.validators_of(session, m)
    return ValidatorsOut(
        market=m.symbol,
        netuid=m.netuid,
        commission_bps=settings.commission_bps,
        unbonding_blocks=settings.unbonding_blocks,
        validators=[
            ValidatorOut(
                hotkey=v.validator.hotkey,
                uid=v.validator.uid,
                validator_permit=v.validator.validator_permit,
                take=v.validator.take,
                take_bps=v.validator.take * 10_000 // 65_535,
                total_stake=str(v.validator.total_alpha),
                name=v.validator.name,
                custody_stake=str(v.custody_stake),
                allocated=str(v.allocated),
                apr=_rate(v.apr),
                net_apr=_rate(None if v.apr is None else v.apr * keep),
                apr_epochs=v.apr_epochs,
            )
            for v in views
        ],
    )


@router.post("/allocations", response_model=AllocationOut, status_code=201)
async def create_allocation(
    body: AllocationIn, principal: TradePrincipal, session: Session
) -> AllocationOut:
    allocation = await service.allocate(
        session, principal.user_id, body.market, body.hotkey, body.amount
    )
    market = await get_market(session, body.market)
    return _allocation_out(allocation, market)


@router.post("/deallocations", response_model=DeallocationOut)
async def create_deallocation(
    body: DeallocationIn, principal: TradePrincipal, session: Session
) -> DeallocationOut:
    result = await service.deallocate(
        session, principal.user_id, body.market, body.hotkey, body.amount
    )
    market = await get_market(session, body.market)
    return DeallocationOut(
        allocation=_allocation_out(result.allocation, market),
        amount=str(result.amount),
        unbonding=_unbonding_out(result.unbonding, market) if result.unbonding else None,
    )


@router.post("/moves", response_model=MoveOut)
async def create_move(body: MoveIn, principal: TradePrincipal, session: Session) -> MoveOut:
    """Re-delegate an allocation (or part of it) to another validator of the subnet: it
    stays staked and keeps earning (no unbonding); the stake manager moves the alpha on
    chain (one `move_stake`, netted with other users' changes)."""
    result = await service.move(
        session, principal.user_id, body.market, body.from_hotkey, body.to_hotkey, body.amount
    )
    market = await get_market(session, body.market)
    return MoveOut(
        origin=_allocation_out(result.origin, market),
        destination=_allocation_out(result.destination, market),
        amount=str(result.amount),
    )


@router.get("/positions", response_model=PositionsOut)
async def get_positions(principal: ReadPrincipal, session: Session) -> PositionsOut:
    return PositionsOut(
        allocations=[
            _allocation_out(a, m)
            for a, m in await service.user_allocations(session, principal.user_id)
        ],
        unbonding=[
            _unbonding_out(u, m)
            for u, m in await service.user_unbondings(session, principal.user_id)
        ],
    )


@router.get("/rewards", response_model=RewardsOut)
async def get_rewards(
    principal: ReadPrincipal,
    session: Session,
    limit: Annotated[int, Canonical(1, 500), Query()] = 100,
    before_id: Annotated[PositiveInt | None, Query()] = None,
) -> RewardsOut:
    """The caller's rewards per epoch, newest first (page with `before_id`)."""
    rows = await rewards.user_rewards(session, principal.user_id, limit=limit, before_id=before_id)
    return RewardsOut(
        rewards=[
            RewardOut(
                distribution_id=d.id,
                netuid=d.netuid,
                asset=d.asset,
                hotkey=d.hotkey,
                epoch=d.epoch,
                start_block=d.start_block,
                end_block=d.end_block,
                weight=str(int(r.weight)),
                amount=str(r.amount),
                created_at=d.created_at,
            )
            for r, d in rows
        ]
    )


@admin.get("/reconciliation", response_model=ReconciliationOut)
async def get_reconciliation(
    request: Request, principal: AdminPrincipal, session: Session
) -> ReconciliationOut:
    """Per (subnet, validator): users' allocations (and the float, under the exchange's own
    hotkey) versus the custody stake on chain and the stake manager's moves in flight."""
    policy = getattr(request.app.state, "custody_policy", None)
    rows = await recon.reconciliation(
        session,
        policy.validator_hotkey if policy is not None else None,
        request.app.state.settings.staking_drift_alert_blocks,
    )
    mismatches = await service.check_staking(session)
    return ReconciliationOut(
        positions=[
            ReconciliationRow(
                market=g.market.symbol,
                netuid=g.market.netuid,
                hotkey=g.hotkey,
                allocated=str(g.allocated),
                float=str(g.float),
                target=str(g.target),
                on_chain=str(g.on_chain),
                in_flight=str(g.in_flight),
                difference=str(g.difference),
                block=g.block,
                drifting_since=g.drifting_since,
                alert=g.alert,
            )
            for g in rows
        ],
        ledger_mismatches=[
            MismatchOut(
                user_id=m.user_id,
                asset=m.asset,
                ledger_staked=str(m.ledger_staked),
                allocated=str(m.allocated),
                unbonding=str(m.unbonding),
            )
            for m in mismatches
        ],
        ok=not mismatches and not any(g.alert for g in rows),
    )


def _operation_out(o: StakingOperation) -> OperationOut:
    return OperationOut(
        id=o.id,
        plan_id=str(o.plan_id),
        netuid=o.netuid,
        operation=o.operation,
        origin_hotkey=o.origin_hotkey,
        destination_hotkey=o.destination_hotkey,
        amount=str(o.amount),
        status=o.status,
        based_on_block=o.based_on_block,
        executed_block=o.executed_block,
        moved=str(o.moved),
        error=o.error,
    )


@admin.get("/operations", response_model=OperationsOut)
async def get_operations(principal: AdminPrincipal, session: Session) -> OperationsOut:
    """The stake manager's latest plan of `move_stake` operations, with their outcome."""
    return OperationsOut(operations=[_operation_out(o) for o in await recon.latest_plan(session)])


@admin.post("/flows", response_model=FlowOut, status_code=201)
async def create_flow(body: FlowIn, principal: AdminPrincipal, session: Session) -> FlowOut:
    """A correction: stake that moved into (+) or out of (-) a custody position on chain
    without the exchange's custody seeing it (the scanner records deposits, withdrawals and
    the stake manager's moves itself), so that reward periods do not count it as emissions.
    Audited."""
    market = await get_market(session, body.market)
    raw = body.amount
    negative = isinstance(raw, str) and raw.startswith("-")
    magnitude: object = raw[1:] if negative and isinstance(raw, str) else raw
    if isinstance(raw, int) and raw < 0:
        negative, magnitude = True, -raw
    if magnitude in ("0", 0):
        raise InvalidAmount("a flow must not be zero")
    amount = parse_amount(magnitude)
    flow = await recon.record_flow(
        session, market, body.hotkey, -amount if negative else amount, body.block, body.reason
    )
    await audit.record(
        session,
        principal,
        "staking.flow",
        "staking_chain_flow",
        flow.id,
        None,
        {"netuid": market.netuid, "hotkey": flow.hotkey, "amount": str(flow.amount)},
        body.reason,
    )
    return FlowOut(
        id=flow.id,
        netuid=market.netuid,
        hotkey=flow.hotkey,
        amount=str(flow.amount),
        block=flow.block_number,
        reason=flow.reason,
    )


@admin.get("/settings/{symbol}", response_model=SettingsOut)
async def get_settings(
    symbol: SymbolPath, principal: AdminPrincipal, session: Session
) -> SettingsOut:
    market = await get_market(session, symbol)
    s = await service.staking_settings(session, market.id)
    return SettingsOut(
        market=market.symbol, commission_bps=s.commission_bps, unbonding_blocks=s.unbonding_blocks
    )


@admin.put("/settings/{symbol}", response_model=SettingsOut)
async def put_settings(
    symbol: SymbolPath, body: SettingsIn, principal: AdminPrincipal, session: Session
) -> SettingsOut:
    market = await get_market(session, symbol, for_update=True)
    s = await service.update_settings(
        session,
        market,
        commission_bps=body.commission_bps,
        unbonding_blocks=body.unbonding_blocks,
    )
    return SettingsOut(
        market=market.symbol, commission_bps=s.commission_bps, unbonding_blocks=s.unbonding_blocks
    )
