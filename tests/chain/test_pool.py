"""Pool quotes against an independent exact computation."""

import random
from fractions import Fraction

from app.chain.pool import quote_buy_alpha, quote_sell_alpha, swap_fee
from app.chain.types import PERQUINTILL, U16_MAX, SubnetState


def pool(tao_in: int, alpha_in: int, quote_weight: int, fee_rate: int = 33) -> SubnetState:
    return SubnetState(
        netuid=1, registered_at=0, mechanism=1, symbol="a", identity=None, owner_coldkey="",
        owner_hotkey="", tempo=360, tao_in=tao_in, alpha_in=alpha_in, alpha_out=0,
        moving_price_bits=0, volume=0, tao_in_emission=0, alpha_in_emission=0,
        alpha_out_emission=0, fee_rate=fee_rate, quote_weight=quote_weight,
    )  # fmt: skip


def largest(limit: int, ok: "callable[[int], bool]") -> int:  # type: ignore[valid-type]
    """The largest n in [0, limit] with ok(n) (ok is monotone decreasing)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def test_equal_weights_are_constant_product() -> None:
    rng = random.Random(1)
    for _ in range(300):
        y, x = rng.randrange(10**11, 10**15), rng.randrange(10**11, 10**17)
        state = pool(y, x, PERQUINTILL // 2)
        dx = rng.randrange(1, x)
        out, fee = quote_sell_alpha(state, dx)
        assert fee == dx * 33 // U16_MAX
        assert out == int(Fraction(y) * (dx - fee) / (x + dx - fee))
        dy = rng.randrange(1, y)
        out, fee = quote_buy_alpha(state, dy)
        assert out == int(Fraction(x) * (dy - fee) / (y + dy - fee))
        # Spot price from the state agrees with the marginal rate of a tiny trade.
        assert state.price == Fraction(y, x)


def test_weighted_pool_exact_against_rational_powers() -> None:
    # w2 = 0.4: selling alpha uses (x/(x+dx))^(3/2), buying uses (y/(y+dy))^(2/3); both are
    # checked exactly by raising the inequality to integer powers.
    rng = random.Random(2)
    w2 = 4 * PERQUINTILL // 10
    for _ in range(200):
        y, x = rng.randrange(10**11, 10**15), rng.randrange(10**11, 10**16)
        state = pool(y, x, w2, fee_rate=rng.choice((0, 33, 655)))
        dx = rng.randrange(1, x)
        out, fee = quote_sell_alpha(state, dx)
        net = dx - fee
        r3 = Fraction(x, x + net) ** 3
        expected = largest(y, lambda dy, y=y, r3=r3: Fraction(y - dy, y) ** 2 >= r3)
        assert out == expected
        dy = rng.randrange(1, y)
        out, fee = quote_buy_alpha(state, dy)
        assert fee == swap_fee(dy, state.fee_rate)
        net = dy - fee
        r2 = Fraction(y, y + net) ** 2
        expected = largest(x, lambda d, x=x, r2=r2: Fraction(x - d, x) ** 3 >= r2)
        assert out == expected
        assert state.price == Fraction(6, 4) * Fraction(y, x)


def test_zero_and_degenerate_inputs() -> None:
    state = pool(10**12, 10**13, PERQUINTILL // 2)
    assert quote_sell_alpha(state, 0) == (0, 0)
    assert quote_buy_alpha(state, -5) == (0, 0)
    empty = pool(0, 0, PERQUINTILL // 2)
    assert quote_sell_alpha(empty, 10**9)[0] == 0
    assert empty.price == 0
