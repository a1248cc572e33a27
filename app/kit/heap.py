"""The service's heap and Python's cyclic garbage collector.

By default the collector runs a young-generation pass every 700 allocations and, now and
then, a full pass over every object the process holds: the FastAPI app, SQLAlchemy's
metadata, pydantic's validators, the books. Under load those full passes are pauses of tens
of milliseconds in the one thread that serves every request and runs the sequencer: they
were most of the order path's p99 (165 ms -> 34 ms without them; bench.orders_http).

Once the service has started, `settle` freezes what it built (moved out of the collector's
sight for good: it lives as long as the process) and makes passes rarer. Reference counting
still frees nearly everything at once; only garbage in cycles waits for a pass.
"""

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

# A young pass per 50,000 allocations (~20 orders' worth); a full one after 100 middle ones.
THRESHOLDS = (50_000, 20, 100)

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def settle() -> None:
    """Collect what starting up left behind, freeze the rest, make passes rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def settled_after(lifespan: Lifespan) -> Lifespan:
    """`lifespan`, then `settle` once it has started everything (for a server process: a
    test suite that starts many apps in one process must not freeze each of them)."""

    @asynccontextmanager
    async def wrapped(app: Any) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            settle()
            yield state

    return wrapped
