"""Market states, the one table of allowed transitions, and parameter validation."""

from collections.abc import Mapping
from typing import Any

from app.kit.inputs import MAX_INT, canonical_int
from app.markets.errors import (
    InvalidFee,
    InvalidLotSize,
    InvalidMarketParameter,
    InvalidMinNotional,
    InvalidMinSize,
    InvalidPriceBand,
    InvalidTickSize,
)

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
MAX_AMOUNT = MAX_INT

# name -> (its error when invalid, minimum allowed)
PARAMETERS: dict[str, tuple[type[InvalidMarketParameter], int]] = {
    "tick_size": (InvalidTickSize, 1),
    "lot_size": (InvalidLotSize, 1),
    "min_size": (InvalidMinSize, 1),
    "min_notional": (InvalidMinNotional, 1),
    "maker_fee_bps": (InvalidFee, 0),
    "taker_fee_bps": (InvalidFee, 0),
    "price_band_bps": (InvalidPriceBand, 1),
}
MAXIMA = {"maker_fee_bps": MAX_FEE_BPS, "taker_fee_bps": MAX_FEE_BPS, "price_band_bps": 10_000}


def parameter_range(name: str) -> tuple[int, int]:
    """The allowed [minimum, maximum] of a market parameter."""
    return PARAMETERS[name][1], MAXIMA.get(name, MAX_AMOUNT)


def parse_integer(name: str, value: Any) -> int:
    """A JSON integer or a string of ASCII digits in canonical form (no sign, space or
    leading zero) within the parameter's range; anything else is the parameter's own 4xx."""
    error = PARAMETERS[name][0]
    minimum, maximum = parameter_range(name)
    try:
        return canonical_int(value, minimum, maximum)
    except ValueError as exc:
        raise error(f"{name} {exc}, got {_shown(value)}") from None


def _shown(value: Any) -> str:
    if isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 10**40):
        return repr(value)
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return f"a {type(value).__name__} too long to show"


def validate_parameters(
    params: Mapping[str, Any], current: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Each known parameter of `params` parsed and range-checked, then checked together
    with the `current` values of the others (a change leaves the others as they are, even
    ones set before today's ranges)."""
    parsed = {name: parse_integer(name, params[name]) for name in PARAMETERS if name in params}
    # Kraken clients (CCXT) round prices and volumes to 10^-pair_decimals and
    # 10^-lot_decimals: a step that is not a power of ten would have them send values off
    # it. So ticks and lots are powers of ten (1, 10, 100, ... base units).
    for name, error in (("tick_size", InvalidTickSize), ("lot_size", InvalidLotSize)):
        if name in parsed and not is_power_of_ten(parsed[name]):
            raise error(f"{name} must be a power of ten (1, 10, 100, ...), got {parsed[name]}")
    merged = {**(current or {}), **parsed}
    lot, min_size = merged.get("lot_size"), merged.get("min_size")
    if lot is not None and min_size is not None and (min_size < lot or min_size % lot):
        raise InvalidMinSize("min_size must be a positive multiple of lot_size")
    return parsed


def is_power_of_ten(n: int) -> bool:
    return n > 0 and str(n).rstrip("0") == "1"


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
