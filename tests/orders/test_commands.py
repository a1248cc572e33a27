"""A live order's snapshot is a copy of every field, independent of the order."""

import dataclasses
from datetime import UTC, datetime

from app.orders.commands import LiveOrder


def test_a_snapshot_copies_every_field_and_stays_as_it_was() -> None:
    at = datetime(2026, 11, 26, tzinfo=UTC)
    # Every field set to a value other than its default, so that a field left out shows.
    order = LiveOrder(
        id=7, user_id=2, market_id=3, side="sell", type="limit", time_in_force="ioc",
        post_only=True, stp="cancel_both", price=11, qty=12, quote_budget=13,
        client_order_id="c", hold_id="h", hold_asset="SN1", hold_amount=14, hold_used=15,
        filled_qty=16, filled_quote=17, fee=18, status="untriggered", cancel_reason="r",
        priority_ts=19, created_at=at, closed_at=at, created=True, trigger="stop_loss",
        trigger_price=20, triggered_at=at, trail_offset=21, trail_bps=22,
    )  # fmt: skip
    defaults = LiveOrder(
        1, 1, 1, "buy", "market", "gtc", False, "none", 1, 1, None, None, "x", "TAO", 1
    )
    for f in dataclasses.fields(LiveOrder):
        assert getattr(order, f.name) != getattr(defaults, f.name), f.name
    snapshot = order.snapshot()
    assert snapshot == order and snapshot is not order
    order.filled_qty, order.status = 99, "filled"
    assert (snapshot.filled_qty, snapshot.status) == (16, "untriggered")
