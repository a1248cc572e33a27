"""A server process settles its heap once its lifespan has started everything."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.kit.heap import THRESHOLDS, settled_after


async def test_settles_after_startup_not_before() -> None:
    seen: list[tuple[tuple[int, int, int], int]] = []
    before = gc.get_threshold()

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        yield {"started": "yes"}

    try:
        async with settled_after(lifespan)(None) as state:
            assert state == {"started": "yes"}  # the lifespan's own state passes through
            assert gc.get_threshold() == THRESHOLDS
            assert gc.get_freeze_count() > seen[0][1]  # what startup built is frozen
        assert seen[0][0] == before  # while starting, the collector was as it was
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
