import pytest

from app.markets.errors import InvalidMarketParameter
from app.markets.rules import (
    STATES,
    TRANSITIONS,
    default_tick_size,
    parse_symbol,
    validate_parameters,
)


def test_every_state_can_be_left_except_delisted_and_none_loops_to_itself() -> None:
    assert set(TRANSITIONS) == set(STATES)
    for state, targets in TRANSITIONS.items():
        assert state not in targets
        assert targets <= set(STATES)
        assert ("delisted" in targets) == (state != "delisted")
    assert TRANSITIONS["delisted"] == frozenset()


@pytest.mark.parametrize("text", ["SN64/TAO", "sn64-tao", "SN64_TAO", "SN64TAO", " SN64/TAO "])
def test_symbol_forms(text: str) -> None:
    assert parse_symbol(text) == "SN64/TAO"


@pytest.mark.parametrize(
    ("price", "tick"),
    [(0, 1), (9_999, 1), (12_345, 1), (123_456, 10), (50_000_000, 1_000), (147_061_735, 10_000)],
)
def test_default_tick_gives_about_five_significant_digits(price: int, tick: int) -> None:
    assert default_tick_size(price) == tick


def test_parameters_are_checked_one_by_one_and_together() -> None:
    assert validate_parameters({"tick_size": "10", "lot_size": 10, "min_size": 30, "other": 1}) == {
        "tick_size": 10,
        "lot_size": 10,
        "min_size": 30,
    }
    cases = [
        ({"tick_size": 0}, "invalid_tick_size"),
        ({"tick_size": 5000}, "invalid_tick_size"),  # CCXT would round prices off it
        ({"lot_size": 2_000_000}, "invalid_lot_size"),
        ({"tick_size": True}, "invalid_tick_size"),
        ({"tick_size": "1.5"}, "invalid_tick_size"),
        ({"maker_fee_bps": 1001}, "invalid_fee"),
        ({"taker_fee_bps": -1}, "invalid_fee"),
        ({"price_band_bps": 10_001}, "invalid_price_band"),
        ({"min_notional": -1}, "invalid_min_notional"),
        ({"lot_size": 10, "min_size": 15}, "invalid_min_size"),
        ({"lot_size": 2**63}, "invalid_lot_size"),
        ({"min_notional": 0}, "invalid_min_notional"),
        ({"tick_size": "²"}, "invalid_tick_size"),  # str.isdigit() says yes; int() raised
        ({"tick_size": "-²"}, "invalid_tick_size"),
        ({"tick_size": "9" * 10_000}, "invalid_tick_size"),
        ({"tick_size": " 1"}, "invalid_tick_size"),
        ({"tick_size": "+1"}, "invalid_tick_size"),
        ({"tick_size": "01"}, "invalid_tick_size"),
        ({"tick_size": "１"}, "invalid_tick_size"),  # fullwidth
        ({"tick_size": "١"}, "invalid_tick_size"),  # Arabic-Indic
        ({"tick_size": 1.0}, "invalid_tick_size"),
        ({"maker_fee_bps": "-0"}, "invalid_fee"),
    ]
    for params, code in cases:
        with pytest.raises(InvalidMarketParameter) as err:
            validate_parameters(params)
        assert err.value.code == code, params


def test_a_change_is_checked_with_the_current_values() -> None:
    # min_size against the current lot; a min_notional of 0 set before today's range stays.
    current = {"lot_size": 10, "min_size": 20, "min_notional": 0}
    assert validate_parameters({"maker_fee_bps": "5"}, current) == {"maker_fee_bps": 5}
    with pytest.raises(InvalidMarketParameter) as err:
        validate_parameters({"min_size": 25}, current)
    assert err.value.code == "invalid_min_size"
