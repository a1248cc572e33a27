"""Unit tests of the matching engine: exact event lists for every order type and rule."""

from __future__ import annotations

import pytest

from app.matching import (
    Amend,
    BookLevelChanged,
    Cancel,
    CancelReason,
    DepthLevel,
    MatchingEngine,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PlaceLimit,
    PlaceMarket,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
    quote_amount,
)

BUY, SELL = Side.BUY, Side.SELL
TICK = 1_000  # rao per alpha
LOT = 1_000  # base units
P100 = 100_000_000  # 0.1 TAO per alpha
P101 = P100 + TICK
P102 = P100 + 2 * TICK
P99 = P100 - TICK
Q = 1_000_000  # 0.001 alpha


def engine(**kwargs: object) -> MatchingEngine:
    return MatchingEngine(TICK, LOT, **kwargs)  # type: ignore[arg-type]


def fill(
    match_id: int,
    maker: int,
    taker: int,
    price: int,
    qty: int,
    maker_left: int,
    taker_left: int,
    ts: int,
    taker_side: Side = BUY,
    maker_owner: int | None = None,
    taker_owner: int | None = None,
) -> OrderFilled:
    """A fill where owners default to the order ids (the tests give each order its owner)."""
    return OrderFilled(
        match_id, maker, taker, maker if maker_owner is None else maker_owner,
        taker if taker_owner is None else taker_owner, taker_side, price, qty,
        quote_amount(price, qty), maker_left, taker_left, ts,
    )  # fmt: skip


def test_quote_amount_floors() -> None:
    assert quote_amount(1_234_000, 1_000) == 1  # 1.234 rao
    assert quote_amount(1_999_999, 999_999) == 1_999  # 1999.997000001
    assert quote_amount(10**9, 7) == 7


def test_limit_rests_and_views() -> None:
    e = engine()
    assert e.process(PlaceLimit(1, 1, BUY, P100, Q, ts=5)) == [
        OrderAccepted(1, 1, BUY, P100, Q, None, 5)
    ]
    e.process(PlaceLimit(2, 2, SELL, P102, 2 * Q, ts=6))
    e.process(PlaceLimit(3, 3, BUY, P99, Q, ts=7))
    e.process(PlaceLimit(4, 4, BUY, P100, 3 * Q, ts=8))
    assert e.best_bid() == P100
    assert e.best_ask() == P102
    depth = e.depth(1)
    assert depth.bids == [DepthLevel(P100, 4 * Q, 2)]
    assert depth.asks == [DepthLevel(P102, 2 * Q, 1)]
    assert [lv.price for lv in e.depth().bids] == [P100, P99]
    assert [o.order_id for o in e.open_orders()] == [1, 4, 3, 2]
    order = e.get_order(4)
    assert order is not None and order.remaining == 3 * Q and order.ts == 8
    assert e.get_order(99) is None
    assert len(e) == 4


@pytest.mark.parametrize(
    ("cmd", "reason"),
    [
        (PlaceLimit(1, 1, BUY, P100 + 1, Q), RejectReason.INVALID_PRICE),
        (PlaceLimit(1, 1, BUY, 0, Q), RejectReason.INVALID_PRICE),
        (PlaceLimit(1, 1, BUY, P100, Q + 1), RejectReason.INVALID_QUANTITY),
        (PlaceLimit(1, 1, BUY, P100, 0), RejectReason.INVALID_QUANTITY),
        (PlaceLimit(1, 1, BUY, P100, -LOT), RejectReason.INVALID_QUANTITY),
        (PlaceMarket(1, 1, BUY, qty=Q + 1), RejectReason.INVALID_QUANTITY),
        (PlaceMarket(1, 1, BUY, quote_budget=0), RejectReason.INVALID_QUOTE_BUDGET),
        (PlaceMarket(1, 1, SELL, quote_budget=100), RejectReason.UNSUPPORTED),
        (PlaceMarket(1, 1, BUY), RejectReason.UNSUPPORTED),
        (PlaceMarket(1, 1, BUY, qty=Q, quote_budget=100), RejectReason.UNSUPPORTED),
    ],
)
def test_rejections(cmd: PlaceLimit | PlaceMarket, reason: RejectReason) -> None:
    e = engine()
    cmd.ts = 1
    assert e.process(cmd) == [OrderRejected(1, 1, reason, 1)]
    assert len(e) == 0


def test_duplicate_open_order_id_rejected() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, BUY, P100, Q, ts=1))
    assert e.process(PlaceLimit(1, 2, SELL, P102, Q, ts=2)) == [
        OrderRejected(1, 2, RejectReason.DUPLICATE_ORDER_ID, 2)
    ]


def test_price_time_priority_and_partial_fill() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P101, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P100, Q, ts=2))
    e.process(PlaceLimit(3, 3, SELL, P100, Q, ts=3))  # same price, later: after order 2
    events = e.process(PlaceLimit(4, 4, BUY, P101, 5 * Q // 2, ts=4))
    assert events == [
        OrderAccepted(4, 4, BUY, P101, 5 * Q // 2, None, 4),
        fill(1, 2, 4, P100, Q, 0, 3 * Q // 2, 4),
        fill(2, 3, 4, P100, Q, 0, Q // 2, 4),
        fill(3, 1, 4, P101, Q // 2, Q // 2, 0, 4),  # at the maker's price, not the taker's
    ]
    assert e.best_ask() == P101
    assert e.best_bid() is None
    assert e.get_order(1).remaining == Q // 2  # type: ignore[union-attr]


def test_taker_remainder_rests_at_its_limit() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    events = e.process(PlaceLimit(2, 2, BUY, P101, 3 * Q, ts=2))
    assert events[1:] == [fill(1, 1, 2, P100, Q, 0, 2 * Q, 2)]
    assert e.best_bid() == P101 and e.best_ask() is None
    assert e.get_order(2).remaining == 2 * Q  # type: ignore[union-attr]
    # ...and then it makes: a sell taker fills at the resting buy's price.
    events = e.process(PlaceLimit(3, 3, SELL, P99, Q, ts=3))
    assert events[1:] == [fill(2, 2, 3, P101, Q, Q, 0, 3, taker_side=SELL)]


def test_sell_taker_walks_bids_best_first() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, BUY, P99, Q, ts=1))
    e.process(PlaceLimit(2, 2, BUY, P101, Q, ts=2))
    e.process(PlaceLimit(3, 3, BUY, P100, Q, ts=3))
    events = e.process(PlaceLimit(4, 4, SELL, P100, 3 * Q, ts=4))
    assert events[1:] == [
        fill(1, 2, 4, P101, Q, 0, 2 * Q, 4, SELL),
        fill(2, 3, 4, P100, Q, 0, Q, 4, SELL),
    ]
    assert e.best_ask() == P100 and e.best_bid() == P99


def test_ioc() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    events = e.process(PlaceLimit(2, 2, BUY, P100, 3 * Q, TimeInForce.IOC, ts=2))
    assert events == [
        OrderAccepted(2, 2, BUY, P100, 3 * Q, None, 2),
        fill(1, 1, 2, P100, Q, 0, 2 * Q, 2),
        OrderCancelled(2, 2, CancelReason.IOC_REMAINDER, 2 * Q, 2),
    ]
    assert len(e) == 0
    # An IOC that cannot trade at all is cancelled whole.
    assert e.process(PlaceLimit(3, 3, BUY, P100, Q, TimeInForce.IOC, ts=3))[1:] == [
        OrderCancelled(3, 3, CancelReason.IOC_REMAINDER, Q, 3)
    ]


def test_fok_unfilled_leaves_book_untouched() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P102, Q, ts=2))
    before = e.snapshot()
    events = e.process(PlaceLimit(3, 3, BUY, P101, 2 * Q, TimeInForce.FOK, ts=3))
    assert events == [
        OrderAccepted(3, 3, BUY, P101, 2 * Q, None, 3),
        OrderCancelled(3, 3, CancelReason.FOK_UNFILLED, 2 * Q, 3),
    ]
    assert e.snapshot() == before
    # Not crossing at all: also unfilled.
    assert e.process(PlaceLimit(4, 4, BUY, P99, Q, TimeInForce.FOK, ts=4))[1:] == [
        OrderCancelled(4, 4, CancelReason.FOK_UNFILLED, Q, 4)
    ]


def test_fok_fills_across_levels() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P102, Q, ts=2))
    events = e.process(PlaceLimit(3, 3, BUY, P102, 2 * Q, TimeInForce.FOK, ts=3))
    assert events[1:] == [fill(1, 1, 3, P100, Q, 0, Q, 3), fill(2, 2, 3, P102, Q, 0, 0, 3)]


def test_fok_counts_stp() -> None:
    e = engine()
    e.process(PlaceLimit(1, 9, SELL, P100, Q, ts=1))  # owner 9's own order first in line
    e.process(PlaceLimit(2, 2, SELL, P100, Q, ts=2))
    # cancel-newest would stop at the own order: not fillable, nothing happens.
    events = e.process(PlaceLimit(3, 9, BUY, P100, Q, TimeInForce.FOK, ts=3))
    assert events[1:] == [OrderCancelled(3, 9, CancelReason.FOK_UNFILLED, Q, 3)]
    assert len(e) == 2
    # cancel-oldest skips (cancels) the own order and fills from the next one.
    cmd = PlaceLimit(4, 9, BUY, P100, Q, TimeInForce.FOK, stp=StpMode.CANCEL_OLDEST, ts=4)
    assert e.process(cmd)[1:] == [
        OrderCancelled(1, 9, CancelReason.STP, Q, 4),
        fill(1, 2, 4, P100, Q, 0, 0, 4, taker_owner=9),
    ]


def test_post_only() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P101, Q, ts=1))
    assert e.process(PlaceLimit(2, 2, BUY, P100, Q, post_only=True, ts=2)) == [
        OrderAccepted(2, 2, BUY, P100, Q, None, 2)
    ]
    assert e.process(PlaceLimit(3, 3, BUY, P101, Q, post_only=True, ts=3)) == [
        OrderAccepted(3, 3, BUY, P101, Q, None, 3),
        OrderCancelled(3, 3, CancelReason.POST_ONLY_WOULD_TAKE, Q, 3),
    ]
    assert e.best_bid() == P100 and e.best_ask() == P101


def test_market_by_base() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P102, Q, ts=2))
    events = e.process(PlaceMarket(3, 3, BUY, qty=3 * Q // 2, ts=3))
    assert events == [
        OrderAccepted(3, 3, BUY, None, 3 * Q // 2, None, 3),
        fill(1, 1, 3, P100, Q, 0, Q // 2, 3),
        fill(2, 2, 3, P102, Q // 2, Q // 2, 0, 3),
    ]
    events = e.process(PlaceMarket(4, 4, BUY, qty=Q, ts=4))
    assert events[1:] == [
        fill(3, 2, 4, P102, Q // 2, 0, Q // 2, 4),
        OrderCancelled(4, 4, CancelReason.MARKET_NO_LIQUIDITY, Q // 2, 4),
    ]
    assert e.process(PlaceMarket(5, 5, SELL, qty=Q, ts=5))[1:] == [
        OrderCancelled(5, 5, CancelReason.MARKET_NO_LIQUIDITY, Q, 5)
    ]


def test_market_by_quote_budget() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))  # Q at 0.1 TAO/alpha costs 100_000 rao
    e.process(PlaceLimit(2, 2, SELL, P102, Q, ts=2))
    # 150_000 rao: all of order 1 (100_000), then 50_000 rao at 0.100002 buys 499_990 base,
    # 499 lots on the lot size: 499_000 for floor(49_900.998) = 49_900 rao.
    events = e.process(PlaceMarket(3, 3, BUY, quote_budget=150_000, ts=3))
    assert events == [
        OrderAccepted(3, 3, BUY, None, None, 150_000, 3),
        fill(1, 1, 3, P100, Q, 0, 0, 3),
        fill(2, 2, 3, P102, 499_000, Q - 499_000, 0, 3),
        OrderCancelled(3, 3, CancelReason.BUDGET_EXHAUSTED, 0, 3),
    ]
    assert quote_amount(P102, 499_000) == 49_900
    assert quote_amount(P102, 500_000) == 50_001  # one more lot in the same fill would not fit
    # A budget larger than the book: everything is bought, the rest closes for no liquidity.
    events = e.process(PlaceMarket(4, 4, BUY, quote_budget=10**9, ts=4))
    assert events[1:] == [
        fill(3, 2, 4, P102, 501_000, 0, 0, 4),
        OrderCancelled(4, 4, CancelReason.MARKET_NO_LIQUIDITY, 0, 4),
    ]


def test_market_budget_uses_floor_to_fit_one_more_lot() -> None:
    # At 1.5 rao per lot, floor lets 3 lots cost 4 rao (4.5 floored): a 4 rao budget buys 3.
    e = MatchingEngine(tick=1, lot=1)
    e.process(PlaceLimit(1, 1, SELL, 1_500_000_000, 10, ts=1))
    events = e.process(PlaceMarket(2, 2, BUY, quote_budget=4, ts=2))
    assert events[1] == OrderFilled(1, 1, 2, 1, 2, BUY, 1_500_000_000, 3, 4, 7, 0, 2)
    assert events[2] == OrderCancelled(2, 2, CancelReason.BUDGET_EXHAUSTED, 0, 2)


def test_stp_cancel_newest_is_default() -> None:
    e = engine()
    e.process(PlaceLimit(1, 5, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 7, SELL, P100, Q, ts=2))
    events = e.process(PlaceLimit(3, 7, BUY, P100, 3 * Q, ts=3))
    assert events == [
        OrderAccepted(3, 7, BUY, P100, 3 * Q, None, 3),
        fill(1, 1, 3, P100, Q, 0, 2 * Q, 3, maker_owner=5, taker_owner=7),
        OrderCancelled(3, 7, CancelReason.STP, 2 * Q, 3),
    ]
    assert [o.order_id for o in e.open_orders()] == [2]


def test_stp_cancel_oldest_keeps_matching() -> None:
    e = engine()
    e.process(PlaceLimit(1, 7, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 5, SELL, P101, Q, ts=2))
    cmd = PlaceLimit(3, 7, BUY, P101, 2 * Q, stp=StpMode.CANCEL_OLDEST, ts=3)
    assert e.process(cmd)[1:] == [
        OrderCancelled(1, 7, CancelReason.STP, Q, 3),
        fill(1, 2, 3, P101, Q, 0, Q, 3, maker_owner=5, taker_owner=7),
    ]
    assert e.best_bid() == P101 and e.best_ask() is None  # the remainder rests


def test_stp_cancel_both() -> None:
    e = engine()
    e.process(PlaceLimit(1, 7, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 5, SELL, P100, Q, ts=2))
    cmd = PlaceMarket(3, 7, BUY, qty=Q, stp=StpMode.CANCEL_BOTH, ts=3)
    assert e.process(cmd)[1:] == [
        OrderCancelled(1, 7, CancelReason.STP, Q, 3),
        OrderCancelled(3, 7, CancelReason.STP, Q, 3),
    ]
    assert [o.order_id for o in e.open_orders()] == [2]


def test_stp_quote_budget_market() -> None:
    e = engine()
    e.process(PlaceLimit(1, 7, SELL, P100, Q, ts=1))
    assert e.process(PlaceMarket(2, 7, BUY, quote_budget=1_000, ts=2))[1:] == [
        OrderCancelled(2, 7, CancelReason.STP, 0, 2)
    ]


def test_cancel() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, BUY, P100, Q, ts=1))
    e.process(PlaceLimit(2, 2, BUY, P100, Q, ts=2))
    e.process(PlaceLimit(3, 3, BUY, P99, Q, ts=3))
    assert e.process(Cancel(2, ts=4)) == [OrderCancelled(2, 2, CancelReason.USER, Q, 4)]
    assert e.process(Cancel(2, ts=5)) == [OrderRejected(2, None, RejectReason.UNKNOWN_ORDER, 5)]
    e.process(Cancel(1, ts=6))
    assert e.best_bid() == P99  # the emptied level is gone
    e.process(Cancel(3, ts=7))
    assert e.best_bid() is None and len(e) == 0


def test_cancel_middle_level_and_order() -> None:
    e = engine()
    for i, price in enumerate([P99, P100, P101], start=1):
        e.process(PlaceLimit(i, i, SELL, price, Q, ts=i))
    e.process(PlaceLimit(4, 4, SELL, P100, Q, ts=4))
    e.process(PlaceLimit(5, 5, SELL, P100, Q, ts=5))
    e.process(Cancel(4, ts=6))  # middle of its level's queue
    assert [o.order_id for o in e.open_orders()] == [1, 2, 5, 3]
    e.process(Cancel(2, ts=7))
    e.process(Cancel(5, ts=8))  # empties a level in the middle of the side
    assert [lv.price for lv in e.depth().asks] == [P99, P101]


def test_amend_reduce_keeps_priority() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, 3 * Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P100, Q, ts=2))
    assert e.process(Amend(1, qty=2 * Q, ts=3)) == [
        OrderAmended(1, 1, P100, P100, 3 * Q, 2 * Q, 2 * Q, True, 3)
    ]
    assert e.depth().asks == [DepthLevel(P100, 3 * Q, 2)]
    events = e.process(PlaceMarket(3, 3, BUY, qty=Q, ts=4))
    assert events[1] == fill(1, 1, 3, P100, Q, Q, 0, 4)  # order 1 is still first


def test_amend_counts_the_filled_part() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, 3 * Q, ts=1))
    e.process(PlaceMarket(2, 2, BUY, qty=Q, ts=2))  # 1 of 3 filled, 2 open
    assert e.process(Amend(1, qty=2 * Q, ts=3)) == [
        OrderAmended(1, 1, P100, P100, 3 * Q, 2 * Q, Q, True, 3)
    ]
    assert e.process(Amend(1, qty=Q, ts=4)) == [
        OrderCancelled(1, 1, CancelReason.AMENDED_TO_ZERO, Q, 4)
    ]
    assert len(e) == 0


def test_amend_increase_loses_priority() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P100, Q, ts=2))
    assert e.process(Amend(1, qty=2 * Q, ts=3)) == [
        OrderAmended(1, 1, P100, P100, Q, 2 * Q, 2 * Q, False, 3)
    ]
    assert [o.order_id for o in e.open_orders()] == [2, 1]
    assert e.get_order(1).ts == 3  # type: ignore[union-attr]


def test_amend_price_moves_and_can_take() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, BUY, P99, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P101, Q, ts=2))
    e.process(PlaceLimit(3, 3, SELL, P102, Q, ts=3))
    events = e.process(Amend(1, price=P101, qty=2 * Q, ts=4))
    assert events == [
        OrderAmended(1, 1, P99, P101, Q, 2 * Q, 2 * Q, False, 4),
        fill(1, 2, 1, P101, Q, 0, Q, 4),
    ]
    assert e.best_bid() == P101 and e.best_ask() == P102


def test_amend_post_only_that_would_take_is_cancelled() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, BUY, P99, Q, post_only=True, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P101, Q, ts=2))
    assert e.process(Amend(1, price=P101, ts=3)) == [
        OrderAmended(1, 1, P99, P101, Q, Q, Q, False, 3),
        OrderCancelled(1, 1, CancelReason.POST_ONLY_WOULD_TAKE, Q, 3),
    ]


def test_amend_rejections() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, BUY, P99, Q, ts=1))
    assert e.process(Amend(9, qty=Q, ts=2)) == [
        OrderRejected(9, None, RejectReason.UNKNOWN_ORDER, 2)
    ]
    assert e.process(Amend(1, qty=Q + 1, ts=3)) == [
        OrderRejected(1, 1, RejectReason.INVALID_QUANTITY, 3)
    ]
    assert e.process(Amend(1, price=P99 + 1, ts=4)) == [
        OrderRejected(1, 1, RejectReason.INVALID_PRICE, 4)
    ]


def test_clock_stamps_commands() -> None:
    times = iter([100, 200, 300])
    e = engine(clock=lambda: next(times))
    cmd = PlaceLimit(1, 1, BUY, P100, Q)
    assert e.process(cmd) == [OrderAccepted(1, 1, BUY, P100, Q, None, 100)]
    assert cmd.ts == 100  # stamped in place, so the logged command replays exactly
    assert e.process(PlaceLimit(2, 2, SELL, P102, Q, ts=150))[0].ts == 150  # type: ignore[union-attr]
    assert e.process(Cancel(1))[0].ts == 200  # type: ignore[union-attr]


def test_default_clock_is_deterministic() -> None:
    a, b = engine(), engine()
    cmds = [PlaceLimit(1, 1, BUY, P100, Q), PlaceLimit(2, 2, SELL, P100, Q)]
    cmds2 = [PlaceLimit(1, 1, BUY, P100, Q), PlaceLimit(2, 2, SELL, P100, Q)]
    assert a.process_all(list(cmds)) == b.process_all(list(cmds2))


def test_level_changes() -> None:
    e = engine(track_levels=True)
    assert e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1)) == [
        OrderAccepted(1, 1, SELL, P100, Q, None, 1),
        BookLevelChanged(1, SELL, P100, Q),
    ]
    e.process(PlaceLimit(2, 2, SELL, P101, Q, ts=2))
    events = e.process(PlaceLimit(3, 3, BUY, P101, 3 * Q // 2, ts=3))
    assert events[-2:] == [
        BookLevelChanged(3, SELL, P100, 0),
        BookLevelChanged(4, SELL, P101, Q // 2),
    ]
    assert e.process(Amend(2, qty=Q - LOT, ts=4))[-1] == BookLevelChanged(
        5, SELL, P101, Q // 2 - LOT
    )
    assert e.process(Cancel(2, ts=5))[-1] == BookLevelChanged(6, SELL, P101, 0)
    assert e.process(Cancel(2, ts=6)) == [OrderRejected(2, None, RejectReason.UNKNOWN_ORDER, 6)]


def test_snapshot_restore_continues_identically() -> None:
    cmds = [
        PlaceLimit(1, 1, SELL, P100, Q, ts=1),
        PlaceLimit(2, 2, SELL, P100, Q, ts=2),
        PlaceLimit(3, 3, BUY, P99, Q, post_only=True, stp=StpMode.CANCEL_BOTH, ts=3),
        PlaceMarket(4, 4, BUY, qty=Q // 2, ts=4),
    ]
    tail = [PlaceMarket(5, 5, BUY, qty=2 * Q, ts=5), PlaceLimit(6, 3, SELL, P99, Q, ts=6)]
    a = engine(track_levels=True)
    a.process_all(cmds)  # type: ignore[arg-type]
    b = MatchingEngine.restore(a.snapshot(), track_levels=True)
    assert b.snapshot() == a.snapshot()
    assert list(b.open_orders()) == list(a.open_orders())
    assert a.process_all(tail) == b.process_all(tail)  # type: ignore[arg-type]
    assert a.snapshot() == b.snapshot()


def test_quote_to_buy() -> None:
    e = engine()
    e.process(PlaceLimit(1, 1, SELL, P100, Q, ts=1))
    e.process(PlaceLimit(2, 2, SELL, P102, Q, ts=2))
    assert e.quote_to_buy(Q) == 100_000
    assert e.quote_to_buy(3 * Q // 2) == 100_000 + quote_amount(P102, Q // 2)
    assert e.quote_to_buy(3 * Q) is None


def test_invalid_market_parameters() -> None:
    with pytest.raises(ValueError):
        MatchingEngine(0, 1)


def test_commands_accept_plain_strings() -> None:
    """Commands rebuilt from JSON or database rows carry strings; they become enum members."""
    e = engine()
    e.process(PlaceLimit(1, 1, "sell", P100, Q, "gtc", stp="cancel_both", ts=1))  # type: ignore[arg-type]
    cmd = PlaceMarket(2, 2, "buy", qty=Q, stp="cancel_oldest", ts=2)  # type: ignore[arg-type]
    assert cmd.side is BUY and cmd.stp is StpMode.CANCEL_OLDEST
    assert e.process(cmd)[1] == fill(1, 1, 2, P100, Q, 0, 0, 2)
    with pytest.raises(ValueError):
        PlaceLimit(3, 3, "hold", P100, Q)  # type: ignore[arg-type]
