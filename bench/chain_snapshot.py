"""One full chain snapshot (128 subnets with validators and custody stake) from the devnet.

Prints the median snapshot time, its JSON-RPC round trips, and two baselines measured in the
same run on the same connection: one `system_chain` round trip and one single storage read
(`SubnetTAO` of one subnet at a pinned block).

    .venv/bin/python -m bench.chain_snapshot [--subnets 128] [--runs 7]
"""

import argparse
import statistics
import time
from collections.abc import Callable

from app.chain.client import ChainClient
from app.chain.devnet.chain import DevnetConfig, account, ss58
from app.chain.devnet.server import DevnetThread


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def custody_coldkeys(n: int = 3) -> list[str]:
    """Deterministic custody coldkeys (SS58) for the benchmarks."""
    return [ss58(account(1, "custody", i)) for i in range(n)]


def seed_custody(dev: DevnetThread, custody: list[str]) -> int:
    """Give the custody coldkeys a stake with every validator (round robin); returns how many."""
    validators = [v for v in dev.chain.head.view.validators if v.validator_permit]
    for i, v in enumerate(validators):
        dev.chain.seed_stake(custody[i % len(custody)], v.hotkey, v.netuid, 10**9 * (i + 1))
    dev.chain.produce_block()
    return len(validators)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subnets", type=int, default=128)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    config = DevnetConfig(seed=1, subnets=args.subnets, block_time=None, finality_lag=0)
    with DevnetThread(config) as dev, ChainClient(dev.url) as client:
        custody = custody_coldkeys()
        seed_custody(dev, custody)
        client.snapshot(coldkeys=custody)  # connect and load metadata once

        fresh_times, pinned_times = [], []
        for _ in range(args.runs):
            dev.chain.produce_block()  # a new finalized block: nothing cached for it
            started = time.perf_counter()
            snap = client.snapshot(coldkeys=custody)
            fresh_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.snapshot(snap.block_hash, coldkeys=custody)
            pinned_times.append(time.perf_counter() - started)
        fresh, pinned = statistics.median(fresh_times), statistics.median(pinned_times)
        round_trip = median_time(lambda: client.rpc("system_chain"), args.runs * 5)
        head = dev.chain.head.hash
        substrate = client._connect()
        substrate.init_runtime(block_hash=head)
        one_read = median_time(
            lambda: substrate.query("SubtensorModule", "SubnetTAO", [1], block_hash=head),
            args.runs * 5,
        )

    print(f"subnets: {len(snap.subnets) - 1} dynamic + root, validators: {len(snap.validators)}")
    print(f"custody positions: {len(snap.positions)}")
    print(f"snapshot at a new finalized block, median of {args.runs}: {fresh:.3f} s")
    print(f"  JSON-RPC round trips: {snap.rpc_round_trips}")
    print(f"the same block again (runtime already set), median: {pinned:.3f} s")
    print(f"baseline: one system_chain round trip: {round_trip * 1000:.2f} ms")
    print(f"baseline: one storage read (query SubnetTAO[1]): {one_read * 1000:.2f} ms")
    print(f"ratio snapshot / round trip: {fresh / round_trip:.0f}x")
    print(f"ratio snapshot / one storage read: {fresh / one_read:.0f}x")


if __name__ == "__main__":
    main()
