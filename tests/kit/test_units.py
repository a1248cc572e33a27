from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.kit.units import exact_decimal, format_fixed, format_units, fraction_str


def test_format_units() -> None:
    assert format_units(0) == "0.000000000"
    assert format_units(1_500_000_000) == "1.500000000"
    assert format_units(-1) == "-0.000000001"
    assert format_units(7, 0) == "7"


def test_format_fixed_is_exact_and_signed() -> None:
    assert format_fixed(3 << 31, 32) == "1.5"
    assert format_fixed(1, 32) == "0.00000000023283064365386962890625"
    assert format_fixed(-(5 << 32), 32) == "-5"
    assert format_fixed(-(1 << 31), 32) == "-0.5"


@given(st.integers(min_value=-(2**127), max_value=2**127 - 1))
def test_format_fixed_round_trips(bits: int) -> None:
    assert Fraction(format_fixed(bits, 32)) == Fraction(bits, 2**32)


def test_exact_decimal_and_fraction_str() -> None:
    assert str(exact_decimal(Fraction(1, 4))) == "0.25"
    assert exact_decimal(Fraction(3, 2**64)) == Fraction(3, 2**64)
    with pytest.raises(ValueError):
        exact_decimal(Fraction(1, 3))
    assert fraction_str(Fraction(2, 3), 4) == "0.6666"
