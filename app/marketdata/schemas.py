"""Response bodies of the market-data REST API: amounts are decimal strings of base units
(prices in rao per whole alpha, quantities in alpha-rao, quote amounts in rao)."""

from pydantic import BaseModel


class TradeOut(BaseModel):
    id: int  # fill id: the pagination cursor
    match_id: int
    price: str
    qty: str
    quote: str
    taker_side: str
    time: str


class TradesOut(BaseModel):
    symbol: str
    trades: list[TradeOut]  # newest first
    next_cursor: int | None  # pass as `since` for older trades


class TickerOut(BaseModel):
    symbol: str
    last_price: str | None
    best_bid: str | None
    best_bid_qty: str | None
    best_ask: str | None
    best_ask_qty: str | None
    book_sequence: int
    open_24h: str | None
    high_24h: str | None
    low_24h: str | None
    close_24h: str | None
    volume_24h: str
    quote_volume_24h: str
    vwap_24h: str | None
    change_24h: str | None
    change_bps_24h: int | None
    trades_24h: int
    pool_price: str
    pool_block: int
    time: str


class CandleOut(BaseModel):
    start: str
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    trades: int


class CandlesOut(BaseModel):
    symbol: str
    interval: str
    candles: list[CandleOut]  # oldest first; a bucket without trades has no candle


class SwapOut(BaseModel):
    amount_in: str
    amount_out: str
    fee: str
    price: str | None
    spot_price: str | None
    slippage_bps: str | None
    filled: bool


class PoolQuoteOut(BaseModel):
    symbol: str
    netuid: int
    side: str  # buy: spend `amount` TAO rao for alpha; sell: swap `amount` alpha-rao for TAO
    amount: str
    pool_block: int
    pool: SwapOut  # the on-chain pool (fee in the input asset)
    book: SwapOut  # the exchange's committed order book, as a taker (fee in TAO)
    book_sequence: int
    better: str | None  # "pool", "book" or None (equal, or neither fills)
