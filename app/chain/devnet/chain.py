"""The devnet's chain: a deterministic simulation of subtensor's subnets, block by block.

Every produced block stores the full SCALE-encoded storage it serves (keys exactly as Substrate
computes them; `encoding.py`) and the same state as plain Python values (`Block.view`, a
`ChainSnapshot`) so tests can compare what a client reads with what the chain holds. The last
`history` blocks are kept, so queries pinned to a recent hash stay consistent while blocks
advance.

A block is built as a subtensor node builds one: `Initialization` (emissions, epochs,
registrations: their events), the `Timestamp.set` inherent, then the signed extrinsics the
transaction pool holds (`txpool.py`, applied by `runtime.py`), then `Finalization` (the
simulated trading of other users). State changes from an extrinsic land in the block that
includes it; every block keeps its extrinsics and `System.Events`.

Development accounts (`//Alice` ... `//Ferdie`, sr25519) start with `DEV_FREE` TAO and
`DEV_STAKE` alpha on every genesis subnet, staked with the subnet's first validator. Fees go to
the block author, `DevnetChain.author` (a devnet account, endowed at genesis).

Changes made through the helpers (`seed_stake`, `register_subnet`, ...) land in the next
produced block, as extrinsics would.
"""

import contextlib
import random
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from scalecodec.utils.ss58 import ss58_decode

from app.chain import codec
from app.chain.devnet import coinbase, trie
from app.chain.devnet.balances import Balances
from app.chain.devnet.encoding import BLOCK_HASH_PREFIX, StateEncoder
from app.chain.devnet.encoding import ss58 as ss58  # re-exported: tests and benches use it
from app.chain.devnet.events import DispatchError, Events
from app.chain.devnet.extrinsics import Extrinsic, encode_unsigned
from app.chain.devnet.metadata import (
    BLOCK_HASH_COUNT,
    SS58_FORMAT,
    STORAGE_BY_NAME,
    StorageItem,
    call_decoder,
)
from app.chain.devnet.runtime import Executive, timestamp_call
from app.chain.devnet.staking import MAX_PRICE, MIN_PRICE, simulate_buy, simulate_sell
from app.chain.devnet.state import (
    DEFAULT_TAKE,
    Account,
    Journal,
    SharePool,
    State,
    Subnet,
    subnet_account,
)
from app.chain.devnet.txpool import Status, TransactionPool
from app.chain.types import (
    PERQUINTILL,
    RAO_PER_TAO,
    ChainSnapshot,
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

# Substrate's development accounts: `Keypair.create_from_uri("//Alice")` etc. (sr25519).
DEV_ACCOUNTS: dict[str, bytes] = {
    name: bytes.fromhex(public)
    for name, public in (
        ("Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"),
        ("Bob", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48"),
        ("Charlie", "90b5ab205c6974c9ea841be688864633dc9ca8a357843eeacf2314649965fe22"),
        ("Dave", "306721211d5404bd9da88e0204360a1a9ab8b87c66c1bc2fcdd37f3c2222cc20"),
        ("Eve", "e659a7a1628cdd93febc04a4e0646ea20e9f5f0ce097d9a05290d4a9e054df4e"),
        ("Ferdie", "1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c"),
    )
}
DEV_FREE = 100_000 * RAO_PER_TAO  # free TAO of each development account at genesis
DEV_STAKE = 1_000 * RAO_PER_TAO  # alpha each holds on every genesis subnet (first validator)
AUTHOR_ENDOWMENT = RAO_PER_TAO
GENESIS_TIMESTAMP_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SLOT_MS = 12_000  # Timestamp.Now advances 12 s a block, whatever the devnet's block time
GENESIS_BLOCK_HASH_PLACEHOLDER = bytes([69]) * 32  # frame_system's `BlockHash[0]` at genesis


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
    ban_blocks: int = 150  # a refused or included transaction hash stays banned this long
    # Epochs due beyond this many in one block are deferred to the next one
    # (`MaxEpochsPerBlock`; the runtime's `SubtensorMaxEpochsPerBlock` is 2 in production).
    max_epochs_per_block: int = 2
    # `AdminFreezeWindow` (default 10): an owner-triggered epoch fires this many blocks later.
    admin_freeze_window: int = 10
    # TAO issued outside the devnet's accounts, counted in the issuance that sets the block
    # emission (finney had issued about 10.7M TAO by mid-2026).
    issued_elsewhere: int = 0


def should_run_epoch(s: Subnet, block: int) -> bool:
    """subtensor `should_run_epoch` (coinbase/run_coinbase.rs): a pending (owner-triggered or
    deferred) epoch whose block has come, or `tempo` blocks since `LastEpochBlock`; never with
    tempo 0. (The `BlocksSinceLastStep > MAX_TEMPO` safety net never fires here: every due
    epoch runs within a block or two.)"""
    if s.tempo == 0:
        return False
    if s.pending_epoch_at and block >= s.pending_epoch_at:
        return True
    return block - s.last_epoch_block >= s.tempo


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


@dataclass
class Block:
    number: int
    hash: str
    parent_hash: str
    storage: dict[bytes, bytes]
    view: ChainSnapshot
    state_root: bytes = bytes(32)
    extrinsics_root: bytes = bytes(32)
    extrinsics: tuple[bytes, ...] = ()
    state: trie.Node | None = None  # the state trie (its root hash is `state_root`)
    _sorted: list[bytes] | None = None

    @property
    def header(self) -> dict[str, object]:
        return {
            "parentHash": self.parent_hash,
            "number": hex(self.number),
            "stateRoot": "0x" + self.state_root.hex(),
            "extrinsicsRoot": "0x" + self.extrinsics_root.hex(),
            "digest": {"logs": []},
        }

    @property
    def body(self) -> dict[str, object]:
        """`chain_getBlock`'s answer."""
        return {
            "block": {
                "header": self.header,
                "extrinsics": ["0x" + x.hex() for x in self.extrinsics],
            },
            "justifications": None,
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


@dataclass(frozen=True, slots=True)
class ArchivedBlock:
    """What a node keeps of a block whose state was pruned: header and body."""

    number: int
    hash: str
    header: dict[str, object]
    body: dict[str, object]


class DevnetChain:
    """The simulated chain. Thread-safe: blocks may be produced from any thread."""

    def __init__(self, config: DevnetConfig | None = None) -> None:
        self.config = config or DevnetConfig()
        if not 0 <= self.config.subnets <= MAX_NETUID:
            raise ValueError(f"subnets must be within 0..{MAX_NETUID}")
        self._lock = threading.RLock()
        self._rng = random.Random(self.config.seed)
        self._seed = self.config.seed
        self.state = State()
        self.subnets = self.state.subnets
        self.pools = self.state.pools  # (hotkey, netuid) -> SharePool
        self.takes = self.state.takes
        self.author = account(self._seed, "block-author")
        self._validator_hotkeys = [account(self._seed, "validator", i) for i in range(24)]
        self._registrations = 0
        self._blocks: dict[str, Block] = {}
        self._by_number: dict[int, Block] = {}
        self._archive: dict[str, ArchivedBlock] = {}
        self._hashes: list[str] = []  # every block's hash, by number
        self._encoder = StateEncoder()
        self._pending_events: list[Callable[[Events], None]] = []
        self.listeners: list[Callable[[Block], None]] = []
        self.executive = Executive(self.state, self.block_hash_bytes, self.author)
        self.pool = TransactionPool(self.executive, call_decoder, self.config.ban_blocks)
        self._next_number = 0
        self._genesis_accounts()
        self._add_root()
        for netuid in range(1, self.config.subnets + 1):
            self._new_subnet(netuid)
        self._head = self._commit(Events(), ())

    def _genesis_accounts(self) -> None:
        for public in DEV_ACCOUNTS.values():
            self.state.accounts[public] = Account(free=DEV_FREE)
        self.state.accounts[self.author] = Account(free=AUTHOR_ENDOWMENT)

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
        """A block whose state is kept (the last `history` ones)."""
        if block_hash is None:
            return self._head
        found = self._blocks.get(block_hash.lower())
        if found is None:
            raise BlockNotKept(block_hash)
        return found

    def block_by_number(self, number: int) -> Block | None:
        return self._by_number.get(number)

    def block_hash_at(self, number: int) -> str | None:
        """The hash of any block produced so far (headers and bodies are never pruned)."""
        return self._hashes[number] if 0 <= number < len(self._hashes) else None

    def block_hash_bytes(self, number: int) -> bytes | None:
        found = self.block_hash_at(number)
        return bytes.fromhex(found[2:]) if found else None

    def any_block(self, block_hash: str) -> "Block | ArchivedBlock":
        """Any block produced so far: its header and body (state only for kept blocks)."""
        found = self._blocks.get(block_hash.lower()) or self._archive.get(block_hash.lower())
        if found is None:
            raise BlockNotKept(block_hash)
        return found

    def read(self, block: Block, key: bytes) -> bytes | None:
        """A storage value at `block`. `System::BlockHash` is answered from the chain's hashes
        (the genesis and the last `BlockHashCount` blocks, as the runtime keeps them)."""
        value = block.storage.get(key)
        if value is not None or not key.startswith(BLOCK_HASH_PREFIX) or len(key) != 44:
            return value
        number = int.from_bytes(key[40:44], "little")
        if key != self.storage_key(STORAGE_BY_NAME[("System", "BlockHash")], number):
            return None
        if number != 0 and not block.number - BLOCK_HASH_COUNT <= number < block.number:
            return None
        if block.number == 0:
            return GENESIS_BLOCK_HASH_PLACEHOLDER
        return self.block_hash_bytes(number)

    def read_proof(self, block: Block, keys: list[bytes]) -> list[bytes]:
        """The trie nodes that prove `keys`' values (or absence) at `block`, against its
        header's state root: `state_getReadProof`."""
        return trie.read_proof(block.state, keys)

    # --- transactions -------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        """Held while a block is produced: readers of the live state take it too."""
        return self._lock

    def submit_extrinsic(self, data: bytes) -> tuple[Extrinsic, Status]:
        """Into the pool, for the next block; raises `PoolError` as a node's RPC would."""
        with self._lock:
            return self.pool.submit(data, self._head.number)

    def account_next_index(self, who: bytes) -> int:
        with self._lock:
            return self.pool.next_index(who)

    def forget_pending(self) -> int:
        """What a node restart does to its transaction pool: empty (returns how many went)."""
        with self._lock:
            return self.pool.clear()

    def pending_extrinsics(self) -> list[Extrinsic]:
        with self._lock:
            return self.pool.pending()

    def free_balance(self, who: str | bytes) -> int:
        with self._lock:
            return self.state.free(to_account(who))

    def stake_of(self, hotkey: str | bytes, coldkey: str | bytes, netuid: int) -> int:
        with self._lock:
            return self.state.stake(to_account(hotkey), to_account(coldkey), netuid)

    # --- block production ---------------------------------------------------------------------

    def produce_block(self) -> Block:
        with self._lock:
            number = self._next_number
            events = Events()
            events.initialization()
            for pending in self._pending_events:
                pending(events)
            self._pending_events.clear()
            self._initialize(number, events)
            now = GENESIS_TIMESTAMP_MS + number * SLOT_MS
            extrinsics: list[bytes] = [encode_unsigned(timestamp_call(now))]
            self.executive.apply_inherent_timestamp(now, 0, events)
            included = self.pool.fill_block(events, number, first=1)
            extrinsics += [xt.data for xt in included]
            events.finalization()
            self._finalize()
            block = self._commit(events, tuple(extrinsics), now)
            self.pool.on_block(number, block.hash, included)
            self.pool.on_finalized(number - self.config.finality_lag)
        for listener in list(self.listeners):
            listener(block)
        return block

    def produce_blocks(self, n: int) -> Block:
        block = self._head
        for _ in range(n):
            block = self.produce_block()
        return block

    def _commit(self, events: Events, extrinsics: tuple[bytes, ...], now: int = 0) -> Block:
        number = self._next_number
        parent = self._hashes[number - 1] if number > 0 else "0x" + bytes(32).hex()
        parent_bytes = bytes.fromhex(parent[2:])
        encoded_events = events.encode()
        extrinsics_root = codec.blake2_256(b"".join(extrinsics))  # a stand-in, not a trie root
        previous = self._head.storage if number else {}
        storage = self._encoder.storage(
            self.state,
            number,
            parent_bytes,
            encoded_events,
            len(events.records),
            now,
            previous,
        )
        # The state trie: what this block changed, applied to the previous block's trie.
        changes: list[tuple[bytes, bytes | None]] = [
            (k, v) for k, v in storage.items() if previous.get(k) is not v
        ]
        changes += [(k, None) for k in previous.keys() - storage.keys()]
        changes += self._block_hash_changes(number, parent_bytes)
        state = trie.update(self._head.state if number else None, changes)
        state_root = trie.root_hash(state)
        header = parent_bytes + codec.compact(number) + state_root + extrinsics_root + b"\x00"
        block_hash = "0x" + codec.blake2_256(header).hex()
        view = self._encoder.view(
            self.state, number, block_hash, self._head.view if number else None, now
        )
        block = Block(
            number,
            block_hash,
            parent,
            storage,
            view,
            state_root,
            extrinsics_root,
            extrinsics,
            state=state,
        )
        self._blocks[block.hash] = block
        self._by_number[number] = block
        self._hashes.append(block.hash)
        stale = number - self.config.history
        if stale >= 0 and (old := self._by_number.pop(stale, None)) is not None:
            self._blocks.pop(old.hash, None)
            self._archive[old.hash] = ArchivedBlock(old.number, old.hash, old.header, old.body)
        self._next_number = number + 1
        self._head = block
        return block

    def _block_hash_changes(self, number: int, parent: bytes) -> list[tuple[bytes, bytes | None]]:
        """`System::BlockHash` as frame_system keeps it: block n records its parent's hash
        (n - 1) and forgets the one `BlockHashCount` further back; the genesis entry stays
        (a placeholder at genesis itself, the genesis hash from block 1 on)."""
        item = STORAGE_BY_NAME[("System", "BlockHash")]
        if number == 0:
            return [(self.storage_key(item, 0), GENESIS_BLOCK_HASH_PLACEHOLDER)]
        changes: list[tuple[bytes, bytes | None]] = [(self.storage_key(item, number - 1), parent)]
        if number - 1 - BLOCK_HASH_COUNT >= 1:
            changes.append((self.storage_key(item, number - 1 - BLOCK_HASH_COUNT), None))
        return changes

    def _initialize(self, number: int, events: Events) -> None:
        """`on_initialize` (`block_step`, coinbase/block_step.rs): the coinbase, the epochs,
        the moving prices; then the devnet's simulated registrations."""
        emitting = self._emitting(number)
        self._coinbase(emitting)
        self._drain_pending(number, events)
        for s in emitting:
            s.moving_price_bits = coinbase.next_moving_price_bits(
                s.moving_price_bits, s.price, number - (s.first_emission_block - 1)
            )
        interval = self.config.registration_interval
        if interval and number % interval == 0:
            self._register_or_replace(events)

    def _finalize(self) -> None:
        """The rest of the block: other users' trades (simulated)."""
        dynamic = [s for s in self.subnets.values() if s.mechanism == 1]
        for s in self._rng.sample(dynamic, min(self.config.swaps_per_block, len(dynamic))):
            self._random_swap(s)

    def _emitting(self, number: int) -> list[Subnet]:
        """`get_subnets_to_emit_to` (coinbase/subnet_emissions.rs): not root, emissions started
        (`FirstEmissionBlockNumber`), subtoken enabled; in netuid order."""
        return [
            self.subnets[n]
            for n in sorted(self.subnets)
            if n != 0
            and self.subnets[n].mechanism == 1
            and self.subnets[n].subtoken_enabled
            and number >= self.subnets[n].first_emission_block
        ]

    def total_issuance(self) -> int:
        """TAO issued: every account (subnet accounts hold the pools' TAO) and what was issued
        outside the devnet (`issued_elsewhere`); `TotalIssuance` for the emission schedule."""
        accounts = sum(a.free + a.reserved for a in self.state.accounts.values())
        pools = sum(self.state.free(subnet_account(n)) for n in self.subnets)
        return accounts + pools + self.config.issued_elsewhere

    def _coinbase(self, emitting: list[Subnet]) -> None:
        """`run_coinbase` up to the epochs (coinbase/run_coinbase.rs): the block emission,
        shared by moving price; per subnet the pool injection, the chain buys and the alpha
        emission's split into pending amounts. The formulas are in `coinbase.py`."""
        if not emitting:
            return
        emission = coinbase.block_emission_for_issuance(self.total_issuance())
        moving = {
            s.netuid: Fraction(max(s.moving_price_bits, 0), codec.I96F32_ONE) for s in emitting
        }
        shares = coinbase.emission_shares(moving)
        sells = coinbase.root_sells(moving)
        root_tao = self.subnets[0].tao_in
        for s in emitting:
            issuance = s.alpha_in + s.alpha_out
            terms = coinbase.subnet_terms(
                emission * shares[s.netuid],
                coinbase.block_emission_for_issuance(issuance),
                s.price,
                coinbase.root_proportion(root_tao, issuance),
            )
            # `inject_and_maybe_swap`: the weights that keep the price, then the chain buy
            # (no fee), then the injection.
            weight = coinbase.weights_for_added_liquidity(
                s.quote_weight, s.tao_in, s.alpha_in, terms.tao_in, terms.alpha_in
            )
            tao_in, alpha_in = (terms.tao_in, terms.alpha_in) if weight is not None else (0, 0)
            if weight is not None:
                s.quote_weight = weight
            s.excess_tao = 0
            if terms.excess_tao:
                bought = simulate_buy(s, terms.excess_tao, MAX_PRICE, drop_fees=True)
                s.tao_in += bought.paid_in
                s.alpha_in -= bought.paid_out
                s.alpha_out += bought.paid_out
                s.protocol_alpha += bought.paid_out
                s.volume += terms.excess_tao
                s.excess_tao = bought.paid_in
                # What the swap did not take (rounding) is recycled, as the unspent credit.
            s.alpha_in += alpha_in
            s.tao_in += tao_in
            s.tao_in_emission, s.alpha_in_emission = tao_in, alpha_in
            # `emit_to_subnets` step 3: alpha out, the owner cut, miners, validators, root.
            s.alpha_out_emission = terms.alpha_out
            s.alpha_out += terms.alpha_out
            split = coinbase.split_alpha_out(
                terms.alpha_out, coinbase.root_proportion(root_tao, s.alpha_in + s.alpha_out)
            )
            s.pending_owner_cut += split.owner_cut
            s.pending_server_alpha += split.server
            s.pending_validator_alpha += split.validator
            if sells:
                s.pending_root_alpha += split.root
            else:
                s.alpha_out -= split.root  # `recycle_subnet_alpha`

    def _drain_pending(self, number: int, events: Events) -> None:
        """The stateful epoch scheduler, as subtensor's `drain_pending` (coinbase/
        run_coinbase.rs): every subnet but root, in netuid order; a due epoch beyond
        `MaxEpochsPerBlock` is deferred one block (`PendingEpochAt = block + 1`,
        `EpochDeferred`); a run (or consumed) slot sets `LastEpochBlock = block`,
        clears `PendingEpochAt` and adds one to `SubnetEpochIndex`."""
        run = 0
        for netuid in sorted(self.subnets):
            s = self.subnets[netuid]
            if netuid == 0 or not should_run_epoch(s, number):
                continue
            if run >= self.config.max_epochs_per_block:
                s.pending_epoch_at = number + 1
                events.epoch_deferred(netuid, number, number + 1)
                continue
            self._epoch(s)
            run += 1
            s.last_epoch_block = number
            s.pending_epoch_at = 0
            s.epoch_index += 1

    def trigger_epoch(self, netuid: int) -> int:
        """The owner's `trigger_epoch` (coinbase/tempo_control.rs `do_trigger_epoch`): the
        epoch fires `AdminFreezeWindow` blocks after the block that includes the request (the
        next one), unless one is pending already or the automatic one is closer than that.
        Returns the block it fires at; `EpochTriggered` comes with the next block."""
        with self._lock:
            s = self.subnets.get(netuid)
            if s is None or netuid == 0 or s.tempo == 0:
                raise ValueError(f"netuid {netuid} has no epochs")
            if s.pending_epoch_at:
                raise ValueError("EpochTriggerAlreadyPending")
            now = self._next_number
            window = self.config.admin_freeze_window
            if s.last_epoch_block + s.tempo - now < window:
                raise ValueError("AutoEpochAlreadyImminent")
            fires_at = now + window
            s.pending_epoch_at = fires_at
            owner = s.owner_coldkey
            self._pending_events.append(
                lambda events: events.epoch_triggered(netuid, owner, fires_at)
            )
            return fires_at

    def _epoch(self, s: Subnet) -> None:
        """`distribute_emission` (coinbase/run_coinbase.rs) with dividends pro rata to stake
        (the devnet's stand-in for Yuma consensus): the owner cut to the owner's stake, the
        miners' incentives split equally among the uids without a permit, the validators'
        dividends split into alpha and root parts, each validator keeping its take (staked to
        its own coldkey) and the rest raising the value of every nominator's shares; the root
        part, less the take, is held for root stakers to claim."""
        n = s.netuid
        owner_cut, s.pending_owner_cut = s.pending_owner_cut, 0
        server, s.pending_server_alpha = s.pending_server_alpha, 0
        validator_alpha, s.pending_validator_alpha = s.pending_validator_alpha, 0
        root_alpha, s.pending_root_alpha = s.pending_root_alpha, 0
        if owner_cut:
            pool = self.pools.setdefault((s.owner_hotkey, n), SharePool())
            self._mint(pool, s.owner_coldkey, s.owner_hotkey, owner_cut)
        miners = [h for h, p in zip(s.uids, s.permits, strict=True) if not p]
        for miner in miners:
            if server // len(miners):
                pool = self.pools.setdefault((miner, n), SharePool())
                self._mint(pool, self.state.owners[miner], miner, server // len(miners))
        validators = [h for h, p in zip(s.uids, s.permits, strict=True) if p]
        stakes = {
            h: (
                self.pools.setdefault((h, n), SharePool()).total_alpha,
                self.state.root_stakes.get(h, 0),
            )
            for h in validators
        }
        alpha_divs, root_divs = coinbase.dividend_split(stakes, validator_alpha, root_alpha)
        for old in [k for k in self.state.alpha_dividends if k[0] == n]:
            del self.state.alpha_dividends[old]  # `AlphaDividendsPerSubnet::clear_prefix`
        for hotkey, dividend in alpha_divs.items():
            take, rest = coinbase.take_split(dividend, self.takes.get(hotkey, DEFAULT_TAKE))
            pool = self.pools[(hotkey, n)]
            if take:
                self._mint(pool, self.state.owners[hotkey], hotkey, take)
            pool.total_alpha += rest
            self.state.alpha_dividends[(n, hotkey)] = rest
            self.state.total_alpha_last_epoch[(hotkey, n)] = pool.total_alpha
        for hotkey, dividend in root_divs.items():
            take, rest = coinbase.take_split(dividend, self.takes.get(hotkey, DEFAULT_TAKE))
            if take:
                self._mint(self.pools[(hotkey, n)], self.state.owners[hotkey], hotkey, take)
            key = (hotkey, n)
            self.state.root_claimable[key] = self.state.root_claimable.get(key, 0) + rest

    def _random_swap(self, s: Subnet) -> None:
        """Another user's stake or unstake, through the chain's swap: the fee goes to the block
        author (`stake_into_subnet` / `unstake_from_subnet`, staking/stake_utils.rs), a sold
        alpha fee swapped to TAO without a fee first."""
        author = self.state.accounts.setdefault(self.author, Account())
        try:
            if self._rng.random() < 0.5:
                dy = int(s.tao_in * self._rng.uniform(0.0001, 0.003))
                buy = simulate_buy(s, dy)
                if 0 < buy.paid_out < s.alpha_in:
                    s.tao_in += buy.paid_in
                    s.alpha_in -= buy.paid_out
                    s.alpha_out += buy.paid_out
                    s.volume += dy
                    author.free += buy.fee
            else:
                dx = min(int(s.alpha_in * self._rng.uniform(0.0001, 0.003)), s.alpha_out // 10)
                sell = simulate_sell(s, dx)
                if 0 < sell.paid_out < s.tao_in:
                    s.alpha_in += sell.paid_in
                    s.alpha_out -= dx
                    s.tao_in -= sell.paid_out
                    s.volume += sell.paid_out
                    if sell.fee:
                        fee = simulate_sell(s, sell.fee, MIN_PRICE, drop_fees=True)
                        s.alpha_in += fee.paid_in
                        s.tao_in -= fee.paid_out
                        author.free += fee.paid_out
        except DispatchError:
            return  # a pool too small for the trade: nobody trades

    def _register_or_replace(self, events: Events) -> None:
        dynamic = len([n for n in self.subnets if n != 0])
        if dynamic < min(self.config.max_subnets, MAX_NETUID):
            netuid = self._free_netuid()
            self._new_subnet(netuid)
            events.network_added(netuid, 1)
            return
        head = self._next_number
        candidates = [
            s
            for s in self.subnets.values()
            if s.netuid != 0 and head - s.registered_at > self.config.immunity_period
        ]
        if candidates:
            cheapest = min(candidates, key=lambda s: (s.moving_price_bits, s.netuid))
            self._dissolve(cheapest.netuid, events)
            self._new_subnet(cheapest.netuid)
            events.network_added(cheapest.netuid, 1)

    # --- genesis and registration -------------------------------------------------------------

    def _add_root(self) -> None:
        """Root: not dynamic (price 1), no epochs; its TAO (`SubnetTAO[0]`) is the validators'
        root stake (50k to 400k TAO each, about 5M TAO in all), which sets every subnet's root
        proportion. Drawn from a generator of its own: the rest of genesis is unchanged."""
        rng = random.Random(f"{self._seed}:root")
        for hotkey in self._validator_hotkeys:
            self.state.root_stakes[hotkey] = rng.randrange(50_000, 400_000) * RAO_PER_TAO
        self.subnets[0] = Subnet(
            netuid=0,
            registered_at=0,
            mechanism=0,
            symbol="\u03a4".encode(),  # capital tau
            identity=None,
            owner_coldkey=bytes(32),
            owner_hotkey=bytes(32),
            tempo=self.config.tempo,
            tao_in=sum(self.state.root_stakes.values()),
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
        quote_weight: int | None = None,
        identity: tuple[bytes, ...] | bool | None = True,
    ) -> Subnet:
        rng = self._rng
        self._registrations += 1
        reg = self._registrations
        if tao_in is None:
            tao_in = int(RAO_PER_TAO * 10 ** rng.uniform(2.5, 5.7))  # ~300 .. 500k TAO
        if price is None:
            price = Fraction(10 ** rng.uniform(-2.5, -0.3)).limit_denominator(10**12)
        if quote_weight is None:
            quote_weight = PERQUINTILL // 2
            if reg % 5 == 0:  # a few pools already moved off 50/50
                quote_weight = rng.choice((40, 45, 55, 60)) * PERQUINTILL // 100
        w2 = Fraction(quote_weight, PERQUINTILL)
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
        now = self._next_number
        subnet = Subnet(
            netuid=netuid,
            registered_at=now,
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
            quote_weight=quote_weight,
            # `init_new_network` (subnets/subnet.rs): a per-netuid stagger of the first epoch.
            last_epoch_block=max(now - netuid % max(self.config.tempo, 1), 0),
            first_emission_block=now + 1,  # the owner's `start_call` right away
            # A uid's registration cost, drawn apart from the main generator (0.0005..2 TAO);
            # a few subnets disable alpha transfers.
            burn=random.Random(f"{self._seed}:burn:{reg}").randrange(500_000, 2 * RAO_PER_TAO),
            transfer_enabled=netuid % 7 != 5,
        )
        validators = rng.sample(self._validator_hotkeys, self.config.validators_per_subnet)
        miners = [
            account(self._seed, "miner", reg, i) for i in range(self.config.miners_per_subnet)
        ]
        subnet.uids = validators + miners
        subnet.permits = [True] * len(validators) + [False] * len(miners)
        self.subnets[netuid] = subnet
        owners = self.state.owners
        owners[subnet.owner_hotkey] = subnet.owner_coldkey
        for i, miner in enumerate(miners):
            owners[miner] = account(self._seed, "miner-cold", reg, i)
        stake_left = subnet.alpha_out // 2
        childkey = random.Random(f"{self._seed}:childkey:{reg}")
        for i, hotkey in enumerate(validators):
            self.takes.setdefault(hotkey, rng.choice((0, 5898, 9000, DEFAULT_TAKE)))
            self.state.childkey_takes[(hotkey, netuid)] = childkey.choice((0, 0, 3276, 11796))
            validator_cold = account(self._seed, "validator-cold", hotkey.hex())
            owners.setdefault(hotkey, validator_cold)
            pool = self.pools.setdefault((hotkey, netuid), SharePool(v2=(reg + i) % 3 == 0))
            own = stake_left // (2 + i)
            stake_left -= own
            self._mint(pool, validator_cold, hotkey, own)
            self._mint(pool, account(self._seed, "public-cold", reg, i), hotkey, own // 3 + 1)
        if self._next_number == 0 and validators:
            # Genesis: the development accounts hold stake on every subnet.
            first = self.pools[(validators[0], netuid)]
            for public in DEV_ACCOUNTS.values():
                self._mint(first, public, validators[0], DEV_STAKE)
                subnet.alpha_out += DEV_STAKE
        return subnet

    def _mint(self, pool: SharePool, coldkey: bytes, hotkey: bytes, alpha: int) -> Fraction:
        self.state.note_staking_hotkey(coldkey, hotkey, Journal())
        return pool.mint(coldkey, alpha)

    def register_subnet(
        self,
        *,
        netuid: int | None = None,
        tao_in: int | None = None,
        price: Fraction | None = None,
        quote_weight: int | None = None,
    ) -> int:
        """Register a dynamic subnet (the lowest free netuid unless given); returns its netuid."""
        with self._lock:
            if netuid is None:
                netuid = self._free_netuid()
            if netuid in self.subnets or not 1 <= netuid <= MAX_NETUID:
                raise ValueError(f"netuid {netuid} is not free")
            self._new_subnet(netuid, tao_in=tao_in, price=price, quote_weight=quote_weight)
            return netuid

    def deregister_and_reuse(self, netuid: int) -> Subnet:
        """Dissolve a subnet (its pool and stakes) and register a new one on the same netuid;
        the events come with the next block."""
        with self._lock:
            if netuid == 0 or netuid not in self.subnets:
                raise ValueError(f"netuid {netuid} is not a dynamic subnet")
            later = Events()
            self._dissolve(netuid, later)
            subnet = self._new_subnet(netuid)
            later.network_added(netuid, 1)
            self._pending_events.append(lambda events: events.records.extend(later.records))
            return subnet

    def _dissolve(self, netuid: int, events: Events) -> None:
        """`destroy_alpha_in_out_stakes`: the pool's TAO goes to the stakers pro rata to their
        alpha (the pool's own alpha counts too; its part is recycled), largest remainders
        first, as `Balances.Transfer`s from the subnet account; then the subnet is removed."""
        s = self.subnets[netuid]
        stakers = [
            (cold, pool.value(cold))
            for (_, n), pool in self.pools.items()
            if n == netuid
            for cold in pool.shares
        ]
        total = sum(v for _, v in stakers) + s.alpha_in
        payouts: list[tuple[bytes, int, int]] = []
        if s.tao_in and total:
            for cold, value in stakers:
                share, rem = divmod(s.tao_in * value, total)
                payouts.append((cold, share, rem))
            leftover = s.tao_in - sum(p for _, p, _ in payouts) - s.tao_in * s.alpha_in // total
            ranked = sorted(range(len(payouts)), key=lambda i: -payouts[i][2])
            for i in ranked[: max(0, leftover)]:
                cold, share, rem = payouts[i]
                payouts[i] = (cold, share + 1, rem)
        balances = Balances(self.state, Journal(), events)
        paid: dict[bytes, int] = {}
        for cold, share, _ in payouts:
            paid[cold] = paid.get(cold, 0) + share
        for cold, share in paid.items():
            # A payout too small to create an account is not made, as on chain.
            with contextlib.suppress(DispatchError):
                balances.from_subnet(subnet_account(netuid), cold, share)
        del self.subnets[netuid]
        self.state.subnet_extra.pop(netuid, None)  # what is left on the account is recycled
        for key in [k for k in self.pools if k[1] == netuid]:
            del self.pools[key]
        extra = self.state
        for table in (extra.childkey_takes, extra.total_alpha_last_epoch, extra.root_claimable):
            for key in [k for k in table if k[1] == netuid]:
                del table[key]
        for dividend_key in [k for k in extra.alpha_dividends if k[0] == netuid]:
            del extra.alpha_dividends[dividend_key]
        events.network_removed(netuid)

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
            minted = self._mint(pool, cold, hot, alpha)
            self.subnets[netuid].alpha_out += alpha
            return minted

    def set_swap_params(
        self, netuid: int, *, fee_rate: int | None = None, quote_weight: int | None = None
    ) -> None:
        with self._lock:
            s = self.subnets[netuid]
            if fee_rate is not None:
                s.fee_rate = fee_rate
            if quote_weight is not None:
                s.quote_weight = quote_weight

    # --- encoding -----------------------------------------------------------------------------

    def storage_key(self, item: StorageItem, *args: object) -> bytes:
        return self._encoder.key(item, *args)
