"""Resolve `CHAIN_URL`: a WebSocket URL as is, or `devnet` for a devnet started in-process."""

import contextlib
from collections.abc import AsyncIterator

from app.chain.devnet.chain import DevnetConfig
from app.chain.devnet.server import run_devnet

DEVNET = "devnet"


@contextlib.asynccontextmanager
async def chain_endpoint(
    chain_url: str, devnet_config: DevnetConfig | None = None
) -> AsyncIterator[str]:
    """Yield the URL to connect to; for `devnet`, one is served until the block exits."""
    if chain_url.strip().lower() != DEVNET:
        yield chain_url
        return
    async with run_devnet(devnet_config or DevnetConfig()) as devnet:
        yield devnet.url
