"""A devnet on a loopback port (its own thread) and a real client talking to it."""

from collections.abc import Iterator

import pytest

from app.chain.client import ChainClient
from app.chain.devnet.chain import DevnetConfig
from app.chain.devnet.server import DevnetThread

FAST = {"block_time": None, "swaps_per_block": 3, "tempo": 5, "registration_interval": 0}


def make_devnet(**overrides: object) -> DevnetThread:
    options: dict[str, object] = {"seed": 7, "subnets": 8, "finality_lag": 1, **FAST}
    options.update(overrides)
    return DevnetThread(DevnetConfig(**options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def devnet() -> Iterator[DevnetThread]:
    with make_devnet() as dev:
        dev.chain.produce_blocks(3)
        yield dev


@pytest.fixture
def client(devnet: DevnetThread) -> Iterator[ChainClient]:
    devnet.server.clear_faults()
    with ChainClient(devnet.url, timeout=2.0, max_attempts=3, backoff=0.05) as c:
        yield c
