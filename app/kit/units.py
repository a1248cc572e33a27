"""The one units module. Amounts are integers of base units; JSON shows them as decimal
strings, never floats.

- TAO and every alpha have 9 decimals: 1 TAO = 10^9 rao, 1 alpha = 10^9 alpha-rao (`UNIT`).
- A price is rao per whole alpha, so the quote of `qty` alpha-rao at `price` is
  `quote_amount(price, qty)` = floor(price * qty / 10^9) rao.
- Every stored amount, id and nonce fits Postgres' BIGINT: at most `MAX_AMOUNT`.
"""

from decimal import Decimal
from fractions import Fraction

DECIMALS = 9
UNIT: int = 10**DECIMALS  # base units per whole TAO (rao) or whole alpha (alpha-rao)
RAO_PER_TAO = UNIT
MAX_AMOUNT: int = 2**63 - 1  # BIGINT: the largest amount, id or nonce
MIN_AMOUNT: int = -(2**63)


def quote_amount(price: int, qty: int) -> int:
    """The quote (rao) paid for `qty` alpha-rao at `price` rao per alpha, rounded down."""
    return price * qty // UNIT


def format_units(amount: int, decimals: int = DECIMALS) -> str:
    """1500000000 -> '1.500000000' (exact, fixed decimals, never a float)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}" if decimals else f"{sign}{whole}"


def exact_decimal(value: Fraction) -> Decimal:
    """A Fraction whose denominator divides a power of ten (2^a 5^b), as an exact Decimal."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        raise ValueError(f"{value} has no finite decimal expansion")
    digits = max(twos, fives)
    scaled = value * 10**digits
    assert scaled.denominator == 1
    # From a string: exact whatever the context precision (scaleb would round to 28 digits).
    return Decimal(f"{scaled.numerator}E-{digits}")


def fraction_str(value: Fraction, decimals: int) -> str:
    """A Fraction rounded down to `decimals` places, as a string."""
    return format_units(value.numerator * 10**decimals // value.denominator, decimals)


def format_fixed(bits: int, fractional_bits: int) -> str:
    """A binary fixed-point value (I96F32: 32, U64F64: 64) as its exact decimal string."""
    # 2^-n = 5^n / 10^n, so n binary fractional digits need exactly n decimal ones.
    sign = "-" if bits < 0 else ""
    whole, frac = divmod(abs(int(bits)) * 5**fractional_bits, 10**fractional_bits)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{fractional_bits}d}".rstrip("0")
