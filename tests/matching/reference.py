"""A naive, obviously-correct model of the matching rules, for differential tests.

Resting orders live in one flat list; the best maker is found by sorting on every step. FOK is
decided by trying the match on a copy of the book. Slow, and meant to be.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from app.matching import (
    ALPHA,
    Cancel,
    CancelReason,
    Command,
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PlaceLimit,
    PlaceMarket,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)


@dataclass
class _Resting:
    order_id: int
    owner: int
    side: Side
    price: int
    remaining: int
    seq: int


class ReferenceBook:
    def __init__(self, tick: int, lot: int) -> None:
        self.tick = tick
        self.lot = lot
        self.resting: list[_Resting] = []
        self.seq = 0
        self.match_id = 1

    def process(self, cmd: Command) -> list[Event]:
        assert cmd.ts is not None
        if isinstance(cmd, Cancel):
            for r in self.resting:
                if r.order_id == cmd.order_id:
                    self.resting.remove(r)
                    return [
                        OrderCancelled(r.order_id, r.owner, CancelReason.USER, r.remaining, cmd.ts)
                    ]
            return [OrderRejected(cmd.order_id, None, RejectReason.UNKNOWN_ORDER, cmd.ts)]
        if any(r.order_id == cmd.order_id for r in self.resting):
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.DUPLICATE_ORDER_ID, cmd.ts)]
        if isinstance(cmd, PlaceLimit):
            return self._limit(cmd)
        assert isinstance(cmd, PlaceMarket)
        return self._market(cmd)

    def _limit(self, cmd: PlaceLimit) -> list[Event]:
        ts = cmd.ts
        assert ts is not None
        if cmd.price <= 0 or cmd.price % self.tick:
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.INVALID_PRICE, ts)]
        if cmd.qty <= 0 or cmd.qty % self.lot:
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.INVALID_QUANTITY, ts)]
        events: list[Event] = [
            OrderAccepted(cmd.order_id, cmd.owner, cmd.side, cmd.price, cmd.qty, None, ts)
        ]
        if cmd.post_only and self._makers(cmd.side, cmd.price):
            events.append(
                OrderCancelled(
                    cmd.order_id, cmd.owner, CancelReason.POST_ONLY_WOULD_TAKE, cmd.qty, ts
                )
            )
            return events
        if cmd.tif is TimeInForce.FOK:
            trial = copy.deepcopy(self)
            left, _, stopped = trial._match(cmd, cmd.price, cmd.qty, None, [])
            if left or stopped:
                events.append(
                    OrderCancelled(cmd.order_id, cmd.owner, CancelReason.FOK_UNFILLED, cmd.qty, ts)
                )
                return events
        left, _, stopped = self._match(cmd, cmd.price, cmd.qty, None, events)
        if stopped:
            events.append(OrderCancelled(cmd.order_id, cmd.owner, CancelReason.STP, left, ts))
        elif left and cmd.tif is TimeInForce.GTC:
            self.seq += 1
            self.resting.append(
                _Resting(cmd.order_id, cmd.owner, cmd.side, cmd.price, left, self.seq)
            )
        elif left:
            reason = (
                CancelReason.IOC_REMAINDER
                if cmd.tif is TimeInForce.IOC
                else CancelReason.FOK_UNFILLED
            )
            events.append(OrderCancelled(cmd.order_id, cmd.owner, reason, left, ts))
        return events

    def _market(self, cmd: PlaceMarket) -> list[Event]:
        ts = cmd.ts
        assert ts is not None
        if (cmd.qty is None) == (cmd.quote_budget is None):
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.UNSUPPORTED, ts)]
        if cmd.quote_budget is not None and cmd.side is Side.SELL:
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.UNSUPPORTED, ts)]
        if cmd.quote_budget is not None and cmd.quote_budget <= 0:
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.INVALID_QUOTE_BUDGET, ts)]
        if cmd.qty is not None and (cmd.qty <= 0 or cmd.qty % self.lot):
            return [OrderRejected(cmd.order_id, cmd.owner, RejectReason.INVALID_QUANTITY, ts)]
        events: list[Event] = [
            OrderAccepted(cmd.order_id, cmd.owner, cmd.side, None, cmd.qty, cmd.quote_budget, ts)
        ]
        left, budget, stopped = self._match(cmd, None, cmd.qty, cmd.quote_budget, events)
        if cmd.quote_budget is None:
            if stopped:
                events.append(OrderCancelled(cmd.order_id, cmd.owner, CancelReason.STP, left, ts))
            elif left:
                events.append(
                    OrderCancelled(
                        cmd.order_id, cmd.owner, CancelReason.MARKET_NO_LIQUIDITY, left, ts
                    )
                )
            return events
        assert budget is not None
        makers = self._makers(Side.BUY, None)
        if stopped:
            reason = CancelReason.STP
        elif makers:
            reason = CancelReason.BUDGET_EXHAUSTED
        else:
            reason = CancelReason.MARKET_NO_LIQUIDITY
        events.append(OrderCancelled(cmd.order_id, cmd.owner, reason, 0, ts))
        return events

    def _makers(self, taker_side: Side, limit: int | None) -> list[_Resting]:
        """Opposite orders the taker may trade with, best first."""
        if taker_side is Side.BUY:
            found = [
                r
                for r in self.resting
                if r.side is Side.SELL and (limit is None or r.price <= limit)
            ]
            return sorted(found, key=lambda r: (r.price, r.seq))
        found = [
            r for r in self.resting if r.side is Side.BUY and (limit is None or r.price >= limit)
        ]
        return sorted(found, key=lambda r: (-r.price, r.seq))

    def _match(
        self,
        cmd: PlaceLimit | PlaceMarket,
        limit: int | None,
        qty: int | None,
        budget: int | None,
        events: list[Event],
    ) -> tuple[int, int | None, bool]:
        ts = cmd.ts
        assert ts is not None
        left = qty or 0
        while qty is None or left > 0:
            makers = self._makers(cmd.side, limit)
            if not makers:
                break
            maker = makers[0]
            if maker.owner == cmd.owner:
                if cmd.stp is StpMode.CANCEL_NEWEST:
                    return left, budget, True
                self.resting.remove(maker)
                events.append(
                    OrderCancelled(
                        maker.order_id, maker.owner, CancelReason.STP, maker.remaining, ts
                    )
                )
                if cmd.stp is StpMode.CANCEL_BOTH:
                    return left, budget, True
                continue
            if budget is not None:
                lots = 0
                while (
                    lots * self.lot < maker.remaining
                    and maker.price * (lots + 1) * self.lot // ALPHA <= budget
                ):
                    lots += 1
                fill = lots * self.lot
                if not fill:
                    break
            else:
                fill = min(left, maker.remaining)
            quote = maker.price * fill // ALPHA
            maker.remaining -= fill
            if budget is not None:
                budget -= quote
            else:
                left -= fill
            events.append(
                OrderFilled(
                    self.match_id, maker.order_id, cmd.order_id, maker.owner, cmd.owner, cmd.side,
                    maker.price, fill, quote, maker.remaining, left, ts,
                )
            )  # fmt: skip
            self.match_id += 1
            if not maker.remaining:
                self.resting.remove(maker)
        return left, budget, False

    def book(self) -> list[tuple[int, int, Side, int, int]]:
        """Resting orders in the engine's open_orders() order."""
        bids = self._makers(Side.SELL, None)
        asks = self._makers(Side.BUY, None)
        return [(r.order_id, r.owner, r.side, r.price, r.remaining) for r in bids + asks]
