"""Kraken's error envelope and the one table from native error codes to Kraken's strings."""

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse, Response

from app.kit.errors import AppError


class KrakenError(Exception):
    """An error raised by the adapter itself, already in Kraken's words."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def invalid_arguments(field: str | None = None) -> KrakenError:
    return KrakenError(f"EGeneral:Invalid arguments:{field}" if field else INVALID_ARGUMENTS)


INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
INVALID_PAIR = "EQuery:Invalid asset pair"
UNKNOWN_ASSET = "EQuery:Unknown asset"
UNKNOWN_ORDER = "EOrder:Unknown order"
UNKNOWN_METHOD = "EGeneral:Unknown method"
UNAVAILABLE = "EService:Unavailable"
INTERNAL = "EGeneral:Internal error"

# Native error code -> Kraken error string. Codes not listed fall back by HTTP status below.
NATIVE_TO_KRAKEN: dict[str, str] = {
    # authentication (app/auth)
    "missing_credentials": "EAPI:Invalid key",
    "invalid_key": "EAPI:Invalid key",
    "key_revoked": "EAPI:Invalid key",
    "invalid_signature": "EAPI:Invalid signature",
    "invalid_nonce": "EAPI:Invalid nonce",
    "permission_denied": "EGeneral:Permission denied",
    "rate_limited": "EAPI:Rate limit exceeded",
    "unsigned_parameters": INVALID_ARGUMENTS,
    "non_canonical_path": INVALID_ARGUMENTS,
    "unexpected_body": INVALID_ARGUMENTS,
    # funds (app/ledger)
    "insufficient_funds": "EOrder:Insufficient funds",
    "amend_exceeds_hold": "EOrder:Insufficient funds",
    "unknown_asset": UNKNOWN_ASSET,
    "invalid_amount": INVALID_ARGUMENTS,
    "non_positive_amount": INVALID_ARGUMENTS,
    "amount_too_large": INVALID_ARGUMENTS,
    # markets and orders (app/markets, app/orders)
    "market_not_found": INVALID_PAIR,
    "market_delisted": INVALID_PAIR,
    "market_halted": UNAVAILABLE,
    "market_cancel_only": "EService:Market in cancel_only mode",
    "market_post_only": "EService:Market in post_only mode",
    "order_not_found": UNKNOWN_ORDER,
    "post_only_would_take": "EOrder:Post only order",
    "duplicate_client_order_id": "EOrder:Duplicate cl_ord_id",
    "invalid_tick": "EOrder:Tick size check failed",
    "invalid_lot": "EGeneral:Invalid arguments:volume",
    "order_too_small": "EOrder:Order minimum not met",
    "notional_too_small": "EOrder:Cost minimum not met",
    "price_out_of_band": "EGeneral:Invalid arguments:price",
    "invalid_order_type": "EGeneral:Invalid arguments:ordertype",
    "missing_price_or_qty": INVALID_ARGUMENTS,
    "invalid_amend": "EGeneral:Invalid arguments:order_qty",
    "no_liquidity": "EOrder:Insufficient liquidity",
    "invalid_order": "EOrder:Invalid order",
    "sequencer_unavailable": UNAVAILABLE,
    "service_unavailable": UNAVAILABLE,
    # staking (app/staking), as Earn
    "validator_not_found": "EGeneral:Invalid arguments:strategy_id",
    "validator_wrong_subnet": "EGeneral:Invalid arguments:strategy_id",
    "validator_without_permit": "EGeneral:Invalid arguments:strategy_id",
    "invalid_hotkey": "EGeneral:Invalid arguments:strategy_id",
    "allocation_not_found": "EGeneral:Invalid arguments:amount",
    "allocation_exceeded": "EGeneral:Invalid arguments:amount",
}

_BY_STATUS: dict[int, str] = {
    400: INVALID_ARGUMENTS,
    401: "EAPI:Invalid key",
    403: "EGeneral:Permission denied",
    404: INVALID_ARGUMENTS,
    409: INVALID_ARGUMENTS,
    413: INVALID_ARGUMENTS,
    422: INVALID_ARGUMENTS,
    429: "EAPI:Rate limit exceeded",
    503: UNAVAILABLE,
}


def kraken_error(exc: AppError) -> str:
    """The Kraken string for a native error: its code, else its kind (HTTP status)."""
    mapped = _mapped(exc.status_code, exc.code)
    if mapped is not None:
        return mapped
    # The engine's own rejections (e.g. a FOK that cannot fill) carry their reason as code.
    from app.orders.errors import InvalidOrder

    if isinstance(exc, InvalidOrder):
        return "EOrder:Invalid order"
    return _BY_STATUS.get(exc.status_code, INTERNAL)


def _mapped(status: int, code: str) -> str | None:
    if status == 503:  # whatever is down, Kraken says the service is unavailable
        return UNAVAILABLE
    return NATIVE_TO_KRAKEN.get(code)


def envelope(
    errors: list[str], result: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Kraken's answer: HTTP 200 with errors in the body, except 503 (+ Retry-After) while
    a dependency is down, so that clients and balancers back off."""
    body: dict[str, Any] = {"error": errors}
    if not errors:
        body["result"] = result
    status = 503 if errors == [UNAVAILABLE] and headers else 200
    return JSONResponse(body, status_code=status, headers=headers)


def render(status: int, code: str, message: str, headers: Mapping[str, str] | None) -> Response:
    """Errors answered before a Kraken route runs (see `app.kit.http`), in Kraken's words."""
    error = _mapped(status, code) or _BY_STATUS.get(status, INTERNAL)
    return envelope([error], headers=headers)
