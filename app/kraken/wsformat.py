"""Kraken's WebSocket wire format, pure: numbers, the book's deltas and its CRC32 checksum.

Kraken's v2 feed writes prices and quantities as JSON numbers "containing full precision"
and computes the book checksum from those very texts. Here every amount is written with
the assets' 9 decimals (`0.050000000`, `4.000000000`): exact, and the text a client parses
(as a decimal, as Kraken advises) is the text the checksum was computed from.

The checksum (Kraken's "Book checksum (WebSocket v2)" guide): over the top 10 asks, best
(lowest) first, then the top 10 bids, best (highest) first, each level contributes its price
then its quantity, each with the "." removed and the leading zeros stripped; the CRC32 of
the concatenation, unsigned.
"""

import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.kit.units import format_units

CHECKSUM_LEVELS = 10
BOOK_DEPTHS = (10, 25, 100, 500, 1000)
DEFAULT_DEPTH = 10

Level = tuple[int, int]  # (price, qty) in base units


class Num(str):
    """A JSON number written exactly as this text (e.g. '0.050000000')."""

    __slots__ = ()


def num(amount: int) -> Num:
    """Base units as a JSON number with 9 decimals."""
    return Num(format_units(amount))


def dumps(value: Any) -> str:
    """Compact JSON in which `Num` values are written as raw numbers."""
    if isinstance(value, Num):
        return str.__str__(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def _digits(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def checksum_text(asks: Sequence[tuple[str, str]], bids: Sequence[tuple[str, str]]) -> str:
    """What the CRC32 is taken of, from the levels' wire texts (asks low to high, bids high
    to low, as sent)."""
    parts = [_digits(p) + _digits(q) for p, q in asks[:CHECKSUM_LEVELS]]
    parts += [_digits(p) + _digits(q) for p, q in bids[:CHECKSUM_LEVELS]]
    return "".join(parts)


def checksum_of_texts(asks: Sequence[tuple[str, str]], bids: Sequence[tuple[str, str]]) -> int:
    return zlib.crc32(checksum_text(asks, bids).encode()) & 0xFFFFFFFF


def checksum(asks: Sequence[Level], bids: Sequence[Level]) -> int:
    """Kraken's book checksum of a book in base units (asks low to high, bids high to low)."""
    return checksum_of_texts(
        [(num(p), num(q)) for p, q in asks[:CHECKSUM_LEVELS]],
        [(num(p), num(q)) for p, q in bids[:CHECKSUM_LEVELS]],
    )


def levels(side: Iterable[Level]) -> list[dict[str, Num]]:
    return [{"price": num(p), "qty": num(q)} for p, q in side]


def book_delta(before: Sequence[Level], after: Sequence[Level], depth: int) -> list[Level]:
    """What a client holding `before` cut to `depth` levels must apply to hold `after` cut to
    `depth`, as Kraken sends it: the levels new or changed within the depth, and qty 0 for
    the levels that left the book. A level only pushed out of the depth by better ones is
    not sent: the client truncates its book to the depth (Kraken's rule)."""
    old = dict(before[:depth])
    new = dict(after[:depth])
    everywhere = {p for p, _ in after}
    changed = [(p, q) for p, q in after[:depth] if old.get(p) != q]
    removed = [(p, 0) for p, _ in before[:depth] if p not in new and p not in everywhere]
    return removed + changed


def apply_delta(
    book: list[Level], delta: Iterable[Level], depth: int, *, bids: bool
) -> list[Level]:
    """A client's side of the book after a delta, truncated to the depth (for tests and
    for documentation of the client's side of the protocol)."""
    levels_ = dict(book)
    for price, qty in delta:
        if qty == 0:
            levels_.pop(price, None)
        else:
            levels_[price] = qty
    return sorted(levels_.items(), key=lambda x: -x[0] if bids else x[0])[:depth]


def rfc3339(moment: datetime | None = None) -> str:
    """Kraken's timestamps: '2023-09-25T07:49:37.708706Z'."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_ns(moment: datetime) -> str:
    """Kraken's interval starts: '2023-10-04T16:25:00.000000000Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def decimal_text(value: object) -> str | None:
    """A JSON number or numeric string as plain decimal text (1e-05 -> '0.00001'), else
    None. Floats are read by their shortest representation: what the client wrote."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str | Decimal) or len(str(value)) > 40:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return format(number, "f")
