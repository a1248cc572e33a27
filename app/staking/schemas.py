"""Staking API bodies. Amounts are strings of integer alpha base units (9 decimals):
"1500000000" is 1.5 alpha. Never floats."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StrictStr

from app.kit.inputs import Canonical
from app.ledger.schemas import amount_field
from app.staking.service import MAX_COMMISSION_BPS, MAX_UNBONDING_BLOCKS

Amount = StrictStr | StrictInt


class AllocationIn(BaseModel):
    market: str = Field(examples=["SN64-TAO"], max_length=32)
    hotkey: str = Field(description="the validator's SS58 hotkey", max_length=64)
    amount: Amount = amount_field("alpha base units as a string")


class DeallocationIn(BaseModel):
    market: str = Field(examples=["SN64-TAO"], max_length=32)
    hotkey: str = Field(max_length=64)
    amount: Amount | None = amount_field("default: the whole allocation", default=None)


class MoveIn(BaseModel):
    market: str = Field(examples=["SN64-TAO"], max_length=32)
    from_hotkey: str = Field(description="the validator the alpha leaves", max_length=64)
    to_hotkey: str = Field(description="the validator it backs from now on", max_length=64)
    amount: Amount | None = amount_field("default: the whole allocation", default=None)


class AllocationOut(BaseModel):
    market: str
    asset: str
    netuid: int
    hotkey: str
    amount: str


class UnbondingOut(BaseModel):
    id: int
    market: str
    asset: str
    hotkey: str
    amount: str
    requested_block: int
    release_block: int
    state: str


class DeallocationOut(BaseModel):
    allocation: AllocationOut
    amount: str
    unbonding: UnbondingOut | None


class MoveOut(BaseModel):
    origin: AllocationOut
    destination: AllocationOut
    amount: str


class PositionsOut(BaseModel):
    allocations: list[AllocationOut]
    unbonding: list[UnbondingOut]


class ValidatorOut(BaseModel):
    hotkey: str
    uid: int
    validator_permit: bool
    take: int = Field(description="u16 on chain: take / 65535")
    take_bps: int
    total_stake: str
    name: str | None
    custody_stake: str = Field(description="the exchange's stake with this validator")
    allocated: str = Field(description="what users allocated to it (incl. unbonding)")
    apr: str | None = Field(description="share-price growth annualised, before commission")
    net_apr: str | None = Field(description="after the exchange's commission")
    apr_epochs: int


class ValidatorsOut(BaseModel):
    market: str
    netuid: int
    commission_bps: int
    unbonding_blocks: int
    validators: list[ValidatorOut]


class RewardOut(BaseModel):
    distribution_id: int
    netuid: int
    asset: str
    hotkey: str
    epoch: int
    start_block: int
    end_block: int
    weight: str = Field(description="alpha-rao x blocks staked in the period")
    amount: str
    created_at: datetime


class RewardsOut(BaseModel):
    rewards: list[RewardOut]


class ReconciliationRow(BaseModel):
    market: str
    netuid: int
    hotkey: str
    allocated: str = Field(description="users' allocations to the hotkey")
    float: str = Field(description="the float hotkey only: the rest of the custody stake")
    target: str = Field(description="allocated + float: what the position should hold")
    on_chain: str = Field(description="the custody stake at the last indexed block")
    in_flight: str = Field(description="what the stake manager's sent moves bring (-: take)")
    difference: str = Field(description="on_chain + in_flight - target")
    block: int | None
    drifting_since: int | None = Field(
        description="the block since which the difference is at least the smallest stake move"
    )
    alert: bool = Field(description="the difference has lasted the alert threshold")


class MismatchOut(BaseModel):
    user_id: int
    asset: str
    ledger_staked: str
    allocated: str
    unbonding: str


class ReconciliationOut(BaseModel):
    positions: list[ReconciliationRow]
    ledger_mismatches: list[MismatchOut]
    ok: bool


class OperationOut(BaseModel):
    id: int
    plan_id: str
    netuid: int
    operation: str
    origin_hotkey: str
    destination_hotkey: str
    amount: str
    status: str
    based_on_block: int
    executed_block: int | None
    moved: str = Field(description="what the chain moved")
    error: str | None


class OperationsOut(BaseModel):
    operations: list[OperationOut]


class FlowIn(BaseModel):
    market: str = Field(max_length=32)
    hotkey: str = Field(max_length=64)
    amount: Amount = amount_field("signed alpha base units: + moved in, - moved out", signed=True)
    block: Annotated[int, Canonical(0, 2**62)]
    reason: str = Field(min_length=1, max_length=128)


class FlowOut(BaseModel):
    id: int
    netuid: int
    hotkey: str
    amount: str
    block: int
    reason: str


class SettingsIn(BaseModel):
    commission_bps: Annotated[int, Canonical(0, MAX_COMMISSION_BPS)] | None = None
    unbonding_blocks: Annotated[int, Canonical(0, MAX_UNBONDING_BLOCKS)] | None = None


class SettingsOut(BaseModel):
    market: str
    commission_bps: int
    unbonding_blocks: int
