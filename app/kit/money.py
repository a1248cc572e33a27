"""Amounts are integers of base units; JSON shows them as decimal strings."""

from decimal import Decimal
from fractions import Fraction

DECIMALS = 9
UNIT = 10**DECIMALS


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
    return Decimal(scaled.numerator).scaleb(-digits)


def fraction_str(value: Fraction, decimals: int) -> str:
    """A Fraction rounded down to `decimals` places, as a string."""
    return format_units(value.numerator * 10**decimals // value.denominator, decimals)
