"""Snapshot builders for indexer unit tests (integration tests read real ones from the devnet)."""

import dataclasses
from fractions import Fraction

from app.chain.types import (
    ChainSnapshot,
    StakePosition,
    SubnetIdentity,
    SubnetState,
    ValidatorState,
)

HALF = 5 * 10**17


def subnet(netuid: int, **overrides: object) -> SubnetState:
    base = SubnetState(
        netuid=netuid,
        registered_at=100 + netuid,
        mechanism=1,
        symbol="α",
        identity=SubnetIdentity(subnet_name=f"Net {netuid}", github_repo="https://github.com/x/y"),
        owner_coldkey="5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM",
        owner_hotkey="5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM",
        tempo=360,
        tao_in=1_000 * 10**9 * netuid,
        alpha_in=20_000 * 10**9,
        alpha_out=5_000 * 10**9,
        moving_price_bits=(3 << 32) // 100,
        volume=123 * 10**9,
        tao_in_emission=10**9,
        alpha_in_emission=2 * 10**9,
        alpha_out_emission=3 * 10**9,
        fee_rate=33,
        quote_weight=HALF,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def snapshot(block: int, subnets: list[SubnetState], **kw: object) -> ChainSnapshot:
    return ChainSnapshot(
        block_number=block,
        block_hash=f"0x{block:064x}",
        subnets={s.netuid: s for s in subnets},
        **kw,  # type: ignore[arg-type]
    )


def validator(netuid: int, uid: int, hotkey: str, total: int) -> ValidatorState:
    return ValidatorState(netuid, uid, hotkey, True, 11796, total)


def position(
    netuid: int, hotkey: str, coldkey: str, shares: Fraction, total: Fraction, alpha: int
) -> StakePosition:
    return StakePosition(netuid, hotkey, coldkey, shares, total, alpha)
