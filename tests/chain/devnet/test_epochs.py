"""Epochs as the current runtime schedules them, against a model written from subtensor's
source (June 2026, spec 425) independently of the devnet:

- `init_new_network` (subnets/subnet.rs): `LastEpochBlock = now - netuid % tempo`;
- `should_run_epoch` (coinbase/run_coinbase.rs): tempo 0 never; `PendingEpochAt > 0` and
  `block >= PendingEpochAt`; or `block - LastEpochBlock >= tempo`;
- `drain_pending`: subnets in netuid order, root excluded; a due subnet beyond
  `MaxEpochsPerBlock` gets `PendingEpochAt = block + 1` and `EpochDeferred`; a run sets
  `LastEpochBlock = block`, `PendingEpochAt = 0`, `SubnetEpochIndex += 1`;
- `do_trigger_epoch` (coinbase/tempo_control.rs): `PendingEpochAt = now + AdminFreezeWindow`,
  refused when one is pending or the automatic epoch is closer than the window.

Read back through the real client over WebSocket JSON-RPC, block by block.
"""

from dataclasses import dataclass

import pytest
from substrateinterface import SubstrateInterface

from app.chain.client import ChainClient
from app.chain.devnet.server import DevnetThread
from tests.chain.conftest import make_devnet

TEMPO = 5
CAP = 2
WINDOW = 2  # AdminFreezeWindow (a root-set value; 10 by default, longer than this tempo)


@dataclass
class Slot:
    tempo: int
    last: int
    pending: int = 0
    index: int = 0


def model_block(slots: dict[int, Slot], block: int, cap: int) -> tuple[list[int], list[int]]:
    """One block of `drain_pending`: (netuids whose epoch ran, netuids deferred)."""
    ran: list[int] = []
    deferred: list[int] = []
    for netuid in sorted(slots):
        s = slots[netuid]
        due = s.tempo != 0 and ((s.pending > 0 and block >= s.pending) or block - s.last >= s.tempo)
        if not due:
            continue
        if len(ran) >= cap:
            s.pending = block + 1
            deferred.append(netuid)
            continue
        ran.append(netuid)
        s.last, s.pending, s.index = block, 0, s.index + 1
    return ran, deferred


def epoch_events(substrate: SubstrateInterface, block_hash: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    out = []
    for record in substrate.get_events(block_hash):
        value = record.value
        if value["module_id"] == "SubtensorModule" and value["event_id"].startswith("Epoch"):
            out.append((value["event_id"], value["attributes"]))
    return out


@pytest.fixture(scope="module")
def dev() -> DevnetThread:
    # 12 subnets with tempo 5: netuid % 5 staggers them into 5 slots of 2-3 subnets, so a
    # cap of 2 defers some every round, and the deferrals shift them into later slots.
    with make_devnet(
        subnets=12,
        tempo=TEMPO,
        max_epochs_per_block=CAP,
        admin_freeze_window=WINDOW,
        swaps_per_block=0,
    ) as d:
        yield d


def test_the_schedule_follows_the_runtime_over_many_blocks(dev: DevnetThread) -> None:
    chain = dev.chain
    start = chain.head.view
    slots = {
        n: Slot(s.tempo, s.last_epoch_block, s.pending_epoch_at, s.epoch_index)
        for n, s in start.subnets.items()
        if n != 0
    }
    # Genesis is block 0: the stagger is netuid % tempo below it, floored at 0.
    assert all(s.last == 0 and s.index == 0 for s in slots.values())
    deferrals = runs = 0
    triggered: dict[int, int] = {}
    with (
        ChainClient(dev.url) as client,
        SubstrateInterface(url=dev.url, ss58_format=42) as substrate,
    ):
        for _ in range(60):
            number = chain.head.number + 1  # the block that includes an owner's request
            four = slots[4]
            if number > 20 and not triggered:
                if four.pending or four.last + four.tempo - number < WINDOW:
                    with pytest.raises(ValueError, match=r"Pending|Imminent"):
                        chain.trigger_epoch(4)
                else:
                    fires = chain.trigger_epoch(4)
                    assert fires == number + WINDOW
                    four.pending = triggered[number] = fires
            block = chain.produce_block()
            ran, deferred = model_block(slots, block.number, CAP)
            runs += len(ran)
            deferrals += len(deferred)
            snap = client.snapshot(block_hash=block.hash)
            for netuid, slot in slots.items():
                s = snap.subnets[netuid]
                assert (s.last_epoch_block, s.pending_epoch_at, s.epoch_index) == (
                    slot.last,
                    slot.pending,
                    slot.index,
                ), (block.number, netuid)
            events = epoch_events(substrate, block.hash)
            assert [a["netuid"] for e, a in events if e == "EpochDeferred"] == deferred
            for e, a in events:
                if e == "EpochDeferred":
                    assert (a["from_block"], a["to_block"]) == (block.number, block.number + 1)
                else:
                    assert e == "EpochTriggered" and a["netuid"] == 4
                    assert a["fires_at"] == triggered[block.number]
    assert runs > 100 and deferrals > 10  # the cap was hit, and often
    assert triggered


def test_a_long_tempo_trigger_fires_early_and_restarts_the_cycle() -> None:
    with make_devnet(subnets=3, tempo=100, swaps_per_block=0) as d:
        chain = d.chain
        chain.produce_blocks(3)
        with pytest.raises(ValueError, match="no epochs"):
            chain.trigger_epoch(0)  # root
        before = chain.head.view.subnets[2]
        fires = chain.trigger_epoch(2)
        with pytest.raises(ValueError, match="EpochTriggerAlreadyPending"):
            chain.trigger_epoch(2)
        chain.produce_blocks(fires - chain.head.number - 1)
        assert chain.head.view.subnets[2].epoch_index == before.epoch_index
        assert chain.head.view.subnets[2].next_epoch_block == fires
        chain.produce_block()
        after = chain.head.view.subnets[2]
        assert after.epoch_index == before.epoch_index + 1
        assert after.last_epoch_block == fires and after.pending_epoch_at == 0
        assert after.next_epoch_block == fires + 100  # the cycle restarts from the trigger
        chain.produce_blocks(100 - 10)  # the next request would be included 9 blocks before
        with pytest.raises(ValueError, match="AutoEpochAlreadyImminent"):
            chain.trigger_epoch(2)
