from app.kit.errors import BadRequest, Conflict, NotFound


class ListingNotFound(NotFound):
    code = "listing_not_found"


class ListingNotPending(Conflict):
    code = "listing_not_pending"


class InvalidInitialState(BadRequest):
    code = "invalid_initial_state"


class InvalidTicker(BadRequest):
    code = "invalid_ticker"


class TickerTaken(Conflict):
    code = "ticker_taken"


class OverrideRequired(Conflict):
    code = "eligibility_override_required"
