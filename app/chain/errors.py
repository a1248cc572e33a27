"""Chain access errors; all are 503s to an HTTP caller (the chain, not the request, failed)."""

from app.kit.errors import ServiceUnavailable


class ChainError(ServiceUnavailable):
    code = "chain_error"


class ChainUnavailable(ChainError):
    """Unreachable, timed out, or answering garbage, even after reconnecting with backoff."""

    code = "chain_unavailable"


class ChainRequestError(ChainError):
    """The node answered with a JSON-RPC error (unknown method, discarded state, ...)."""

    code = "chain_request_error"

    def __init__(self, message: str, *, rpc_code: int | None = None) -> None:
        super().__init__(message, details={"rpc_code": rpc_code} if rpc_code is not None else None)
        self.rpc_code = rpc_code
