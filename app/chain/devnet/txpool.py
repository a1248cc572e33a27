"""The transaction pool, as Substrate's answers its clients.

- Submission refuses with Substrate's JSON-RPC errors: 1001 (not an extrinsic), 1010 "Invalid
  Transaction" with the reason (`Transaction has a bad signature`, `Transaction is outdated`,
  ...), 1011 "Unknown Transaction Validity", 1012 "Transaction is temporarily banned" (a hash
  refused as invalid, dropped, or already included, for `ban_blocks` blocks), 1013 "Transaction
  Already Imported" (in the pool), 1014 "Priority is too low" (same signer and nonce as a pooled
  transaction without a higher tip; a higher tip replaces it: the old one is `usurped`), 1016
  "Immediately Dropped" (the future queue is full).
- A nonce ahead of the account's waits in the future queue until the gap is filled.
- Blocks take ready transactions by tip, then arrival, each signer's in nonce order; after a
  block the pool drops what became invalid (a spent nonce, an expired era, a fee it can no
  longer pay).
- Watchers get Substrate's `TransactionStatus`: "future", "ready", {"inBlock": hash},
  {"finalized": hash}, {"usurped": hash}, "dropped", "invalid".
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.chain import codec
from app.chain.devnet.events import Events
from app.chain.devnet.extrinsics import BadFormat, Extrinsic, UnknownSigner, decode
from app.chain.devnet.metadata import CallDecoder
from app.chain.devnet.runtime import (
    MAX_BLOCK_REF_TIME,
    Executive,
    InvalidTransaction,
    UnknownTransaction,
    Validity,
    call_weight,
)

Status = str | dict[str, Any]
StatusListener = Callable[[bytes, Status], None]


class PoolError(Exception):
    """An author RPC error: JSON-RPC code, message and optional data, as Substrate sends."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass
class Pooled:
    xt: Extrinsic
    validity: Validity
    seq: int
    ready: bool = False


@dataclass
class Included:
    block_number: int
    block_hash: str


@dataclass
class TransactionPool:
    executive: Executive
    decoder: Callable[[], CallDecoder]  # built on first use
    ban_blocks: int = 150  # 30 minutes of 12 s blocks, Substrate's default ban time
    future_limit: int = 256
    listeners: list[StatusListener] = field(default_factory=list)
    _pool: dict[bytes, Pooled] = field(default_factory=dict)
    _banned: dict[bytes, int] = field(default_factory=dict)  # hash -> banned until this block
    _included: dict[bytes, Included] = field(default_factory=dict)  # awaiting finality
    _seq: "itertools.count[int]" = field(default_factory=itertools.count)

    # --- submission ---------------------------------------------------------------------------

    def submit(self, data: bytes, head: int) -> tuple[Extrinsic, Status]:
        """Validate and pool an extrinsic for the block after `head`: (it, its first status)."""
        xt_hash = codec.blake2_256(data)
        if self._banned.get(xt_hash, -1) > head:
            raise PoolError(1012, "Transaction is temporarily banned")
        if xt_hash in self._pool:
            raise PoolError(1013, "Transaction Already Imported", "0x" + xt_hash.hex())
        try:
            xt = decode(data, self.decoder())
        except UnknownSigner:
            raise PoolError(1011, "Unknown Transaction Validity", "CannotLookup") from None
        except BadFormat as exc:
            raise PoolError(1001, f"Extrinsic has invalid format: {exc}") from None
        try:
            validity = self.executive.validate(xt, head + 1)
        except InvalidTransaction as exc:
            self._ban(xt.hash, head)
            raise PoolError(1010, "Invalid Transaction", exc.message) from None
        except UnknownTransaction as exc:
            raise PoolError(1011, "Unknown Transaction Validity", exc.reason) from None
        rival = self._provider(validity.provides[0])
        if rival is not None:
            if validity.priority <= rival.validity.priority:
                raise PoolError(
                    1014,
                    f"Priority is too low: ({rival.validity.priority} vs {validity.priority})",
                    "The transaction has too low priority to replace another transaction "
                    "already in the pool.",
                )
            self._remove(rival.xt.hash)
            self._notify(rival.xt.hash, {"usurped": xt.hash_hex})
        pooled = Pooled(xt, validity, next(self._seq))
        self._pool[xt.hash] = pooled
        self._promote(silent=pooled)
        if self._enforce_future_limit(head) == xt.hash:
            raise PoolError(
                1016,
                "Immediately Dropped",
                "The transaction couldn't enter the pool because of the limit",
            )
        return xt, "ready" if pooled.ready else "future"

    def next_index(self, who: bytes) -> int:
        """`system_accountNextIndex`: the account's nonce, past its ready transactions."""
        account = self.executive.state.accounts.get(who)
        nonce = account.nonce if account else 0
        pending = {p.xt.nonce for p in self._pool.values() if p.xt.signer == who}
        while nonce in pending:
            nonce += 1
        return nonce

    def clear(self) -> int:
        """Forget every pending transaction and ban (a node restarted without its pool)."""
        dropped = len(self._pool)
        self._pool.clear()
        self._banned.clear()
        return dropped

    def pending(self) -> list[Extrinsic]:
        return [p.xt for p in sorted(self._pool.values(), key=lambda p: p.seq)]

    def is_watchable(self, xt_hash: bytes) -> bool:
        return xt_hash in self._pool

    # --- blocks -------------------------------------------------------------------------------

    def fill_block(self, events: Events, number: int, first: int) -> list[Extrinsic]:
        """Apply ready transactions to block `number` from extrinsic index `first` on."""
        included: list[Extrinsic] = []
        used = 0
        progress = True
        while progress:
            progress = False
            for pooled in sorted(self._pool.values(), key=lambda p: (-p.validity.priority, p.seq)):
                if pooled.xt.hash not in self._pool:
                    continue
                weight = call_weight(pooled.xt)[0]
                if used + weight > MAX_BLOCK_REF_TIME:
                    continue
                try:
                    self.executive.apply(pooled.xt, first + len(included), events, number)
                except InvalidTransaction as exc:
                    if exc.reason != "Future":
                        self._remove(pooled.xt.hash)
                        self._ban(pooled.xt.hash, number - 1)
                        self._notify(pooled.xt.hash, "invalid")
                    continue
                del self._pool[pooled.xt.hash]
                included.append(pooled.xt)
                used += weight
                progress = True
        return included

    def on_block(self, number: int, block_hash: str, included: list[Extrinsic]) -> None:
        """After block `number` was committed: report inclusions, drop what became invalid."""
        for xt in included:
            self._ban(xt.hash, number)
            self._included[xt.hash] = Included(number, block_hash)
            self._notify(xt.hash, {"inBlock": block_hash})
        for pooled in list(self._pool.values()):
            try:
                pooled.validity = self.executive.validate(pooled.xt, number + 1)
            except (InvalidTransaction, UnknownTransaction):
                self._remove(pooled.xt.hash)
                self._ban(pooled.xt.hash, number)
                self._notify(pooled.xt.hash, "invalid")
        self._promote()
        self._banned = {h: until for h, until in self._banned.items() if until > number}

    def on_finalized(self, number: int) -> None:
        for xt_hash, inc in list(self._included.items()):
            if inc.block_number <= number:
                del self._included[xt_hash]
                self._notify(xt_hash, {"finalized": inc.block_hash})

    # --- internals ----------------------------------------------------------------------------

    def _provider(self, tag: bytes) -> Pooled | None:
        return next((p for p in self._pool.values() if p.validity.provides[0] == tag), None)

    def _promote(self, silent: Pooled | None = None) -> None:
        """Mark as ready every transaction whose required tags are provided: by the chain
        (no requirement) or by a ready pooled one."""
        provided = {p.validity.provides[0] for p in self._pool.values() if p.ready}
        changed = True
        while changed:
            changed = False
            for pooled in sorted(self._pool.values(), key=lambda p: p.xt.nonce):
                if pooled.ready or not all(tag in provided for tag in pooled.validity.requires):
                    continue
                pooled.ready = True
                provided.add(pooled.validity.provides[0])
                changed = True
                if pooled is not silent:
                    self._notify(pooled.xt.hash, "ready")

    def _enforce_future_limit(self, head: int) -> bytes | None:
        futures = sorted((p for p in self._pool.values() if not p.ready), key=lambda p: p.seq)
        dropped = None
        while len(futures) > self.future_limit:
            oldest = futures.pop(0)
            self._remove(oldest.xt.hash)
            self._ban(oldest.xt.hash, head)
            self._notify(oldest.xt.hash, "dropped")
            dropped = oldest.xt.hash
        return dropped

    def _remove(self, xt_hash: bytes) -> None:
        self._pool.pop(xt_hash, None)

    def _ban(self, xt_hash: bytes, head: int) -> None:
        self._banned[xt_hash] = head + self.ban_blocks

    def _notify(self, xt_hash: bytes, status: Status) -> None:
        for listener in list(self.listeners):
            listener(xt_hash, status)
