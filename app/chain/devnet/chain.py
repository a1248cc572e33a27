"""The devnet's chain: a deterministic simulation of subtensor's subnets, block by block.

Every produced block stores the full SCALE-encoded storage it serves (keys exactly as Substrate
computes them) and the same state as plain Python values (`Block.view`, a `ChainSnapshot`) so
tests can compare what a client reads with what the chain holds. The last `history` blocks are
kept, so queries pinned to a recent hash stay consistent while blocks advance.

Changes made through the helpers (`seed_stake`, `register_subnet`, ...) land in the next
produced block, as extrinsics would.
"""

import random
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

from scalecodec.utils.ss58 import ss58_decode, ss58_encode

from app.chain import codec
from app.chain.devnet.metadata import IDENTITY_FIELDS, SS58_FORMAT, STORAGE_BY_NAME, StorageItem
from app.chain.pool import quote_buy_alpha, quote_sell_alpha
from app.chain.types import (
    PERQUINTILL,
    RAO_PER_TAO,
    ChainSnapshot,
    StakePosition,
    SubnetIdentity,
    SubnetState,
    ValidatorState,
    spot_price,
)

GREEK = "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"
GREEK_NAMES = tuple(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
        "rho",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "chi",
        "psi",
        "omega",
    ]
)
MAX_NETUID = 128
T = TypeVar("T")
DEFAULT_TAKE = 11796  # 18%
V2_SHARE_EXPONENT = -9  # AlphaV2 shares are kept as mantissa * 10^-9


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    seed: int = 0
    subnets: int = 32  # dynamic subnets at genesis (netuids 1..N), plus root (0)
    validators_per_subnet: int = 4  # uids with a validator permit
    miners_per_subnet: int = 2  # further uids in `Keys` without a permit
    tempo: int = 360
    block_time: float | None = 12.0  # seconds between blocks; None: only `produce_block()`
    finality_lag: int = 2  # finalized head = head - lag
    history: int = 256  # blocks whose state stays queryable
    swaps_per_block: int = 4
    registration_interval: int = 360  # a new subnet every N blocks (0: never)
    max_subnets: int = MAX_NETUID  # at the limit a registration replaces the cheapest subnet
    immunity_period: int = 100  # blocks a new subnet cannot be deregistered


def account(seed: int, *parts: object) -> bytes:
    """A deterministic 32-byte account id."""
    return codec.blake2_256(":".join(str(p) for p in (seed, *parts)).encode())


def to_account(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ValueError("an account id has 32 bytes")
        return value
    if value.startswith("0x"):
        return to_account(bytes.fromhex(value[2:]))
    return bytes.fromhex(ss58_decode(value, SS58_FORMAT))


_SS58: dict[bytes, str] = {}


def ss58(acc: bytes) -> str:
    cached = _SS58.get(acc)
    if cached is None:
        cached = _SS58[acc] = ss58_encode(acc, SS58_FORMAT)
    return cached


@dataclass
class SharePool:
    """A hotkey's stake on one subnet: alpha owned pro rata by shares (exact Fractions).

    Legacy pools keep shares as U64F64 bits (`Alpha`, `TotalHotkeyShares`); V2 pools as
    `SafeFloat` with exponent -9 (`AlphaV2`, `TotalHotkeySharesV2`). Either way every share
    amount is exactly representable in its storage encoding.
    """

    total_alpha: int = 0
    v2: bool = False
    shares: dict[bytes, Fraction] = field(default_factory=dict)  # coldkey -> shares

    @property
    def total_shares(self) -> Fraction:
        return sum(self.shares.values(), Fraction(0))

    def mint(self, coldkey: bytes, alpha: int) -> Fraction:
        total = self.total_shares
        exact = (
            Fraction(alpha)
            if total == 0 or self.total_alpha == 0
            else alpha * total / self.total_alpha
        )
        if self.v2:
            minted = Fraction(int(exact * 10**-V2_SHARE_EXPONENT), 10**-V2_SHARE_EXPONENT)
        else:
            minted = Fraction(int(exact * codec.U64F64_ONE), codec.U64F64_ONE)
        self.shares[coldkey] = self.shares.get(coldkey, Fraction(0)) + minted
        self.total_alpha += alpha
        return minted


@dataclass
class Subnet:
    netuid: int
    registered_at: int
    mechanism: int
    symbol: bytes
    identity: tuple[bytes, ...] | None
    owner_coldkey: bytes
    owner_hotkey: bytes
    tempo: int
    tao_in: int
    alpha_in: int
    alpha_out: int
    moving_price_bits: int
    volume: int = 0
    tao_in_emission: int = 0
    alpha_in_emission: int = 0
    alpha_out_emission: int = 0
    fee_rate: int = 33
    alpha_weight: int = PERQUINTILL // 2
    uids: list[bytes] = field(default_factory=list)  # hotkey by uid
    permits: list[bool] = field(default_factory=list)
    pending_validator_alpha: int = 0

    @property
    def price(self) -> Fraction:
        return spot_price(self.tao_in, self.alpha_in, self.alpha_weight)


@dataclass
class Block:
    number: int
    hash: str
    parent_hash: str
    storage: dict[bytes, bytes]
    view: ChainSnapshot
    _sorted: list[bytes] | None = None

    @property
    def header(self) -> dict[str, object]:
        return {
            "parentHash": self.parent_hash,
            "number": hex(self.number),
            "stateRoot": "0x" + codec.blake2_256(b"state" + self.hash.encode()).hex(),
            "extrinsicsRoot": "0x" + bytes(32).hex(),
            "digest": {"logs": []},
        }

    def sorted_keys(self) -> list[bytes]:
        if self._sorted is None:
            self._sorted = sorted(self.storage)
        return self._sorted

    def keys_paged(self, prefix: bytes, count: int, start_key: bytes | None) -> list[bytes]:
        keys = self.sorted_keys()
        if start_key and start_key >= prefix:
            i = bisect_right(keys, start_key)
        else:
            i = bisect_left(keys, prefix)
        out: list[bytes] = []
        while i < len(keys) and len(out) < count and keys[i].startswith(prefix):
            out.append(keys[i])
            i += 1
        return out


class BlockNotKept(LookupError):
    """The block is unknown or older than the kept history."""


class DevnetChain:
    """The simulated chain. Thread-safe: blocks may be produced from any thread."""

    def __init__(self, config: DevnetConfig | None = None) -> None:
        self.config = config or DevnetConfig()
        if not 0 <= self.config.subnets <= MAX_NETUID:
            raise ValueError(f"subnets must be within 0..{MAX_NETUID}")
        self._lock = threading.RLock()
        self._rng = random.Random(self.config.seed)
        self._seed = self.config.seed
        self.subnets: dict[int, Subnet] = {}
        self.pools: dict[tuple[bytes, int], SharePool] = {}  # (hotkey, netuid)
        self.takes: dict[bytes, int] = {}
        self._validator_hotkeys = [account(self._seed, "validator", i) for i in range(24)]
        self._registrations = 0
        self._blocks: dict[str, Block] = {}
        self._by_number: dict[int, Block] = {}
        self._key_cache: dict[tuple[str, tuple[object, ...]], bytes] = {}
        self.listeners: list[Callable[[Block], None]] = []
        self._next_number = 0
        self._add_root()
        for netuid in range(1, self.config.subnets + 1):
            self._new_subnet(netuid)
        self._head = self._commit()

    # --- queries ------------------------------------------------------------------------------

    @property
    def head(self) -> Block:
        return self._head

    @property
    def finalized(self) -> Block:
        head = self._head
        number = max(head.number - self.config.finality_lag, self._oldest_number())
        return self._by_number.get(number, head)

    def _oldest_number(self) -> int:
        return max(0, self._head.number - self.config.history + 1)

    def block(self, block_hash: str | None = None) -> Block:
        if block_hash is None:
            return self._head
        found = self._blocks.get(block_hash.lower())
        if found is None:
            raise BlockNotKept(block_hash)
        return found

    def block_by_number(self, number: int) -> Block | None:
        return self._by_number.get(number)

    # --- block production ---------------------------------------------------------------------

    def produce_block(self) -> Block:
        with self._lock:
            self._step(self._next_number)
            block = self._commit()
        for listener in list(self.listeners):
            listener(block)
        return block

    def produce_blocks(self, n: int) -> Block:
        block = self._head
        for _ in range(n):
            block = self.produce_block()
        return block

    def _commit(self) -> Block:
        number = self._next_number
        parent = self._by_number[number - 1].hash if number > 0 else "0x" + bytes(32).hex()
        block_hash = "0x" + codec.blake2_256(f"{self._seed}:{number}:{parent}".encode()).hex()
        view = self._view(number, block_hash)
        block = Block(number, block_hash, parent, self._encode(number), view)
        self._blocks[block.hash] = block
        self._by_number[number] = block
        stale = number - self.config.history
        if stale >= 0 and (old := self._by_number.pop(stale, None)) is not None:
            self._blocks.pop(old.hash, None)
        self._next_number = number + 1
        self._head = block
        return block

    def _step(self, number: int) -> None:
        """One block: emissions, epochs, random swaps, registrations."""
        dynamic = [s for s in self.subnets.values() if s.mechanism == 1]
        total_price = sum(max(s.moving_price_bits, 0) for s in dynamic) or 1
        for s in dynamic:
            # Block emission: 1 TAO split by moving price; alpha in keeps the price unchanged.
            tao = RAO_PER_TAO * max(s.moving_price_bits, 0) // total_price
            alpha = tao * s.alpha_in // s.tao_in if s.tao_in else 0
            s.tao_in_emission, s.alpha_in_emission, s.alpha_out_emission = tao, alpha, RAO_PER_TAO
            s.tao_in += tao
            s.alpha_in += alpha
            s.alpha_out += RAO_PER_TAO
            s.pending_validator_alpha += RAO_PER_TAO * 41 // 100
            if (number + s.netuid) % (s.tempo + 1) == 0:
                self._epoch(s)
        for s in self._rng.sample(dynamic, min(self.config.swaps_per_block, len(dynamic))):
            self._random_swap(s)
        for s in dynamic:
            price_bits = int(s.price * codec.I96F32_ONE)
            s.moving_price_bits += (price_bits - s.moving_price_bits) // 50
        interval = self.config.registration_interval
        if interval and number % interval == 0:
            self._register_or_replace()

    def _epoch(self, s: Subnet) -> None:
        """Distribute the tempo's validator alpha pro rata to stake: every share gains value."""
        validators = [h for h, p in zip(s.uids, s.permits, strict=True) if p]
        if not validators:
            return
        pools = [self.pools.setdefault((h, s.netuid), SharePool()) for h in validators]
        total = sum(p.total_alpha for p in pools)
        amount, s.pending_validator_alpha = s.pending_validator_alpha, 0
        for p in pools:
            p.total_alpha += amount * p.total_alpha // total if total else amount // len(pools)

    def _random_swap(self, s: Subnet) -> None:
        if self._rng.random() < 0.5:
            dy = int(s.tao_in * self._rng.uniform(0.0001, 0.003))
            out, _ = quote_buy_alpha(s, dy)
            if 0 < out < s.alpha_in:
                s.tao_in += dy
                s.alpha_in -= out
                s.alpha_out += out
                s.volume += dy
        else:
            dx = min(int(s.alpha_in * self._rng.uniform(0.0001, 0.003)), s.alpha_out // 10)
            out, _ = quote_sell_alpha(s, dx)
            if 0 < out < s.tao_in:
                s.alpha_in += dx
                s.alpha_out -= dx
                s.tao_in -= out
                s.volume += out

    def _register_or_replace(self) -> None:
        dynamic = len([n for n in self.subnets if n != 0])
        if dynamic < min(self.config.max_subnets, MAX_NETUID):
            self._new_subnet(self._free_netuid())
            return
        head = self._next_number
        candidates = [
            s
            for s in self.subnets.values()
            if s.netuid != 0 and head - s.registered_at > self.config.immunity_period
        ]
        if candidates:
            cheapest = min(candidates, key=lambda s: (s.moving_price_bits, s.netuid))
            self.deregister_and_reuse(cheapest.netuid)

    # --- genesis and registration -------------------------------------------------------------

    def _add_root(self) -> None:
        self.subnets[0] = Subnet(
            netuid=0,
            registered_at=0,
            mechanism=0,
            symbol="\u03a4".encode(),  # capital tau
            identity=None,
            owner_coldkey=bytes(32),
            owner_hotkey=bytes(32),
            tempo=self.config.tempo,
            tao_in=0,
            alpha_in=0,
            alpha_out=0,
            moving_price_bits=codec.I96F32_ONE,
            fee_rate=0,
        )

    def _free_netuid(self) -> int:
        for netuid in range(1, MAX_NETUID + 1):
            if netuid not in self.subnets:
                return netuid
        raise ValueError("no free netuid")

    def _new_subnet(
        self,
        netuid: int,
        *,
        tao_in: int | None = None,
        price: Fraction | None = None,
        alpha_weight: int | None = None,
        identity: tuple[bytes, ...] | bool | None = True,
    ) -> Subnet:
        rng = self._rng
        self._registrations += 1
        reg = self._registrations
        if tao_in is None:
            tao_in = int(RAO_PER_TAO * 10 ** rng.uniform(2.5, 5.7))  # ~300 .. 500k TAO
        if price is None:
            price = Fraction(10 ** rng.uniform(-2.5, -0.3)).limit_denominator(10**12)
        if alpha_weight is None:
            alpha_weight = PERQUINTILL // 2
            if reg % 5 == 0:  # a few pools already moved off 50/50
                alpha_weight = rng.choice((40, 45, 55, 60)) * PERQUINTILL // 100
        w2 = Fraction(alpha_weight, PERQUINTILL)
        alpha_in = int((1 - w2) * tao_in / (w2 * price))
        name = GREEK_NAMES[(netuid - 1) % len(GREEK_NAMES)]
        if identity is True:
            if netuid % 7 == 0:
                identity = None
            else:
                raw_name = f"{name.title()} subnet {reg}".encode()
                if netuid == 3:
                    raw_name = b"Bad \xff\xfe name \xc3"  # invalid UTF-8, as some chain data is
                identity = (
                    raw_name,
                    f"https://github.com/devnet/{name}-{reg}".encode(),
                    f"ops@{name}.example".encode(),
                    f"https://{name}.example".encode(),
                    f"{name}#{reg:04d}".encode(),
                    f"The {name} subnet, registration {reg}.".encode(),
                    f"https://{name}.example/logo.png".encode(),
                    b"",
                )
        subnet = Subnet(
            netuid=netuid,
            registered_at=self._next_number,
            mechanism=1,
            symbol=GREEK[(netuid - 1) % len(GREEK)].encode(),
            identity=identity if isinstance(identity, tuple) else None,
            owner_coldkey=account(self._seed, "owner-cold", reg),
            owner_hotkey=account(self._seed, "owner-hot", reg),
            tempo=self.config.tempo,
            tao_in=tao_in,
            alpha_in=alpha_in,
            alpha_out=int(alpha_in * rng.uniform(0.3, 2.0)),
            moving_price_bits=int(price * codec.I96F32_ONE),
            fee_rate=33,
            alpha_weight=alpha_weight,
        )
        validators = rng.sample(self._validator_hotkeys, self.config.validators_per_subnet)
        miners = [
            account(self._seed, "miner", reg, i) for i in range(self.config.miners_per_subnet)
        ]
        subnet.uids = validators + miners
        subnet.permits = [True] * len(validators) + [False] * len(miners)
        self.subnets[netuid] = subnet
        stake_left = subnet.alpha_out // 2
        for i, hotkey in enumerate(validators):
            self.takes.setdefault(hotkey, rng.choice((0, 5898, 9000, DEFAULT_TAKE)))
            pool = self.pools.setdefault((hotkey, netuid), SharePool(v2=(reg + i) % 3 == 0))
            own = stake_left // (2 + i)
            stake_left -= own
            pool.mint(account(self._seed, "validator-cold", hotkey.hex()), own)
            pool.mint(account(self._seed, "public-cold", reg, i), own // 3 + 1)
        return subnet

    def register_subnet(
        self,
        *,
        netuid: int | None = None,
        tao_in: int | None = None,
        price: Fraction | None = None,
        alpha_weight: int | None = None,
    ) -> int:
        """Register a dynamic subnet (the lowest free netuid unless given); returns its netuid."""
        with self._lock:
            if netuid is None:
                netuid = self._free_netuid()
            if netuid in self.subnets or not 1 <= netuid <= MAX_NETUID:
                raise ValueError(f"netuid {netuid} is not free")
            self._new_subnet(netuid, tao_in=tao_in, price=price, alpha_weight=alpha_weight)
            return netuid

    def deregister_and_reuse(self, netuid: int) -> Subnet:
        """Dissolve a subnet (its pool and stakes) and register a new one on the same netuid."""
        with self._lock:
            if netuid == 0 or netuid not in self.subnets:
                raise ValueError(f"netuid {netuid} is not a dynamic subnet")
            del self.subnets[netuid]
            for key in [k for k in self.pools if k[1] == netuid]:
                del self.pools[key]
            return self._new_subnet(netuid)

    def seed_stake(
        self, coldkey: str | bytes, hotkey: str | bytes, netuid: int, alpha: int
    ) -> Fraction:
        """Give `coldkey` a stake of `alpha` alpha-rao with `hotkey` on `netuid`.

        Mints shares at the pool's current share price, so TotalHotkeyAlpha and
        TotalHotkeyShares stay consistent; returns the shares minted.
        """
        cold, hot = to_account(coldkey), to_account(hotkey)
        if alpha <= 0:
            raise ValueError("alpha must be positive")
        with self._lock:
            if netuid not in self.subnets:
                raise ValueError(f"netuid {netuid} is not registered")
            pool = self.pools.setdefault((hot, netuid), SharePool())
            minted = pool.mint(cold, alpha)
            self.subnets[netuid].alpha_out += alpha
            return minted

    def set_swap_params(
        self, netuid: int, *, fee_rate: int | None = None, alpha_weight: int | None = None
    ) -> None:
        with self._lock:
            s = self.subnets[netuid]
            if fee_rate is not None:
                s.fee_rate = fee_rate
            if alpha_weight is not None:
                s.alpha_weight = alpha_weight

    # --- encoding -----------------------------------------------------------------------------

    def _key(self, item: StorageItem, *args: object) -> bytes:
        ck = (item.name, args)
        key = self._key_cache.get(ck)
        if key is None:
            key = codec.storage_prefix(item.pallet, item.name)
            for hasher, arg in zip(item.hashers, args, strict=True):
                raw = codec.u16(arg) if isinstance(arg, int) else arg
                if not isinstance(raw, bytes):
                    raise TypeError(f"key part {arg!r}")
                key += codec.hash_key(hasher, raw)
            self._key_cache[ck] = key
        return key

    def _encode(self, number: int) -> dict[bytes, bytes]:
        S = STORAGE_BY_NAME
        out: dict[bytes, bytes] = {}

        # Unchanged values share the previous block's bytes: kept history costs less memory.
        prev: dict[bytes, bytes] = self._head.storage if number > 0 else {}

        def put(pallet: str, name: str, value: bytes, *args: object) -> None:
            key = self._key(S[(pallet, name)], *args)
            old = prev.get(key)
            out[key] = old if old == value else value

        put("System", "Number", codec.u32(number))
        m = "SubtensorModule"
        for netuid, s in self.subnets.items():
            put(m, "NetworksAdded", codec.boolean(True), netuid)
            put(m, "SubnetTAO", codec.u64(s.tao_in), netuid)
            put(m, "SubnetAlphaIn", codec.u64(s.alpha_in), netuid)
            put(m, "SubnetAlphaOut", codec.u64(s.alpha_out), netuid)
            put(m, "SubnetMovingPrice", codec.i128(s.moving_price_bits), netuid)
            put(m, "SubnetVolume", codec.u128(s.volume), netuid)
            put(m, "TokenSymbol", codec.vec_u8(s.symbol), netuid)
            if s.identity is not None:
                put(m, "SubnetIdentitiesV3", b"".join(codec.vec_u8(f) for f in s.identity), netuid)
            put(m, "SubnetOwner", s.owner_coldkey, netuid)
            put(m, "SubnetOwnerHotkey", s.owner_hotkey, netuid)
            put(m, "Tempo", codec.u16(s.tempo), netuid)
            put(m, "NetworkRegisteredAt", codec.u64(s.registered_at), netuid)
            put(m, "SubnetMechanism", codec.u16(s.mechanism), netuid)
            put(m, "SubnetTaoInEmission", codec.u64(s.tao_in_emission), netuid)
            put(m, "SubnetAlphaInEmission", codec.u64(s.alpha_in_emission), netuid)
            put(m, "SubnetAlphaOutEmission", codec.u64(s.alpha_out_emission), netuid)
            put(m, "ValidatorPermit", codec.vec_bool(s.permits), netuid)
            for uid, hotkey in enumerate(s.uids):
                put(m, "Keys", hotkey, netuid, uid)
            if netuid != 0:
                put("Swap", "FeeRate", codec.u16(s.fee_rate), netuid)
                put("Swap", "SwapBalancer", codec.u64(s.alpha_weight), netuid)
        for hotkey, take in self.takes.items():
            put(m, "Delegates", codec.u16(take), hotkey)
        for (hotkey, netuid), pool in self.pools.items():
            put(m, "TotalHotkeyAlpha", codec.u64(pool.total_alpha), hotkey, netuid)
            if pool.v2:
                put(m, "TotalHotkeySharesV2", _safe_float(pool.total_shares), hotkey, netuid)
                for cold, shares in pool.shares.items():
                    put(m, "AlphaV2", _safe_float(shares), hotkey, cold, netuid)
            else:
                put(
                    m,
                    "TotalHotkeyShares",
                    codec.u128(_u64f64_bits(pool.total_shares)),
                    hotkey,
                    netuid,
                )
                for cold, shares in pool.shares.items():
                    put(m, "Alpha", codec.u128(_u64f64_bits(shares)), hotkey, cold, netuid)
        return out

    def _view(self, number: int, block_hash: str) -> ChainSnapshot:
        subnets: dict[int, SubnetState] = {}
        validators: list[ValidatorState] = []
        for netuid, s in sorted(self.subnets.items()):
            identity = None
            if s.identity is not None:
                identity = SubnetIdentity(
                    **{
                        name: value.decode("utf-8", errors="replace")
                        for name, value in zip(IDENTITY_FIELDS, s.identity, strict=True)
                    }
                )
            subnets[netuid] = SubnetState(
                netuid=netuid,
                registered_at=s.registered_at,
                mechanism=s.mechanism,
                symbol=s.symbol.decode("utf-8", errors="replace"),
                identity=identity,
                owner_coldkey=ss58(s.owner_coldkey),
                owner_hotkey=ss58(s.owner_hotkey),
                tempo=s.tempo,
                tao_in=s.tao_in,
                alpha_in=s.alpha_in,
                alpha_out=s.alpha_out,
                moving_price_bits=s.moving_price_bits,
                volume=s.volume,
                tao_in_emission=s.tao_in_emission,
                alpha_in_emission=s.alpha_in_emission,
                alpha_out_emission=s.alpha_out_emission,
                fee_rate=s.fee_rate if netuid != 0 else 33,
                alpha_weight=s.alpha_weight,
            )
            for uid, (hotkey, permit) in enumerate(zip(s.uids, s.permits, strict=True)):
                pool = self.pools.get((hotkey, netuid))
                validators.append(
                    ValidatorState(
                        netuid=netuid,
                        uid=uid,
                        hotkey=ss58(hotkey),
                        validator_permit=permit,
                        take=self.takes.get(hotkey, DEFAULT_TAKE),
                        total_alpha=pool.total_alpha if pool else 0,
                    )
                )
        positions = [
            StakePosition(
                netuid=netuid,
                hotkey=ss58(hotkey),
                coldkey=ss58(cold),
                shares=shares,
                total_shares=pool.total_shares,
                total_alpha=pool.total_alpha,
            )
            for (hotkey, netuid), pool in self.pools.items()
            for cold, shares in pool.shares.items()
        ]
        if number > 0:
            validators = _reuse(self._head.view.validators, validators)
            positions = _reuse(self._head.view.positions, positions)
        return ChainSnapshot(
            block_number=number,
            block_hash=block_hash,
            subnets=subnets,
            validators=validators,
            positions=positions,
        )


def _reuse(previous: list[T], current: list[T]) -> list[T]:
    """`current` with items equal to the previous block's replaced by those (shared) objects."""
    known = {item: item for item in previous}
    return [known.get(item, item) for item in current]


def _u64f64_bits(value: Fraction) -> int:
    bits = value * codec.U64F64_ONE
    if bits.denominator != 1:
        raise ValueError("legacy shares must be whole U64F64 bits")
    return int(bits)


def _safe_float(value: Fraction) -> bytes:
    mantissa = value * 10**-V2_SHARE_EXPONENT
    if mantissa.denominator != 1:
        raise ValueError("V2 shares must be whole mantissas")
    return codec.u128(int(mantissa)) + codec.i64(V2_SHARE_EXPONENT)
