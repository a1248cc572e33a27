"""Kraken's WebSocket wire format (`app.kraken.wsformat`): the book checksum as Kraken's
guide computes it, from the texts on the wire; deltas that keep a client's truncated book
equal to the server's."""

import json
import zlib
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.kraken.wsformat import (
    BOOK_DEPTHS,
    apply_delta,
    book_delta,
    checksum,
    checksum_text,
    decimal_text,
    dumps,
    levels,
    num,
)


def test_the_guides_worked_steps() -> None:
    # Kraken's v2 guide: price "45285.2" and qty "0.00100000" give "452852100000"; its v1
    # guide: "0.05000" with "0.00000304" gives "5000304". Asks first, then bids.
    assert checksum_text([("45285.2", "0.00100000")], []) == "452852100000"
    assert checksum_text([("0.05000", "0.00000304")], [("0.04", "1.5")]) == "5000304415"


def test_a_book_in_base_units() -> None:
    asks = [(50_100_000, 2_000_000_000), (50_200_000, 500_000_000)]
    bids = [(49_900_000, 1_000_000_000)]
    text = "501000002000000000" + "50200000500000000" + "499000001000000000"
    assert checksum(asks, bids) == zlib.crc32(text.encode()) & 0xFFFFFFFF


def test_only_the_top_ten_count() -> None:
    asks = [(100 + i, 1) for i in range(12)]
    assert checksum(asks, []) == checksum(asks[:10], [])
    assert checksum(asks, []) != checksum(asks[1:], [])


prices = st.integers(1, 10**12)
qtys = st.integers(1, 10**15)


def side(bids: bool) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.dictionaries(prices, qtys, max_size=40).map(
        lambda d: sorted(d.items(), key=lambda x: -x[0] if bids else x[0])
    )


@given(side(False), side(True))
def test_a_client_that_parses_the_wire_as_kraken_advises_gets_the_same_checksum(
    asks: list[tuple[int, int]], bids: list[tuple[int, int]]
) -> None:
    wire = dumps({"asks": levels(asks[:10]), "bids": levels(bids[:10])})
    parsed = json.loads(wire, parse_float=str)  # Kraken: a string decoder keeps the text
    text = checksum_text(
        [(x["price"], x["qty"]) for x in parsed["asks"]],
        [(x["price"], x["qty"]) for x in parsed["bids"]],
    )
    assert zlib.crc32(text.encode()) & 0xFFFFFFFF == checksum(asks, bids)
    assert [Decimal(x["price"]) * 10**9 for x in parsed["asks"]] == [p for p, _ in asks[:10]]


@given(
    st.booleans(),
    st.sampled_from(BOOK_DEPTHS[:2]),
    st.lists(st.tuples(prices.map(lambda p: p % 60 + 1), st.integers(0, 5)), max_size=60),
    st.data(),
)
def test_deltas_keep_a_truncated_book_equal(
    bids: bool, depth: int, changes: list[tuple[int, int]], data: st.DataObject
) -> None:
    """Any sequence of books: applying each delta (and truncating, as Kraken's clients do)
    gives the server's book cut to the depth."""
    order = (lambda x: -x[0]) if bids else (lambda x: x[0])
    server: dict[int, int] = {}
    client: list[tuple[int, int]] = []
    before: list[tuple[int, int]] = []
    for price, qty in changes:
        if qty:
            server[price] = qty
        else:
            server.pop(price, None)
        after = sorted(server.items(), key=order)
        client = apply_delta(client, book_delta(before, after, depth), depth, bids=bids)
        assert client == after[:depth]
        before = after


def test_numbers_are_written_exactly() -> None:
    assert dumps({"p": num(50_000_000), "q": [num(1)], "s": "x"}) == (
        '{"p":0.050000000,"q":[0.000000001],"s":"x"}'
    )
    assert decimal_text(1e-05) == "0.00001"
    assert decimal_text(0.1) == "0.1"
    assert decimal_text(2) == "2"
    assert decimal_text("1.5") == "1.5"
    for bad in (True, None, "x", float("nan"), "1" * 50, [1]):
        assert decimal_text(bad) is None
