"""The runtime's coinbase as pure functions: what every block emits, where it goes, and how the
moving price follows the spot price. Each function names the subtensor source (opentensor/
subtensor, June 2026, spec 425) it follows; the chain computes in fixed point (U96F32,
U64F64) and truncates to integer rao where it writes storage, here exact fractions are
truncated at the same places.

Per block (`block_step` -> `run_coinbase`, coinbase/block_step.rs and run_coinbase.rs):
1. `block_emission_for_issuance(TotalIssuance)`: 1 TAO halved for every halving of what is
   left to issue (of 21M TAO).
2. Each subnet that emits gets `block_emission * moving_price / sum(moving prices)`
   (`get_shares_price_ema`).
3. Its alpha emission is `block_emission_for_issuance(alpha issuance)`; the TAO part becomes
   pool liquidity (`tao_in`, with `alpha_in = tao_in / price`) up to the subnet's root
   proportion of its alpha emission; the rest is "excess TAO", swapped into the pool for
   alpha without a fee: the chain buys (`get_subnet_terms`, `inject_and_maybe_swap`).
4. The alpha emission (`alpha_out`) is split: the owner cut (18%), then half to miners, and
   the validators' half less the root stakers' part (`root_proportion * remaining / 2`,
   recycled when the subnets' moving prices sum to 1 or less) (`emit_to_subnets`).
5. At the subnet's epoch the pending amounts are paid: the owner cut to the owner's stake,
   incentives to miners, dividends to validators, each validator keeping its take and the
   rest raising the value of its nominators' shares (`distribute_dividends_and_incentives`).
6. Then the moving prices move (`update_moving_price`, staking/stake_utils.rs).
"""

from dataclasses import dataclass
from fractions import Fraction
from math import floor

from app.chain.types import PERQUINTILL, U16_MAX

RAO = 10**9
TOTAL_SUPPLY = 21_000_000 * RAO  # `TotalSupply` (lib.rs)
DEFAULT_BLOCK_EMISSION = RAO  # `DefaultBlockEmission` (lib.rs): 1 TAO
U64_MAX = 2**64 - 1
# `SubtensorInitialTaoWeight` (runtime/src/lib.rs), normalised by u64::MAX (`get_tao_weight`).
TAO_WEIGHT = Fraction(971_718_665_099_567_868, U64_MAX)
OWNER_CUT = Fraction(11_796, U16_MAX)  # `SubtensorInitialSubnetOwnerCut`: 18%
EMA_HALVING_BLOCKS = 201_600  # `InitialEmaPriceHalvingPeriod` (runtime/src/lib.rs): 4 weeks
MOVING_ALPHA = Fraction(3, 1_000_000)  # `DefaultMovingAlpha` (lib.rs): 0.000003
MIN_WEIGHT = PERQUINTILL // 100  # balancer.rs `MIN_WEIGHT`: each weight stays >= 0.01
I96F32_ONE = 2**32


def block_emission_for_issuance(issuance: int) -> int:
    """`get_block_emission_for_issuance` (coinbase/block_emission.rs): with
    `r = floor(log2(1 / (1 - issuance / (2 * 10.5M TAO))))`, `1 TAO / 2^r`, truncated to rao;
    0 once the supply is issued. The same function gives a subnet's alpha emission from its
    alpha issuance (`get_subnet_terms`)."""
    if issuance >= TOTAL_SUPPLY:
        return 0
    ratio = 1 / (1 - Fraction(issuance, TOTAL_SUPPLY))  # 2 * 10.5M TAO = the total supply
    halvings = 0
    while 2 ** (halvings + 1) <= ratio:  # floor(log2(ratio)), exactly
        halvings += 1
    return int(DEFAULT_BLOCK_EMISSION // 2**halvings)


def emission_shares(moving_prices: dict[int, Fraction]) -> dict[int, Fraction]:
    """`get_shares_price_ema` (coinbase/subnet_emissions.rs): each emitting subnet's share of
    the block emission is its moving price over the sum of moving prices."""
    total = sum(moving_prices.values(), Fraction(0))
    return {n: (p / total if total else Fraction(0)) for n, p in moving_prices.items()}


def root_proportion(root_tao: int, alpha_issuance: int) -> Fraction:
    """`root_proportion` (coinbase/block_step.rs): `tao_weight / (tao_weight + alpha_issuance)`
    with `tao_weight = SubnetTAO[root] * TaoWeight`."""
    weighted = root_tao * TAO_WEIGHT
    return weighted / (weighted + alpha_issuance) if weighted + alpha_issuance else Fraction(0)


@dataclass(frozen=True, slots=True)
class SubnetTerms:
    tao_in: int  # TAO injected as liquidity (SubnetTaoInEmission)
    alpha_in: int  # alpha injected beside it (SubnetAlphaInEmission)
    alpha_out: int  # alpha emitted to participants (SubnetAlphaOutEmission)
    excess_tao: int  # swapped into the pool for alpha: the chain buys


def subnet_terms(
    tao_emission: Fraction, alpha_emission: int, price: Fraction, root_prop: Fraction
) -> SubnetTerms:
    """`get_subnet_terms` (coinbase/run_coinbase.rs): `alpha_in = tao_emission / price`, capped
    at `root_proportion * alpha_emission` (then `tao_in = alpha_in * price`); the TAO that
    cannot be injected is excess, bought into the pool."""
    tao_in = tao_emission
    alpha_in = tao_emission / price if price else Fraction(0)
    cap = root_prop * alpha_emission
    if alpha_in > cap:
        alpha_in = cap
        tao_in = alpha_in * price
    excess = tao_emission - tao_in
    return SubnetTerms(floor(tao_in), floor(alpha_in), alpha_emission, floor(excess))


@dataclass(frozen=True, slots=True)
class AlphaOutSplit:
    owner_cut: int  # PendingOwnerCut
    server: int  # PendingServerEmission: miners' incentives
    validator: int  # PendingValidatorEmission: validators' dividends
    root: int  # PendingRootAlphaDivs (or recycled when root does not sell)


def split_alpha_out(alpha_out: int, root_prop: Fraction) -> AlphaOutSplit:
    """`emit_to_subnets` (coinbase/run_coinbase.rs): the owner cut first, then half of the rest
    to miners; the validators' half less `root_proportion * rest / 2` for root stakers."""
    owner_cut = alpha_out * OWNER_CUT
    rest = alpha_out - owner_cut
    root = root_prop * rest / 2
    server = rest / 2
    validator = rest - server - root
    return AlphaOutSplit(floor(owner_cut), floor(server), floor(validator), floor(root))


def root_sells(moving_prices: dict[int, Fraction]) -> bool:
    """`get_network_root_sell_flag`: root dividends are paid only while the emitting subnets'
    moving prices sum to more than 1 (otherwise the root alpha is recycled)."""
    return sum(moving_prices.values(), Fraction(0)) > 1


def moving_price_weight(blocks_since_start: int) -> Fraction:
    """`update_moving_price` (staking/stake_utils.rs): the EMA's weight on the current price,
    `SubnetMovingAlpha * b / (b + EMAPriceHalvingBlocks)` with b the blocks since the subnet's
    `start_call` (the block before `FirstEmissionBlockNumber`)."""
    b = blocks_since_start
    return MOVING_ALPHA * Fraction(b, b + EMA_HALVING_BLOCKS)


def next_moving_price_bits(moving_bits: int, price: Fraction, blocks_since_start: int) -> int:
    """`update_moving_price`: `alpha * min(price, 1) + (1 - alpha) * moving`, stored as I96F32
    bits (truncated)."""
    alpha = moving_price_weight(blocks_since_start)
    moving = Fraction(moving_bits, I96F32_ONE)
    new = alpha * min(price, Fraction(1)) + (1 - alpha) * moving
    return floor(new * I96F32_ONE)


def dividend_split(
    stakes: dict[bytes, tuple[int, int]], pending_validator: int, pending_root: int
) -> tuple[dict[bytes, Fraction], dict[bytes, Fraction]]:
    """`calculate_dividend_distribution` (coinbase/run_coinbase.rs) with dividends pro rata to
    alpha stake (the devnet's stand-in for Yuma consensus): per validator hotkey `(alpha stake,
    root stake)`, the root part of its dividend is `root * tao_weight / (alpha + root *
    tao_weight)`; the validators' pending alpha is shared by the alpha parts, the root alpha by
    the root parts. Returns (alpha dividends, root alpha dividends)."""
    total_stake = sum(a for a, _ in stakes.values())
    alpha_divs: dict[bytes, Fraction] = {}
    root_divs: dict[bytes, Fraction] = {}
    for hotkey, (alpha, root) in stakes.items():
        dividend = Fraction(alpha, total_stake) if total_stake else Fraction(0)
        root_alpha = root * TAO_WEIGHT
        prop = root_alpha / (alpha + root_alpha) if alpha + root_alpha else Fraction(0)
        root_divs[hotkey] = dividend * prop
        alpha_divs[hotkey] = dividend - dividend * prop
    total_alpha = sum(alpha_divs.values(), Fraction(0))
    total_root = sum(root_divs.values(), Fraction(0))
    return (
        {
            h: (pending_validator * d / total_alpha if total_alpha else Fraction(0))
            for h, d in alpha_divs.items()
        },
        {
            h: (pending_root * d / total_root if total_root else Fraction(0))
            for h, d in root_divs.items()
        },
    )


def take_split(dividend: Fraction, take: int) -> tuple[int, int]:
    """`distribute_dividends_and_incentives`: the validator's take (`Delegates`, /65535) goes to
    its own stake, the rest to every nominator's shares: (take, rest), truncated as the chain
    (`tou64!`) does."""
    kept = dividend * Fraction(take, U16_MAX)
    return floor(kept), floor(dividend - kept)


def weights_for_added_liquidity(
    quote_weight: int, tao_reserve: int, alpha_reserve: int, tao_delta: int, alpha_delta: int
) -> int | None:
    """`Balancer::update_weights_for_added_liquidity` (pallets/swap/src/pallet/balancer.rs): the
    new quote weight that keeps the price when liquidity is added off the price ratio, or None
    when it would leave [0.01, 0.99] (the injection is then skipped, `adjust_protocol_liquidity`
    in pallets/swap/src/pallet/impls.rs)."""
    base_weight = PERQUINTILL - quote_weight
    q1 = _mul_perquintill_round(base_weight, tao_reserve * (alpha_reserve + alpha_delta))
    q2 = _mul_perquintill_round(quote_weight, alpha_reserve * (tao_reserve + tao_delta))
    # `Perquintill::from_rational` rounds down; 0.5 when both reserves are empty.
    new = PERQUINTILL // 2 if q1 + q2 == 0 else q2 * PERQUINTILL // (q1 + q2)
    if new < MIN_WEIGHT or PERQUINTILL - new < MIN_WEIGHT:
        return None
    return new


def _mul_perquintill_round(parts: int, value: int) -> int:
    return (value * parts + PERQUINTILL // 2) // PERQUINTILL
