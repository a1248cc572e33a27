from app.chain.client import AsyncChainClient
from app.chain.devnet.chain import DevnetConfig
from app.chain.endpoint import chain_endpoint


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
