import logging
import socket

import pytest

from app.chain.client import AsyncChainClient
from app.chain.devnet.chain import DevnetConfig
from app.chain.endpoint import chain_endpoint
from app.config import Settings


async def test_a_url_is_used_as_is() -> None:
    async with chain_endpoint("wss://entrypoint-finney.opentensor.ai:443") as url:
        assert url == "wss://entrypoint-finney.opentensor.ai:443"


async def test_devnet_is_started_in_process() -> None:
    config = DevnetConfig(subnets=2, block_time=None, finality_lag=0)
    async with chain_endpoint("devnet", config) as url:
        assert url.startswith("ws://127.0.0.1:")
        client = AsyncChainClient(url, timeout=2)
        try:
            assert set((await client.snapshot()).subnets) == {0, 1, 2}
        finally:
            await client.close()


async def test_a_restarted_devnet_is_replayed_to_the_indexed_block() -> None:
    """The in-process devnet restarts at genesis; the indexer's last block (and hash) come back
    by deterministic replay, one block past it finalized, so indexing goes on at once."""
    import asyncio

    from app.chain.devnet.chain import DevnetChain

    config = DevnetConfig(subnets=3, block_time=None, finality_lag=2)
    earlier = DevnetChain(config)
    indexed = earlier.produce_blocks(40)
    async with chain_endpoint("devnet", config, resume_from=(40, indexed.hash)) as url:
        client = AsyncChainClient(url, timeout=2)
        try:
            for _ in range(200):
                head = await client.finalized_head()
                if head.number > 40:
                    break
                await asyncio.sleep(0.05)
            assert head.number == 41
            assert await client.rpc("chain_getBlockHash", [40]) == indexed.hash
        finally:
            await client.close()


async def test_the_devnet_port_is_a_setting_and_a_taken_one_falls_back(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_DEVNET_PORT", "19944")
    assert Settings().devnet_port == 19944
    monkeypatch.delenv("EXCHANGE_DEVNET_PORT")
    assert Settings().devnet_port == 9944

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = DevnetConfig(subnets=1, block_time=None)
        with caplog.at_level(logging.WARNING, logger="app.chain.devnet"):
            async with chain_endpoint("devnet", config, port=port) as url:
                assert url.startswith("ws://127.0.0.1:") and not url.endswith(f":{port}")
                client = AsyncChainClient(url, timeout=2)
                try:
                    assert (await client.finalized_head()).number == 0
                finally:
                    await client.close()
        assert any("port taken" in r.getMessage() for r in caplog.records)
