"""Fee and hold arithmetic: ceil fees, cumulative per-fill fees, holds that always suffice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.matching import ALPHA, quote_amount
from app.matching.fees import (
    fee_ceil,
    fill_fee,
    limit_buy_hold,
    quote_budget_hold,
    quote_budget_within,
)


def test_fee_ceil() -> None:
    assert fee_ceil(0, 25) == 0
    assert fee_ceil(10_000, 25) == 25
    assert fee_ceil(10_001, 25) == 26  # 25.0025 rounds up
    assert fee_ceil(1, 1) == 1
    assert fee_ceil(123, 0) == 0
    with pytest.raises(ValueError):
        fee_ceil(-1, 10)


def test_limit_buy_hold() -> None:
    # 2 alpha at 0.5 TAO: 1 TAO of quote, plus 0.26% taker fee.
    assert limit_buy_hold(500_000_000, 2 * ALPHA, 26) == 10**9 + 2_600_000
    assert limit_buy_hold(1_234_000, 1_000, 10) == 1 + 1  # floor quote 1, fee ceil(0.001) = 1


def test_quote_budget_helpers() -> None:
    assert quote_budget_hold(10_000, 25) == 10_025
    assert quote_budget_within(10_025, 25) == 10_000
    assert quote_budget_within(10_024, 25) == 9_999  # 9_999 + ceil(24.9975) = 10_024
    assert quote_budget_within(0, 25) == 0


@given(st.lists(st.integers(0, 10**12), max_size=20), st.integers(0, 1_000))
def test_fill_fees_add_up_to_the_fee_of_the_total(quotes: list[int], bps: int) -> None:
    paid = 0
    before = 0
    for quote in quotes:
        fee = fill_fee(before, quote, bps)
        assert fee >= 0
        paid += fee
        before += quote
    assert paid == fee_ceil(before, bps)


@given(
    st.integers(1, 10**6),  # limit price in ticks of 1_000 rao
    st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**4)), max_size=10),
    st.integers(0, 500),
)
def test_limit_buy_hold_covers_any_fills(
    limit_ticks: int, fills: list[tuple[int, int]], bps: int
) -> None:
    """Fills at or below the limit, of any sizes summing to the order quantity at most, never
    cost more than the hold, fee included."""
    limit = limit_ticks * 1_000
    qty = sum(lots for _, lots in fills) * 1_000
    cost = 0
    quote_before = 0
    for price_ticks, lots in fills:
        quote = quote_amount(min(price_ticks * 1_000, limit), lots * 1_000)
        cost += quote + fill_fee(quote_before, quote, bps)
        quote_before += quote
    assert cost <= limit_buy_hold(limit, qty, bps)


@given(st.integers(0, 10**15), st.integers(0, 1_000))
def test_quote_budget_within_is_the_largest(total: int, bps: int) -> None:
    budget = quote_budget_within(total, bps)
    assert quote_budget_hold(budget, bps) <= total
    assert quote_budget_hold(budget + 1, bps) > total
