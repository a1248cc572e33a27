"""A devnet to transact on, driven by substrate-interface over WebSocket, as finney would be.

Blocks are produced on demand (`dev.chain.produce_block()`); no simulated trading
(`swaps_per_block=0`) and no epoch within the tests' blocks (`tempo=5000`), so every amount a
test expects can be computed exactly from the state before the extrinsic.
"""

import contextlib
import threading
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.base import ExtrinsicReceipt
from substrateinterface.exceptions import SubstrateRequestException

from app.chain.devnet.chain import Block, DevnetConfig
from app.chain.devnet.server import DevnetThread

TX_CONFIG = {
    "seed": 21,
    "subnets": 4,
    "block_time": None,
    "finality_lag": 2,
    "swaps_per_block": 0,
    "tempo": 5000,
    "registration_interval": 0,
}
ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")
CHARLIE = Keypair.create_from_uri("//Charlie")


def fresh(name: str) -> Keypair:
    """A deterministic account nobody funded yet."""
    return Keypair.create_from_uri(f"//Devnet//Tests//{name}")


@pytest.fixture(scope="module")
def dev() -> Iterator[DevnetThread]:
    with DevnetThread(DevnetConfig(**TX_CONFIG)) as thread:  # type: ignore[arg-type]
        thread.chain.produce_blocks(2)
        yield thread


@pytest.fixture(scope="module")
def substrate(dev: DevnetThread) -> Iterator[SubstrateInterface]:
    with SubstrateInterface(url=dev.url, ss58_format=42) as client:
        yield client


def signed(
    substrate: SubstrateInterface,
    keypair: Keypair,
    module: str,
    function: str,
    params: dict[str, Any],
    **options: Any,
) -> Any:
    call = substrate.compose_call(module, function, params)
    return substrate.create_signed_extrinsic(call, keypair, **options)


def include(dev: DevnetThread, substrate: SubstrateInterface, *extrinsics: Any) -> Block:
    """Submit with `author_submitExtrinsic`, produce the next block: it includes them."""
    for xt in extrinsics:
        substrate.submit_extrinsic(xt)
    return dev.chain.produce_block()


def receipt(substrate: SubstrateInterface, block: Block, xt: Any) -> ExtrinsicReceipt:
    return ExtrinsicReceipt(
        substrate=substrate, extrinsic_hash="0x" + xt.extrinsic_hash.hex(), block_hash=block.hash
    )


def events(rcpt: ExtrinsicReceipt) -> list[tuple[str, str, Any]]:
    return [
        (e.value["module_id"], e.value["event_id"], e.value["attributes"])
        for e in rcpt.triggered_events
    ]


def free(substrate: SubstrateInterface, address: str, block_hash: str) -> int:
    info = substrate.query("System", "Account", [address], block_hash=block_hash)
    return int(info.value["data"]["free"])


def nonce(substrate: SubstrateInterface, address: str, block_hash: str) -> int:
    return int(
        substrate.query("System", "Account", [address], block_hash=block_hash).value["nonce"]
    )


def stake(
    substrate: SubstrateInterface, hotkey: str, coldkey: str, netuid: int, block_hash: str
) -> int:
    """A coldkey's alpha with a hotkey, read as the project's client reads it (legacy or V2
    shares): TotalHotkeyAlpha * shares / total shares, rounded down."""
    total_alpha = substrate.query(
        "SubtensorModule", "TotalHotkeyAlpha", [hotkey, netuid], block_hash=block_hash
    ).value
    shares = substrate.query(
        "SubtensorModule", "Alpha", [hotkey, coldkey, netuid], block_hash=block_hash
    ).value
    total = substrate.query(
        "SubtensorModule", "TotalHotkeyShares", [hotkey, netuid], block_hash=block_hash
    ).value
    mine, all_ = Fraction(shares["bits"]), Fraction(total["bits"])
    if not all_:
        v2 = substrate.query(
            "SubtensorModule", "AlphaV2", [hotkey, coldkey, netuid], block_hash=block_hash
        ).value
        total_v2 = substrate.query(
            "SubtensorModule", "TotalHotkeySharesV2", [hotkey, netuid], block_hash=block_hash
        ).value
        mine, all_ = Fraction(v2["mantissa"]), Fraction(total_v2["mantissa"])
    return int(total_alpha * mine / all_) if all_ else 0


def storage(substrate: SubstrateInterface, item: str, netuid: int, block_hash: str) -> int:
    return int(substrate.query("SubtensorModule", item, [netuid], block_hash=block_hash).value)


def rpc_error(exc: pytest.ExceptionInfo[SubstrateRequestException]) -> dict[str, Any]:
    error = exc.value.args[0]
    assert isinstance(error, dict)
    return error


@contextlib.contextmanager
def producing(dev: DevnetThread, every: float = 0.05) -> Iterator[None]:
    """Produce blocks in the background, for calls that wait for inclusion or finality."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            dev.chain.produce_block()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
