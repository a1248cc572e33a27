"""The order core: every decision of the order path, and nothing else (no I/O).

It owns the books (one `MatchingEngine` per market), the open orders and the untriggered
stop orders. Given a command, the rules of the markets it names (`MarketRules`, fee tiers
included) and the available balances the sequencer has locked (`Funds`), it decides
everything first (the market's state and rules, the same for new and amended orders;
each order's hold, funds, post-only; what an amend must hold more or may release) and
only then changes a book. So a refusal changes nothing, and nothing ever needs to be
undone by hand; a refusal is returned (not raised) as the command's result. After a
command, the stops its trades crossed fire, in order (`_run_stops`).

What a command did is appended to an `Outcome` as data: order rows to write, fills, ledger
legs (`app.ledger.settlement`), holds placed, topped up and resolved, the markets whose book
changed.
The order store writes an outcome in one transaction; if that fails, the sequencer restores
the changed markets from Postgres (`restore`).
"""

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.kit.errors import AppError
from app.kit.units import quote_amount
from app.ledger.errors import InsufficientFunds
from app.ledger.settlement import (
    FeeSchedule,
    HoldSpec,
    Leg,
    available,
    fill_legs,
    held,
    release_leg,
)
from app.markets.errors import MarketNotFound
from app.markets.rules import CANCEL_ONLY, DELISTED, HALTED, POST_ONLY, parse_symbol
from app.matching import (
    Amend,
    Cancel,
    CancelReason,
    Depth,
    EngineSnapshot,
    MatchingEngine,
    OpenOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PlaceLimit,
    PlaceMarket,
    Side,
    StpMode,
    TimeInForce,
)
from app.orders.commands import (
    AmendOrder,
    CancelOrders,
    LiveOrder,
    OrderRequest,
    PlaceOrders,
)
from app.orders.errors import (
    BatchMarketBuyAfterBuy,
    DuplicateClientOrderId,
    EngineRefused,
    InvalidAmend,
    InvalidLot,
    InvalidOrderType,
    InvalidTick,
    MarketCancelOnly,
    MarketDelisted,
    MarketHalted,
    MarketPostOnly,
    MissingPriceOrQty,
    NoLiquidity,
    NotionalTooSmall,
    OrderNotFound,
    OrderTooSmall,
    PostOnlyWouldTake,
    PriceOutOfBand,
)
from app.orders.readmodel import FillRecord

QUOTE = "TAO"
BPS = 10_000
STOP_LOSS, TAKE_PROFIT, TRAILING_STOP = "stop_loss", "take_profit", "trailing_stop"
TRIGGERS = (STOP_LOSS, TAKE_PROFIT, TRAILING_STOP)


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What the core needs of a market, read at the start of each group."""

    id: int
    symbol: str
    base: str
    state: str
    tick: int
    lot: int
    min_size: int
    min_notional: int
    fees: FeeSchedule  # the market's own: below the lowest tier
    band_bps: int
    reference_price: int  # the on-chain pool price, rao per alpha (0: unknown)
    # Fee tiers by 30-day quote volume: (min_volume rao, maker bps, taker bps), ascending.
    tiers: tuple[tuple[int, int, int], ...] = ()

    def fees_for(self, volume: int) -> FeeSchedule:
        """The fees of a user with this 30-day volume: the highest tier it reaches."""
        fees = self.fees
        for min_volume, maker, taker in self.tiers:
            if volume >= min_volume:
                fees = FeeSchedule(maker, taker)
        return fees

    @property
    def hold(self) -> FeeSchedule:
        """What a buy holds for fees: the highest rate of any tier, maker or taker (an
        order may end up either, and its user may change tier while it rests)."""
        top = max(
            [self.fees.maker_bps, self.fees.taker_bps]
            + [max(maker, taker) for _, maker, taker in self.tiers]
        )
        return FeeSchedule(top, top)


class Markets:
    """The markets of one group, by id and by symbol, and the 30-day volumes of the users
    it may fill for (the fee tiers)."""

    def __init__(
        self, rules: Iterable[MarketRules], volumes: Mapping[int, int] | None = None
    ) -> None:
        self.volumes: Mapping[int, int] = volumes or {}
        self.by_id: dict[int, MarketRules] = {m.id: m for m in rules}
        self.by_symbol: dict[str, MarketRules] = {m.symbol: m for m in self.by_id.values()}

    def named(self, symbol: str) -> MarketRules:
        market = self.by_symbol.get(parse_symbol(symbol))
        if market is None:
            raise MarketNotFound(f"unknown market {symbol}")
        return market


Funds = dict[tuple[int, str], int]  # (user id, asset) -> available balance, locked


@dataclass(frozen=True, slots=True)
class TopUp:
    """More of the owner's available into an order's pending hold (an amend up)."""

    transfer_id: str
    hold_id: str
    user_id: int
    asset: str
    amount: int


@dataclass(slots=True)
class Outcome:
    """What the commands of one group did, to be written in one transaction."""

    legs: list[Leg] = field(default_factory=list)
    holds: list[HoldSpec] = field(default_factory=list)
    top_ups: list[TopUp] = field(default_factory=list)
    resolve: dict[str, str] = field(default_factory=dict)  # hold id -> posted | voided
    touched: dict[int, LiveOrder] = field(default_factory=dict)  # orders to insert/update
    fills: list[FillRecord] = field(default_factory=list)
    changed: set[int] = field(default_factory=set)  # markets whose book changed


@dataclass(frozen=True, slots=True)
class _Placement:
    request: OrderRequest
    market: MarketRules
    asset: str
    hold: int
    retry_of: LiveOrder | None  # a retry of an open order with the same client order id


class OrderCore:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.books: dict[int, MatchingEngine] = {}
        self.orders: dict[int, LiveOrder] = {}  # open orders
        self.stops: dict[int, LiveOrder] = {}  # untriggered stop orders (not on a book)
        self.client_ids: dict[tuple[int, str], int] = {}  # (user, client id) -> open order
        self.last_id = 0  # the last order id handed out
        self.last_price: dict[int, int] = {}  # market -> its last trade's price
        # Prices traded per market since the stops were last looked at, in order.
        self._traded: dict[int, list[int]] = {}
        self._volumes: Mapping[int, int] = {}  # the current group's (see `Markets`)

    # ------------------------------------------------------------------ state

    def restore(
        self,
        market_id: int,
        tick: int,
        lot: int,
        open_orders: list[LiveOrder],
        next_match_id: int,
        stops: list[LiveOrder] | None = None,
        last_price: int | None = None,
    ) -> None:
        """Replace a market's book, open orders and untriggered stops with these (as
        committed), and its last trade price."""
        for live in (self.orders, self.stops):
            for oid in [o.id for o in live.values() if o.market_id == market_id]:
                gone = live.pop(oid)
                if gone.client_order_id:
                    self.client_ids.pop((gone.user_id, gone.client_order_id), None)
        self._traded.pop(market_id, None)
        if last_price:
            self.last_price[market_id] = last_price
        else:
            self.last_price.pop(market_id, None)
        for stop in stops or []:
            self.stops[stop.id] = stop
            if stop.client_order_id:
                self.client_ids[(stop.user_id, stop.client_order_id)] = stop.id
            self.last_id = max(self.last_id, stop.id)
        bids = sorted(
            (o for o in open_orders if o.side == "buy"),
            key=lambda o: (-(o.price or 0), o.priority_ts, o.id),
        )
        asks = sorted(
            (o for o in open_orders if o.side == "sell"),
            key=lambda o: (o.price or 0, o.priority_ts, o.id),
        )
        snapshot = EngineSnapshot(
            tick, lot, [_resting(o) for o in (*bids, *asks)], next_match_id, 1
        )
        self.books[market_id] = MatchingEngine.restore(snapshot, clock=self.clock)
        for order in open_orders:
            self.orders[order.id] = order
            if order.client_order_id:
                self.client_ids[(order.user_id, order.client_order_id)] = order.id
            self.last_id = max(self.last_id, order.id)

    def depth(self, market_id: int, levels: int) -> Depth:
        book = self.books.get(market_id)
        return book.depth(levels) if book is not None else Depth([], [])

    def _book(self, market: MarketRules, out: Outcome) -> MatchingEngine:
        """The market's book, to change (parameters may have changed while orders rest: new
        orders follow the current ones)."""
        out.changed.add(market.id)
        book = self.books.get(market.id)
        if book is None:
            book = self.books[market.id] = MatchingEngine(market.tick, market.lot, self.clock)
        book.tick, book.lot = market.tick, market.lot
        return book

    # ------------------------------------------------------------------ what a group reads

    def markets_named(self, commands: Iterable[object]) -> tuple[set[str], set[int]]:
        """The symbols and market ids the commands name, for the store to read."""
        symbols: set[str] = set()
        ids: set[int] = set()
        for c in commands:
            if isinstance(c, PlaceOrders):
                symbols.update(parse_symbol(r.market) for r in c.orders)
            elif isinstance(c, CancelOrders):
                if c.market:
                    symbols.add(parse_symbol(c.market))
                ids.update(self._live(o).market_id for o in self._selected(c))
                if c.all_orders and not c.market:
                    ids.update(o.market_id for o in self._all_live() if o.user_id == c.user_id)
            elif isinstance(c, AmendOrder):
                oid = self._own(c.user_id, c.order_id, c.client_order_id)
                if oid is not None:
                    ids.add(self._live(oid).market_id)
        return symbols, ids

    def traders(self, commands: Iterable[object], market_ids: Iterable[int]) -> set[int]:
        """The users a group may fill for: its commands' users and the owners of the open
        orders and stops of its markets (their fee tiers are read for the group)."""
        users = {
            c.user_id for c in commands if isinstance(c, PlaceOrders | CancelOrders | AmendOrder)
        }
        wanted = set(market_ids)
        users.update(o.user_id for o in self._all_live() if o.market_id in wanted)
        return users

    def funds_needed(self, commands: Iterable[object]) -> set[tuple[int, str]]:
        """The (user, asset) balances the commands may spend: the store locks them (read
        with the markets' rules, so a market's base asset is its symbol's: `SN1/TAO`). An
        amend may hold more of its order's asset."""
        needed: set[tuple[int, str]] = set()
        for c in commands:
            if isinstance(c, PlaceOrders):
                for r in c.orders:
                    base = parse_symbol(r.market).partition("/")[0]
                    needed.add((c.user_id, QUOTE if r.side == "buy" else base))
            elif isinstance(c, AmendOrder):
                oid = self._own(c.user_id, c.order_id, c.client_order_id)
                if oid is not None:
                    needed.add((c.user_id, self._live(oid).hold_asset))
        return needed

    # ------------------------------------------------------------------ commands

    def execute(self, command: object, markets: Markets, funds: Funds, out: Outcome) -> Any:
        """The command's result, or the AppError that refuses it (then nothing changed)."""
        self._traded.clear()
        self._volumes = markets.volumes
        try:
            result: Any
            if isinstance(command, PlaceOrders):
                result = self._place(command, markets, funds, out)
            elif isinstance(command, CancelOrders):
                result = self._cancel(command, markets, funds, out)
            elif isinstance(command, AmendOrder):
                result = self._amend(command, markets, funds, out)
            else:
                raise TypeError(f"not an order command: {command!r}")
            self._run_stops(markets, funds, out)
            return result
        except EngineRefused:
            raise  # a bug: the group fails and the sequencer restores the books
        except AppError as exc:
            return exc

    def close_market(
        self, market: MarketRules, reason: str, funds: Funds, out: Outcome
    ) -> list[LiveOrder]:
        """Cancel every open order of the market (a delisting), releasing their holds."""
        book = self._book(market, out)
        closed = sorted((o for o in self._all_live() if o.market_id == market.id), key=_id)
        for order in closed:
            order.cancel_reason = reason
            if order.id in self.stops:
                self._close(order, "cancelled", reason, funds, out)
            else:
                self._apply(book.process(Cancel(order.id)), market, funds, out)
        return closed

    def _live(self, order_id: int) -> LiveOrder:
        return self.orders.get(order_id) or self.stops[order_id]

    def _all_live(self) -> list[LiveOrder]:
        return [*self.orders.values(), *self.stops.values()]

    # ------------------------------------------------------------------ placing

    def _place(
        self, command: PlaceOrders, markets: Markets, funds: Funds, out: Outcome
    ) -> list[LiveOrder]:
        """A batch is decided all or nothing (rules, funds, post-only), then placed in order."""
        plan = self._plan(command, markets, funds)
        if any(p.request.validate_only for p in plan):
            return [self._preview(command.user_id, p) for p in plan]
        results: list[LiveOrder] = []
        for p in plan:
            if p.retry_of is not None:
                results.append(p.retry_of)
                continue
            results.append(self._place_one(command.user_id, p, funds, out))
        return results

    def _plan(self, command: PlaceOrders, markets: Markets, funds: Funds) -> list[_Placement]:
        plan: list[_Placement] = []
        spend: dict[str, int] = {}
        for n, original in enumerate(command.orders):
            market = markets.named(original.market)
            request = self._trailing(original, market)
            _check_rules(request, market)
            earlier = command.orders[:n]
            retry = self._retry_of(command.user_id, request)
            asset = QUOTE if request.side == "buy" else market.base
            if retry is not None:
                plan.append(_Placement(request, market, asset, 0, retry))
                continue
            self._check_post_only(request, market, earlier)
            if (
                request.type == "market"
                and request.side == "buy"
                and request.qty is not None
                and any(
                    parse_symbol(e.market) == market.symbol and e.side == "buy" for e in earlier
                )
            ):
                raise BatchMarketBuyAfterBuy(
                    "a market buy by quantity must come before the batch's other buys of its "
                    "market (its cost is sized on the book as it is)"
                )
            hold = self._hold_for(request, market, command.user_id)
            spend[asset] = spend.get(asset, 0) + hold
            if spend[asset] > funds.get((command.user_id, asset), 0):
                raise InsufficientFunds(
                    f"insufficient {asset}: the order needs {hold} base units held",
                    details={"asset": asset, "required": str(hold)},
                )
            plan.append(_Placement(request, market, asset, hold, None))
        return plan

    def _trailing(self, r: OrderRequest, m: MarketRules) -> OrderRequest:
        """A trailing stop's first trigger: from the market's last trade price (else the
        pool price)."""
        if r.trigger != TRAILING_STOP:
            return r
        anchor = self.last_price.get(m.id) or m.reference_price
        if anchor <= 0 or (r.trail_offset is None) == (r.trail_bps is None):
            return r  # refused by the rules
        trigger = trailing_trigger(r.side, anchor, r.trail_offset, r.trail_bps, m)
        return dataclasses.replace(r, trigger_price=trigger or None)

    def _retry_of(self, user_id: int, request: OrderRequest) -> LiveOrder | None:
        if not request.client_order_id:
            return None
        order_id = self.client_ids.get((user_id, request.client_order_id))
        if order_id is None:
            return None
        order = self._live(order_id)
        if not request.same_as(order):
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id!r} is in use by open order {order_id}"
            )
        return order

    def _check_post_only(
        self, r: OrderRequest, m: MarketRules, earlier: list[OrderRequest]
    ) -> None:
        """A post-only order (or any limit in a post-only market) that would take is refused
        before it touches the book: checked against the book and the batch's earlier orders."""
        if r.type != "limit" or r.trigger or not (r.post_only or m.state == POST_ONLY):
            return
        assert r.price is not None
        book = self.books.get(m.id)
        crossing = [
            o.price
            for o in earlier
            if o.type == "limit" and o.price is not None and _same_market(o, m) and o.side != r.side
        ]
        if book is not None:
            best = book.best_ask() if r.side == "buy" else book.best_bid()
            if best is not None:
                crossing.append(best)
        if any((p <= r.price) if r.side == "buy" else (p >= r.price) for p in crossing):
            raise (MarketPostOnly if m.state == POST_ONLY else PostOnlyWouldTake)(
                "a post-only order would have taken liquidity"
            )

    def _hold_for(self, r: OrderRequest, m: MarketRules, user_id: int) -> int:
        """What the order reserves: a sell its alpha, a buy the most it can pay plus fee.
        A market order is also checked against the book here: it must find liquidity (not
        counting the user's own orders, which self-trade prevention skips) and what it
        would trade must reach the minimum notional."""
        if r.type == "market" and not r.trigger:
            self._check_liquidity(r, m, user_id)
        if r.side == "sell":
            assert r.qty is not None
            return r.qty
        if r.type == "limit":
            assert r.price is not None and r.qty is not None
            return m.hold.with_fee(quote_amount(r.price, r.qty))
        if r.quote_budget is not None:
            return m.hold.with_fee(r.quote_budget)
        assert r.qty is not None
        if r.trigger:  # it will pay at most its protection price (see `_fire`)
            assert r.trigger_price is not None
            return m.hold.with_fee(quote_amount(protection_price(r.trigger_price, m), r.qty))
        # A market buy by quantity: the cost of walking the asks bounds what it can pay.
        return m.hold.with_fee(self._walk(m, Side.SELL, r.qty, user_id))

    def _walk(self, m: MarketRules, maker_side: Side, qty: int | None, user_id: int) -> int:
        """The quote of taking up to `qty` from the book's `maker_side`, other users' orders
        only, in priority order; with `qty` None, the quote of the first such order (is
        there any liquidity at all?)."""
        book = self.books.get(m.id)
        if book is None:
            return 0
        left, cost = qty, 0
        for o in book.resting(maker_side):
            if o.owner == user_id:
                continue
            take = o.remaining if left is None else min(left, o.remaining)
            cost += quote_amount(o.price, take)
            if left is None:
                return max(cost, 1)
            left -= take
            if left == 0:
                break
        return cost

    def _check_liquidity(self, r: OrderRequest, m: MarketRules, user_id: int) -> None:
        """One answer for a market order that finds nothing to trade with, whatever its
        form (by quantity or budget, buy or sell): `no_liquidity`, and nothing is placed.
        By quantity, the notional it would trade (at the prices it would fill at) must
        reach the market's minimum."""
        maker_side = Side.SELL if r.side == "buy" else Side.BUY
        if r.quote_budget is not None:
            if self._walk(m, maker_side, None, user_id) == 0:
                raise NoLiquidity("no asks to buy from")
            return
        notional = self._walk(m, maker_side, r.qty, user_id)
        if notional == 0:
            raise NoLiquidity(f"no {'asks to buy from' if r.side == 'buy' else 'bids to sell to'}")
        if notional < m.min_notional:
            raise NotionalTooSmall(
                f"the order would trade {notional} rao, below the minimum {m.min_notional}"
            )

    def _preview(self, user_id: int, p: _Placement) -> LiveOrder:
        r = p.request
        return LiveOrder(
            id=0,
            user_id=user_id,
            market_id=p.market.id,
            side=r.side,
            type=r.type,
            time_in_force=r.time_in_force,
            post_only=r.post_only,
            stp=r.stp,
            price=r.price,
            qty=r.qty,
            quote_budget=r.quote_budget,
            client_order_id=r.client_order_id,
            hold_id="",
            hold_asset=p.asset,
            hold_amount=p.retry_of.hold_amount if p.retry_of else p.hold,
            status="validated",
        )

    def _place_one(self, user_id: int, p: _Placement, funds: Funds, out: Outcome) -> LiveOrder:
        r, m = p.request, p.market
        self.last_id += 1
        order_id = self.last_id
        order = LiveOrder(
            id=order_id,
            user_id=user_id,
            market_id=m.id,
            side=r.side,
            type=r.type,
            time_in_force=r.time_in_force,
            post_only=(r.post_only or m.state == POST_ONLY) and not r.trigger,
            stp=r.stp,
            price=r.price,
            qty=r.qty,
            quote_budget=r.quote_budget,
            client_order_id=r.client_order_id,
            hold_id=f"order:{order_id}",
            hold_asset=p.asset,
            hold_amount=p.hold,
            created_at=datetime.now(UTC),
            created=True,
            status="untriggered" if r.trigger else "open",
            trigger=r.trigger,
            trigger_price=r.trigger_price,
            trail_offset=r.trail_offset,
            trail_bps=r.trail_bps,
        )
        out.holds.append(HoldSpec(order.hold_id, user_id, p.asset, p.hold, order.hold_id))
        funds[(user_id, p.asset)] = funds.get((user_id, p.asset), 0) - p.hold
        out.touched[order_id] = order
        if order.client_order_id:
            self.client_ids[(user_id, order.client_order_id)] = order_id
        if r.trigger:
            # Held from now on; on no book until the last trade price crosses its trigger
            # (already crossed: it fires once this command is done).
            self.stops[order_id] = order
            last = self.last_price.get(m.id)
            if last is not None:
                self._traded_at(m.id, last)
            return order
        self.orders[order_id] = order
        command: PlaceLimit | PlaceMarket
        if r.type == "limit":
            assert r.price is not None and r.qty is not None
            command = PlaceLimit(
                order_id, user_id, Side(r.side), r.price, r.qty,
                TimeInForce(r.time_in_force), order.post_only, StpMode(r.stp),
            )  # fmt: skip
        else:
            command = PlaceMarket(
                order_id, user_id, Side(r.side), r.qty, r.quote_budget, StpMode(r.stp)
            )
        self._apply(self._book(m, out).process(command), m, funds, out)
        return order

    # ------------------------------------------------------------------ cancelling

    def _selected(self, command: CancelOrders) -> list[int]:
        """The user's open orders named by id or client id (unknown ones left out)."""
        ids = [
            i
            for i in command.order_ids
            if (o := self.orders.get(i) or self.stops.get(i)) is not None
            and o.user_id == command.user_id
        ]
        for cid in command.client_order_ids:
            oid = self.client_ids.get((command.user_id, cid))
            if oid is not None:
                ids.append(oid)
        return ids

    def _cancel(
        self, command: CancelOrders, markets: Markets, funds: Funds, out: Outcome
    ) -> list[LiveOrder]:
        if command.order_ids or command.client_order_ids:
            ids = self._selected(command)
            for oid in command.order_ids:
                if oid not in ids and not command.skip_unknown:
                    raise OrderNotFound(f"no open order {oid}")
            if command.client_order_ids and not ids and not command.skip_unknown:
                raise OrderNotFound("no open order with that client order id")
        elif command.skip_unknown:
            ids = []
        else:
            named = markets.by_symbol.get(parse_symbol(command.market)) if command.market else None
            ids = [
                o.id
                for o in self._all_live()
                if o.user_id == command.user_id
                and (not command.market or (named is not None and o.market_id == named.id))
            ]
        targets = [
            (self._live(oid), markets.by_id[self._live(oid).market_id]) for oid in sorted(set(ids))
        ]
        for _, market in targets:
            if market.state == HALTED:
                raise MarketHalted(f"{market.symbol} is halted")
        for order, market in targets:
            if order.id in self.stops:  # not on a book: its hold is released, that is all
                self._close(order, "cancelled", str(CancelReason.USER), funds, out)
            else:
                self._apply(self._book(market, out).process(Cancel(order.id)), market, funds, out)
        return [order for order, _ in targets]

    # ------------------------------------------------------------------ amending

    def _own(self, user_id: int, order_id: int | None, client_id: str | None) -> int | None:
        if order_id is not None:
            live = self.orders.get(order_id) or self.stops.get(order_id)
            return order_id if live is not None and live.user_id == user_id else None
        if client_id is not None:
            return self.client_ids.get((user_id, client_id))
        return None

    def _amend(
        self, command: AmendOrder, markets: Markets, funds: Funds, out: Outcome
    ) -> LiveOrder:
        """Kraken's amend: `qty` is the new total quantity. The amended order passes the same
        rules as a new one (a price kept as it was need not be on today's tick, nor inside
        today's band; a quantity kept as it was need not be on today's lot). A larger order
        (more quantity, or a higher buy price) needs more held: the difference is held from
        the user's available balance, or the amend is refused (`insufficient_funds`); it
        loses time priority. A reduction keeps time priority and releases what the order
        no longer needs at once."""
        oid = self._own(command.user_id, command.order_id, command.client_order_id)
        if oid is None:
            raise OrderNotFound("no open order to amend")
        if oid in self.stops:
            raise InvalidAmend("an untriggered stop order cannot be amended: cancel it instead")
        order = self.orders[oid]
        market = markets.by_id[order.market_id]
        assert order.price is not None and order.qty is not None
        new_price = command.price if command.price is not None else order.price
        new_qty = command.qty if command.qty is not None else order.qty
        if new_qty <= order.filled_qty:
            raise InvalidAmend(f"the new quantity must exceed the filled {order.filled_qty}")
        request = OrderRequest(
            market.symbol, order.side, "limit", new_price, new_qty, post_only=order.post_only
        )
        _check_rules(
            request,
            market,
            tick=new_price != order.price,
            lot=new_qty != order.qty,
            band=new_price != order.price,
        )
        if new_price != order.price:
            self._check_post_only(request, market, [])
        if order.side == "buy":
            needed = market.hold.with_fee(quote_amount(new_price, new_qty - order.filled_qty))
        else:
            needed = new_qty - order.filled_qty
        more = needed - order.hold_left
        if more > 0 and more > funds.get((order.user_id, order.hold_asset), 0):
            raise InsufficientFunds(
                f"insufficient {order.hold_asset}: the amend needs {more} more held",
                details={"asset": order.hold_asset, "required": str(more)},
            )
        # Decided: from here on, nothing refuses.
        stamp = self.clock()
        if more > 0:
            out.top_ups.append(
                TopUp(f"hold:{order.hold_id}:topup:{stamp}", order.hold_id, order.user_id,
                      order.hold_asset, more)
            )  # fmt: skip
            funds[(order.user_id, order.hold_asset)] -= more
            order.hold_amount += more
        elif more < 0:
            leg = Leg(
                f"{order.hold_id}:release:{stamp}",
                held(order.user_id, order.hold_asset),
                available(order.user_id, order.hold_asset),
                -more,
                "release",
                order.hold_id,
                order.hold_id,
            )
            out.legs.append(leg)
            _credit(funds, leg)
            order.hold_used -= more
        out.touched[order.id] = order
        book = self._book(market, out)
        self._apply(book.process(Amend(oid, qty=new_qty, price=new_price)), market, funds, out)
        return order

    # ------------------------------------------------------------------ stop orders

    def _traded_at(self, market_id: int, price: int) -> None:
        self._traded.setdefault(market_id, []).append(price)

    def _run_stops(self, markets: Markets, funds: Funds, out: Outcome) -> None:
        """Follow the prices the command traded at, in order: trailing stops' triggers move
        with them, and the stops whose trigger they reached fire, in order id order (the
        order they were placed in); their own trades may fire more, in turn."""
        while self._traded:
            traded, self._traded = self._traded, {}
            fired = []
            for o in sorted(self.stops.values(), key=_id):
                prices = traded.get(o.market_id)
                market = markets.by_id.get(o.market_id)
                if prices and market is not None and self._follow(o, prices, market, out):
                    fired.append(o)
            for stop in fired:
                market = markets.by_id.get(stop.market_id)
                if stop.id in self.stops and market is not None:
                    self._fire(stop, market, funds, out)

    @staticmethod
    def _follow(stop: LiveOrder, prices: list[int], m: MarketRules, out: Outcome) -> bool:
        """Walk the traded prices: a trailing stop's trigger follows each (never back), and
        does a price reach the stop's trigger?"""
        trigger = stop.trigger_price
        assert trigger is not None
        for price in prices:
            if stop.trigger == TRAILING_STOP:
                moved = trailing_trigger(stop.side, price, stop.trail_offset, stop.trail_bps, m)
                if (moved > trigger) if stop.side == "sell" else (moved < trigger):
                    trigger = stop.trigger_price = moved
                    out.touched[stop.id] = stop
            if _crossed(stop, price, price):
                return True
        return False

    def _fire(self, stop: LiveOrder, m: MarketRules, funds: Funds, out: Outcome) -> None:
        """A stop becomes the order it carries, through the same rules as a new order and
        with the funds held since it was placed. Refused now (the market's rules or state
        changed, or a market order finds nothing to trade), it ends cancelled with the
        refusal's code as its reason and its hold released."""
        del self.stops[stop.id]
        stop.status = "open"
        stop.triggered_at = datetime.now(UTC)
        out.touched[stop.id] = stop
        self.orders[stop.id] = stop
        request = OrderRequest(
            m.symbol, stop.side, stop.type, stop.price, stop.qty, stop.quote_budget,
            stop.time_in_force, False, stop.stp,
        )  # fmt: skip
        try:
            _check_rules(request, m)
            self._check_post_only(request, m, [])
            if stop.type == "market":
                self._check_liquidity(request, m, stop.user_id)
        except AppError as refused:
            self._close(stop, "cancelled", refused.code, funds, out)
            return
        command: PlaceLimit | PlaceMarket
        if stop.type == "limit":
            assert stop.price is not None and stop.qty is not None
            command = PlaceLimit(
                stop.id, stop.user_id, Side(stop.side), stop.price, stop.qty,
                TimeInForce(stop.time_in_force), False, StpMode(stop.stp),
            )  # fmt: skip
        elif stop.side == "buy" and stop.qty is not None:
            # A market buy by quantity was held at its protection price: it takes what the
            # asks offer up to that price, and what is left is cancelled.
            assert stop.trigger_price is not None
            command = PlaceLimit(
                stop.id, stop.user_id, Side.BUY, protection_price(stop.trigger_price, m),
                stop.qty, TimeInForce.IOC, False, StpMode(stop.stp),
            )  # fmt: skip
        else:
            command = PlaceMarket(
                stop.id, stop.user_id, Side(stop.side), stop.qty, stop.quote_budget,
                StpMode(stop.stp),
            )  # fmt: skip
        self._apply(self._book(m, out).process(command), m, funds, out)

    # ------------------------------------------------------------------ settlement

    def _apply(self, events: list[Any], m: MarketRules, funds: Funds, out: Outcome) -> None:
        """Follow the engine's events: orders, fills, ledger legs, holds resolved."""
        rejected = next((e for e in events if isinstance(e, OrderRejected)), None)
        if rejected is not None:  # the rules checked above make this a bug, never input
            raise EngineRefused(f"the matching engine refused the command: {rejected.reason}")
        for e in events:
            if isinstance(e, OrderAccepted):
                self.orders[e.order_id].priority_ts = e.ts
            elif isinstance(e, OrderFilled):
                self._fill(e, m, funds, out)
            elif isinstance(e, OrderCancelled):
                ended = self.orders.get(e.order_id)
                if ended is not None and ended.status == "open":
                    # A budget order that spent what it could has done its job.
                    spent = e.reason is CancelReason.BUDGET_EXHAUSTED and ended.filled_qty > 0
                    status = "filled" if spent else "cancelled"
                    self._close(ended, status, None if spent else str(e.reason), funds, out)
            elif isinstance(e, OrderAmended):
                order = self.orders[e.order_id]
                order.price, order.qty = e.new_price, e.new_qty
                if not e.kept_priority:
                    order.priority_ts = e.ts
                out.touched[order.id] = order

    def _fill(self, e: OrderFilled, m: MarketRules, funds: Funds, out: Outcome) -> None:
        maker, taker = self.orders[e.maker_order_id], self.orders[e.taker_order_id]
        buyer, seller = (taker, maker) if e.taker_side == "buy" else (maker, taker)
        # Each side pays the rate of its user's tier (30-day volume as the group began).
        maker_fee = m.fees_for(self._volumes.get(maker.user_id, 0)).fill_fee(e.quote, maker=True)
        taker_fee = m.fees_for(self._volumes.get(taker.user_id, 0)).fill_fee(e.quote, maker=False)
        buyer_fee = taker_fee if buyer is taker else maker_fee
        seller_fee = taker_fee if seller is taker else maker_fee
        legs = fill_legs(
            f"fill:{m.id}:{e.match_id}",
            buyer=(buyer.user_id, buyer.hold_id),
            seller=(seller.user_id, seller.hold_id),
            base=m.base,
            quote_asset=QUOTE,
            qty=e.qty,
            quote=e.quote,
            buyer_fee=buyer_fee,
            seller_fee=seller_fee,
        )
        for leg in legs:
            payer = buyer if leg.hold_id == buyer.hold_id else seller
            payer.hold_used += leg.amount
            _credit(funds, leg)
        out.legs.extend(legs)
        for o, fee in ((buyer, buyer_fee), (seller, seller_fee)):
            o.filled_qty += e.qty
            o.filled_quote += e.quote
            o.fee += fee
            out.touched[o.id] = o
        self.last_price[m.id] = e.price
        self._traded_at(m.id, e.price)
        out.fills.append(
            FillRecord(
                m.id, e.match_id, maker, taker, str(e.taker_side), e.price, e.qty, e.quote,
                maker_fee, taker_fee, e.ts,
            )
        )  # fmt: skip
        if e.maker_remaining == 0:
            self._close(maker, "filled", None, funds, out)
        if e.taker_remaining == 0 and taker.quote_budget is None:
            self._close(taker, "filled", None, funds, out)

    def _close(
        self,
        order: LiveOrder,
        status: str,
        reason: str | None,
        funds: Funds,
        out: Outcome,
    ) -> None:
        """The order ended: release what its hold has left and resolve the hold, once."""
        if order.status not in ("open", "untriggered"):
            return
        order.status = status
        order.cancel_reason = order.cancel_reason or reason
        order.closed_at = datetime.now(UTC)
        left = order.hold_left
        if left > 0:
            leg = release_leg(order.hold_id, order.user_id, order.hold_asset, left)
            out.legs.append(leg)
            _credit(funds, leg)
            order.hold_used += left
        out.resolve[order.hold_id] = "posted" if order.filled_qty else "voided"
        out.touched[order.id] = order
        self.orders.pop(order.id, None)
        self.stops.pop(order.id, None)
        if order.client_order_id:
            self.client_ids.pop((order.user_id, order.client_order_id), None)


# ---------------------------------------------------------------------------- rules


def _check_state(m: MarketRules, *, cancel: bool) -> None:
    if m.state == HALTED:
        raise MarketHalted(f"{m.symbol} is halted")
    if m.state == DELISTED:
        raise MarketDelisted(f"{m.symbol} is delisted")
    if m.state == CANCEL_ONLY and not cancel:
        raise MarketCancelOnly(f"{m.symbol} accepts only cancels")


def _check_rules(
    r: OrderRequest, m: MarketRules, *, tick: bool = True, lot: bool = True, band: bool = True
) -> None:
    """The market's state and rules for an order, new or amended (an amend checks the tick,
    lot and band only of what it changes), before anything else."""
    _check_state(m, cancel=False)
    if r.type == "market" and m.state == POST_ONLY:
        raise MarketPostOnly(f"{m.symbol} accepts only post-only orders")
    if (r.trail_offset is not None or r.trail_bps is not None) != (r.trigger == TRAILING_STOP):
        raise InvalidOrderType("a trailing stop needs trail_offset or trail_bps, others none")
    if r.trigger == TRAILING_STOP and (
        r.type != "market"
        or (r.trail_offset is None) == (r.trail_bps is None)
        or (r.trail_offset or 0) < 0
        or not 0 <= (r.trail_bps or 0) < BPS
    ):
        raise InvalidOrderType("a trailing stop is a market order with one trail distance")
    if r.trigger is not None or r.trigger_price is not None:
        if r.trigger not in TRIGGERS or r.trigger_price is None or r.trigger_price <= 0:
            raise InvalidOrderType("a stop order needs a trigger and a positive trigger_price")
        if r.trigger_price % m.tick:
            raise InvalidTick(f"trigger_price must be a multiple of the tick {m.tick}")
        if r.post_only:
            raise InvalidOrderType("a stop order cannot be post-only")
        # A market stop by quantity: what it would trade at its trigger price must reach
        # the minimum notional.
        if (
            r.type == "market"
            and r.qty is not None
            and quote_amount(r.trigger_price, r.qty) < m.min_notional
        ):
            raise NotionalTooSmall(f"notional below the minimum {m.min_notional}")
    if r.type == "limit":
        if r.price is None or r.qty is None:
            raise MissingPriceOrQty("a limit order needs price and qty")
        if tick and r.price % m.tick:
            raise InvalidTick(f"price must be a multiple of the tick {m.tick}")
        if r.quote_budget is not None:
            raise InvalidOrderType("quote_budget is for market buys")
        if (
            band
            and m.reference_price > 0
            and abs(r.price - m.reference_price) * BPS > m.band_bps * m.reference_price
        ):
            raise PriceOutOfBand(
                f"price is more than {m.band_bps / 100:g}% from the pool price",
                details={"reference_price": str(m.reference_price)},
            )
    else:
        if (r.qty is None) == (r.quote_budget is None):
            raise InvalidOrderType("a market order needs exactly one of qty and quote_budget")
        if r.quote_budget is not None and r.side != "buy":
            raise InvalidOrderType("only market buys can be sized by quote_budget")
        if r.quote_budget is not None and r.quote_budget < max(m.min_notional, 1):
            raise NotionalTooSmall(f"notional below the minimum {m.min_notional}")
        if r.post_only or r.time_in_force != "gtc":
            raise InvalidOrderType("market orders take no time in force or post-only")
    if r.qty is not None:
        if lot and r.qty % m.lot:
            raise InvalidLot(f"qty must be a multiple of the lot {m.lot}")
        if r.qty < m.min_size:
            raise OrderTooSmall(f"qty below the minimum order size {m.min_size}")
    if r.type == "limit":
        assert r.price is not None and r.qty is not None
        if quote_amount(r.price, r.qty) < m.min_notional:
            raise NotionalTooSmall(f"notional below the minimum {m.min_notional}")


def _crossed(stop: LiveOrder, low: int, high: int) -> bool:
    """Did trades between `low` and `high` reach the stop's trigger? A stop-loss (and a
    trailing stop) sells when the price falls to its trigger and buys when it rises to it;
    a take-profit the other way round."""
    trigger = stop.trigger_price
    assert trigger is not None
    falling = (stop.trigger != TAKE_PROFIT) == (stop.side == "sell")
    return low <= trigger if falling else high >= trigger


def trailing_trigger(
    side: str, price: int, offset: int | None, bps: int | None, m: MarketRules
) -> int:
    """A trailing stop's trigger for a price: below it for a sell (down to the tick), above
    for a buy (up to the tick), by `offset` rao or `bps` of the price."""
    distance = offset if offset is not None else price * (bps or 0) // BPS
    if side == "sell":
        at = price - distance
        return max(at - at % m.tick, 0)
    at = price + distance
    return at + (-at % m.tick)


def protection_price(trigger_price: int, m: MarketRules) -> int:
    """The most a triggered market buy by quantity pays per alpha: its trigger price plus
    the market's band, down to the tick (its hold is sized on it)."""
    top = trigger_price * (BPS + m.band_bps) // BPS
    return max(m.tick, top - top % m.tick)


def _credit(funds: Funds, leg: Leg) -> None:
    """A credit to an available balance the group has locked can be spent by later
    commands of the same group."""
    user, asset, kind = leg.credit
    if user is not None and kind == "available" and (user, asset) in funds:
        funds[(user, asset)] += leg.amount


def _resting(o: LiveOrder) -> OpenOrder:
    assert o.price is not None and o.qty is not None
    return OpenOrder(
        o.id, o.user_id, Side(o.side), o.price, o.qty, o.qty - o.filled_qty, o.post_only,
        StpMode(o.stp), o.priority_ts,
    )  # fmt: skip


def _same_market(r: OrderRequest, m: MarketRules) -> bool:
    return parse_symbol(r.market) == m.symbol


def _id(o: LiveOrder) -> int:
    return o.id


def rules_from(
    values: Mapping[str, Any], tiers: tuple[tuple[int, int, int], ...] = ()
) -> MarketRules:
    """MarketRules from a market row's columns and its subnet's price (and fee tiers)."""
    return MarketRules(
        id=int(values["id"]),
        symbol=str(values["symbol"]),
        base=str(values["base_asset"]),
        state=str(values["state"]),
        tick=int(values["tick_size"]),
        lot=int(values["lot_size"]),
        min_size=int(values["min_size"]),
        min_notional=int(values["min_notional"]),
        fees=FeeSchedule(int(values["maker_fee_bps"]), int(values["taker_fee_bps"])),
        band_bps=int(values["price_band_bps"]),
        reference_price=int(values["price_rao"]),
        tiers=tiers,
    )
