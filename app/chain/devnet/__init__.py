"""The built-in devnet: a deterministic, simulated subtensor node over Substrate JSON-RPC.

In async code:   `async with run_devnet(DevnetConfig(...)) as dev: ChainClient(dev.url)`
From sync code:  `with DevnetThread(DevnetConfig(...)) as dev: ...` (own thread and loop)
Standalone:      `python -m app devnet --port 9944 --seed 0 --subnets 32 --block-time 12`
"""

from app.chain.devnet.chain import DevnetChain, DevnetConfig
from app.chain.devnet.server import DevnetServer, DevnetThread, run_devnet

__all__ = ["DevnetChain", "DevnetConfig", "DevnetServer", "DevnetThread", "run_devnet"]
