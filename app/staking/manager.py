"""The stake manager's core: what each custody position on a subnet should hold, and the
`move_stake` calls that get it there. Pure: no I/O (the custody worker reads the chain and
the allocations, and signs what this plans: `app.custody.stake_manager`).

The custody coldkey's stake on a subnet is split by hotkey:
- every hotkey users allocated to holds exactly their allocations;
- the float hotkey (the exchange's own validator) holds the rest: the alpha of users who
  did not allocate (trading balances, withdrawals come from it), pending unbondings, the
  exchange's commission, and any allocations to the float hotkey itself.

Moves are netted per subnet (one move per surplus/deficit pair, however many allocations
made the gap) and never smaller than the chain accepts: a stake move worth less than
`DefaultMinStake` of TAO fails with `AmountTooLow`, so a gap below the minimum move waits
until it grows (a reward leg, a commission) or closes (`minimum_stake_move`).
"""

from dataclasses import dataclass

from app.chain.types import minimum_stake_move as minimum_stake_move


@dataclass(frozen=True, slots=True)
class Move:
    origin: str
    destination: str
    amount: int


def targets(held: dict[str, int], allocated: dict[str, int], float_hotkey: str) -> dict[str, int]:
    """hotkey -> what it should hold. Allocated hotkeys their allocations; the float hotkey
    all the rest of what the coldkey holds on the subnet (never below zero: if allocations
    exceed the holdings, e.g. before a deposit is swept, the float is empty and the
    allocated hotkeys are filled as far as it goes)."""
    out = {h: a for h, a in allocated.items() if a > 0 and h != float_hotkey}
    out[float_hotkey] = max(0, sum(held.values()) - sum(out.values()))
    return out


def differences(
    held: dict[str, int], target: dict[str, int], in_flight: dict[str, int] | None = None
) -> dict[str, int]:
    """hotkey -> held + in flight - target (positive: a surplus), non-zero ones only."""
    flying = in_flight or {}
    keys = set(held) | set(target) | set(flying)
    out = {h: held.get(h, 0) + flying.get(h, 0) - target.get(h, 0) for h in keys}
    return {h: d for h, d in out.items() if d}


def plan(differences_: dict[str, int], minimum: int) -> list[Move]:
    """Greedy netting: the largest surplus feeds the largest deficit until one side runs
    out; moves smaller than `minimum` are left out. Deterministic (ties by hotkey)."""
    surplus = sorted(
        ((d, h) for h, d in differences_.items() if d > 0), key=lambda x: (-x[0], x[1])
    )
    deficit = sorted(
        ((-d, h) for h, d in differences_.items() if d < 0), key=lambda x: (-x[0], x[1])
    )
    moves: list[Move] = []
    i = j = 0
    s_left = surplus[0][0] if surplus else 0
    d_left = deficit[0][0] if deficit else 0
    while i < len(surplus) and j < len(deficit):
        amount = min(s_left, d_left)
        if amount >= minimum:
            moves.append(Move(surplus[i][1], deficit[j][1], amount))
        s_left -= amount
        d_left -= amount
        if s_left == 0:
            i += 1
            s_left = surplus[i][0] if i < len(surplus) else 0
        if d_left == 0:
            j += 1
            d_left = deficit[j][0] if j < len(deficit) else 0
    return moves


def moves_for(
    held: dict[str, int], allocated: dict[str, int], float_hotkey: str, minimum: int
) -> list[Move]:
    """The moves that take `held` (hotkey -> alpha-rao on one subnet) to its targets."""
    return plan(differences(held, targets(held, allocated, float_hotkey)), minimum)
