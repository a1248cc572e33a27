"""Market states, the one table of allowed transitions, and parameter validation."""

from collections.abc import Mapping
from typing import Any

from app.markets.errors import InvalidMarketParameter

TRADING, POST_ONLY, CANCEL_ONLY, HALTED, DELISTED = (
    "trading",
    "post_only",
    "cancel_only",
    "halted",
    "delisted",
)
STATES = (TRADING, POST_ONLY, CANCEL_ONLY, HALTED, DELISTED)

# from-state -> states it may move to. Delisting is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    TRADING: frozenset({POST_ONLY, CANCEL_ONLY, HALTED, DELISTED}),
    POST_ONLY: frozenset({TRADING, CANCEL_ONLY, HALTED, DELISTED}),
    CANCEL_ONLY: frozenset({TRADING, POST_ONLY, HALTED, DELISTED}),
    HALTED: frozenset({TRADING, POST_ONLY, CANCEL_ONLY, DELISTED}),
    DELISTED: frozenset(),
}

MAX_FEE_BPS = 1000
MAX_AMOUNT = 2**63 - 1

# name -> (code when invalid, minimum allowed)
PARAMETERS: dict[str, tuple[str, int]] = {
    "tick_size": ("invalid_tick_size", 1),
    "lot_size": ("invalid_lot_size", 1),
    "min_size": ("invalid_min_size", 1),
    "min_notional": ("invalid_min_notional", 0),
    "maker_fee_bps": ("invalid_fee", 0),
    "taker_fee_bps": ("invalid_fee", 0),
    "price_band_bps": ("invalid_price_band", 1),
}
MAXIMA = {"maker_fee_bps": MAX_FEE_BPS, "taker_fee_bps": MAX_FEE_BPS, "price_band_bps": 10_000}


def parse_integer(name: str, value: Any) -> int:
    """A JSON integer or a string of digits; anything else is the parameter's own 4xx."""
    code, minimum = PARAMETERS[name]
    if isinstance(value, bool):
        raise InvalidMarketParameter(f"{name} must be an integer", code=code)
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise InvalidMarketParameter(f"{name} must be an integer, got {value!r}", code=code)
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise InvalidMarketParameter(f"{name} must be an integer", code=code)
    maximum = MAXIMA.get(name, MAX_AMOUNT)
    if number < minimum or number > maximum:
        raise InvalidMarketParameter(
            f"{name} must be between {minimum} and {maximum}, got {number}", code=code
        )
    return number


def validate_parameters(params: Mapping[str, Any]) -> dict[str, int]:
    """Each known parameter parsed and range-checked, then checked together."""
    parsed = {name: parse_integer(name, params[name]) for name in PARAMETERS if name in params}
    lot, min_size = parsed.get("lot_size"), parsed.get("min_size")
    if lot is not None and min_size is not None and (min_size < lot or min_size % lot):
        raise InvalidMarketParameter(
            "min_size must be a positive multiple of lot_size", code="invalid_min_size"
        )
    return parsed


def default_tick_size(price_rao: int) -> int:
    """About five significant digits at the current price (at least 1 rao)."""
    if price_rao <= 0:
        return 1
    digits = len(str(price_rao))
    return 10 ** (digits - 5) if digits > 5 else 1


def parse_symbol(text: str) -> str:
    """'SN64/TAO', 'SN64-TAO', 'SN64_TAO' or 'SN64TAO' -> 'SN64/TAO'."""
    s = text.strip().upper()
    for sep in ("/", "-", "_"):
        if sep in s:
            base, _, quote = s.partition(sep)
            return f"{base}/{quote}"
    if s.endswith("TAO") and len(s) > 3:
        return f"{s[:-3]}/TAO"
    return s
