"""The order path's read model: what others may know of the books, and only once committed.

Market data (REST and WebSocket), the markets routes and the Kraken surface depend on this,
never on the sequencer. The sequencer publishes into it after every commit:
- per market, the committed book (`depth`, `PUBLISHED_DEPTH` levels a side) and its
  `sequence`, one more with every published change; `epoch` changes when the service
  restarts (a client that sees another epoch knows the sequence started again: not a gap);
- symbols by market id and back;
- `Committed` notices to subscribers (enqueue-only callables: they run on the sequencer's
  task right after the commit);
- whether the order service is running (not stopped, not recovering).
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from app.markets.rules import parse_symbol
from app.matching import Depth
from app.orders.commands import LiveOrder

log = logging.getLogger("app.orders")

PUBLISHED_DEPTH = 1000


@dataclass(slots=True)
class FillRecord:
    market_id: int
    match_id: int
    maker: LiveOrder
    taker: LiveOrder
    taker_side: str
    price: int
    qty: int
    quote: int
    maker_fee: int
    taker_fee: int
    ts: int = 0  # engine time of the match (ns since the epoch)


@dataclass(frozen=True, slots=True)
class BookChange:
    """One committed publication of a market's book: `sequence` is the book's sequence after
    it (one more than the previous change of that market); `before` and `after` are the
    published depths."""

    market_id: int
    sequence: int
    before: Depth
    after: Depth


@dataclass(frozen=True, slots=True)
class Committed:
    """What one group committed: `orders` are copies of the orders it touched (as
    committed); `fills` its fills in match order; `created` the ids of the orders it placed.
    A restore publishes books only."""

    books: list[BookChange]
    fills: list[FillRecord]
    orders: list[LiveOrder]
    created: frozenset[int] = frozenset()
    # Set by a follower's view (`app.bus.feed`) when it starts again from a sequencer's
    # snapshot: the books' sequences start again in this epoch (readers take a snapshot).
    epoch: str | None = None


CommitListener = Callable[[Committed], None]


class OrdersView:
    def __init__(self) -> None:
        self.epoch = secrets.token_hex(8)
        self.running = False
        self._depth: dict[int, Depth] = {}
        self._sequence: dict[int, int] = {}
        self._symbols: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._listeners: list[CommitListener] = []

    # ------------------------------------------------------------------ reading

    def depth(self, market_id: int) -> Depth:
        return self._depth.get(market_id) or Depth([], [])

    def sequence(self, market_id: int) -> int:
        return self._sequence.get(market_id, 0)

    def symbol(self, market_id: int) -> str | None:
        return self._symbols.get(market_id)

    def market_id(self, symbol: str) -> int | None:
        """The id of a market by any accepted spelling of its symbol ('SN1-TAO')."""
        return self._ids.get(parse_symbol(symbol))

    def subscribe(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: CommitListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ------------------------------------------------------------------ publishing

    def learn(self, market_id: int, symbol: str) -> None:
        """A market's symbol (markets are never renamed)."""
        self._symbols[market_id] = symbol
        self._ids[symbol] = market_id

    def next_change(self, market_id: int, depth: Depth) -> BookChange:
        """The change that publishing `depth` will be (nothing is published yet)."""
        before = self._depth.get(market_id) or Depth([], [])
        return BookChange(market_id, self._sequence.get(market_id, 0) + 1, before, depth)

    def publish(self, market_id: int, depth: Depth) -> BookChange:
        change = self.next_change(market_id, depth)
        self._sequence[market_id] = change.sequence
        self._depth[market_id] = depth
        return change

    def mirror(self, market_id: int, sequence: int, depth: Depth) -> BookChange:
        """Publish another view's book as of its `sequence` (a follower's view, fed by the
        sequencer's events: `app.bus.feed`)."""
        before = self._depth.get(market_id) or Depth([], [])
        self._sequence[market_id] = sequence
        self._depth[market_id] = depth
        return BookChange(market_id, sequence, before, depth)

    def symbols(self) -> dict[int, str]:
        return dict(self._symbols)

    def emit(self, committed: Committed) -> None:
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:  # a market-data bug must never stop the order path
                log.exception("commit listener failed")
