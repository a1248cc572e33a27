from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from app.chain.types import PERQUINTILL
from app.kit.units import exact_decimal, format_fixed, fraction_str
from app.models import Subnet, SubnetHistory, Validator


def moving_price(bits: int) -> str:
    """SubnetMovingPrice is I96F32 (signed): exact decimal of bits / 2^32."""
    return format_fixed(bits, 32)


def weight_str(parts: int) -> str:
    """A Perquintill as its exact decimal: 500000000000000000 -> "0.5"."""
    return str(exact_decimal(Fraction(parts, PERQUINTILL)).normalize())


class SubnetOut(BaseModel):
    """Amounts are strings of integer base units (rao, alpha-rao), like everywhere in the
    native API; prices are rao per whole alpha; the moving price is an exact decimal ratio."""

    netuid: int
    status: str
    symbol: str
    name: str
    registered_at_block: int
    owner_coldkey: str
    owner_hotkey: str
    mechanism: int
    tempo: int
    price: str  # weighted pool spot, rao per alpha (10^9, i.e. 1.0, on root / non-dynamic)
    moving_price: str  # SubnetMovingPrice, exact
    tao_in: str
    alpha_in: str
    alpha_out: str
    volume: str
    tao_in_emission: str
    alpha_in_emission: str
    alpha_out_emission: str
    fee_rate: int  # / 65535 of a swap's input
    quote_weight: str  # Swap::SwapBalancer, the TAO weight w2 (alpha's is 1 - w2), e.g. "0.5"
    identity: dict[str, Any] | None
    last_block: int
    retired_at_block: int | None

    @classmethod
    def of(cls, s: Subnet) -> "SubnetOut":
        return cls(
            netuid=s.netuid,
            status=s.status,
            symbol=s.symbol,
            name=s.name,
            registered_at_block=s.registered_at,
            owner_coldkey=s.owner_coldkey,
            owner_hotkey=s.owner_hotkey,
            mechanism=s.mechanism,
            tempo=s.tempo,
            price=str(s.price_rao),
            moving_price=moving_price(s.moving_price_bits),
            tao_in=str(s.tao_in),
            alpha_in=str(s.alpha_in),
            alpha_out=str(s.alpha_out),
            volume=str(int(s.volume)),
            tao_in_emission=str(s.tao_in_emission),
            alpha_in_emission=str(s.alpha_in_emission),
            alpha_out_emission=str(s.alpha_out_emission),
            fee_rate=s.fee_rate,
            quote_weight=weight_str(s.quote_weight),
            identity=s.identity,
            last_block=s.last_block,
            retired_at_block=s.retired_at_block,
        )


class HistoryPoint(BaseModel):
    block: int
    time: str
    price: str
    moving_price: str
    tao_in: str
    alpha_in: str
    alpha_out: str
    volume: str

    @classmethod
    def of(cls, h: SubnetHistory) -> "HistoryPoint":
        return cls(
            block=h.block_number,
            time=h.block_time.isoformat(),
            price=str(h.price_rao),
            moving_price=moving_price(h.moving_price_bits),
            tao_in=str(h.tao_in),
            alpha_in=str(h.alpha_in),
            alpha_out=str(h.alpha_out),
            volume=str(int(h.volume)),
        )


class HistoryOut(BaseModel):
    netuid: int
    resolution: str
    points: list[HistoryPoint]


class ValidatorOut(BaseModel):
    hotkey: str
    uid: int
    validator_permit: bool
    take: str  # fraction, e.g. "0.18"
    total_stake: str  # alpha-rao
    name: str | None
    last_block: int

    @classmethod
    def of(cls, v: Validator) -> "ValidatorOut":
        return cls(
            hotkey=v.hotkey,
            uid=v.uid,
            validator_permit=v.validator_permit,
            take=fraction_str(Fraction(v.take, 65535), 6),
            total_stake=str(v.total_alpha),
            name=v.name,
            last_block=v.last_block,
        )
