from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models import Asset, Market, Subnet

MarketState = Literal["trading", "post_only", "cancel_only", "halted", "delisted"]
IntLike = int | str


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

    tick_size: IntLike | None = None
    lot_size: IntLike | None = None
    min_size: IntLike | None = None
    min_notional: IntLike | None = None
    maker_fee_bps: IntLike | None = None
    taker_fee_bps: IntLike | None = None
    price_band_bps: IntLike | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class StateChange(BaseModel):
    state: str = Field(max_length=32)
    reason: str | None = Field(default=None, max_length=1000)


class BookLevel(BaseModel):
    price: str  # rao per alpha
    qty: str  # alpha-rao
    orders: int


class BookOut(BaseModel):
    symbol: str
    sequence: int  # grows with every committed change of this book
    bids: list[BookLevel]  # best first
    asks: list[BookLevel]
