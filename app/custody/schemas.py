"""Custody API bodies. Amounts are strings of integer base units (9 decimals)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from app.ledger.schemas import MAX_ADDRESS, MAX_ASSET, amount_field
from app.models import ChainDeposit, ChainTransaction, DepositAddress, Withdrawal, WithdrawalAddress

# Address names and idempotency keys: printable ASCII without spaces or slashes, so that a
# name is the same in a path, a form and a JSON body.
NAME_PATTERN = r"^[A-Za-z0-9_.:@-]{1,64}$"
MAX_NAME = 64

DepositState = Literal["credited", "below_minimum", "retired_address", "unlisted_asset"]
WithdrawalState = Literal[
    "pending_approval", "queued", "sending", "completed", "failed", "rejected", "cancelled"
]
TransactionState = Literal["signed", "broadcast", "success", "failed", "expired"]


class DepositAddressOut(BaseModel):
    address: str = Field(description="SS58 (prefix 42): send TAO, or transfer stake (alpha)")
    index: int
    status: str
    created_at: datetime

    @classmethod
    def of(cls, row: DepositAddress) -> "DepositAddressOut":
        return cls(
            address=row.address, index=row.index, status=row.status, created_at=row.created_at
        )


class DepositAddressesOut(BaseModel):
    addresses: list[DepositAddressOut]


class AdminDepositAddressOut(DepositAddressOut):
    id: int
    user_id: int

    @classmethod
    def of(cls, row: DepositAddress) -> "AdminDepositAddressOut":
        return cls(
            id=row.id,
            user_id=row.user_id,
            address=row.address,
            index=row.index,
            status=row.status,
            created_at=row.created_at,
        )


class ChainDepositOut(BaseModel):
    id: int
    asset: str | None = Field(description="null: alpha of a subnet without a listed asset")
    netuid: int | None
    amount: str
    address: str
    hotkey: str | None = Field(description="alpha: the hotkey the stake arrived with")
    sender: str | None
    state: str = Field(description="credited | below_minimum | retired_address | unlisted_asset")
    block_number: int
    block_hash: str
    event_index: int
    extrinsic_index: int
    extrinsic_hash: str | None
    created_at: datetime
    credited_at: datetime | None

    @classmethod
    def of(cls, d: ChainDeposit) -> "ChainDepositOut":
        return cls(
            id=d.id,
            asset=d.asset,
            netuid=d.netuid,
            amount=str(d.amount),
            address=d.address,
            hotkey=d.hotkey,
            sender=d.sender,
            state=d.state,
            block_number=d.block_number,
            block_hash=d.block_hash,
            event_index=d.event_index,
            extrinsic_index=d.extrinsic_index,
            extrinsic_hash=d.extrinsic_hash,
            created_at=d.created_at,
            credited_at=d.credited_at,
        )


class AdminChainDepositOut(ChainDepositOut):
    user_id: int
    credited_by: int | None

    @classmethod
    def of(cls, d: ChainDeposit) -> "AdminChainDepositOut":
        base = ChainDepositOut.of(d).model_dump()
        return cls(**base, user_id=d.user_id, credited_by=d.credited_by)


class ChainDepositsOut(BaseModel):
    deposits: list[ChainDepositOut]


class AdminChainDepositsOut(BaseModel):
    deposits: list[AdminChainDepositOut]


class ReasonIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class WithdrawalAddressIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=MAX_NAME, examples=["my-wallet"])
    address: str = Field(max_length=MAX_ADDRESS, description="SS58 address (prefix 42)")
    asset: str | None = Field(
        default=None, max_length=MAX_ASSET, description="only this asset (default: any)"
    )


class WithdrawalAddressOut(BaseModel):
    name: str
    address: str
    asset: str | None
    created_at: datetime
    unlocks_at: datetime
    locked: bool

    @classmethod
    def of(cls, row: WithdrawalAddress, now: datetime) -> "WithdrawalAddressOut":
        return cls(
            name=row.name,
            address=row.address,
            asset=row.asset,
            created_at=row.created_at,
            unlocks_at=row.unlocks_at,
            locked=row.unlocks_at > now,
        )


class WithdrawalAddressesOut(BaseModel):
    addresses: list[WithdrawalAddressOut]


class WithdrawalIn(BaseModel):
    asset: str = Field(max_length=MAX_ASSET, examples=["TAO"])
    amount: StrictStr | StrictInt | StrictFloat = amount_field(
        "base units that reach the destination (a TAO withdrawal's chain fee comes on top)"
    )
    address_name: str = Field(
        pattern=NAME_PATTERN, max_length=MAX_NAME, description="an address of your book"
    )
    idempotency_key: str = Field(
        pattern=NAME_PATTERN,
        max_length=MAX_NAME,
        description="yours; the same key again returns the first withdrawal, nothing new",
    )


class WithdrawalOut(BaseModel):
    id: int
    asset: str
    amount: str
    fee: str = Field(description="the chain fee you paid (TAO withdrawals)")
    fee_reserve: str = Field(description="held for the fee; what is not used returns")
    sent: str
    address_name: str | None
    destination: str
    idempotency_key: str | None
    state: str
    txid: str | None = Field(description="the extrinsic hash of the last transaction")
    block_number: int | None
    reason: str | None
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, w: Withdrawal) -> "WithdrawalOut":
        return cls(
            id=w.id,
            asset=w.asset,
            amount=str(w.amount),
            fee=str(w.fee),
            fee_reserve=str(w.fee_reserve),
            sent=str(w.sent),
            address_name=w.address_name,
            destination=w.destination,
            idempotency_key=w.idempotency_key,
            state=w.state,
            txid=w.external_tx_ref,
            block_number=w.block_number,
            reason=w.reason,
            created_at=w.created_at,
            resolved_at=w.resolved_at,
        )


class AdminWithdrawalOut(WithdrawalOut):
    user_id: int

    @classmethod
    def of(cls, w: Withdrawal) -> "AdminWithdrawalOut":
        return cls(**WithdrawalOut.of(w).model_dump(), user_id=w.user_id)


class WithdrawalsOut(BaseModel):
    withdrawals: list[WithdrawalOut]


class AdminWithdrawalsOut(BaseModel):
    withdrawals: list[AdminWithdrawalOut]


class TransactionOut(BaseModel):
    id: int
    purpose: str
    withdrawal_id: int | None
    signer: str
    nonce: int
    era_birth: int
    era_period: int
    call: str
    asset: str | None
    netuid: int | None
    amount: str | None
    extrinsic_hash: str
    state: str
    submit_error: str | None
    block_number: int | None
    fee: str
    fee_alpha: str
    delivered: str
    dispatch_error: str | None
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, t: ChainTransaction) -> "TransactionOut":
        return cls(
            id=t.id,
            purpose=t.purpose,
            withdrawal_id=t.withdrawal_id,
            signer=t.signer,
            nonce=t.nonce,
            era_birth=t.era_birth,
            era_period=t.era_period,
            call=f"{t.pallet}.{t.call}",
            asset=t.asset,
            netuid=t.netuid,
            amount=None if t.amount is None else str(t.amount),
            extrinsic_hash=t.extrinsic_hash,
            state=t.state,
            submit_error=t.submit_error,
            block_number=t.block_number,
            fee=str(t.fee),
            fee_alpha=str(t.fee_alpha),
            delivered=str(t.delivered),
            dispatch_error=t.dispatch_error,
            created_at=t.created_at,
            resolved_at=t.resolved_at,
        )


class TransactionsOut(BaseModel):
    transactions: list[TransactionOut]


class AssetReconciliationOut(BaseModel):
    asset: str
    netuid: int | None
    on_chain: str = Field(
        description="free TAO, or alpha under every hotkey, of every custody account"
    )
    ledger_custody: str = Field(description="what the ledger's custody account mirrors")
    difference: str = Field(description="on_chain - ledger_custody (positive: a surplus)")
    user_liabilities: str = Field(description="users' available + held + staked")
    uncredited_deposits: str = Field(description="recorded deposits not credited (a surplus)")
    ok: bool


class ReconciliationOut(BaseModel):
    block_number: int | None
    block_hash: str | None
    accounts: int
    assets: list[AssetReconciliationOut]
    ok: bool
