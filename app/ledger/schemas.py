"""Ledger API bodies. Amounts are strings of integer base units (1 TAO = 10^9 rao, every
alpha has 9 decimals too): "1500000000" is 1.5 TAO. Never floats."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from app.kit.inputs import MAX_INT, PositiveInt

MAX_ASSET = 16  # asset codes: TAO, SN64, ...
MAX_ADDRESS = 64  # SS58 addresses are 47 or 48 characters


def amount_field(description: str, *, default: Any = ..., signed: bool = False) -> Any:
    """An amount of base units as sent: a JSON integer or a string of canonical digits.

    Validated by `app.ledger.service.parse_amount`, which answers `invalid_amount`,
    `non_positive_amount` or `amount_too_large`; the schema documents what it accepts."""
    minimum = -MAX_INT if signed else 1
    pattern = "^-?[1-9][0-9]*$" if signed else "^[1-9][0-9]*$"

    def document(schema: dict[str, Any]) -> None:
        schema.pop("anyOf", None)
        schema["anyOf"] = [
            {"type": "string", "pattern": pattern, "maxLength": len(str(MAX_INT)) + signed},
            {"type": "integer", "minimum": minimum, "maximum": MAX_INT},
            *([{"type": "null"}] if default is None else []),
        ]

    extra: Callable[[dict[str, Any]], None] = document
    return Field(
        default=default,
        description=description,
        examples=["1500000000"],
        json_schema_extra=extra,
    )


class DepositIn(BaseModel):
    user_id: PositiveInt
    asset: str = Field(max_length=MAX_ASSET, examples=["TAO"])
    amount: StrictStr | StrictInt | StrictFloat = amount_field("integer base units as a string")
    external_ref: str = Field(
        min_length=1, max_length=128, description="e.g. the chain transaction hash; idempotency key"
    )
    reason: str | None = Field(default=None, max_length=500, description="why (audited)")


class DepositOut(BaseModel):
    id: int
    user_id: int
    asset: str
    amount: str
    external_ref: str
    transfer_id: str
    created_at: datetime


class DepositsOut(BaseModel):
    deposits: list[DepositOut]
    next_cursor: int | None  # pass back as `before_id` for the next (older) page


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
