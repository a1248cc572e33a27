from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field, StrictInt, StrictStr

from app.kit.inputs import Canonical
from app.markets.rules import parameter_range
from app.models import Asset, Market, Subnet

SYMBOL_DOC = "SN64-TAO, SN64TAO or SN64_TAO (a '/' cannot travel in a path segment)"
MAX_SYMBOL = 32
SymbolPath = Annotated[str, Path(min_length=1, max_length=MAX_SYMBOL, description=SYMBOL_DOC)]
MarketState = Literal["trading", "post_only", "cancel_only", "halted", "delisted"]
# A market parameter as sent: parsed by `app.markets.rules.parse_integer`, which answers
# the parameter's own code (invalid_tick_size, invalid_fee, ...) for anything but a
# canonical integer within its range.
IntLike = StrictInt | StrictStr


def parameter(name: str) -> Any:
    """The field of market parameter `name`, documented as what is accepted: an integer
    within the parameter's range, as a JSON integer or a string of canonical digits."""
    minimum, maximum = parameter_range(name)

    def document(schema: dict[str, Any]) -> None:
        schema.pop("anyOf", None)
        schema["anyOf"] = [
            {"type": "integer", "minimum": minimum, "maximum": maximum},
            {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "maxLength": len(str(maximum))},
            {"type": "null"},
        ]

    extra: Callable[[dict[str, Any]], None] = document
    return Field(default=None, json_schema_extra=extra)


class AssetOut(BaseModel):
    code: str
    name: str
    netuid: int | None
    decimals: int
    status: str

    @classmethod
    def of(cls, a: Asset) -> "AssetOut":
        return cls(code=a.code, name=a.name, netuid=a.netuid, decimals=a.decimals, status=a.status)


class MarketOut(BaseModel):
    """Integers of base units as strings, like the rest of the native API."""

    symbol: str
    base: str
    quote: str
    netuid: int
    state: str
    tick_size: str  # rao per alpha
    lot_size: str  # alpha-rao
    min_size: str  # alpha-rao
    min_notional: str  # rao
    maker_fee_bps: int
    taker_fee_bps: int
    price_band_bps: int
    reference_price: str  # on-chain pool spot price, rao per alpha
    reference_block: int

    @classmethod
    def of(cls, m: Market, s: Subnet) -> "MarketOut":
        return cls(
            symbol=m.symbol,
            base=m.base_asset,
            quote=m.quote_asset,
            netuid=m.netuid,
            state=m.state,
            tick_size=str(m.tick_size),
            lot_size=str(m.lot_size),
            min_size=str(m.min_size),
            min_notional=str(m.min_notional),
            maker_fee_bps=m.maker_fee_bps,
            taker_fee_bps=m.taker_fee_bps,
            price_band_bps=m.price_band_bps,
            reference_price=str(s.price_rao),
            reference_block=s.last_block,
        )


class MarketPatch(BaseModel):
    """Integers: tick in rao per alpha, lot and min size in alpha-rao, notional in rao."""

    tick_size: IntLike | None = parameter("tick_size")
    lot_size: IntLike | None = parameter("lot_size")
    min_size: IntLike | None = parameter("min_size")
    min_notional: IntLike | None = parameter("min_notional")
    maker_fee_bps: IntLike | None = parameter("maker_fee_bps")
    taker_fee_bps: IntLike | None = parameter("taker_fee_bps")
    price_band_bps: IntLike | None = parameter("price_band_bps")

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class StateChange(BaseModel):
    state: MarketState
    reason: str | None = Field(default=None, max_length=1000)


class BookLevel(BaseModel):
    price: str  # rao per alpha
    qty: str  # alpha-rao
    orders: int


class BookOut(BaseModel):
    symbol: str
    sequence: int  # grows with every committed change of this book
    epoch: str  # changes when the service restarts: then `sequence` starts again
    bids: list[BookLevel]  # best first
    asks: list[BookLevel]


class FeeTierIn(BaseModel):
    min_volume: Annotated[int, Canonical(1)] = Field(
        description="rao of 30-day quote volume from which the tier applies"
    )
    maker_fee_bps: Annotated[int, Canonical(0, 1000)]
    taker_fee_bps: Annotated[int, Canonical(0, 1000)]


class FeeTiersIn(BaseModel):
    market: str | None = Field(
        default=None, max_length=MAX_SYMBOL, description="a market's own tiers; none: global"
    )
    tiers: list[FeeTierIn] = Field(max_length=50, description="replace every tier of the scope")


class FeeTierOut(BaseModel):
    min_volume: str  # rao of 30-day quote volume
    maker_fee_bps: int
    taker_fee_bps: int

    @classmethod
    def of(cls, tier: tuple[int, int, int]) -> "FeeTierOut":
        return cls(min_volume=str(tier[0]), maker_fee_bps=tier[1], taker_fee_bps=tier[2])


class MarketFeesOut(BaseModel):
    market: str
    maker_fee_bps: int  # the caller's, now
    taker_fee_bps: int
    tiers: list[FeeTierOut]  # the market's own fees (min_volume 0), then its tiers
    next_tier: FeeTierOut | None


class FeesOut(BaseModel):
    currency: str  # of the volume: TAO
    volume_30d: str  # rao: the caller's quote volume over every market, last 30 days
    markets: list[MarketFeesOut]
