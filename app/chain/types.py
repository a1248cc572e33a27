"""What the chain client reads: one consistent snapshot of the subnets at one block.

Amounts are integers of base units (rao, alpha-rao). Fixed-point chain values are kept as
their raw bits and exposed as exact `Fraction`s.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

from app.kit.units import RAO_PER_TAO as RAO_PER_TAO  # re-exported for the devnet
from app.kit.units import UNIT

U16_MAX = 65535
PERQUINTILL = 10**18
DEFAULT_MIN_STAKE = 2_000_000  # rao of TAO: subtensor's DefaultMinStake; smaller moves fail
MIN_MOVE_FACTOR = 2  # margin over it: the price moves between planning and inclusion


def minimum_stake_move(price_rao: int | None) -> int:
    """The smallest alpha-rao amount worth moving as stake at `price_rao` (rao of TAO per
    alpha): twice `DefaultMinStake`'s worth, rounded up. Unknown price: at par."""
    if not price_rao or price_rao <= 0:
        return MIN_MOVE_FACTOR * DEFAULT_MIN_STAKE
    return -(-MIN_MOVE_FACTOR * DEFAULT_MIN_STAKE * UNIT // price_rao)


def spot_price(tao_in: int, alpha_in: int, quote_weight: int) -> Fraction:
    """The weighted pool's spot price, TAO per alpha: (w1*y)/(w2*x), w2 the quote (TAO) weight in
    Perquintill parts and w1 = 1 - w2 the base (alpha) weight (`Balancer::calculate_price`)."""
    if alpha_in == 0:
        return Fraction(0)
    w2 = Fraction(quote_weight, PERQUINTILL)
    return (1 - w2) * tao_in / (w2 * alpha_in)


@dataclass(frozen=True, slots=True)
class SubnetIdentity:
    """`SubnetIdentitiesV3`, bytes decoded as UTF-8 with invalid bytes replaced."""

    subnet_name: str = ""
    github_repo: str = ""
    subnet_contact: str = ""
    subnet_url: str = ""
    discord: str = ""
    description: str = ""
    logo_url: str = ""
    additional: str = ""


@dataclass(frozen=True, slots=True)
class SubnetState:
    netuid: int
    registered_at: int  # NetworkRegisteredAt (block); a change means a different token
    mechanism: int  # SubnetMechanism: 1 = dynamic
    symbol: str  # TokenSymbol, decoded
    identity: SubnetIdentity | None
    owner_coldkey: str  # SS58
    owner_hotkey: str  # SS58
    tempo: int
    tao_in: int  # SubnetTAO, pool TAO reserve (rao): y
    alpha_in: int  # SubnetAlphaIn, pool alpha reserve: x
    alpha_out: int  # SubnetAlphaOut, alpha held by stakers
    moving_price_bits: int  # SubnetMovingPrice, I96F32 (signed): value = bits / 2^32
    volume: int  # SubnetVolume (u128)
    tao_in_emission: int  # SubnetTaoInEmission, last block
    alpha_in_emission: int  # SubnetAlphaInEmission
    alpha_out_emission: int  # SubnetAlphaOutEmission
    fee_rate: int  # Swap::FeeRate, fee = fee_rate / 65535 of the input
    quote_weight: int  # Swap::SwapBalancer: the quote (TAO) weight w2, Perquintill parts
    # The stateful epoch scheduler (subtensor coinbase/run_coinbase.rs): an epoch runs when
    # `tempo` blocks have passed since `LastEpochBlock`, or at `PendingEpochAt` (owner-triggered
    # or deferred by the per-block cap); each consumed slot adds one to `SubnetEpochIndex`.
    last_epoch_block: int = 0  # LastEpochBlock
    pending_epoch_at: int = 0  # PendingEpochAt (0: none)
    epoch_index: int = 0  # SubnetEpochIndex
    excess_tao: int = 0  # SubnetExcessTao: TAO the chain bought alpha with, last block
    registration_cost: int = 0  # Burn: TAO (rao) to register a uid on the subnet
    subtoken_enabled: bool = True  # SubtokenEnabled: staking and transfers allowed
    transfer_enabled: bool = True  # TransferToggle: alpha transfers between coldkeys allowed

    @property
    def moving_price(self) -> Fraction:
        return Fraction(self.moving_price_bits, 2**32)

    @property
    def dynamic(self) -> bool:
        return self.mechanism == 1

    @property
    def price(self) -> Fraction:
        """Spot price, TAO per alpha: (w1*y)/(w2*x) on a dynamic subnet, 1 on root and any other
        non-dynamic one (`Swap::current_price`, pallets/swap/src/pallet/impls.rs)."""
        if not self.dynamic:
            return Fraction(1)
        return spot_price(self.tao_in, self.alpha_in, self.quote_weight)

    @property
    def next_epoch_block(self) -> int | None:
        """`get_next_epoch_start_block`: min(LastEpochBlock + tempo, PendingEpochAt), None with
        tempo 0 or on root (no epochs). A deferral can push it a block or two later."""
        if self.tempo == 0 or self.netuid == 0:
            return None
        auto = self.last_epoch_block + self.tempo
        return min(auto, self.pending_epoch_at) if self.pending_epoch_at else auto

    @property
    def price_rao(self) -> int:
        """Spot price in rao per whole alpha, rounded down."""
        return int(self.price * RAO_PER_TAO)


@dataclass(frozen=True, slots=True)
class ValidatorState:
    netuid: int
    uid: int
    hotkey: str  # SS58
    validator_permit: bool
    take: int  # Delegates, u16: take = take / 65535
    total_alpha: int  # TotalHotkeyAlpha[(hotkey, netuid)]
    childkey_take: int = 0  # ChildkeyTake[(hotkey, netuid)], u16 / 65535
    # The last epoch: alpha dividends its nominators got (after the take) and the hotkey's
    # alpha then (AlphaDividendsPerSubnet, TotalHotkeyAlphaLastEpoch): the yield per epoch.
    alpha_dividends: int = 0
    total_alpha_last_epoch: int = 0
    nominators: int | None = None  # coldkeys staking with it on the subnet (when read)


@dataclass(frozen=True, slots=True)
class StakePosition:
    """A coldkey's stake with a hotkey on a subnet."""

    netuid: int
    hotkey: str
    coldkey: str
    shares: Fraction  # Alpha / AlphaV2 shares, exact
    total_shares: Fraction  # TotalHotkeyShares / TotalHotkeySharesV2, exact
    total_alpha: int  # TotalHotkeyAlpha

    @property
    def stake(self) -> int:
        """Alpha-rao this position is worth, rounded down."""
        if self.total_shares == 0:
            return 0
        return int(self.total_alpha * self.shares / self.total_shares)


@dataclass(frozen=True, slots=True)
class ChainSnapshot:
    block_number: int
    block_hash: str
    subnets: dict[int, SubnetState]
    validators: list[ValidatorState] = field(default_factory=list)
    positions: list[StakePosition] = field(default_factory=list)
    rpc_round_trips: int = 0  # how many JSON-RPC requests the snapshot took
    timestamp_ms: int = 0  # Timestamp.Now at the block: the block's time (ms since the epoch)
    tao_weight: int = 0  # TaoWeight (u64 parts of u64::MAX): root TAO's weight against alpha

    @property
    def block_time(self) -> datetime | None:
        """The block's time as the chain recorded it (`Timestamp.Now`), None if unset."""
        if not self.timestamp_ms:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)
