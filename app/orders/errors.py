"""The order path's errors: one class per stable code."""

from app.kit.errors import BadRequest, Conflict, InternalError, NotFound, ServiceUnavailable
from app.markets import errors as market_errors


class OrderNotFound(NotFound):
    code = "order_not_found"


# The market's state (409): one class per state, in app.markets.errors.
MarketClosed = market_errors.MarketClosed
MarketHalted = market_errors.MarketHalted
MarketDelisted = market_errors.MarketDelisted
MarketCancelOnly = market_errors.MarketCancelOnly
MarketPostOnly = market_errors.MarketPostOnly


class PostOnlyWouldTake(Conflict):
    code = "post_only_would_take"


class DuplicateClientOrderId(Conflict):
    code = "duplicate_client_order_id"


# ---------------------------------------------------------------- the market's rules (400)


class InvalidOrder(BadRequest):
    """The order breaks one of its market's rules; each rule has its own code."""

    code = "invalid_order"


class MissingPriceOrQty(InvalidOrder):
    code = "missing_price_or_qty"


class InvalidTick(InvalidOrder):
    code = "invalid_tick"


class InvalidLot(InvalidOrder):
    code = "invalid_lot"


class InvalidOrderType(InvalidOrder):
    code = "invalid_order_type"


class PriceOutOfBand(InvalidOrder):
    code = "price_out_of_band"


class NotionalTooSmall(InvalidOrder):
    code = "notional_too_small"


class OrderTooSmall(InvalidOrder):
    code = "order_too_small"


class NoLiquidity(InvalidOrder):
    code = "no_liquidity"


class InvalidAmend(InvalidOrder):
    code = "invalid_amend"


class BatchMarketBuyAfterBuy(InvalidOrder):
    """A market buy by quantity after another buy of its market in one batch: its cost is
    sized on the book before the batch, which the earlier buy may have taken from."""

    code = "batch_market_buy_after_buy"


# ---------------------------------------------------------------- the service


class EngineRefused(InternalError):
    """The matching engine refused a command the order core had accepted: a bug."""

    code = "engine_refused"


class SequencerUnavailable(ServiceUnavailable):
    code = "sequencer_unavailable"


class SequencerBusy(ServiceUnavailable):
    """The order service's queue is full, or a command waited too long to be started:
    nothing was done."""

    code = "sequencer_busy"
