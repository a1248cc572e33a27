from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.indexer.schemas import SubnetOut, moving_price
from app.listings.service import ListingView
from app.markets.schemas import IntLike, MarketOut, parameter


class DueDiligenceOut(BaseModel):
    age_blocks: int
    age_days: float
    pool_tao: str
    price: str
    moving_price: str
    volume_24h: str
    volume_24h_partial: bool
    identity_present: list[str]
    identity_missing: list[str]
    owner_coldkey: str
    flags: list[str]


class ListingOut(BaseModel):
    id: int
    netuid: int
    state: str
    reason: str | None
    reviewed_by: int | None
    reviewed_at: datetime | None
    subnet: SubnetOut
    due_diligence: DueDiligenceOut
    market: MarketOut | None

    @classmethod
    def of(cls, v: ListingView) -> "ListingOut":
        d = v.diligence
        return cls(
            id=v.listing.id,
            netuid=v.listing.netuid,
            state=v.listing.state,
            reason=v.listing.reason,
            reviewed_by=v.listing.reviewed_by,
            reviewed_at=v.listing.reviewed_at,
            subnet=SubnetOut.of(v.subnet),
            due_diligence=DueDiligenceOut(
                age_blocks=d.age_blocks,
                age_days=d.age_days,
                pool_tao=str(d.pool_tao),
                price=str(d.price_rao),
                moving_price=moving_price(d.moving_price_bits),
                volume_24h=str(d.volume_24h),
                volume_24h_partial=d.volume_24h_partial,
                identity_present=d.identity_present,
                identity_missing=d.identity_missing,
                owner_coldkey=d.owner_coldkey,
                flags=d.flags,
            ),
            market=MarketOut.of(v.market, v.subnet) if v.market else None,
        )


class ApproveRequest(BaseModel):
    """Everything optional: defaults are SN<netuid>, the on-chain name and the house params.
    Integers: tick in rao per alpha, lot and min size in alpha-rao, notional in rao."""

    ticker: str | None = Field(default=None, max_length=32)
    display_name: str | None = Field(default=None, max_length=64)
    tick_size: IntLike | None = parameter("tick_size")
    lot_size: IntLike | None = parameter("lot_size")
    min_size: IntLike | None = parameter("min_size")
    min_notional: IntLike | None = parameter("min_notional")
    maker_fee_bps: IntLike | None = parameter("maker_fee_bps")
    taker_fee_bps: IntLike | None = parameter("taker_fee_bps")
    price_band_bps: IntLike | None = parameter("price_band_bps")
    initial_state: Literal["trading", "post_only", "cancel_only", "halted"] | None = None
    override_reason: str | None = Field(default=None, max_length=1000)


class RejectRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


class ReconsiderRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=1000)
