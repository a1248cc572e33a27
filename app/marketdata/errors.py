"""The WebSocket feed's protocol errors (answered as `{"event": "error", "code": ...}`)."""

from app.kit.errors import BadRequest, Unauthorized


class UnknownOp(BadRequest):
    code = "unknown_op"


class BinaryFrame(BadRequest):
    code = "binary_frame"


class NotAuthenticated(Unauthorized):
    code = "not_authenticated"


class UnknownChannel(BadRequest):
    code = "unknown_channel"


class MarketRequired(BadRequest):
    code = "market_required"
