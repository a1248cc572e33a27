"""Exact quotes for a subnet's weighted (Balancer-style) pool, in integer base units.

Pool: TAO reserve y (`tao_in`), alpha reserve x (`alpha_in`), weights w1 (base: alpha) + w2
(quote: TAO) = 1 with w2 = `quote_weight` / 10^18 (`Swap::SwapBalancer`, whose one field is the
quote weight; subtensor `pallets/swap/src/pallet/balancer.rs`), spot price p = (w1*y)/(w2*x).
The fee, `fee_rate / 65535` of the input, is taken from the input first (rounded down), then:

- selling dx alpha returns  dy = y * (1 - (x / (x + dx')) ** (w1 / w2))
- spending dy TAO buys      dx = x * (1 - (y / (y + dy')) ** (w2 / w1))

where dx', dy' are the inputs less the fee. Outputs are rounded down, so the pool never pays
out more than the formula allows. With equal weights the exponent is 1 and the result is the
exact constant-product integer `y * dx' // (x + dx')`; otherwise the power is evaluated with
80-digit Decimals, far beyond what a 128-bit reserve can distinguish.
"""

from decimal import ROUND_FLOOR, Context, Decimal
from fractions import Fraction
from typing import Protocol

from app.chain.types import PERQUINTILL, U16_MAX

_CTX = Context(prec=80)


class Pool(Protocol):
    @property
    def tao_in(self) -> int: ...
    @property
    def alpha_in(self) -> int: ...
    @property
    def fee_rate(self) -> int: ...
    @property
    def quote_weight(self) -> int: ...


def swap_fee(amount: int, fee_rate: int) -> int:
    """The fee taken from an input amount, rounded down."""
    return amount * fee_rate // U16_MAX


def weighted_out(reserve_in: int, reserve_out: int, amount_in: int, num: int, den: int) -> int:
    """reserve_out * (1 - (reserve_in / (reserve_in + amount_in)) ** (num / den)), floored."""
    if amount_in <= 0 or reserve_out <= 0 or reserve_in < 0:
        return 0
    if reserve_in == 0:
        return reserve_out  # an empty side prices the other at zero: everything goes
    if num == den:
        return reserve_out * amount_in // (reserve_in + amount_in)
    ratio = _CTX.divide(Decimal(reserve_in), Decimal(reserve_in + amount_in))
    power = _CTX.power(ratio, _CTX.divide(Decimal(num), Decimal(den)))
    out = _CTX.multiply(Decimal(reserve_out), _CTX.subtract(Decimal(1), power))
    result = int(out.to_integral_value(rounding=ROUND_FLOOR))
    return max(0, min(result, reserve_out))


def quote_sell_alpha(state: Pool, dx: int) -> tuple[int, int]:
    """Sell `dx` alpha-rao into the pool: (TAO rao out, fee in alpha-rao)."""
    if dx <= 0:
        return 0, 0
    fee = swap_fee(dx, state.fee_rate)
    w2 = state.quote_weight
    w1 = PERQUINTILL - w2
    out = weighted_out(state.alpha_in, state.tao_in, dx - fee, w1, w2)
    return out, fee


def quote_buy_alpha(state: Pool, dy: int) -> tuple[int, int]:
    """Spend `dy` TAO rao on alpha: (alpha-rao out, fee in TAO rao)."""
    if dy <= 0:
        return 0, 0
    fee = swap_fee(dy, state.fee_rate)
    w2 = state.quote_weight
    w1 = PERQUINTILL - w2
    out = weighted_out(state.tao_in, state.alpha_in, dy - fee, w2, w1)
    return out, fee


def _weights(state: Pool) -> tuple[Decimal, Decimal]:
    w2 = _CTX.divide(Decimal(state.quote_weight), Decimal(PERQUINTILL))
    return _CTX.subtract(Decimal(1), w2), w2


def _decimal(value: Fraction) -> Decimal:
    return _CTX.divide(Decimal(value.numerator), Decimal(value.denominator))


def tao_to_reach_price(state: Pool, price: Fraction) -> int:
    """TAO (net of fee) that raises the spot price to `price` (TAO per alpha), floored; 0 if
    it is there already. With the invariant x^w1 * y^w2 and p = w1*y / (w2*x):
    y' = y^w2 * (w2*p*x / w1)^w1."""
    if state.alpha_in <= 0 or price <= 0:
        return 0
    w1, w2 = _weights(state)
    x, y, p = Decimal(state.alpha_in), Decimal(state.tao_in), _decimal(price)
    base = _CTX.divide(_CTX.multiply(_CTX.multiply(w2, p), x), w1)
    target = _CTX.multiply(_CTX.power(y, w2), _CTX.power(base, w1))
    return max(0, int(_CTX.subtract(target, y).to_integral_value(rounding=ROUND_FLOOR)))


def alpha_to_reach_price(state: Pool, price: Fraction) -> int:
    """Alpha (net of fee) that lowers the spot price to `price`, floored; 0 if it is there
    already: x' = x^w1 * (w1*y / (w2*p))^w2."""
    if state.tao_in <= 0 or price <= 0:
        return 0
    w1, w2 = _weights(state)
    x, y, p = Decimal(state.alpha_in), Decimal(state.tao_in), _decimal(price)
    base = _CTX.divide(_CTX.multiply(w1, y), _CTX.multiply(w2, p))
    target = _CTX.multiply(_CTX.power(x, w1), _CTX.power(base, w2))
    return max(0, int(_CTX.subtract(target, x).to_integral_value(rounding=ROUND_FLOOR)))
