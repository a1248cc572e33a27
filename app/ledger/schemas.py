"""Ledger API bodies. Amounts are strings of integer base units (1 TAO = 10^9 rao, every
alpha has 9 decimals too): "1500000000" is 1.5 TAO. Never floats."""

from datetime import datetime

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

MAX_ID = 2**63 - 1


class DepositIn(BaseModel):
    user_id: int = Field(ge=1, le=MAX_ID)
    asset: str = Field(examples=["TAO"])
    amount: StrictStr | StrictInt | StrictFloat = Field(
        description="integer base units as a string", examples=["1500000000"]
    )
    external_ref: str = Field(
        min_length=1, max_length=128, description="e.g. the chain transaction hash; idempotency key"
    )


class DepositOut(BaseModel):
    id: int
    user_id: int
    asset: str
    amount: str
    external_ref: str
    transfer_id: str
    created_at: datetime


class WithdrawalIn(BaseModel):
    asset: str = Field(examples=["TAO"])
    amount: StrictStr | StrictInt | StrictFloat = Field(
        description="integer base units as a string", examples=["1500000000"]
    )
    destination: str = Field(description="SS58 address (prefix 42)")


class ApproveIn(BaseModel):
    external_tx_ref: str = Field(
        min_length=1, max_length=128, description="the on-chain transaction that paid it out"
    )


class RejectIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class WithdrawalOut(BaseModel):
    id: int
    asset: str
    amount: str
    destination: str
    state: str
    external_tx_ref: str | None
    reason: str | None
    created_at: datetime
    resolved_at: datetime | None


class WithdrawalsOut(BaseModel):
    withdrawals: list[WithdrawalOut]


class BalanceOut(BaseModel):
    asset: str
    decimals: int
    available: str
    held: str
    staked: str
    total: str


class BalancesOut(BaseModel):
    balances: list[BalanceOut]


class EntryOut(BaseModel):
    transfer_id: str
    created_at: datetime
    asset: str
    account: str = Field(description="available | held | staked")
    amount: str = Field(description="signed base units: negative when debited")
    code: str
    reference: str | None
    cursor: str


class EntriesOut(BaseModel):
    entries: list[EntryOut]
    next_cursor: str | None
