from app.kit.errors import BadRequest, Conflict, NotFound


class MarketNotFound(NotFound):
    code = "market_not_found"


class MarketClosed(Conflict):
    """The market's state refuses this command (orders, staking)."""

    code = "market_closed"


class MarketHalted(MarketClosed):
    code = "market_halted"


class MarketDelisted(MarketClosed):
    code = "market_delisted"


class MarketCancelOnly(MarketClosed):
    code = "market_cancel_only"


class MarketPostOnly(MarketClosed):
    """A market order, or a limit that would take, in a post-only market."""

    code = "market_post_only"


class InvalidTransition(Conflict):
    code = "invalid_market_transition"


class SubnetRetired(Conflict):
    code = "subnet_retired"


class UnknownMarketState(InvalidTransition):
    code = "unknown_market_state"


class InvalidMarketParameter(BadRequest):
    """A market parameter out of its range; each parameter has its own code."""

    code = "invalid_market_parameter"


class NoChanges(InvalidMarketParameter):
    code = "no_changes"


class InvalidTickSize(InvalidMarketParameter):
    code = "invalid_tick_size"


class InvalidLotSize(InvalidMarketParameter):
    code = "invalid_lot_size"


class InvalidMinSize(InvalidMarketParameter):
    code = "invalid_min_size"


class InvalidMinNotional(InvalidMarketParameter):
    code = "invalid_min_notional"


class InvalidFee(InvalidMarketParameter):
    code = "invalid_fee"


class InvalidPriceBand(InvalidMarketParameter):
    code = "invalid_price_band"


class InvalidFeeTiers(InvalidMarketParameter):
    """Fee tiers must have distinct positive volumes and fees within 0..1000 bps."""

    code = "invalid_fee_tiers"
