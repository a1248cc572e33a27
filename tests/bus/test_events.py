"""The committed-event codec: a reader holding the book at `sequence - 1` gets it exactly at
`sequence`; orders and fills travel whole; each subject sees only its own."""

import dataclasses
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from app.matching import Depth, DepthLevel
from app.orders import events
from app.orders.commands import LiveOrder
from app.orders.readmodel import BookChange, Committed, FillRecord

prices = st.integers(1, 10_000)


@st.composite
def depths(draw: st.DrawFn) -> Depth:
    bid_prices = sorted(draw(st.sets(st.integers(1, 500), max_size=12)), reverse=True)
    ask_prices = sorted(draw(st.sets(st.integers(501, 1000), max_size=12)))

    def level(p: int) -> DepthLevel:
        return DepthLevel(p, draw(st.integers(1, 10**18)), draw(st.integers(1, 50)))

    return Depth([level(p) for p in bid_prices], [level(p) for p in ask_prices])


def order(user_id: int, order_id: int, side: str) -> LiveOrder:
    return LiveOrder(
        id=order_id, user_id=user_id, market_id=7, side=side, type="limit",
        time_in_force="gtc", post_only=False, stp="cancel_newest", price=5, qty=10**12,
        quote_budget=None, client_order_id="c1", hold_id=f"h{order_id}", hold_asset="TAO",
        hold_amount=10**13, filled_qty=3, created_at=datetime(2026, 11, 26, tzinfo=UTC),
    )  # fmt: skip


@given(depths(), depths())
def test_a_book_change_takes_the_reader_from_before_to_after(before: Depth, after: Depth) -> None:
    change = BookChange(7, 42, before, after)
    event = events.encode("e1", {7: "SN7/TAO"}, Committed([change], [], []))
    [(subject, msg_id, body)] = events.split(9, json.loads(json.dumps(event)))
    assert (subject, msg_id) == ("ex.ev.book.7", "9:b7")
    decoded = events.decode(body)
    [delta] = decoded.books
    assert (decoded.id, decoded.epoch, delta.sequence, delta.symbol) == (9, "e1", 42, "SN7/TAO")
    assert events.apply(before, delta) == after


def test_orders_and_fills_go_whole_to_their_users_and_fills_to_the_market() -> None:
    maker, taker = order(1, 10, "sell"), order(2, 11, "buy")
    fill = FillRecord(7, 3, maker, taker, "buy", 5, 10**12, 5 * 10**3, 1, 2, ts=123)
    event = events.encode("e1", {}, Committed([], [fill], [taker]))
    messages = {s: events.decode(b) for s, _, b in events.split(5, event)}
    assert set(messages) == {"ex.ev.book.7", "ex.ev.user.1", "ex.ev.user.2"}
    assert messages["ex.ev.book.7"].fills == [fill] and messages["ex.ev.book.7"].orders == []
    assert messages["ex.ev.user.1"].fills == [fill] and messages["ex.ev.user.1"].orders == []
    assert messages["ex.ev.user.2"].orders == [taker] and messages["ex.ev.user.2"].fills == [fill]
    assert messages["ex.ev.user.2"].orders[0].created_at == taker.created_at


dates = st.none() | st.datetimes(timezones=st.just(UTC))
small = st.integers(0, 10**18)


@st.composite
def live_orders(draw: st.DrawFn) -> LiveOrder:
    """Any order, every field drawn (a field the codec misses fails the round trip)."""
    text = st.text(max_size=8)
    return LiveOrder(
        id=draw(small), user_id=draw(small), market_id=draw(small), side=draw(text),
        type=draw(text), time_in_force=draw(text), post_only=draw(st.booleans()),
        stp=draw(text), price=draw(st.none() | small), qty=draw(st.none() | small),
        quote_budget=draw(st.none() | small), client_order_id=draw(st.none() | text),
        hold_id=draw(text), hold_asset=draw(text), hold_amount=draw(small),
        hold_used=draw(small), filled_qty=draw(small), filled_quote=draw(small),
        fee=draw(small), status=draw(text), cancel_reason=draw(st.none() | text),
        priority_ts=draw(small), created_at=draw(dates), closed_at=draw(dates),
        created=draw(st.booleans()), trigger=draw(st.none() | text),
        trigger_price=draw(st.none() | small), triggered_at=draw(dates),
        trail_offset=draw(st.none() | small), trail_bps=draw(st.none() | small),
    )  # fmt: skip


@given(live_orders())
def test_an_order_travels_whole(o: LiveOrder) -> None:
    raw = json.loads(json.dumps(events.order_json(o)))
    assert events.order_from_json(raw) == o
    assert set(raw) == {f.name for f in dataclasses.fields(LiveOrder)}
