from app.kit.errors import BadRequest, Conflict, NotFound


class MarketNotFound(NotFound):
    code = "market_not_found"


class InvalidTransition(Conflict):
    code = "invalid_market_transition"


class SubnetRetired(Conflict):
    code = "subnet_retired"


class InvalidMarketParameter(BadRequest):
    """Carries a specific code per parameter: invalid_tick_size, invalid_fee, ..."""

    code = "invalid_market_parameter"
