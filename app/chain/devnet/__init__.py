"""The built-in devnet: a deterministic, simulated subtensor node over Substrate JSON-RPC that
takes signed extrinsics as finney does (transfers, staking calls, fees, nonces, eras, events).

In async code:   `async with run_devnet(DevnetConfig(...)) as dev: ChainClient(dev.url)`
From sync code:  `with DevnetThread(DevnetConfig(...)) as dev: ...` (own thread and loop)
Standalone:      `python -m app devnet --port 9944 --seed 0 --subnets 32 --block-time 12`

Modules: `chain.py` (blocks, simulation), `runtime.py` (validity, fees, dispatch),
`balances.py`, `staking.py` (the pallets' rules), `extrinsics.py` (decoding, signatures),
`txpool.py` (the pool), `events.py`, `state.py`, `encoding.py` (storage), `metadata.py`,
`pallets.py`, `runtime_types.py`, `scale_info.py` (metadata), `runtime_api.py` (`state_call`),
`server.py` (JSON-RPC over WebSocket).
"""

from app.chain.devnet.chain import DevnetChain, DevnetConfig
from app.chain.devnet.server import DevnetServer, DevnetThread, run_devnet

__all__ = ["DevnetChain", "DevnetConfig", "DevnetServer", "DevnetThread", "run_devnet"]
