"""The published audit document and a user's inclusion proof (format version 1; the
verifier, `app/por/verifier.py`, documents every field). Amounts: decimal strings of base
units; hashes, keys and values: 0x-hex."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

FORMAT_VERSION = 1


class BlockOut(BaseModel):
    number: int
    hash: str


class LiabilitiesOut(BaseModel):
    root: str = Field(description="SHA-256 root of the Merkle sum tree of users' balances")
    leaf_count: int
    totals: dict[str, str] = Field(description="the root's sums: what users are owed, per asset")


class StorageEntryOut(BaseModel):
    key: str
    value: str | None = Field(description="the SCALE value at the block; null: absent")


class AccountOut(BaseModel):
    address: str
    role: Literal["omnibus", "deposit"]
    free: str = Field(description="System.Account.data.free (rao)")


class PositionOut(BaseModel):
    coldkey: str
    hotkey: str
    netuid: int
    asset: str
    registered_at: int = Field(description="NetworkRegisteredAt: which token the subnet is")
    alpha: str


class ReservesOut(BaseModel):
    header: dict[str, Any] = Field(description="the block's header, as chain_getHeader returns")
    read_proof: list[str] | None = Field(
        description="state_getReadProof of every storage key (null: the node serves none)"
    )
    storage: list[StorageEntryOut]
    accounts: list[AccountOut]
    positions: list[PositionOut]
    totals: dict[str, str]


class CoverageOut(BaseModel):
    asset: str
    liabilities: str
    reserves: str
    ratio: str | None = Field(description="reserves / liabilities, 6 decimals, rounded down")
    covered: bool
    shortfall: str
    surplus: str
    ledger_custody: str = Field(description="what the ledger's custody account mirrors")
    exchange_accounts: str = Field(
        description="the exchange's own ledger accounts (fees, rounding, network fees)"
    )
    reason: str | None = Field(description="why reserves fall short, when they do")


class SignatureOut(BaseModel):
    address: str
    message: str
    signature: str = Field(description="sr25519 over the message's UTF-8 bytes")


class OwnershipOut(BaseModel):
    signatures: list[SignatureOut]


class AuditOut(BaseModel):
    """The published audit: what `python -m app por verify --audit` checks."""

    version: int = FORMAT_VERSION
    audit_id: int
    created_at: datetime
    block: BlockOut
    assets: list[str]
    liabilities: LiabilitiesOut
    reserves: ReservesOut
    coverage: list[CoverageOut]
    ownership: OwnershipOut


class LeafOut(BaseModel):
    index: int
    user_id: int
    salt: str = Field(description="your leaf's 32-byte salt (keep it to yourself)")
    balances: dict[str, str]
    hash: str


class PathStepOut(BaseModel):
    side: Literal["left", "right"]
    hash: str
    sums: dict[str, str]


class BreakdownOut(BaseModel):
    available: str
    held: str = Field(description="open orders and pending withdrawals")
    staked: str
    pending_withdrawals: str = Field(description="of `held`: withdrawals not yet on chain")


class InclusionProofOut(BaseModel):
    """Your leaf and its path to the published root (`python -m app por verify --proof`)."""

    version: int = FORMAT_VERSION
    audit_id: int
    block: BlockOut
    root: str
    assets: list[str]
    leaf_count: int
    leaf: LeafOut
    path: list[PathStepOut]
    breakdown: dict[str, BreakdownOut] = Field(
        description="what each balance is made of (informative: not part of the leaf's hash)"
    )
