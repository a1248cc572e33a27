"""Writing snapshots: idempotent, resumable, and netuid reuse makes a new token."""

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.indexer.service import SyncResult, write_snapshot
from app.models import CustodyPosition, IndexerState, Subnet, SubnetHistory, Validator
from tests.indexer.snapshots import position, snapshot, subnet, validator

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def _write(db: AsyncEngine, snap, listeners=None) -> SyncResult:  # type: ignore[no-untyped-def]
    async with async_sessionmaker(db, expire_on_commit=False)() as session:
        result = await write_snapshot(
            session,
            snap,
            chain="test",
            head_block=snap.block_number,
            block_time=NOW,
            listeners=listeners,
        )
        await session.commit()
        return result


async def _count(db: AsyncEngine, model) -> int:  # type: ignore[no-untyped-def]
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def test_first_snapshot_creates_subnets_history_and_state(db: AsyncEngine) -> None:
    result = await _write(db, snapshot(10, [subnet(1), subnet(2)]))
    assert [s.netuid for s in result.new_subnets] == [1, 2]
    async with db.connect() as conn:
        row = (await conn.execute(select(Subnet).where(Subnet.netuid == 2))).one()
        assert row.tao_in == 2_000 * 10**9 and row.alpha_in == 20_000 * 10**9
        # price = y/x with equal weights = 0.1 TAO per alpha = 10^8 rao per alpha
        assert row.price_rao == 100_000_000
        assert row.name == "Net 2" and row.identity["github_repo"] == "https://github.com/x/y"
        state = (await conn.execute(select(IndexerState))).one()
        assert state.last_block == 10
    assert await _count(db, SubnetHistory) == 2


async def test_replaying_a_block_changes_nothing(db: AsyncEngine) -> None:
    await _write(db, snapshot(10, [subnet(1)]))
    again = await _write(db, snapshot(10, [subnet(1, tao_in=1)]))
    assert again.skipped
    older = await _write(db, snapshot(9, [subnet(1, tao_in=1)]))
    assert older.skipped
    async with db.connect() as conn:
        assert await conn.scalar(select(Subnet.tao_in)) == 1_000 * 10**9
    assert await _count(db, SubnetHistory) == 1


async def test_updates_keep_one_row_per_token_and_append_history(db: AsyncEngine) -> None:
    await _write(db, snapshot(10, [subnet(1)]))
    result = await _write(db, snapshot(11, [subnet(1, tao_in=5, alpha_in=10)]))
    assert result.new_subnets == [] and result.retired_subnets == []
    assert await _count(db, Subnet) == 1
    assert await _count(db, SubnetHistory) == 2
    async with db.connect() as conn:
        s = (await conn.execute(select(Subnet))).one()
        assert (s.tao_in, s.alpha_in, s.last_block, s.first_seen_block) == (5, 10, 11, 10)


async def test_netuid_reuse_retires_the_old_token_and_adds_a_new_one(db: AsyncEngine) -> None:
    seen: list[SyncResult] = []

    async def listener(session, result):  # type: ignore[no-untyped-def]
        seen.append(result)

    await _write(db, snapshot(10, [subnet(1), subnet(2)]))
    result = await _write(
        db, snapshot(20, [subnet(1), subnet(2, registered_at=19, symbol="β")]), [listener]
    )
    assert [s.netuid for s in result.retired_subnets] == [2]
    assert [(s.netuid, s.registered_at) for s in result.new_subnets] == [(2, 19)]
    assert seen == [result]
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Subnet.netuid, Subnet.registered_at, Subnet.status, Subnet.retired_at_block
                ).order_by(Subnet.id)
            )
        ).all()
    assert rows == [(1, 101, "active", None), (2, 102, "retired", 20), (2, 19, "active", None)]

    # A netuid that disappears altogether is retired too.
    result = await _write(db, snapshot(21, [subnet(2, registered_at=19)]))
    assert [s.netuid for s in result.retired_subnets] == [1]


async def test_validators_are_replaced_and_positions_appended(db: AsyncEngine) -> None:
    hk1, hk2, ck = "5HK1", "5HK2", "5CUSTODY"
    await _write(
        db,
        snapshot(
            10,
            [subnet(1)],
            validators=[validator(1, 0, hk1, 500), validator(1, 1, hk2, 700)],
            positions=[position(1, hk1, ck, Fraction(1, 4), Fraction(2, 1), 600)],
        ),
    )
    await _write(db, snapshot(11, [subnet(1)], validators=[validator(1, 0, hk1, 900)]))
    async with db.connect() as conn:
        vals = (await conn.execute(select(Validator.hotkey, Validator.total_alpha))).all()
        assert vals == [(hk1, 900)]
        pos = (await conn.execute(select(CustodyPosition))).one()
    # 600 * (1/4) / 2 = 75 alpha-rao
    assert pos.stake == 75
    assert pos.shares == Decimal("0.25")
    assert pos.block_number == 10
    assert pos.total_shares == Decimal(2)


async def test_a_failed_listener_rolls_back_the_whole_block(db: AsyncEngine) -> None:
    async def boom(session, result):  # type: ignore[no-untyped-def]
        raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError):
        await _write(db, snapshot(10, [subnet(1)]), [boom])
    assert await _count(db, Subnet) == 0
    assert await _count(db, IndexerState) == 0
