"""Fee and hold arithmetic for the order service (the engine itself never checks funds).

Fees are in basis points of the quote amount (1 bps = 1/10_000) and round up (ceil), in the
exchange's favour. To keep per-fill rounding from adding up to more than the hold, charge the
fee of an order *cumulatively*: after each fill the order has paid exactly
``fee_ceil(total quote so far, bps)``; :func:`fill_fee` gives each fill's share of that. The
total fee of an order is then ``fee_ceil(total quote, bps)``, never more than the hold computed
by :func:`limit_buy_hold` or :func:`quote_budget_hold`.
"""

from __future__ import annotations

from app.matching.types import quote_amount

BPS = 10_000


def fee_ceil(quote: int, fee_bps: int) -> int:
    """ceil(quote * fee_bps / 10_000) for non-negative integers."""
    if quote < 0 or fee_bps < 0:
        raise ValueError("quote and fee_bps must be non-negative")
    return -(-quote * fee_bps // BPS)


def fill_fee(quote_before: int, fill_quote: int, fee_bps: int) -> int:
    """The fee of one fill when the order had already traded ``quote_before`` rao: the growth
    of the cumulative fee. Summed over an order's fills this is ``fee_ceil(total, bps)``."""
    return fee_ceil(quote_before + fill_quote, fee_bps) - fee_ceil(quote_before, fee_bps)


def limit_buy_hold(price: int, qty: int, taker_fee_bps: int) -> int:
    """The most a limit buy of ``qty`` at ``price`` can cost, taker fee included.

    Every fill is at the maker's price, at or below ``price``, and its quote is floored, so
    the quote of all fills together is at most ``quote_amount(price, qty)``; the cumulative fee
    (see :func:`fill_fee`) is monotonic, so it is at most ``fee_ceil`` of that. The taker fee
    bounds the maker fee too as long as maker_fee_bps <= taker_fee_bps.
    """
    notional = quote_amount(price, qty)
    return notional + fee_ceil(notional, taker_fee_bps)


def quote_budget_hold(quote_budget: int, taker_fee_bps: int) -> int:
    """The hold for a market buy that may spend ``quote_budget`` rao on alpha, plus its fee."""
    return quote_budget + fee_ceil(quote_budget, taker_fee_bps)


def quote_budget_within(total: int, taker_fee_bps: int) -> int:
    """The largest quote budget whose hold (budget plus ceil fee) fits in ``total`` rao: for
    a "spend at most N TAO, fee included" market buy."""
    if total < 0:
        raise ValueError("total must be non-negative")
    # budget * (1 + bps/10_000) <= total, then step down while the ceil fee pushes it over.
    budget = total * BPS // (BPS + taker_fee_bps)
    while budget > 0 and quote_budget_hold(budget, taker_fee_bps) > total:
        budget -= 1
    return budget
