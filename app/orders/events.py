"""Committed events on the wire: what the sequencer writes to its outbox in each group's
transaction, the relay publishes to NATS JetStream, and other processes (WebSocket gateways)
turn back into `Committed` notices for their own `OrdersView`.

One event per committed group. Books travel as changes (levels whose quantity or order count
changed; quantity 0: the level is gone) with the book's sequence after them, so a reader that
holds the book at `sequence - 1` gets it at `sequence`; amounts are integers (rao), never floats.

Subjects (one message per subject an event touches; the outbox id makes the message id, so
JetStream drops a message published twice):
- `ex.ev.book.<market_id>`: the book change and the market's fills (public);
- `ex.ev.user.<user_id>`: the user's orders and fills.
"""

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.matching import Depth, DepthLevel
from app.orders.commands import LiveOrder
from app.orders.readmodel import Committed, FillRecord

VERSION = 1
STREAM = "EXCHANGE"
SUBJECTS = "ex.ev.>"
_DATES = ("created_at", "closed_at", "triggered_at")


def book_subject(market_id: int) -> str:
    return f"ex.ev.book.{market_id}"


def user_subject(user_id: int) -> str:
    return f"ex.ev.user.{user_id}"


def encode(epoch: str, symbols: dict[int, str], committed: Committed) -> dict[str, Any]:
    """A committed group as a JSON-able event (the outbox row's payload)."""
    return {
        "v": VERSION,
        "epoch": epoch,
        "books": [
            {
                "market_id": c.market_id,
                "symbol": symbols.get(c.market_id),
                "sequence": c.sequence,
                "bids": _changes(c.before.bids, c.after.bids),
                "asks": _changes(c.before.asks, c.after.asks),
            }
            for c in committed.books
        ],
        "fills": [fill_json(f) for f in committed.fills],
        "orders": [order_json(o) for o in committed.orders],
    }


def split(event_id: int, event: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """The messages an event makes: (subject, message id, body), each body a self-contained
    event restricted to what its subject's readers may see."""
    markets: dict[int, dict[str, Any]] = {}
    for book in event["books"]:
        markets.setdefault(book["market_id"], _part(event_id, event))["books"].append(book)
    for fill in event["fills"]:
        markets.setdefault(fill["market_id"], _part(event_id, event))["fills"].append(fill)
    users: dict[int, dict[str, Any]] = {}
    for order in event["orders"]:
        users.setdefault(order["user_id"], _part(event_id, event))["orders"].append(order)
    for fill in event["fills"]:
        for side in ("maker", "taker"):
            user = fill[side]["user_id"]
            part = users.setdefault(user, _part(event_id, event))
            if not part["fills"] or part["fills"][-1] is not fill:
                part["fills"].append(fill)
    parts = [(book_subject(m), f"{event_id}:b{m}", p) for m, p in sorted(markets.items())]
    parts += [(user_subject(u), f"{event_id}:u{u}", p) for u, p in sorted(users.items())]
    for part in (p for _, _, p in parts):
        part["parts"] = len(parts)
    return [(subject, msg_id, _dumps(part)) for subject, msg_id, part in parts]


@dataclass(frozen=True, slots=True)
class BookDelta:
    market_id: int
    symbol: str | None
    sequence: int
    bids: list[list[int]]  # [price, qty, orders]; qty 0: gone
    asks: list[list[int]]


@dataclass(frozen=True, slots=True)
class Event:
    """One message's event (a part of a group's event: `parts` messages in all, published
    one after the other)."""

    id: int
    epoch: str
    books: list[BookDelta]
    fills: list[FillRecord]
    orders: list[LiveOrder]
    parts: int = 1


def merge(parts: list[Event]) -> Event:
    """A group's whole event from its parts: each book and order once, each fill once (it is
    in its market's part and in its two users' parts)."""
    fills: dict[tuple[int, int], FillRecord] = {}
    for part in parts:
        for f in part.fills:
            fills.setdefault((f.market_id, f.match_id), f)
    return Event(
        parts[0].id,
        parts[0].epoch,
        [b for p in parts for b in p.books],
        sorted(fills.values(), key=lambda f: (f.market_id, f.match_id)),
        [o for p in parts for o in p.orders],
        1,
    )


def decode(body: bytes) -> Event:
    raw = json.loads(body)
    return Event(
        id=raw["id"],
        epoch=raw["epoch"],
        books=[
            BookDelta(b["market_id"], b["symbol"], b["sequence"], b["bids"], b["asks"])
            for b in raw["books"]
        ],
        fills=[fill_from_json(f) for f in raw["fills"]],
        orders=[order_from_json(o) for o in raw["orders"]],
        parts=raw.get("parts", 1),
    )


def apply(depth: Depth, delta: BookDelta) -> Depth:
    """The book after `delta` (best level first on both sides)."""
    return Depth(_apply(depth.bids, delta.bids, best_high=True), _apply(depth.asks, delta.asks))


# ---------------------------------------------------------------------- helpers


def _part(event_id: int, event: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "epoch": event["epoch"], "books": [], "fills": [], "orders": []}


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _changes(before: list[DepthLevel], after: list[DepthLevel]) -> list[list[int]]:
    old = {x.price: (x.qty, x.orders) for x in before}
    new = {x.price: (x.qty, x.orders) for x in after}
    changed = [[p, q, n] for p, (q, n) in new.items() if old.get(p) != (q, n)]
    changed += [[p, 0, 0] for p in old if p not in new]
    return changed


def _apply(
    levels: list[DepthLevel], changes: list[list[int]], *, best_high: bool = False
) -> list[DepthLevel]:
    book = {x.price: DepthLevel(x.price, x.qty, x.orders) for x in levels}
    for price, qty, orders in changes:
        if qty == 0:
            book.pop(price, None)
        else:
            book[price] = DepthLevel(price, qty, orders)
    return sorted(book.values(), key=lambda x: x.price, reverse=best_high)


_ORDER_FIELDS = tuple(f.name for f in dataclasses.fields(LiveOrder))


def order_json(o: LiveOrder) -> dict[str, Any]:
    # Every field is a scalar: no deep copy (`dataclasses.asdict` made one per order, most
    # of the cost of encoding a group's event).
    out = {name: getattr(o, name) for name in _ORDER_FIELDS}
    for name in _DATES:
        value = out[name]
        out[name] = value.isoformat() if value is not None else None
    return out


def order_from_json(raw: dict[str, Any]) -> LiveOrder:
    values = dict(raw)
    for name in _DATES:
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    return LiveOrder(**values)


def fill_json(f: FillRecord) -> dict[str, Any]:
    return {
        "market_id": f.market_id,
        "match_id": f.match_id,
        "maker": order_json(f.maker),
        "taker": order_json(f.taker),
        "taker_side": f.taker_side,
        "price": f.price,
        "qty": f.qty,
        "quote": f.quote,
        "maker_fee": f.maker_fee,
        "taker_fee": f.taker_fee,
        "ts": f.ts,
    }


def fill_from_json(raw: dict[str, Any]) -> FillRecord:
    values = dict(raw)
    values["maker"] = order_from_json(values["maker"])
    values["taker"] = order_from_json(values["taker"])
    return FillRecord(**values)
