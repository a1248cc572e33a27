"""Reads subnets, validators and stake from a subtensor node through `substrate-interface`.

Everything a snapshot holds is read at ONE block hash, in a constant number of JSON-RPC round
trips whatever the number of subnets: the subnet list with one `query_map`, then every keyed
item in batched `state_queryStorageAt` calls (`query_multi`) whose keys are built locally
against the node's metadata. Works the same against finney and the devnet: the client relies
only on storage names, hashers and types, and skips items a runtime does not have yet
(`Swap::SwapBalancer`, `AlphaV2`, `TotalHotkeySharesV2`).
"""

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

from scalecodec.base import ScaleBytes
from scalecodec.utils.ss58 import ss58_decode
from substrateinterface import SubstrateInterface
from substrateinterface.exceptions import (
    BlockNotFound,
    StorageFunctionNotFound,
    SubstrateRequestException,
)
from substrateinterface.storage import StorageKey
from websocket import WebSocketException, create_connection

from app.chain import codec
from app.chain.errors import ChainError, ChainRequestError, ChainUnavailable
from app.chain.scale_lock import SCALECODEC
from app.chain.types import (
    PERQUINTILL,
    ChainSnapshot,
    StakePosition,
    SubnetIdentity,
    SubnetState,
    ValidatorState,
)

log = logging.getLogger("app.chain.client")
T = TypeVar("T")

SS58_FORMAT = 42
DEFAULT_FEE_RATE = 33
DEFAULT_QUOTE_WEIGHT = PERQUINTILL // 2
_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
M = "SubtensorModule"

# Per-netuid items read for every subnet: (pallet, item), in SubnetState order.
SUBNET_ITEMS: tuple[tuple[str, str], ...] = (
    (M, "SubnetTAO"),
    (M, "SubnetAlphaIn"),
    (M, "SubnetAlphaOut"),
    (M, "SubnetMovingPrice"),
    (M, "SubnetVolume"),
    (M, "TokenSymbol"),
    (M, "SubnetIdentitiesV3"),
    (M, "SubnetOwner"),
    (M, "SubnetOwnerHotkey"),
    (M, "Tempo"),
    (M, "NetworkRegisteredAt"),
    (M, "SubnetMechanism"),
    (M, "SubnetTaoInEmission"),
    (M, "SubnetAlphaInEmission"),
    (M, "SubnetAlphaOutEmission"),
    (M, "ValidatorPermit"),
    ("Swap", "FeeRate"),
    ("Swap", "SwapBalancer"),
    (M, "LastEpochBlock"),
    (M, "PendingEpochAt"),
    (M, "SubnetEpochIndex"),
    (M, "SubnetExcessTao"),
    (M, "Burn"),
    (M, "SubtokenEnabled"),
    (M, "TransferToggle"),
)

# Every storage item the client reads (the conformance test checks them against finney's).
STORAGE_READ: tuple[tuple[str, str], ...] = (
    ("System", "Number"),
    ("Timestamp", "Now"),
    (M, "NetworksAdded"),
    *SUBNET_ITEMS,
    (M, "TaoWeight"),
    (M, "Keys"),
    (M, "Delegates"),
    (M, "ChildkeyTake"),
    (M, "AlphaDividendsPerSubnet"),
    (M, "TotalHotkeyAlphaLastEpoch"),
    (M, "TotalHotkeyAlpha"),
    (M, "Alpha"),
    (M, "AlphaV2"),
    (M, "TotalHotkeyShares"),
    (M, "TotalHotkeySharesV2"),
    (M, "StakingHotkeys"),
)
# Items a runtime may not have yet: read when present, defaults otherwise.
# The epoch scheduler's items came with the stateful scheduler (2026); on an older runtime the
# epochs are the legacy ones, `(block + netuid + 1) % (tempo + 1) == 0`, and the client derives
# the same three values from that schedule (as the runtime's `migrate_dynamic_tempo` seeds them).
EPOCH_ITEMS = frozenset({(M, "LastEpochBlock"), (M, "PendingEpochAt"), (M, "SubnetEpochIndex")})
OPTIONAL_ITEMS = frozenset(
    {
        ("Swap", "SwapBalancer"),
        (M, "AlphaV2"),
        (M, "TotalHotkeySharesV2"),
        (M, "SubnetExcessTao"),
        *EPOCH_ITEMS,
    }
)


@dataclass(frozen=True, slots=True)
class BlockRef:
    number: int
    hash: str


class _MetadataCache:
    """Decoded metadata per runtime version, shared by reconnections (decoding takes ~1 s).

    Quacks like the dogpile region `SubstrateInterface(cache_region=...)` expects.
    """

    _lock = threading.Lock()
    _store: ClassVar[dict[tuple[str, str], Any]] = {}

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, key: str) -> Any:
        with self._lock:
            return self._store.get((self.url, key))

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._store[(self.url, key)] = value


class _CountingSubstrate(SubstrateInterface):  # type: ignore[misc]
    """Counts JSON-RPC round trips: every request goes through `rpc_request`."""

    round_trips = 0

    def rpc_request(self, method: str, params: Any, result_handler: Any = None) -> Any:
        self.round_trips += 1
        if result_handler is None:  # a handler decodes as messages come: it keeps the lock
            with SCALECODEC.released():
                response = super().rpc_request(method, params)
        else:
            response = super().rpc_request(method, params, result_handler=result_handler)
        if not isinstance(response, dict):
            raise TypeError(f"{method}: a JSON-RPC response must be an object")
        return response


class _Transient(Exception):
    """A failure worth a reconnect and retry."""


_TRANSIENT = (
    OSError,
    WebSocketException,
    ValueError,  # includes JSONDecodeError
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    _Transient,
)


class ChainClient:
    """Synchronous, thread-safe (calls are serialized) client for one endpoint.

    `url` is any Substrate WebSocket endpoint, e.g. `wss://entrypoint-finney.opentensor.ai:443`
    or a devnet's `ws://127.0.0.1:PORT`. Connection is lazy; a failed call reconnects with
    exponential backoff and raises `ChainUnavailable` once `max_attempts` are spent.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        batch_size: int = 16384,
        page_size: int = 1024,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self.page_size = page_size
        self._substrate: _CountingSubstrate | None = None
        self._lock = threading.RLock()
        self._cache = _MetadataCache(url)
        self._past_round_trips = 0  # of connections already dropped
        self.reconnects = 0  # connections dropped after a failure

    # --- connection ---------------------------------------------------------------------------

    def _connect(self) -> _CountingSubstrate:
        if self._substrate is None:
            with SCALECODEC.released():  # the handshake is a wait on the network
                ws = create_connection(self.url, timeout=self.timeout, skip_utf8_validation=True)
            substrate = _CountingSubstrate(
                websocket=ws,
                ss58_format=SS58_FORMAT,
                cache_region=self._cache,
                auto_reconnect=False,  # we reconnect (with backoff) ourselves
            )
            self._substrate = substrate
        return self._substrate

    def _drop(self) -> None:
        substrate, self._substrate = self._substrate, None
        if substrate is not None:
            self._past_round_trips += substrate.round_trips
            try:
                substrate.close()
            except Exception:  # closing a broken socket may fail; it is discarded either way
                log.debug("closing a broken connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> "ChainClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, what: str, work: Callable[[_CountingSubstrate], T]) -> T:
        """Run `work(substrate)`, reconnecting with backoff on transport or garbage failures.
        The work holds `SCALECODEC` but while it waits for the endpoint."""
        with self._lock, SCALECODEC.held():
            delay = self.backoff
            last: BaseException | None = None
            for attempt in range(1, self.max_attempts + 1):
                try:
                    substrate = self._connect()
                    return work(substrate)
                except SubstrateRequestException as exc:
                    raise _request_error(exc) from exc
                except BlockNotFound as exc:
                    raise ChainRequestError(f"block not found: {exc}") from exc
                except StorageFunctionNotFound as exc:
                    raise ChainError(f"storage item missing from the runtime: {exc}") from exc
                except _TRANSIENT as exc:
                    last = exc
                    log.warning(
                        "chain call failed, reconnecting",
                        extra={"what": what, "attempt": attempt, "error": repr(exc)[:200]},
                    )
                    self._drop()
                    self.reconnects += 1
                    if attempt < self.max_attempts:
                        with SCALECODEC.released():
                            time.sleep(delay)
                        delay = min(delay * 2, self.max_backoff)
            raise ChainUnavailable(
                f"chain endpoint {self.url} unavailable ({what}): {last!r}"[:500]
            ) from last

    def run(self, what: str, work: Callable[[SubstrateInterface], T]) -> T:
        """Run `work` with this client's connection, retries and error mapping (for other
        readers and writers of the chain, e.g. `app.chain.custody`)."""
        return self._run(what, work)

    @property
    def round_trips(self) -> int:
        """JSON-RPC requests over the client's life, across reconnections."""
        current = self._substrate.round_trips if self._substrate else 0
        return self._past_round_trips + current

    # --- simple calls -------------------------------------------------------------------------

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC call; returns its `result`."""
        return self._run(method, lambda s: _result(s.rpc_request(method, list(params))))

    def finalized_head(self) -> BlockRef:
        def work(s: _CountingSubstrate) -> BlockRef:
            block_hash = _block_hash(_result(s.rpc_request("chain_getFinalizedHead", [])))
            return BlockRef(_header_number(s, block_hash), block_hash)

        return self._run("finalized_head", work)

    def head(self) -> BlockRef:
        def work(s: _CountingSubstrate) -> BlockRef:
            block_hash = _block_hash(_result(s.rpc_request("chain_getBlockHash", [])))
            return BlockRef(_header_number(s, block_hash), block_hash)

        return self._run("head", work)

    def block_hash(self, number: int) -> str | None:
        result = self.rpc("chain_getBlockHash", [number])
        return None if result is None else _block_hash(result)

    def follow_finalized(
        self, poll_interval: float = 6.0, stop: threading.Event | None = None
    ) -> Iterator[BlockRef]:
        """Yield each new finalized head (the latest one when several finalized between polls).

        Transient failures are retried inside `finalized_head`; `ChainUnavailable` propagates
        so the caller decides whether to wait and resume.
        """
        last = -1
        while stop is None or not stop.is_set():
            ref = self.finalized_head()
            if ref.number > last:
                last = ref.number
                yield ref
            if stop is not None:
                stop.wait(poll_interval)
            else:
                time.sleep(poll_interval)

    # --- snapshot -----------------------------------------------------------------------------

    def snapshot(
        self,
        block_hash: str | None = None,
        coldkeys: Iterable[str] = (),
        stake_hotkeys: Iterable[tuple[str, int]] | None = None,
        include_non_validators: bool = False,
        include_nominators: bool = False,
    ) -> ChainSnapshot:
        """All subnets, their validators and the stake of `coldkeys`, at one block.

        `block_hash`: the block to read (default: the finalized head). Stake is read for each
        coldkey with each (hotkey, netuid) of `stake_hotkeys` (default: every validator of the
        snapshot, and every hotkey in the coldkeys' `StakingHotkeys` on every subnet).
        Validators are the uids holding a permit, or every uid in `Keys` when
        `include_non_validators`. `include_nominators` also counts each validator's
        nominators (the coldkeys in `Alpha`/`AlphaV2` under its hotkey, one paged map read per
        hotkey: costly on finney, so the indexer asks for it now and then).
        """
        colds = list(dict.fromkeys(coldkeys))
        pairs = None if stake_hotkeys is None else list(dict.fromkeys(stake_hotkeys))

        def work(s: _CountingSubstrate) -> ChainSnapshot:
            start = s.round_trips
            snap = _Reader(self, s).read(
                block_hash, colds, pairs, include_non_validators, include_nominators
            )
            return _with_round_trips(snap, s.round_trips - start)

        return self._run("snapshot", work)


class _Reader:
    """One snapshot's reads against one connection."""

    def __init__(self, client: ChainClient, substrate: _CountingSubstrate) -> None:
        self.client = client
        self.s = substrate
        self.templates: dict[tuple[str, str], StorageKey] = {}
        self.param_info: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        self.encoded: dict[tuple[str, Any], bytes] = {}
        self.decoded: dict[tuple[str, str, str | None], Any] = {}

    def has(self, pallet: str, item: str) -> bool:
        metadata_pallet = self.s.metadata.get_metadata_pallet(pallet)
        return bool(metadata_pallet and metadata_pallet.get_storage_function(item))

    def key(self, pallet: str, item: str, params: list[Any]) -> StorageKey:
        """A `StorageKey` for `params`, hashed as the node's metadata says.

        `StorageKey.create_from_storage_function` looks the item up in the metadata for every
        key (about a millisecond); thousands of keys share one lookup per item here.
        """
        template = self.templates.get((pallet, item))
        if template is None:
            template = StorageKey.create_from_storage_function(
                pallet, item, [], runtime_config=self.s.runtime_config, metadata=self.s.metadata
            )
            function = template.metadata_storage_function
            self.templates[(pallet, item)] = template
            self.param_info[(pallet, item)] = (
                function.get_params_type_string(),
                function.get_param_hashers(),
            )
        types, hashers = self.param_info[(pallet, item)]
        if len(params) != len(types):
            raise ValueError(f"{pallet}.{item} takes {len(types)} key parts")
        data = bytes(template.data)
        for type_string, hasher, param in zip(types, hashers, params, strict=False):
            data += codec.hash_key(hasher, self.encode_param(type_string, param))
        key = StorageKey(
            pallet,
            item,
            params,
            data,
            template.value_scale_type,
            self.s.metadata,
            self.s.runtime_config,
        )
        key.metadata_storage_function = template.metadata_storage_function
        return key

    def encode_param(self, type_string: str, value: Any) -> bytes:
        cached = self.encoded.get((type_string, value))
        if cached is None:
            converted = value
            if type_string == "AccountId" and isinstance(value, str) and not value.startswith("0x"):
                converted = "0x" + ss58_decode(value, SS58_FORMAT)
            obj = self.s.runtime_config.create_scale_object(type_string=type_string)
            cached = bytes(obj.encode(converted).data)
            self.encoded[(type_string, value)] = cached
        return cached

    def multi(self, keys: list[StorageKey], block_hash: str) -> list[Any]:
        """Values of `keys` at `block_hash` (defaults when absent), in order, batched.

        `query_multi` with a cache of decoded values: most values repeat (defaults, flags).
        """
        values: list[Any] = []
        size = self.client.batch_size
        for i in range(0, len(keys), size):
            chunk = keys[i : i + size]
            hex_keys = [k.to_hex() for k in chunk]
            result = _result(self.s.rpc_request("state_queryStorageAt", [hex_keys, block_hash]))
            found: dict[str, str | None] = {}
            for group in result:
                for change_key, change_data in group["changes"]:
                    found[change_key] = change_data
            for key, hex_key in zip(chunk, hex_keys, strict=True):
                if hex_key not in found:
                    raise _Transient("state_queryStorageAt left out a key")
                values.append(self.decode(key, found[hex_key]))
        return values

    def decode(self, key: StorageKey, data: str | None) -> Any:
        cache_key = (key.pallet, key.storage_function, data)
        obj = self.decoded.get(cache_key)
        if obj is None:
            if data is not None and not isinstance(data, str):
                raise _Transient(f"storage value is not hex: {data!r:.80}")
            obj = key.decode_scale_value(None if data is None else ScaleBytes(data))
            self.decoded[cache_key] = obj
        return obj

    def nominators(self, block_hash: str, hotkeys: list[str]) -> dict[tuple[str, int], int]:
        """(hotkey, netuid) -> how many coldkeys hold shares with the hotkey on the subnet: the
        keys of `Alpha` / `AlphaV2` under the hotkey (`state_getKeysPaged`; a key exists only
        while its shares are not zero). Keys are twox128(pallet) twox128(item)
        blake2_128(hotkey) hotkey blake2_128(coldkey) coldkey netuid (u16)."""
        found: dict[tuple[str, int], set[str]] = {}
        page = self.client.page_size
        for hotkey in hotkeys:
            for item in ("Alpha", "AlphaV2"):
                if not self.has(M, item):
                    continue
                full = self.key(M, item, [hotkey, hotkey, 0]).to_hex()
                prefix = full[: 2 + 2 * (16 + 16 + 16 + 32)]
                start: str | None = None
                while True:
                    params: list[Any] = [prefix, page, start or prefix, block_hash]
                    keys = _result(self.s.rpc_request("state_getKeysPaged", params)) or []
                    for key in keys:
                        rest = bytes.fromhex(key[len(prefix) :])
                        if len(rest) != 16 + 32 + 2:
                            raise _Transient(f"unexpected {item} key {key[:80]}")
                        netuid = int.from_bytes(rest[48:50], "little")
                        found.setdefault((hotkey, netuid), set()).add(rest[16:48].hex())
                    if len(keys) < page:
                        break
                    start = keys[-1]
        return {k: len(v) for k, v in found.items()}

    def read(
        self,
        block_hash: str | None,
        coldkeys: list[str],
        pairs: list[tuple[str, int]] | None,
        include_non_validators: bool,
        include_nominators: bool = False,
    ) -> ChainSnapshot:
        s = self.s
        if block_hash is None:
            block_hash = _block_hash(_result(s.rpc_request("chain_getFinalizedHead", [])))
        else:
            block_hash = _block_hash(block_hash)
        s.init_runtime(block_hash=block_hash)

        page_size = self.client.page_size
        added = s.query_map(M, "NetworksAdded", block_hash=block_hash, page_size=page_size)
        # A short first page is the whole map: iterating would ask for an (empty) next page.
        records = added.records if len(added.records) < page_size else list(added)
        netuids = sorted(int(k.value) for k, v in records if v is not None and v.value)

        # Round trip 1: every per-subnet item, and the block number.
        items = [(p, i) for p, i in SUBNET_ITEMS if (p, i) not in OPTIONAL_ITEMS or self.has(p, i)]
        keys = [
            self.key("System", "Number", []),
            self.key("Timestamp", "Now", []),
            self.key(M, "TaoWeight", []),
        ]
        keys += [self.key(p, i, [n]) for n in netuids for p, i in items]
        first = self.multi(keys, block_hash)
        block_number = int(first[0].value)
        timestamp_ms, tao_weight = _int(first[1]), _int(first[2])
        per_subnet: dict[int, dict[str, Any]] = {}
        for j, netuid in enumerate(netuids):
            row = first[3 + j * len(items) : 3 + (j + 1) * len(items)]
            per_subnet[netuid] = {item: obj for (_, item), obj in zip(items, row, strict=True)}

        # Round trip 2: hotkeys of the uids we want.
        uid_keys: list[tuple[int, int]] = []
        permits: dict[tuple[int, int], bool] = {}
        for netuid in netuids:
            permit_list = [bool(p) for p in (per_subnet[netuid]["ValidatorPermit"].value or [])]
            for uid, permit in enumerate(permit_list):
                permits[(netuid, uid)] = permit
                if permit or include_non_validators:
                    uid_keys.append((netuid, uid))
        # With them, every hotkey each coldkey stakes with (`StakingHotkeys`): a custody
        # coldkey's stake is read under any hotkey, not only under validators.
        staking = [c for c in coldkeys if pairs is None and self.has(M, "StakingHotkeys")]
        keys = [self.key(M, "Keys", [n, u]) for n, u in uid_keys]
        keys += [self.key(M, "StakingHotkeys", [c]) for c in staking]
        second = self.multi(keys, block_hash)
        hotkey_values = second[: len(uid_keys)]
        uid_hotkeys = {nu: str(v.value) for nu, v in zip(uid_keys, hotkey_values, strict=True)}
        staked_with = list(
            dict.fromkeys(str(h) for v in second[len(uid_keys) :] for h in (v.value or []))
        )

        # Round trip 3: takes, validator stake, and the coldkeys' shares.
        hotkeys = sorted(set(uid_hotkeys.values()))
        hot_net = list(dict.fromkeys((h, n) for (n, _), h in uid_hotkeys.items()))
        stake_pairs = (
            list(dict.fromkeys(hot_net + [(h, n) for h in staked_with for n in netuids]))
            if pairs is None
            else pairs
        )
        share_pairs = list(dict.fromkeys(stake_pairs)) if coldkeys else []
        total_pairs = list(dict.fromkeys(hot_net + share_pairs))
        # Legacy first, then V2: a runtime may have either or both (lazy migration).
        shares_items = [i for i in ("Alpha", "AlphaV2") if self.has(M, i)]
        totals_items = [i for i in ("TotalHotkeyShares", "TotalHotkeySharesV2") if self.has(M, i)]
        keys = [self.key(M, "Delegates", [h]) for h in hotkeys]
        keys += [
            self.key(M, item, [h, n])
            for h, n in hot_net
            for item in ("ChildkeyTake", "TotalHotkeyAlphaLastEpoch")
        ]
        keys += [self.key(M, "AlphaDividendsPerSubnet", [n, h]) for h, n in hot_net]
        keys += [self.key(M, "TotalHotkeyAlpha", [h, n]) for h, n in total_pairs]
        keys += [self.key(M, item, [h, n]) for h, n in share_pairs for item in totals_items]
        keys += [
            self.key(M, item, [h, c, n])
            for h, n in share_pairs
            for c in coldkeys
            for item in shares_items
        ]
        values = iter(self.multi(keys, block_hash))  # reads the key list back in order
        takes = {h: int(next(values).value) for h in hotkeys}
        epoch_items = {p: (_int(next(values)), _int(next(values))) for p in hot_net}
        dividends = {p: _int(next(values)) for p in hot_net}
        total_alpha = {p: int(next(values).value) for p in total_pairs}
        total_shares = {
            p: _shares({item: next(values) for item in totals_items}) for p in share_pairs
        }
        positions = []
        for h, n in share_pairs:
            for c in coldkeys:
                shares = _shares({item: next(values) for item in shares_items})
                if shares:
                    positions.append(
                        StakePosition(
                            netuid=n,
                            hotkey=h,
                            coldkey=c,
                            shares=shares,
                            total_shares=total_shares[(h, n)],
                            total_alpha=total_alpha[(h, n)],
                        )
                    )

        nominators = self.nominators(block_hash, hotkeys) if include_nominators else None
        subnets = {n: _subnet(n, per_subnet[n], block_number) for n in netuids}
        validators = [
            ValidatorState(
                netuid=n,
                uid=u,
                hotkey=h,
                validator_permit=permits[(n, u)],
                take=takes[h],
                total_alpha=total_alpha[(h, n)],
                childkey_take=epoch_items[(h, n)][0],
                alpha_dividends=dividends[(h, n)],
                total_alpha_last_epoch=epoch_items[(h, n)][1],
                nominators=nominators.get((h, n), 0) if nominators is not None else None,
            )
            for (n, u), h in sorted(uid_hotkeys.items())
        ]
        return ChainSnapshot(
            block_number=block_number,
            block_hash=block_hash,
            subnets=subnets,
            validators=validators,
            positions=positions,
            timestamp_ms=timestamp_ms,
            tao_weight=tao_weight,
        )


# --- decoding helpers -------------------------------------------------------------------------


def _with_round_trips(snap: ChainSnapshot, n: int) -> ChainSnapshot:
    return ChainSnapshot(
        block_number=snap.block_number,
        block_hash=snap.block_hash,
        subnets=snap.subnets,
        validators=snap.validators,
        positions=snap.positions,
        rpc_round_trips=n,
        timestamp_ms=snap.timestamp_ms,
        tao_weight=snap.tao_weight,
    )


def _result(response: dict[str, Any]) -> Any:
    if "error" in response:
        raise SubstrateRequestException(response["error"])
    if "result" not in response:
        raise _Transient("JSON-RPC response without a result")
    return response["result"]


def _block_hash(value: Any) -> str:
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise _Transient(f"not a block hash: {value!r:.80}")
    return value.lower()


def _header_number(s: _CountingSubstrate, block_hash: str) -> int:
    header = _result(s.rpc_request("chain_getHeader", [block_hash]))
    if header is None:
        raise BlockNotFound(block_hash)
    number = header["number"]
    return int(number, 16) if isinstance(number, str) else int(number)


def _request_error(exc: SubstrateRequestException) -> ChainRequestError:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, dict):
        code = detail.get("code")
        return ChainRequestError(
            f"chain node error: {detail.get('message', detail)}",
            rpc_code=code if isinstance(code, int) else None,
        )
    return ChainRequestError(f"chain node error: {detail}")


def _int(obj: Any) -> int:
    """An integer from a decoded value that may be wrapped (`{'bits': n}`, `{'quote': n}`)."""
    value = obj.value if hasattr(obj, "value_object") else obj
    while isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Transient(f"expected an integer, got {value!r:.80}")
    return value


def _raw_bytes(obj: Any) -> bytes:
    """The raw content of a decoded `Vec<u8>` (its `.value` may be text or hex: ambiguous)."""
    raw = getattr(obj, "value_object", None)
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    value = obj.value if obj is not None else None
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    raise _Transient(f"expected bytes, got {value!r:.80}")


def _text(obj: Any) -> str:
    return _raw_bytes(obj).decode("utf-8", errors="replace")


def _shares(objs: dict[str, Any]) -> Fraction:
    """Exact shares: the V2 SafeFloat when present and non-zero, else the legacy U64F64."""
    for item, obj in objs.items():
        if item.endswith("V2") and obj is not None and obj.value is not None:
            v2 = obj.value
            if not isinstance(v2, dict):
                raise _Transient(f"expected a SafeFloat, got {v2!r:.80}")
            mantissa, exponent = int(v2["mantissa"]), int(v2["exponent"])
            if mantissa:
                return codec.safe_float(mantissa, exponent)
    for item, obj in objs.items():
        if not item.endswith("V2"):
            return codec.u64f64(_int(obj))
    return Fraction(0)


def _identity(obj: Any) -> SubnetIdentity | None:
    if obj is None or obj.value is None:
        return None
    fields = obj.value_object
    if hasattr(fields, "value_object") and not isinstance(fields, dict):  # Option<...> wrapper
        fields = fields.value_object
    if not isinstance(fields, dict):
        raise _Transient("SubnetIdentitiesV3 is not a struct")
    names = SubnetIdentity.__dataclass_fields__
    return SubnetIdentity(**{name: _text(fields[name]) for name in names if name in fields})


def legacy_epoch(block: int, netuid: int, tempo: int) -> tuple[int, int]:
    """(LastEpochBlock, SubnetEpochIndex) on a runtime before the stateful scheduler, whose
    epochs ran at `(block + netuid + 1) % (tempo + 1) == 0` (the values subtensor's
    `migrate_dynamic_tempo` seeded from that schedule)."""
    if tempo == 0 or netuid == 0:
        return 0, 0
    adjusted = block + netuid + 1
    return block - adjusted % (tempo + 1), adjusted // (tempo + 1)


def _subnet(netuid: int, row: dict[str, Any], block: int) -> SubnetState:
    balancer = row.get("SwapBalancer")
    tempo = _int(row["Tempo"])
    if "SubnetEpochIndex" in row:
        last_epoch = _int(row["LastEpochBlock"])
        pending = _int(row["PendingEpochAt"])
        epoch_index = _int(row["SubnetEpochIndex"])
    else:
        (last_epoch, epoch_index), pending = legacy_epoch(block, netuid, tempo), 0
    return SubnetState(
        netuid=netuid,
        registered_at=_int(row["NetworkRegisteredAt"]),
        mechanism=_int(row["SubnetMechanism"]),
        symbol=_text(row["TokenSymbol"]),
        identity=_identity(row["SubnetIdentitiesV3"]),
        owner_coldkey=str(row["SubnetOwner"].value),
        owner_hotkey=str(row["SubnetOwnerHotkey"].value),
        tempo=tempo,
        tao_in=_int(row["SubnetTAO"]),
        alpha_in=_int(row["SubnetAlphaIn"]),
        alpha_out=_int(row["SubnetAlphaOut"]),
        moving_price_bits=_int(row["SubnetMovingPrice"]),
        volume=_int(row["SubnetVolume"]),
        tao_in_emission=_int(row["SubnetTaoInEmission"]),
        alpha_in_emission=_int(row["SubnetAlphaInEmission"]),
        alpha_out_emission=_int(row["SubnetAlphaOutEmission"]),
        fee_rate=_int(row["FeeRate"]) if "FeeRate" in row else DEFAULT_FEE_RATE,
        quote_weight=_int(balancer) if balancer is not None else DEFAULT_QUOTE_WEIGHT,
        last_epoch_block=last_epoch,
        pending_epoch_at=pending,
        epoch_index=epoch_index,
        excess_tao=_int(row["SubnetExcessTao"]) if "SubnetExcessTao" in row else 0,
        registration_cost=_int(row["Burn"]),
        subtoken_enabled=bool(row["SubtokenEnabled"].value),
        transfer_enabled=bool(row["TransferToggle"].value),
    )


class AsyncChainClient:
    """The service's view: the same client, its blocking calls run in a worker thread."""

    def __init__(self, client: ChainClient | str, **options: Any) -> None:
        self.sync = client if isinstance(client, ChainClient) else ChainClient(client, **options)

    async def snapshot(
        self,
        block_hash: str | None = None,
        coldkeys: Iterable[str] = (),
        stake_hotkeys: Iterable[tuple[str, int]] | None = None,
        include_non_validators: bool = False,
        include_nominators: bool = False,
    ) -> ChainSnapshot:
        colds = list(coldkeys)
        pairs = None if stake_hotkeys is None else list(stake_hotkeys)
        return await asyncio.to_thread(
            self.sync.snapshot,
            block_hash,
            colds,
            pairs,
            include_non_validators,
            include_nominators,
        )

    async def finalized_head(self) -> BlockRef:
        return await asyncio.to_thread(self.sync.finalized_head)

    async def head(self) -> BlockRef:
        return await asyncio.to_thread(self.sync.head)

    async def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        return await asyncio.to_thread(self.sync.rpc, method, list(params))

    async def follow_finalized(self, poll_interval: float = 6.0) -> AsyncIterator[BlockRef]:
        """Yield each new finalized head; see `ChainClient.follow_finalized`."""
        last = -1
        while True:
            ref = await self.finalized_head()
            if ref.number > last:
                last = ref.number
                yield ref
            await asyncio.sleep(poll_interval)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)


__all__ = [
    "OPTIONAL_ITEMS",
    "STORAGE_READ",
    "AsyncChainClient",
    "BlockRef",
    "ChainClient",
    "ChainError",
    "ChainRequestError",
    "ChainUnavailable",
]
