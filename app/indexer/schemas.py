from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from app.chain.types import PERQUINTILL
from app.indexer.repository import INTERVALS
from app.kit.units import RAO_PER_TAO, exact_decimal, format_fixed, fraction_str
from app.models import Subnet, SubnetHistory, Validator


def moving_price(bits: int) -> str:
    """SubnetMovingPrice is I96F32 (signed): exact decimal of bits / 2^32."""
    return format_fixed(bits, 32)


def weight_str(parts: int) -> str:
    """A Perquintill as its exact decimal: 500000000000000000 -> "0.5"."""
    return str(exact_decimal(Fraction(parts, PERQUINTILL)).normalize())


BLOCKS_PER_DAY = 7200
BLOCKS_PER_YEAR = 7200 * 365


@dataclass(frozen=True, slots=True)
class MarketContext:
    """What a subnet's trader figures need beyond its own row."""

    points: dict[str, tuple[int, int] | None]  # "now" and each interval: (price_rao, volume)
    root_tao: int  # SubnetTAO of root: the root stake
    tao_weight: int  # TaoWeight, parts of u64::MAX


def ratio_str(value: Fraction | None, decimals: int = 6) -> str | None:
    if value is None:
        return None
    sign = "-" if value < 0 else ""
    return sign + fraction_str(abs(value), decimals)


def root_proportion(s: Subnet, ctx: MarketContext) -> Fraction:
    """`root_proportion` (subtensor coinbase/block_step.rs): `root_tao * TaoWeight /
    (root_tao * TaoWeight + alpha issuance)`; 0 on root and non-dynamic subnets."""
    if s.mechanism != 1:
        return Fraction(0)
    weighted = ctx.root_tao * Fraction(ctx.tao_weight, 2**64 - 1)
    total = weighted + s.alpha_in + s.alpha_out
    return weighted / total if total else Fraction(0)


class EmissionPerDay(BaseModel):
    tao: str  # TAO into the pool a day: liquidity injected plus chain buys (rao)
    chain_buys: str  # of which swapped in for alpha (SubnetExcessTao x 7200)
    alpha: str  # alpha emitted to the owner, miners, validators and root (SubnetAlphaOutEmission)


class SubnetOut(BaseModel):
    """Amounts are strings of integer base units (rao, alpha-rao), like everywhere in the
    native API; prices are rao per whole alpha; the moving price is an exact decimal ratio;
    ratios (price change, root proportion, the weight) are decimal strings."""

    netuid: int
    status: str
    symbol: str
    name: str
    registered_at_block: int
    owner_coldkey: str
    owner_hotkey: str
    mechanism: int
    tempo: int
    price: str  # weighted pool spot, rao per alpha (10^9, i.e. 1.0, on root / non-dynamic)
    moving_price: str  # SubnetMovingPrice, exact
    tao_in: str
    alpha_in: str
    alpha_out: str
    volume: str  # SubnetVolume: TAO swapped through the pool since registration (cumulative)
    tao_in_emission: str
    alpha_in_emission: str
    alpha_out_emission: str
    fee_rate: int  # / 65535 of a swap's input
    quote_weight: str  # Swap::SwapBalancer, the TAO weight w2 (alpha's is 1 - w2), e.g. "0.5"
    market_cap: str  # price x alpha issued (in the pool and staked), rao
    liquidity: str  # the pool's value: TAO reserve + alpha reserve x price, rao
    price_change: dict[str, str | None]  # "1h", "24h", "7d", "30d": relative, e.g. "-0.012500"
    volume_by_interval: dict[str, str | None]  # TAO volume within each interval (not cumulative)
    emission_per_day: EmissionPerDay
    root_proportion: str | None  # share of the validators' half that goes to root stakers
    epoch_index: int  # SubnetEpochIndex
    last_epoch_block: int  # LastEpochBlock
    next_epoch_block: int | None  # min(LastEpochBlock + tempo, PendingEpochAt); None on root
    blocks_to_next_epoch: int | None  # from the last indexed block
    registration_cost: str  # Burn: TAO (rao) to register a uid
    subtoken_enabled: bool  # SubtokenEnabled: staking allowed
    transfer_enabled: bool  # TransferToggle: alpha transfers between coldkeys allowed
    identity: dict[str, Any] | None
    last_block: int
    retired_at_block: int | None

    @classmethod
    def of(cls, s: Subnet, ctx: MarketContext | None = None) -> "SubnetOut":
        """Without `ctx` (a subnet embedded elsewhere) the history figures and the root
        proportion are null."""
        known = ctx is not None
        ctx = ctx or MarketContext({}, 0, 0)
        price = Fraction(s.price_rao, RAO_PER_TAO)
        issued = s.alpha_in + s.alpha_out
        now = ctx.points.get("now")
        changes: dict[str, str | None] = {}
        volumes: dict[str, str | None] = {}
        for label in INTERVALS:
            then = ctx.points.get(label)
            if now is None or then is None:
                changes[label] = volumes[label] = None
                continue
            changes[label] = ratio_str(Fraction(now[0] - then[0], then[0]) if then[0] else None)
            volumes[label] = str(now[1] - then[1]) if now[1] >= then[1] else None
        next_epoch = None
        if s.mechanism == 1 and s.tempo and s.netuid:
            auto = s.last_epoch_block + s.tempo
            next_epoch = min(auto, s.pending_epoch_at) if s.pending_epoch_at else auto
        return cls(
            netuid=s.netuid,
            status=s.status,
            symbol=s.symbol,
            name=s.name,
            registered_at_block=s.registered_at,
            owner_coldkey=s.owner_coldkey,
            owner_hotkey=s.owner_hotkey,
            mechanism=s.mechanism,
            tempo=s.tempo,
            price=str(s.price_rao),
            moving_price=moving_price(s.moving_price_bits),
            tao_in=str(s.tao_in),
            alpha_in=str(s.alpha_in),
            alpha_out=str(s.alpha_out),
            volume=str(int(s.volume)),
            tao_in_emission=str(s.tao_in_emission),
            alpha_in_emission=str(s.alpha_in_emission),
            alpha_out_emission=str(s.alpha_out_emission),
            fee_rate=s.fee_rate,
            quote_weight=weight_str(s.quote_weight),
            market_cap=str(int(price * issued)),
            liquidity=str(s.tao_in + int(price * s.alpha_in)),
            price_change=changes,
            volume_by_interval=volumes,
            emission_per_day=EmissionPerDay(
                tao=str((s.tao_in_emission + s.excess_tao) * BLOCKS_PER_DAY),
                chain_buys=str(s.excess_tao * BLOCKS_PER_DAY),
                alpha=str(s.alpha_out_emission * BLOCKS_PER_DAY),
            ),
            root_proportion=fraction_str(root_proportion(s, ctx), 9) if known else None,
            epoch_index=s.epoch_index,
            last_epoch_block=s.last_epoch_block,
            next_epoch_block=next_epoch,
            blocks_to_next_epoch=(
                max(next_epoch - s.last_block, 0) if next_epoch is not None else None
            ),
            registration_cost=str(s.registration_cost),
            subtoken_enabled=s.subtoken_enabled,
            transfer_enabled=s.transfer_enabled,
            identity=s.identity,
            last_block=s.last_block,
            retired_at_block=s.retired_at_block,
        )


class HistoryPoint(BaseModel):
    block: int
    time: str
    price: str
    moving_price: str
    tao_in: str
    alpha_in: str
    alpha_out: str
    volume: str

    @classmethod
    def of(cls, h: SubnetHistory) -> "HistoryPoint":
        return cls(
            block=h.block_number,
            time=h.block_time.isoformat(),
            price=str(h.price_rao),
            moving_price=moving_price(h.moving_price_bits),
            tao_in=str(h.tao_in),
            alpha_in=str(h.alpha_in),
            alpha_out=str(h.alpha_out),
            volume=str(int(h.volume)),
        )


class HistoryOut(BaseModel):
    netuid: int
    resolution: str
    points: list[HistoryPoint]  # newest first
    next_before_block: int | None  # pass as `before_block` for the next (older) page


def validator_apy(v: Validator, tempo: int) -> Fraction | None:
    """The nominators' yield per epoch, compounded over a year of epochs (`7200 * 365 / tempo`
    at the automatic cadence): the last epoch's alpha dividends to nominators (after the
    take, `AlphaDividendsPerSubnet`) over the stake they were paid on: the hotkey's alpha
    after that epoch (`TotalHotkeyAlphaLastEpoch`) less the dividends and the take staked with
    them (`dividends * take / (1 - take)`). None before its first epoch."""
    d, after = v.alpha_dividends, v.total_alpha_last_epoch
    if not d or not after or not tempo:
        return None
    take = Fraction(v.take, 65535)
    base = after - Fraction(d) / (1 - take) if take < 1 else Fraction(0)
    if base <= 0:
        return None
    per_epoch = Decimal(d) / Decimal(base.numerator) * Decimal(base.denominator)
    epochs = Decimal(BLOCKS_PER_YEAR) / Decimal(tempo)
    with localcontext() as ctx:
        ctx.prec = 40
        apy = (1 + per_epoch) ** epochs - 1
    return Fraction(apy)


class ValidatorOut(BaseModel):
    hotkey: str
    uid: int
    validator_permit: bool
    take: str  # fraction, e.g. "0.18"
    childkey_take: str  # fraction (ChildkeyTake / 65535)
    total_stake: str  # alpha-rao
    nominators: int | None  # coldkeys staking with it here (counted every few hundred blocks)
    apy: str | None  # nominators' yield, compounded per epoch, after the take
    last_epoch_dividends: str  # alpha-rao its nominators got at the last epoch
    name: str | None
    last_block: int

    @classmethod
    def of(cls, v: Validator, tempo: int) -> "ValidatorOut":
        return cls(
            hotkey=v.hotkey,
            uid=v.uid,
            validator_permit=v.validator_permit,
            take=fraction_str(Fraction(v.take, 65535), 6),
            childkey_take=fraction_str(Fraction(v.childkey_take, 65535), 6),
            total_stake=str(v.total_alpha),
            nominators=v.nominators,
            apy=ratio_str(validator_apy(v, tempo)),
            last_epoch_dividends=str(v.alpha_dividends),
            name=v.name,
            last_block=v.last_block,
        )
