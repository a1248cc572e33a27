"""Substrate JSON-RPC 2.0 over WebSocket for the devnet chain, with fault injection for tests.

Serves what `substrate-interface` asks a node for (see `../shared/chain/README.md`): system
info, block hashes, headers and bodies (`chain_getBlock`, extrinsics in hex), runtime version,
metadata, storage (single, multi, paged keys, read proofs, all pinnable to a kept block hash),
new/finalized head subscriptions, and transactions: `author_submitExtrinsic`,
`author_submitAndWatchExtrinsic` (`author_extrinsicUpdate` notifications: "ready"/"future",
{"inBlock"}, {"finalized"}, or "invalid"/"dropped"/{"usurped"}), `author_pendingExtrinsics`,
`system_accountNextIndex`, `payment_queryInfo`, `payment_queryFeeDetails`. Refused
transactions get Substrate's error codes (1001, 1010-1016, see `txpool.py`); the socket stays
open.

`rpc_methods` does not list `state_call`, so substrate-interface asks for nonces and fees with
`system_accountNextIndex` and `payment_queryInfo` (on finney it uses the runtime APIs).
"""

import asyncio
import contextlib
import itertools
import json
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from app.chain.devnet.chain import (
    ArchivedBlock,
    Block,
    BlockNotKept,
    DevnetChain,
    DevnetConfig,
    to_account,
)
from app.chain.devnet.extrinsics import BadFormat, decode
from app.chain.devnet.metadata import (
    SPEC_VERSION,
    SS58_FORMAT,
    TRANSACTION_VERSION,
    call_decoder,
    metadata_hex,
)
from app.chain.devnet.runtime_api import UnknownRuntimeApi, state_call
from app.chain.devnet.txpool import PoolError, Status

log = logging.getLogger("app.chain.devnet")

RUNTIME_VERSION = {
    "specName": "node-subtensor",
    "implName": "node-subtensor-devnet",
    "authoringVersion": 1,
    "specVersion": SPEC_VERSION,
    "implVersion": 1,
    "apis": [],
    "transactionVersion": TRANSACTION_VERSION,
    "stateVersion": 1,
}


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


TERMINAL = ("finalized", "usurped", "dropped", "invalid", "finalityTimeout")


def _invalid(message: str) -> RpcError:
    return RpcError(-32602, f"Invalid params: {message}")


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise _invalid(f"{what} must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid(f"{what} is not valid hex") from None


class DevnetServer:
    """The RPC front of a `DevnetChain`. Start with `await start()` inside a running loop."""

    def __init__(
        self,
        chain: DevnetChain,
        host: str = "127.0.0.1",
        port: int = 0,
        port_fallback: bool = False,
    ) -> None:
        self.chain = chain
        self.host = host
        self.port = port
        self.port_fallback = port_fallback  # port taken: listen on a free one (and log it)
        self.requests: Counter[str] = Counter()  # JSON-RPC calls answered, by method
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._producer: asyncio.Task[None] | None = None
        self._connections: set[ServerConnection] = set()
        self._subscriptions: dict[str, tuple[ServerConnection, str]] = {}  # id -> (conn, kind)
        self._watches: dict[bytes, list[tuple[ServerConnection, str]]] = {}  # tx hash -> subs
        self._sub_ids = itertools.count(1)
        self._garbage: list[str] = []  # kinds of bad answers still to send
        self._stall = 0  # requests still to leave unanswered
        self._fault_lock = threading.Lock()
        self._methods: dict[str, Callable[[list[Any], ServerConnection], Any]] = {
            "system_chain": lambda p, c: "Bittensor Devnet",
            "system_name": lambda p, c: "Subtensor Devnet",
            "system_version": lambda p, c: "0.1.0-devnet",
            "system_properties": lambda p, c: {
                "ss58Format": SS58_FORMAT,
                "tokenDecimals": 9,
                "tokenSymbol": "TAO",
            },
            "system_health": lambda p, c: {
                "peers": 0,
                "isSyncing": False,
                "shouldHavePeers": False,
            },
            "rpc_methods": lambda p, c: {"version": 1, "methods": self._listed},
            "chain_getBlockHash": self._get_block_hash,
            "chain_getHead": lambda p, c: self.chain.head.hash,
            "chain_getHeader": lambda p, c: self._archived(p).header,
            "chain_getBlock": lambda p, c: self._archived(p).body,
            "chain_getFinalizedHead": lambda p, c: self.chain.finalized.hash,
            "chain_getFinalisedHead": lambda p, c: self.chain.finalized.hash,
            "chain_getRuntimeVersion": self._runtime_version,
            "state_getRuntimeVersion": self._runtime_version,
            "state_getMetadata": self._metadata,
            "state_getStorage": self._get_storage,
            "state_getStorageAt": self._get_storage,
            "state_queryStorageAt": self._query_storage_at,
            "state_getKeysPaged": self._get_keys_paged,
            "state_getKeysPagedAt": self._get_keys_paged,
            "state_getKeys": self._get_keys,
            "state_getReadProof": self._get_read_proof,
            "chain_subscribeNewHeads": lambda p, c: self._subscribe(c, "chain_newHead"),
            "chain_subscribeNewHead": lambda p, c: self._subscribe(c, "chain_newHead"),
            "chain_subscribeFinalizedHeads": lambda p, c: self._subscribe(c, "chain_finalizedHead"),
            "chain_subscribeFinalisedHeads": lambda p, c: self._subscribe(c, "chain_finalizedHead"),
            "chain_unsubscribeNewHeads": self._unsubscribe,
            "chain_unsubscribeNewHead": self._unsubscribe,
            "chain_unsubscribeFinalizedHeads": self._unsubscribe,
            "chain_unsubscribeFinalisedHeads": self._unsubscribe,
            "author_submitExtrinsic": self._submit,
            "author_submitAndWatchExtrinsic": self._submit_and_watch,
            "author_unwatchExtrinsic": self._unwatch,
            "author_pendingExtrinsics": lambda p, c: [
                "0x" + xt.data.hex() for xt in self.chain.pending_extrinsics()
            ],
            "system_accountNextIndex": self._account_next_index,
            "payment_queryInfo": lambda p, c: self.chain.executive.query_info(self._decode(p)),
            "payment_queryFeeDetails": lambda p, c: self.chain.executive.query_fee_details(
                self._decode(p)
            ),
            "state_call": self._state_call,
        }
        self._listed = sorted(m for m in self._methods if m != "state_call")

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(call_decoder)  # decoded once per process, before any wallet
        try:
            self._server = await self._listen(self.port)
        except OSError as exc:
            if not self.port_fallback or self.port == 0:
                raise
            self._server = await self._listen(0)
            log.warning(
                "devnet port taken, listening on a free port instead",
                extra={
                    "requested": self.port,
                    "port": next(iter(self._server.sockets)).getsockname()[1],
                    "error": str(exc),
                },
            )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        self.chain.listeners.append(self._on_block)
        self.chain.pool.listeners.append(self._on_tx_status)
        if self.chain.config.block_time:
            self._producer = asyncio.create_task(self._produce(self.chain.config.block_time))
        log.info("devnet listening", extra={"url": self.url})

    async def _listen(self, port: int) -> Server:
        return await serve(self._handle, self.host, port, max_size=None, close_timeout=1)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.chain.pool.listeners.remove(self._on_tx_status)
        if self._producer:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        with contextlib.suppress(ValueError):
            self.chain.listeners.remove(self._on_block)
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _produce(self, block_time: float) -> None:
        while True:
            await asyncio.sleep(block_time)
            await asyncio.to_thread(self.chain.produce_block)

    # --- fault injection ----------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Close every client connection (as a node restart would)."""
        loop = self._loop
        if loop is None:
            return
        for conn in list(self._connections):
            asyncio.run_coroutine_threadsafe(conn.close(code=1011, reason="dropped"), loop)

    def inject_garbage(self, n: int = 1, kind: str = "invalid_json") -> None:
        """Answer the next `n` requests with `invalid_json` or `wrong_shape` results."""
        if kind not in ("invalid_json", "wrong_shape"):
            raise ValueError(kind)
        with self._fault_lock:
            self._garbage.extend([kind] * n)

    def stall(self, n: int = 1) -> None:
        """Leave the next `n` requests unanswered (a hung node)."""
        with self._fault_lock:
            self._stall += n

    def withhold(self, *methods: str) -> None:
        """Stop serving `methods` (answered -32601, and no longer listed): a node that does
        not serve them, as public nodes may not serve `state_getReadProof`."""
        for method in methods:
            self._methods.pop(method, None)
        self._listed = [m for m in self._listed if m not in methods]

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._garbage.clear()
            self._stall = 0

    # --- transport ----------------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection) -> None:
        self._connections.add(conn)
        try:
            async for message in conn:
                answer = self._answer(message, conn)
                if answer is not None:
                    await conn.send(answer)
        except ConnectionClosed:
            pass
        finally:
            self._connections.discard(conn)
            for sub_id in [s for s, (c, _) in self._subscriptions.items() if c is conn]:
                self._subscriptions.pop(sub_id, None)
            for xt_hash, watchers in list(self._watches.items()):
                kept = [w for w in watchers if w[0] is not conn]
                if kept:
                    self._watches[xt_hash] = kept
                else:
                    del self._watches[xt_hash]

    def _answer(self, message: str | bytes, conn: ServerConnection) -> str | None:
        with self._fault_lock:
            if self._stall:
                self._stall -= 1
                return None
            garbage = self._garbage.pop(0) if self._garbage else None
        try:
            request = json.loads(message)
        except ValueError:
            return json.dumps(_error(None, -32700, "Parse error"))
        if garbage == "invalid_json":
            return '{"jsonrpc": "2.0", "id": ' + "<<garbage>>"
        if isinstance(request, list):
            if not request:
                return json.dumps(_error(None, -32600, "Invalid request"))
            return json.dumps([self._call(r, conn, garbage) for r in request])
        return json.dumps(self._call(request, conn, garbage))

    def _call(self, request: Any, conn: ServerConnection, garbage: str | None) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "Invalid request")
        req_id = request.get("id")
        if garbage == "wrong_shape":
            return {"jsonrpc": "2.0", "id": req_id, "result": 12345}
        method = self._methods.get(request["method"])
        if method is None:
            return _error(req_id, -32601, "Method not found")
        params = request.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(req_id, -32602, "Invalid params: expected a list")
        self.requests[request["method"]] += 1
        try:
            return {"jsonrpc": "2.0", "id": req_id, "result": method(params, conn)}
        except RpcError as exc:
            return _error(req_id, exc.code, exc.message, exc.data)
        except PoolError as exc:
            return _error(req_id, exc.code, exc.message, exc.data)
        except (TypeError, ValueError, IndexError) as exc:
            return _error(req_id, -32602, f"Invalid params: {exc}")

    # --- methods ------------------------------------------------------------------------------

    def _block(self, params: list[Any], index: int) -> Block:
        """The block named by params[index] (a hash; absent or null: head)."""
        block_hash = params[index] if len(params) > index else None
        if block_hash is None:
            return self.chain.head
        if not isinstance(block_hash, str):
            raise _invalid("block hash must be a string")
        try:
            return self.chain.block(block_hash)
        except BlockNotKept:
            raise RpcError(4003, f"State already discarded or unknown block {block_hash}") from None

    def _archived(self, params: list[Any]) -> Block | ArchivedBlock:
        """The block named by params[0], its state kept or not (headers and bodies stay)."""
        block_hash = params[0] if params else None
        if block_hash is None:
            return self.chain.head
        if not isinstance(block_hash, str):
            raise _invalid("block hash must be a string")
        try:
            return self.chain.any_block(block_hash)
        except BlockNotKept:
            raise RpcError(4003, f"Unknown block {block_hash}") from None

    def _get_block_hash(self, params: list[Any], conn: ServerConnection) -> str | None:
        number = params[0] if params else None
        if number is None:
            return self.chain.head.hash
        if isinstance(number, str):
            number = int(number, 16 if number.startswith("0x") else 10)
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise _invalid("block number must be a non-negative integer")
        return self.chain.block_hash_at(number)

    def _runtime_version(self, params: list[Any], conn: ServerConnection) -> dict[str, Any]:
        self._block(params, 0)
        return RUNTIME_VERSION

    def _metadata(self, params: list[Any], conn: ServerConnection) -> str:
        self._block(params, 0)
        return metadata_hex()

    def _get_storage(self, params: list[Any], conn: ServerConnection) -> str | None:
        if not params:
            raise _invalid("expected a storage key")
        key = _hex_bytes(params[0], "storage key")
        value = self.chain.read(self._block(params, 1), key)
        return None if value is None else "0x" + value.hex()

    def _query_storage_at(self, params: list[Any], conn: ServerConnection) -> list[dict[str, Any]]:
        if not params or not isinstance(params[0], list):
            raise _invalid("expected a list of storage keys")
        block = self._block(params, 1)
        changes = []
        for key_hex in params[0]:
            value = self.chain.read(block, _hex_bytes(key_hex, "storage key"))
            changes.append([key_hex, None if value is None else "0x" + value.hex()])
        return [{"block": block.hash, "changes": changes}]

    def _get_read_proof(self, params: list[Any], conn: ServerConnection) -> dict[str, Any]:
        """`{"at": hash, "proof": [node, ...]}`: the trie nodes proving the keys' values (or
        their absence) against the block's state root, as Substrate answers."""
        if not params or not isinstance(params[0], list):
            raise _invalid("expected a list of storage keys")
        keys = [_hex_bytes(k, "storage key") for k in params[0]]
        block = self._block(params, 1)
        proof = self.chain.read_proof(block, keys)
        return {"at": block.hash, "proof": ["0x" + node.hex() for node in proof]}

    def _get_keys_paged(self, params: list[Any], conn: ServerConnection) -> list[str]:
        if len(params) < 2:
            raise _invalid("expected prefix and count")
        prefix = _hex_bytes(params[0], "prefix")
        count = params[1]
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 100_000:
            raise _invalid("count must be an integer within 0..100000")
        start = params[2] if len(params) > 2 else None
        start_key = _hex_bytes(start, "start key") if start else None
        block = self._block(params, 3)
        return ["0x" + k.hex() for k in block.keys_paged(prefix, count, start_key)]

    def _get_keys(self, params: list[Any], conn: ServerConnection) -> list[str]:
        if not params:
            raise _invalid("expected a prefix")
        prefix = _hex_bytes(params[0], "prefix")
        block = self._block(params, 1)
        return ["0x" + k.hex() for k in block.keys_paged(prefix, 1_000_000, None)]

    def _subscribe(self, conn: ServerConnection, kind: str) -> str:
        sub_id = f"devnet-{next(self._sub_ids)}"
        self._subscriptions[sub_id] = (conn, kind)
        block = self.chain.head if kind == "chain_newHead" else self.chain.finalized
        self._notify(conn, kind, sub_id, block)
        return sub_id

    def _unsubscribe(self, params: list[Any], conn: ServerConnection) -> bool:
        if not params or not isinstance(params[0], str):
            raise _invalid("expected a subscription id")
        return self._subscriptions.pop(params[0], None) is not None

    # --- transactions -------------------------------------------------------------------------

    def _extrinsic_bytes(self, params: list[Any]) -> bytes:
        if not params:
            raise _invalid("expected an extrinsic")
        return _hex_bytes(params[0], "extrinsic")

    def _decode(self, params: list[Any]) -> Any:
        try:
            return decode(self._extrinsic_bytes(params), call_decoder())
        except BadFormat as exc:
            raise RpcError(1001, f"Extrinsic has invalid format: {exc}") from None
        except ValueError as exc:  # UnknownSigner
            raise RpcError(1011, "Unknown Transaction Validity", str(exc)) from None

    def _state_call(self, params: list[Any], conn: ServerConnection) -> str:
        if len(params) < 2 or not isinstance(params[0], str):
            raise _invalid("expected a method name and its SCALE-encoded arguments")
        data = _hex_bytes(params[1], "data")
        block = self._block(params, 2)
        try:
            with self.chain.lock:
                return "0x" + state_call(self.chain, block, params[0], data).hex()
        except UnknownRuntimeApi:
            raise RpcError(
                4003, f"Client error: Execution failed: Exported method {params[0]} is not found"
            ) from None
        except BadFormat as exc:
            raise RpcError(4003, f"Client error: Execution failed: {exc}") from None

    def _submit(self, params: list[Any], conn: ServerConnection) -> str:
        xt, _ = self.chain.submit_extrinsic(self._extrinsic_bytes(params))
        return xt.hash_hex

    def _submit_and_watch(self, params: list[Any], conn: ServerConnection) -> str:
        xt, status = self.chain.submit_extrinsic(self._extrinsic_bytes(params))
        sub_id = f"devnet-{next(self._sub_ids)}"
        # Registered before any status can arrive: those are posted to this loop.
        self._watches.setdefault(xt.hash, []).append((conn, sub_id))
        self._send_status(conn, sub_id, status)
        return sub_id

    def _unwatch(self, params: list[Any], conn: ServerConnection) -> bool:
        if not params or not isinstance(params[0], str):
            raise _invalid("expected a subscription id")
        for xt_hash, watchers in list(self._watches.items()):
            kept = [w for w in watchers if w[1] != params[0]]
            if len(kept) != len(watchers):
                if kept:
                    self._watches[xt_hash] = kept
                else:
                    del self._watches[xt_hash]
                return True
        return False

    def _account_next_index(self, params: list[Any], conn: ServerConnection) -> int:
        if not params or not isinstance(params[0], str):
            raise _invalid("expected an account (SS58 or hex)")
        try:
            who = to_account(params[0])
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        return self.chain.account_next_index(who)

    def _on_tx_status(self, xt_hash: bytes, status: Status) -> None:
        """Called by the pool, from whichever thread changed it."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver_status, xt_hash, status)

    def _deliver_status(self, xt_hash: bytes, status: Status) -> None:
        watchers = self._watches.get(xt_hash, [])
        for conn, sub_id in watchers:
            self._send_status(conn, sub_id, status)
        kind = status if isinstance(status, str) else next(iter(status))
        if kind in TERMINAL:
            self._watches.pop(xt_hash, None)

    def _send_status(self, conn: ServerConnection, sub_id: str, status: Status) -> None:
        message = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "author_extrinsicUpdate",
                "params": {"subscription": sub_id, "result": status},
            }
        )
        asyncio.get_running_loop().create_task(_send_quietly(conn, message))

    # --- notifications ------------------------------------------------------------------------

    def _on_block(self, block: Block) -> None:
        """Called from whichever thread produced the block."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._broadcast, block)

    def _broadcast(self, block: Block) -> None:
        finalized = self.chain.finalized
        for sub_id, (conn, kind) in list(self._subscriptions.items()):
            self._notify(conn, kind, sub_id, block if kind == "chain_newHead" else finalized)

    def _notify(self, conn: ServerConnection, kind: str, sub_id: str, block: Block) -> None:
        message = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": kind,
                "params": {"subscription": sub_id, "result": block.header},
            }
        )
        # Sent after the subscription's own answer: the task runs once this handler returns.
        asyncio.get_running_loop().create_task(_send_quietly(conn, message))


async def _send_quietly(conn: ServerConnection, message: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await conn.send(message)


def _error(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


@contextlib.asynccontextmanager
async def run_devnet(
    config: DevnetConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    port_fallback: bool = False,
) -> AsyncIterator[DevnetServer]:
    """Run a devnet in the current event loop: `async with run_devnet(cfg) as dev: dev.url`."""
    server = DevnetServer(DevnetChain(config), host, port, port_fallback)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class DevnetThread:
    """A devnet served from its own thread and event loop, for synchronous callers and tests.

    >>> with DevnetThread(DevnetConfig(block_time=None)) as dev:
    ...     client = ChainClient(dev.url)

    `restarted()` serves the same chain again (a node restarted over its database): stop
    this one first; the new one listens on the same port.
    """

    def __init__(
        self,
        config: DevnetConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        chain: DevnetChain | None = None,
    ):
        self.server = DevnetServer(chain or DevnetChain(config), host, port)
        self.chain = self.server.chain
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devnet", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "DevnetThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def restarted(self) -> "DevnetThread":
        """A new server for the same chain (its blocks, state and transaction pool) on the
        same port, started. Stop this one first."""
        return DevnetThread(host=self.server.host, port=self.server.port, chain=self.chain).start()

    def __enter__(self) -> "DevnetThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
