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

# Native error code -> Kraken error string: every code of the service
# (tests/kit/test_errors.py keeps it complete); the HTTP status fallback below is a safety net.
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
    "not_leader": UNAVAILABLE,
    "service_unavailable": UNAVAILABLE,
    # staking (app/staking), as Earn
    "validator_not_found": "EGeneral:Invalid arguments:strategy_id",
    "validator_wrong_subnet": "EGeneral:Invalid arguments:strategy_id",
    "validator_without_permit": "EGeneral:Invalid arguments:strategy_id",
    "invalid_hotkey": "EGeneral:Invalid arguments:strategy_id",
    "allocation_not_found": "EGeneral:Invalid arguments:amount",
    "allocation_exceeded": "EGeneral:Invalid arguments:amount",
    # the order path's own (app/orders, app/markets)
    "market_closed": UNAVAILABLE,
    "batch_market_buy_after_buy": "EGeneral:Invalid arguments:ordertype",
    "engine_refused": INTERNAL,
    "sequencer_busy": UNAVAILABLE,
    # the service (app/kit): input, limits, the database, the chain
    "bad_request": INVALID_ARGUMENTS,
    "conflict": INVALID_ARGUMENTS,
    "not_found": INVALID_ARGUMENTS,
    "validation_error": INVALID_ARGUMENTS,
    "malformed_json": INVALID_ARGUMENTS,
    "json_too_deep": INVALID_ARGUMENTS,
    "invalid_text": INVALID_ARGUMENTS,
    "invalid_value": INVALID_ARGUMENTS,
    "payload_too_large": INVALID_ARGUMENTS,
    "unsupported_media_type": INVALID_ARGUMENTS,
    "unauthorized": "EAPI:Invalid key",
    "forbidden": "EGeneral:Permission denied",
    "too_many_in_flight": "EAPI:Rate limit exceeded",
    "database_busy": UNAVAILABLE,
    "database_unavailable": UNAVAILABLE,
    "chain_error": UNAVAILABLE,
    "chain_request_error": UNAVAILABLE,
    "chain_unavailable": UNAVAILABLE,
    "internal_error": INTERNAL,
    # users and keys (app/auth)
    "key_not_found": "EAPI:Invalid key",
    "user_exists": INVALID_ARGUMENTS,
    "user_not_found": INVALID_ARGUMENTS,
    "invalid_email": INVALID_ARGUMENTS,
    # WebSocket tokens (app/auth/tokens.py)
    "invalid_token": "EAPI:Invalid key",
    "token_expired": "EAPI:Invalid key",
    # the ledger's own (app/ledger): reaching a Kraken client only through a bug
    "asset_mismatch": INTERNAL,
    "hold_exceeded": INTERNAL,
    "hold_id_conflict": INTERNAL,
    "hold_not_found": INTERNAL,
    "invalid_state": INVALID_ARGUMENTS,
    "invalid_transfer": INTERNAL,
    "transfer_id_conflict": INTERNAL,
    "unknown_account": INTERNAL,
    "deposit_conflict": INVALID_ARGUMENTS,
    "invalid_address": INVALID_ARGUMENTS,
    "invalid_cursor": INVALID_ARGUMENTS,
    "withdrawal_not_found": INVALID_ARGUMENTS,
    # market data, listings, market parameters, staking administration
    "invalid_interval": INVALID_ARGUMENTS,
    "invalid_range": INVALID_ARGUMENTS,
    "invalid_side": INVALID_ARGUMENTS,
    "no_pool_state": UNAVAILABLE,
    "subnet_not_found": INVALID_ARGUMENTS,
    "subnet_retired": INVALID_PAIR,
    "listing_not_found": INVALID_ARGUMENTS,
    "listing_not_pending": INVALID_ARGUMENTS,
    "eligibility_override_required": INVALID_ARGUMENTS,
    "invalid_initial_state": INVALID_ARGUMENTS,
    "invalid_ticker": INVALID_ARGUMENTS,
    "ticker_taken": INVALID_ARGUMENTS,
    "invalid_market_transition": INVALID_ARGUMENTS,
    "unknown_market_state": INVALID_ARGUMENTS,
    "invalid_market_parameter": INVALID_ARGUMENTS,
    "no_changes": INVALID_ARGUMENTS,
    "invalid_tick_size": INVALID_ARGUMENTS,
    "invalid_lot_size": INVALID_ARGUMENTS,
    "invalid_min_size": INVALID_ARGUMENTS,
    "invalid_min_notional": INVALID_ARGUMENTS,
    "invalid_fee": INVALID_ARGUMENTS,
    "invalid_price_band": INVALID_ARGUMENTS,
    "invalid_fee_tiers": INVALID_ARGUMENTS,
    "invalid_staking_setting": INVALID_ARGUMENTS,
    "flow_period_closed": INVALID_ARGUMENTS,
    # custody (app/custody): deposits, withdrawal keys, withdrawals
    "custody_not_configured": UNAVAILABLE,
    "scan_discontinuity": UNAVAILABLE,
    "too_many_deposit_addresses": "EFunding:Too many addresses",
    "deposit_address_not_found": INVALID_ARGUMENTS,
    "deposit_not_found": INVALID_ARGUMENTS,
    "deposit_not_held": INVALID_ARGUMENTS,
    "withdrawal_address_not_found": "EFunding:Unknown withdraw key",
    "withdrawal_address_exists": INVALID_ARGUMENTS,
    "too_many_withdrawal_addresses": "EFunding:Too many addresses",
    "withdrawal_address_locked": "EFunding:Withdraw key not verified",
    "wrong_asset_for_address": "EFunding:Unknown withdraw key",
    "exchange_address": "EFunding:Invalid address",
    "amount_below_minimum": "EFunding:Invalid amount",
    "idempotency_key_conflict": INVALID_ARGUMENTS,
    "unsupported_asset": UNKNOWN_ASSET,
    # proof of reserves (app/por): native routes only
    "por_audit_not_found": INVALID_ARGUMENTS,
    "por_leaf_not_found": INVALID_ARGUMENTS,
    "por_nothing_to_prove": INVALID_ARGUMENTS,
    # the native WebSocket protocol (app/marketdata): never on the Kraken surface
    "unknown_op": INVALID_ARGUMENTS,
    "binary_frame": INVALID_ARGUMENTS,
    "not_authenticated": "EAPI:Invalid key",
    "unknown_channel": INVALID_ARGUMENTS,
    "market_required": INVALID_ARGUMENTS,
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
