"""What on-chain custody needs from a node, through `substrate-interface` and the same
connection, retries and error mapping as `ChainClient`:

- a finalized block's events (`System.Events` at its pinned hash) and extrinsic hashes;
- the holdings of a set of coldkeys at one block: free TAO (`System.Account`) and every
  stake, under any hotkey (`StakingHotkeys`, then `Alpha`/`AlphaV2` and the hotkeys' totals
  for every subnet), in a constant number of batched round trips;
- signing (mortal era, explicit nonce) and submitting extrinsics, and fee estimates.

Works the same against finney and the devnet: only storage names, hashers, call and event
names are relied on.
"""

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from app.chain.client import BlockRef, ChainClient, M, _block_hash, _int, _Reader, _result, _shares

EVENTS_ITEM = ("System", "Events")

# Every call the exchange signs, with its argument names in order; `sign` and `fee` refuse any
# other (tests/chain/test_conformance.py checks each against finney's recorded metadata).
CALLS_SENT: dict[tuple[str, str], tuple[str, ...]] = {
    ("Balances", "transfer_keep_alive"): ("dest", "value"),
    ("Balances", "transfer_all"): ("dest", "keep_alive"),
    (M, "transfer_stake"): (
        "destination_coldkey",
        "hotkey",
        "origin_netuid",
        "destination_netuid",
        "alpha_amount",
    ),
    (M, "move_stake"): (
        "origin_hotkey",
        "destination_hotkey",
        "origin_netuid",
        "destination_netuid",
        "alpha_amount",
    ),
}
# Storage custody reads (besides the client's `STORAGE_READ`).
CUSTODY_STORAGE_READ: tuple[tuple[str, str], ...] = (
    ("System", "Account"),
    EVENTS_ITEM,
    (M, "NetworksAdded"),
    (M, "StakingHotkeys"),
    (M, "TotalHotkeyAlpha"),
    (M, "TotalHotkeyShares"),
    (M, "TotalHotkeySharesV2"),
    (M, "Alpha"),
    (M, "AlphaV2"),
)


def _check_call(pallet: str, function: str, args: dict[str, Any]) -> None:
    expected = CALLS_SENT.get((pallet, function))
    if expected is None or set(args) != set(expected):
        raise ValueError(f"{pallet}.{function}({', '.join(args)}) is not a call custody sends")


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One `EventRecord`: `index` is its position in the block's events, `extrinsic` the index
    of the extrinsic that deposited it (None during initialization and finalization)."""

    index: int
    extrinsic: int | None
    pallet: str
    name: str
    attributes: Any  # a dict for named fields, a list for unnamed ones (SS58 for accounts)

    def field(self, name: str, position: int) -> Any:
        """A field by name, or by position for events with unnamed fields."""
        if isinstance(self.attributes, dict):
            return self.attributes.get(name)
        if isinstance(self.attributes, list | tuple) and position < len(self.attributes):
            return self.attributes[position]
        return None


@dataclass(frozen=True, slots=True)
class BlockEvents:
    number: int
    hash: str
    parent_hash: str
    events: list[ChainEvent]


@dataclass(slots=True)
class Holdings:
    """Free TAO per coldkey and stake per (coldkey, hotkey, netuid), at `block_hash`."""

    block_hash: str
    free: dict[str, int] = field(default_factory=dict)
    stake: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def stake_of(self, coldkey: str) -> dict[tuple[str, int], int]:
        return {(h, n): v for (c, h, n), v in self.stake.items() if c == coldkey and v}


@dataclass(frozen=True, slots=True)
class StorageEvidence:
    """Storage values at one block, as anyone with a node can read them again: the block's
    header (`chain_getHeader`), each key's SCALE value (None: absent) and, where the node
    serves them, the read proof of them all against the header's state root."""

    header: dict[str, Any]
    values: dict[bytes, bytes | None]
    proof: list[bytes] | None


@dataclass(frozen=True, slots=True)
class SignedExtrinsic:
    hex: str
    hash: str
    nonce: int
    era_birth: int
    era_period: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    accepted: bool
    rpc_code: int | None = None
    message: str | None = None


def extrinsic_hash(extrinsic_hex: str) -> str:
    data = bytes.fromhex(extrinsic_hex[2:] if extrinsic_hex.startswith("0x") else extrinsic_hex)
    return "0x" + hashlib.blake2b(data, digest_size=32).hexdigest()


def _normalize(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_normalize(v) for v in value]
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


class CustodyChain:
    """Synchronous; every call goes through `ChainClient.run` (reconnects with backoff)."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client

    @property
    def url(self) -> str:
        return self.client.url

    def finalized_head(self) -> BlockRef:
        return self.client.finalized_head()

    # --- blocks -------------------------------------------------------------------------------

    def block_events(self, number: int) -> BlockEvents:
        """The events of block `number` (a ChainRequestError if the node no longer has its
        state: scanning further back than a pruned node keeps needs an archive node)."""

        def work(s: SubstrateInterface) -> BlockEvents:
            block_hash = _block_hash(_result(s.rpc_request("chain_getBlockHash", [number])))
            header = _result(s.rpc_request("chain_getHeader", [block_hash]))
            got = header["number"]
            if (int(got, 16) if isinstance(got, str) else int(got)) != number:
                raise ValueError("the node answered another block")
            records = s.get_events(block_hash=block_hash)
            events = []
            for i, record in enumerate(records):
                value = record.value
                phase = value.get("phase")
                extrinsic = value.get("extrinsic_idx") if phase == "ApplyExtrinsic" else None
                events.append(
                    ChainEvent(
                        index=i,
                        extrinsic=None if extrinsic is None else int(extrinsic),
                        pallet=str(value["module_id"]),
                        name=str(value["event_id"]),
                        attributes=_normalize(value.get("attributes")),
                    )
                )
            return BlockEvents(number, block_hash, _block_hash(header["parentHash"]), events)

        return self.client.run("block_events", work)

    def extrinsic_hashes(self, block_hash: str) -> list[str]:
        """The hashes of a block's extrinsics, in order (bodies are kept for every block)."""

        def work(s: SubstrateInterface) -> list[str]:
            body = _result(s.rpc_request("chain_getBlock", [block_hash]))
            if body is None:
                raise ValueError(f"no block {block_hash}")
            return [extrinsic_hash(x) for x in body["block"]["extrinsics"]]

        return self.client.run("extrinsic_hashes", work)

    # --- state --------------------------------------------------------------------------------

    def account_nonce(self, address: str, block_hash: str) -> int:
        def work(s: SubstrateInterface) -> int:
            info = s.query("System", "Account", [address], block_hash=block_hash)
            return int(info.value["nonce"])

        return self.client.run("account_nonce", work)

    def holdings(self, coldkeys: Iterable[str], block_hash: str) -> Holdings:
        colds = list(dict.fromkeys(coldkeys))

        def work(s: SubstrateInterface) -> Holdings:
            reader = _Reader(self.client, s)
            return _read_holdings(reader, s, colds, _block_hash(block_hash))

        return self.client.run("holdings", work)

    def storage_values(self, keys: Sequence[bytes], block_hash: str) -> dict[bytes, bytes | None]:
        """Raw SCALE values of `keys` at `block_hash` (None where absent)."""

        def work(s: SubstrateInterface) -> dict[bytes, bytes | None]:
            return _raw_values(s, keys, _block_hash(block_hash))

        return self.client.run("storage_values", work)

    def storage_evidence(self, keys: Sequence[bytes], block_hash: str) -> StorageEvidence:
        """The header, `keys`' values and their read proof (`state_getReadProof`; None when
        the node does not serve it) at `block_hash`."""

        def work(s: SubstrateInterface) -> StorageEvidence:
            at = _block_hash(block_hash)
            header = _result(s.rpc_request("chain_getHeader", [at]))
            if not isinstance(header, dict) or "stateRoot" not in header:
                raise ValueError(f"no header for {at}")
            values = _raw_values(s, keys, at)
            proof: list[bytes] | None
            try:
                answer = _result(s.rpc_request("state_getReadProof", [_hex(keys), at]))
            except SubstrateRequestException as exc:
                if not _unsupported(exc):
                    raise
                proof = None
            else:
                proof = [bytes.fromhex(node[2:]) for node in answer["proof"]]
            return StorageEvidence(header, values, proof)

        return self.client.run("storage_evidence", work)

    # --- transactions -------------------------------------------------------------------------

    def sign(
        self,
        keypair: Keypair,
        pallet: str,
        function: str,
        args: dict[str, Any],
        *,
        nonce: int,
        era_period: int,
        current: int,
    ) -> SignedExtrinsic:
        """A mortal extrinsic born at (or just before) block `current`, with `nonce`."""

        _check_call(pallet, function, args)

        def work(s: SubstrateInterface) -> SignedExtrinsic:
            call = s.compose_call(pallet, function, args)
            era = {"period": era_period, "current": current}
            xt = s.create_signed_extrinsic(call, keypair, era=era, nonce=nonce)
            era_obj = s.runtime_config.create_scale_object("Era")
            era_obj.encode({"period": era_period, "current": current})
            data = xt.data.to_hex()
            return SignedExtrinsic(
                data, extrinsic_hash(data), nonce, int(era_obj.birth(current)), era_period
            )

        return self.client.run("sign", work)

    def fee(self, keypair: Keypair, pallet: str, function: str, args: dict[str, Any]) -> int:
        """The fee (rao, no tip) the node quotes for the call signed by `keypair`."""

        _check_call(pallet, function, args)

        def work(s: SubstrateInterface) -> int:
            call = s.compose_call(pallet, function, args)
            return int(s.get_payment_info(call, keypair)["partialFee"])

        return self.client.run("fee", work)

    def submit(self, extrinsic_hex: str) -> SubmitResult:
        """`author_submitExtrinsic`. A refusal is an answer, not an error: 1010 means nothing
        reached the chain from this submission (the same bytes may be on chain already)."""

        def work(s: SubstrateInterface) -> SubmitResult:
            try:
                response = s.rpc_request("author_submitExtrinsic", [extrinsic_hex])
            except SubstrateRequestException as exc:
                error = exc.args[0] if exc.args else str(exc)
            else:
                error = response.get("error")
                if error is None:
                    _result(response)
                    return SubmitResult(True)
            code = error.get("code") if isinstance(error, dict) else None
            message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
            data = error.get("data") if isinstance(error, dict) else None
            if data:
                message = f"{message}: {data}"
            return SubmitResult(False, code if isinstance(code, int) else None, message[:400])

        return self.client.run("submit", work)


def _hex(keys: Sequence[bytes]) -> list[str]:
    return ["0x" + key.hex() for key in keys]


def _raw_values(
    s: SubstrateInterface, keys: Sequence[bytes], block_hash: str
) -> dict[bytes, bytes | None]:
    if not keys:
        return {}
    hex_keys = _hex(keys)
    result = _result(s.rpc_request("state_queryStorageAt", [hex_keys, block_hash]))
    found: dict[str, str | None] = {}
    for group in result:
        for key, value in group["changes"]:
            found[str(key).lower()] = value
    out: dict[bytes, bytes | None] = {}
    for key, hex_key in zip(keys, hex_keys, strict=True):
        if hex_key not in found:
            raise ValueError("state_queryStorageAt left out a key")
        value = found[hex_key]
        out[key] = None if value is None else bytes.fromhex(value[2:])
    return out


def _unsupported(exc: SubstrateRequestException) -> bool:
    """A node that does not serve the method (or not to the public: "unsafe")."""
    detail = exc.args[0] if exc.args else None
    if isinstance(detail, dict):
        message = str(detail.get("message", "")).lower()
        return detail.get("code") == -32601 or "unsafe" in message or "not found" in message
    return False


def _read_holdings(
    reader: _Reader, s: SubstrateInterface, coldkeys: Sequence[str], block_hash: str
) -> Holdings:
    holdings = Holdings(block_hash)
    if not coldkeys:
        return holdings
    s.init_runtime(block_hash=block_hash)
    added = s.query_map(M, "NetworksAdded", block_hash=block_hash, page_size=1024)
    netuids = sorted(int(k.value) for k, v in list(added) if v is not None and v.value)

    keys = [reader.key("System", "Account", [c]) for c in coldkeys]
    keys += [reader.key(M, "StakingHotkeys", [c]) for c in coldkeys]
    values = reader.multi(keys, block_hash)
    hotkeys: dict[str, list[str]] = {}
    for i, c in enumerate(coldkeys):
        info = values[i].value
        holdings.free[c] = int(info["data"]["free"]) if info else 0
        staking = values[len(coldkeys) + i].value or []
        hotkeys[c] = [str(h) for h in staking]

    triples = [(c, h, n) for c in coldkeys for h in hotkeys[c] for n in netuids]
    if not triples:
        return holdings
    pairs = list(dict.fromkeys((h, n) for _, h, n in triples))
    share_items = [i for i in ("Alpha", "AlphaV2") if reader.has(M, i)]
    total_items = [i for i in ("TotalHotkeyShares", "TotalHotkeySharesV2") if reader.has(M, i)]
    keys = [reader.key(M, "TotalHotkeyAlpha", [h, n]) for h, n in pairs]
    keys += [reader.key(M, item, [h, n]) for h, n in pairs for item in total_items]
    keys += [reader.key(M, item, [h, c, n]) for c, h, n in triples for item in share_items]
    it = iter(reader.multi(keys, block_hash))
    total_alpha = {p: _int(next(it)) for p in pairs}
    totals = {p: _shares({item: next(it) for item in total_items}) for p in pairs}
    for c, h, n in triples:
        shares = _shares({item: next(it) for item in share_items})
        total = totals[(h, n)]
        if shares and total:
            stake = int(Fraction(total_alpha[(h, n)]) * shares / total)
            if stake:
                holdings.stake[(c, h, n)] = stake
    return holdings


class AsyncCustodyChain:
    """The same calls, run in a worker thread."""

    def __init__(self, chain: CustodyChain) -> None:
        self.sync = chain

    @classmethod
    def connect(cls, url: str, **options: Any) -> "AsyncCustodyChain":
        return cls(CustodyChain(ChainClient(url, **options)))

    async def finalized_head(self) -> BlockRef:
        return await asyncio.to_thread(self.sync.finalized_head)

    async def block_events(self, number: int) -> BlockEvents:
        return await asyncio.to_thread(self.sync.block_events, number)

    async def extrinsic_hashes(self, block_hash: str) -> list[str]:
        return await asyncio.to_thread(self.sync.extrinsic_hashes, block_hash)

    async def account_nonce(self, address: str, block_hash: str) -> int:
        return await asyncio.to_thread(self.sync.account_nonce, address, block_hash)

    async def holdings(self, coldkeys: Iterable[str], block_hash: str) -> Holdings:
        return await asyncio.to_thread(self.sync.holdings, list(coldkeys), block_hash)

    async def storage_values(
        self, keys: Sequence[bytes], block_hash: str
    ) -> dict[bytes, bytes | None]:
        return await asyncio.to_thread(self.sync.storage_values, list(keys), block_hash)

    async def storage_evidence(self, keys: Sequence[bytes], block_hash: str) -> StorageEvidence:
        return await asyncio.to_thread(self.sync.storage_evidence, list(keys), block_hash)

    async def sign(
        self,
        keypair: Keypair,
        pallet: str,
        function: str,
        args: dict[str, Any],
        *,
        nonce: int,
        era_period: int,
        current: int,
    ) -> SignedExtrinsic:
        return await asyncio.to_thread(
            lambda: self.sync.sign(
                keypair,
                pallet,
                function,
                args,
                nonce=nonce,
                era_period=era_period,
                current=current,
            )
        )

    async def fee(self, keypair: Keypair, pallet: str, function: str, args: dict[str, Any]) -> int:
        return await asyncio.to_thread(self.sync.fee, keypair, pallet, function, args)

    async def submit(self, extrinsic_hex: str) -> SubmitResult:
        return await asyncio.to_thread(self.sync.submit, extrinsic_hex)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.client.close)
