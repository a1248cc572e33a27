from app.kit.errors import BadRequest, Conflict, NotFound, ServiceUnavailable


class OrderNotFound(NotFound):
    code = "order_not_found"


class MarketClosed(Conflict):
    """The market's state refuses this command: `market_halted`, `market_cancel_only`,
    `market_post_only`, `market_delisted`."""

    code = "market_closed"


class InvalidOrder(BadRequest):
    """A specific code per rule: invalid_price, invalid_tick, invalid_lot, order_too_small,
    notional_too_small, price_out_of_band, invalid_order_type, ..."""

    code = "invalid_order"


class PostOnlyWouldTake(Conflict):
    code = "post_only_would_take"


class DuplicateClientOrderId(Conflict):
    code = "duplicate_client_order_id"


class SequencerUnavailable(ServiceUnavailable):
    code = "sequencer_unavailable"


class SequencerBusy(ServiceUnavailable):
    """The order service's queue is full, or a command waited too long to be started:
    nothing was done."""

    code = "sequencer_busy"
