"""Resolve `CHAIN_URL`: a WebSocket URL as is, or `devnet` for a devnet started in-process."""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from app.chain.devnet.chain import DevnetChain, DevnetConfig
from app.chain.devnet.server import run_devnet

DEVNET = "devnet"

log = logging.getLogger("app.chain.devnet")


def is_devnet(chain_url: str) -> bool:
    return chain_url.strip().lower() == DEVNET


@contextlib.asynccontextmanager
async def chain_endpoint(
    chain_url: str,
    devnet_config: DevnetConfig | None = None,
    resume_from: tuple[int, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[str]:
    """Yield the URL to connect to; for `devnet`, one is served until the block exits, on
    `host:port` (0: any free port; a taken port falls back to a free one, logged).

    `resume_from=(block, hash)`: the in-process devnet starts again at genesis on every start,
    while the database remembers the blocks indexed before. The devnet is deterministic, so it
    is replayed in the background until it has finalized a block past `block` again (the same
    chain, the same hashes); meanwhile the indexer waits and `/ready` reports it as stale.
    """
    if not is_devnet(chain_url):
        yield chain_url
        return
    async with run_devnet(
        devnet_config or DevnetConfig(), host, port, port_fallback=True
    ) as devnet:
        stop = threading.Event()
        replay = None
        if resume_from is not None and resume_from[0] > devnet.chain.finalized.number:
            replay = asyncio.create_task(
                asyncio.to_thread(_replay, devnet.chain, *resume_from, stop), name="devnet-replay"
            )
        try:
            yield devnet.url
        finally:
            stop.set()
            if replay is not None:
                with contextlib.suppress(Exception):
                    await replay


def _replay(chain: DevnetChain, block: int, block_hash: str, stop: threading.Event) -> None:
    """Produce blocks until `block + 1` is finalized, so an indexer at `block` goes on at once."""
    target = block + 1 + chain.config.finality_lag
    log.info("replaying the devnet to the last indexed block", extra={"block": block})
    while not stop.is_set() and chain.head.number < target:
        chain.produce_block()
        if chain.head.number == block and chain.head.hash != block_hash:
            log.warning(
                "the devnet differs from the indexed chain (another seed or config?)",
                extra={"block": block, "indexed": block_hash, "devnet": chain.head.hash},
            )
    log.info("devnet replay done", extra={"head": chain.head.number})
