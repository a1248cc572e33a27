"""The stake manager's pure core: targets, differences and the netted plan of moves."""

from hypothesis import given, settings
from hypothesis import strategies as st

from app.chain.types import minimum_stake_move
from app.staking.manager import Move, differences, moves_for, plan, targets

HOTKEYS = ["5F", "5G", "5H", "5J", "5K"]
FLOAT = "5F"

amounts = st.integers(min_value=0, max_value=10**13)
holdings = st.dictionaries(st.sampled_from(HOTKEYS), amounts, max_size=5)


def apply(held: dict[str, int], moves: list[Move]) -> dict[str, int]:
    out = dict(held)
    for m in moves:
        assert out.get(m.origin, 0) >= m.amount, (m, out)
        out[m.origin] = out.get(m.origin, 0) - m.amount
        out[m.destination] = out.get(m.destination, 0) + m.amount
    return out


def test_deposits_under_another_hotkey_go_where_they_are_allocated_then_to_the_float() -> None:
    held = {"5H": 600, FLOAT: 0}
    moves = moves_for(held, {"5G": 80, "5H": 120, FLOAT: 50}, FLOAT, minimum=10)
    assert moves == [Move("5H", FLOAT, 400), Move("5H", "5G", 80)]
    assert apply(held, moves) == {"5H": 120, "5G": 80, FLOAT: 400}


def test_a_moved_allocation_is_one_move_between_validators() -> None:
    held = {"5G": 120, "5H": 80, FLOAT: 400}
    moves = moves_for(held, {"5G": 70, "5H": 130}, FLOAT, minimum=10)
    assert moves == [Move("5G", "5H", 50)]


def test_gaps_below_the_minimum_move_wait() -> None:
    assert moves_for({"5G": 105, FLOAT: 10}, {"5G": 100}, FLOAT, minimum=10) == []
    assert moves_for({"5G": 110, FLOAT: 10}, {"5G": 100}, FLOAT, minimum=10) == [
        Move("5G", FLOAT, 10)
    ]


def test_allocations_beyond_the_holdings_fill_what_there_is() -> None:
    # Before a deposit is swept the omnibus may hold less than users allocated.
    assert targets({FLOAT: 50}, {"5G": 80}, FLOAT) == {"5G": 80, FLOAT: 0}
    assert moves_for({FLOAT: 50}, {"5G": 80}, FLOAT, minimum=10) == [Move(FLOAT, "5G", 50)]


def test_in_flight_moves_count_as_done() -> None:
    held = {"5G": 0, FLOAT: 100}
    gaps = differences(held, targets(held, {"5G": 60}, FLOAT), {"5G": 60, FLOAT: -60})
    assert gaps == {}


def test_minimum_move_is_twice_default_min_stake_at_the_price() -> None:
    assert minimum_stake_move(10**9) == 4_000_000  # at par
    assert minimum_stake_move(10**7) == 400_000_000  # 0.01 TAO per alpha
    assert minimum_stake_move(3) == -(-4_000_000 * 10**9 // 3)
    assert minimum_stake_move(None) == 4_000_000


@settings(max_examples=400, deadline=None)
@given(
    held=holdings,
    allocated=st.dictionaries(st.sampled_from(HOTKEYS), amounts, max_size=5),
    minimum=st.integers(min_value=1, max_value=10**12),
)
def test_the_plan_conserves_stake_and_reaches_every_reachable_target(
    held: dict[str, int], allocated: dict[str, int], minimum: int
) -> None:
    wanted = targets(held, allocated, FLOAT)
    moves = plan(differences(held, wanted), minimum)
    after = apply(held, moves)  # every origin holds what it sends
    assert sum(after.values()) == sum(held.values())
    assert all(m.amount >= minimum and m.origin != m.destination for m in moves)
    origins, destinations = {m.origin for m in moves}, {m.destination for m in moves}
    assert not origins & destinations  # netted: nothing passes through a hotkey
    before = differences(held, wanted)
    left = differences(after, wanted)
    # Each move closes its amount on both sides; nothing overshoots a target.
    assert sum(abs(d) for d in left.values()) == sum(abs(d) for d in before.values()) - 2 * sum(
        m.amount for m in moves
    )
    for hotkey, gap in before.items():
        rest = left.get(hotkey, 0)
        assert 0 <= rest <= gap if gap > 0 else gap <= rest <= 0, (hotkey, gap, rest)
    # A fixpoint: what is left cannot be moved (every remaining pair is below the minimum).
    assert plan(left, minimum) == []
    if sum(held.values()) >= sum(a for h, a in allocated.items() if h != FLOAT):
        assert sum(wanted.values()) == sum(held.values())
