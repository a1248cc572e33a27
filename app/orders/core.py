"""The order core: every decision of the order path, and nothing else (no I/O).

It owns the books (one `MatchingEngine` per market) and the open orders. Given a command,
the rules of the markets it names (`MarketRules`, fees included) and the available
balances the sequencer has locked (`Funds`), it decides everything first (the market's
state and rules, each order's hold, funds, post-only, amends within their hold) and only
then changes a book. So a refusal changes nothing, and nothing ever needs to be undone
by hand; a refusal is returned (not raised) as the command's result.

What a command did is appended to an `Outcome` as data: order rows to write, fills, ledger
legs (`app.ledger.settlement`), holds placed and resolved, the markets whose book changed.
The order store writes an outcome in one transaction; if that fails, the sequencer restores
the changed markets from Postgres (`restore`).
"""

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
    fill_legs,
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
    AmendExceedsHold,
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
    fees: FeeSchedule
    band_bps: int
    reference_price: int  # the on-chain pool price, rao per alpha (0: unknown)


class Markets:
    """The markets of one group, by id and by symbol."""

    def __init__(self, rules: Iterable[MarketRules]) -> None:
        self.by_id: dict[int, MarketRules] = {m.id: m for m in rules}
        self.by_symbol: dict[str, MarketRules] = {m.symbol: m for m in self.by_id.values()}

    def named(self, symbol: str) -> MarketRules:
        market = self.by_symbol.get(parse_symbol(symbol))
        if market is None:
            raise MarketNotFound(f"unknown market {symbol}")
        return market


Funds = dict[tuple[int, str], int]  # (user id, asset) -> available balance, locked


@dataclass(slots=True)
class Outcome:
    """What the commands of one group did, to be written in one transaction."""

    legs: list[Leg] = field(default_factory=list)
    holds: list[HoldSpec] = field(default_factory=list)
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
        self.client_ids: dict[tuple[int, str], int] = {}  # (user, client id) -> open order
        self.last_id = 0  # the last order id handed out

    # ------------------------------------------------------------------ state

    def restore(
        self,
        market_id: int,
        tick: int,
        lot: int,
        open_orders: list[LiveOrder],
        next_match_id: int,
    ) -> None:
        """Replace a market's book and open orders with these (as committed)."""
        for oid in [o.id for o in self.orders.values() if o.market_id == market_id]:
            gone = self.orders.pop(oid)
            if gone.client_order_id:
                self.client_ids.pop((gone.user_id, gone.client_order_id), None)
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
                ids.update(self.orders[o].market_id for o in self._selected(c))
                if c.all_orders and not c.market:
                    ids.update(o.market_id for o in self.orders.values() if o.user_id == c.user_id)
            elif isinstance(c, AmendOrder):
                oid = self._own(c.user_id, c.order_id, c.client_order_id)
                if oid is not None:
                    ids.add(self.orders[oid].market_id)
        return symbols, ids

    def funds_needed(self, commands: Iterable[object]) -> set[tuple[int, str]]:
        """The (user, asset) balances the commands may spend: the store locks them (read
        with the markets' rules, so a market's base asset is its symbol's: `SN1/TAO`)."""
        needed: set[tuple[int, str]] = set()
        for c in commands:
            if isinstance(c, PlaceOrders):
                for r in c.orders:
                    base = parse_symbol(r.market).partition("/")[0]
                    needed.add((c.user_id, QUOTE if r.side == "buy" else base))
        return needed

    # ------------------------------------------------------------------ commands

    def execute(self, command: object, markets: Markets, funds: Funds, out: Outcome) -> Any:
        """The command's result, or the AppError that refuses it (then nothing changed)."""
        try:
            if isinstance(command, PlaceOrders):
                return self._place(command, markets, funds, out)
            if isinstance(command, CancelOrders):
                return self._cancel(command, markets, funds, out)
            if isinstance(command, AmendOrder):
                return self._amend(command, markets, funds, out)
        except EngineRefused:
            raise  # a bug: the group fails and the sequencer restores the books
        except AppError as exc:
            return exc
        raise TypeError(f"not an order command: {command!r}")

    def close_market(
        self, market: MarketRules, reason: str, funds: Funds, out: Outcome
    ) -> list[LiveOrder]:
        """Cancel every open order of the market (a delisting), releasing their holds."""
        book = self._book(market, out)
        closed = sorted((o for o in self.orders.values() if o.market_id == market.id), key=_id)
        for order in closed:
            order.cancel_reason = reason
            self._apply(book.process(Cancel(order.id)), market, funds, out)
        return closed

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
        for n, request in enumerate(command.orders):
            market = markets.named(request.market)
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

    def _retry_of(self, user_id: int, request: OrderRequest) -> LiveOrder | None:
        if not request.client_order_id:
            return None
        order_id = self.client_ids.get((user_id, request.client_order_id))
        if order_id is None:
            return None
        order = self.orders[order_id]
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
        if r.type != "limit" or not (r.post_only or m.state == POST_ONLY):
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
        """What the order reserves: a sell its alpha, a buy the most it can pay plus fee."""
        if r.side == "sell":
            assert r.qty is not None
            return r.qty
        if r.type == "limit":
            assert r.price is not None and r.qty is not None
            return m.fees.with_fee(quote_amount(r.price, r.qty))
        if r.quote_budget is not None:
            return m.fees.with_fee(r.quote_budget)
        assert r.qty is not None
        # A market buy by quantity: the cost of walking the asks, skipping the buyer's own
        # orders (self-trade prevention can skip them), which bounds what it can pay.
        book = self.books.get(m.id)
        left, cost = r.qty, 0
        if book is not None:
            for o in book.open_orders():
                if o.side is Side.SELL and o.owner != user_id and left:
                    take = min(left, o.remaining)
                    cost += quote_amount(o.price, take)
                    left -= take
        if cost == 0:
            raise NoLiquidity("no asks to buy from")
        return m.fees.with_fee(cost)

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
            post_only=r.post_only or m.state == POST_ONLY,
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
        )
        out.holds.append(HoldSpec(order.hold_id, user_id, p.asset, p.hold, order.hold_id))
        funds[(user_id, p.asset)] = funds.get((user_id, p.asset), 0) - p.hold
        out.touched[order_id] = order
        self.orders[order_id] = order
        if order.client_order_id:
            self.client_ids[(user_id, order.client_order_id)] = order_id
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
            if i in self.orders and self.orders[i].user_id == command.user_id
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
                if oid not in self.orders or self.orders[oid].user_id != command.user_id:
                    raise OrderNotFound(f"no open order {oid}")
            if command.client_order_ids and not ids:
                raise OrderNotFound("no open order with that client order id")
        else:
            named = markets.by_symbol.get(parse_symbol(command.market)) if command.market else None
            ids = [
                o.id
                for o in self.orders.values()
                if o.user_id == command.user_id
                and (not command.market or (named is not None and o.market_id == named.id))
            ]
        targets = [
            (self.orders[oid], markets.by_id[self.orders[oid].market_id])
            for oid in sorted(set(ids))
        ]
        for _, market in targets:
            if market.state == HALTED:
                raise MarketHalted(f"{market.symbol} is halted")
        for order, market in targets:
            self._apply(self._book(market, out).process(Cancel(order.id)), market, funds, out)
        return [order for order, _ in targets]

    # ------------------------------------------------------------------ amending

    def _own(self, user_id: int, order_id: int | None, client_id: str | None) -> int | None:
        if order_id is not None:
            live = self.orders.get(order_id)
            return order_id if live is not None and live.user_id == user_id else None
        if client_id is not None:
            return self.client_ids.get((user_id, client_id))
        return None

    def _amend(
        self, command: AmendOrder, markets: Markets, funds: Funds, out: Outcome
    ) -> LiveOrder:
        oid = self._own(command.user_id, command.order_id, command.client_order_id)
        if oid is None:
            raise OrderNotFound("no open order to amend")
        order = self.orders[oid]
        market = markets.by_id[order.market_id]
        _check_state(market, cancel=False)
        assert order.price is not None and order.qty is not None
        new_price = command.price if command.price is not None else order.price
        new_qty = command.qty if command.qty is not None else order.qty
        if new_price % market.tick or new_qty % market.lot or new_qty <= 0:
            raise InvalidAmend("amended price or qty off the tick or lot")
        if order.side == "buy":
            needed = market.fees.with_fee(quote_amount(new_price, new_qty - order.filled_qty))
        else:
            needed = new_qty - order.filled_qty
        if needed > order.hold_left:
            raise AmendExceedsHold("an amend may not need more funds than the order holds")
        if order.post_only and new_price != order.price:
            self._check_post_only(
                OrderRequest(market.symbol, order.side, "limit", new_price, new_qty,
                             post_only=True),
                market,
                [],
            )  # fmt: skip
        book = self._book(market, out)
        self._apply(book.process(Amend(oid, qty=new_qty, price=new_price)), market, funds, out)
        return order

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
        maker_fee = m.fees.fill_fee(e.quote, maker=True)
        taker_fee = m.fees.fill_fee(e.quote, maker=False)
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
        if order.status != "open":
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


def _check_rules(r: OrderRequest, m: MarketRules) -> None:
    """The market's state and rules for one new order, before anything else."""
    _check_state(m, cancel=False)
    if r.type == "market" and m.state == POST_ONLY:
        raise MarketPostOnly(f"{m.symbol} accepts only post-only orders")
    if r.type == "limit":
        if r.price is None or r.qty is None:
            raise MissingPriceOrQty("a limit order needs price and qty")
        if r.price % m.tick:
            raise InvalidTick(f"price must be a multiple of the tick {m.tick}")
        if r.quote_budget is not None:
            raise InvalidOrderType("quote_budget is for market buys")
        if (
            m.reference_price > 0
            and abs(r.price - m.reference_price) * BPS > m.band_bps * m.reference_price
        ):
            raise PriceOutOfBand(
                f"price is more than {m.band_bps / 100:g}% from the pool price",
                details={"reference_price": str(m.reference_price)},
            )
        if quote_amount(r.price, r.qty) < m.min_notional:
            raise NotionalTooSmall(f"notional below the minimum {m.min_notional}")
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
        if r.qty % m.lot:
            raise InvalidLot(f"qty must be a multiple of the lot {m.lot}")
        if r.qty < m.min_size:
            raise OrderTooSmall(f"qty below the minimum order size {m.min_size}")


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


def rules_from(values: Mapping[str, Any]) -> MarketRules:
    """MarketRules from a market row's columns and its subnet's price."""
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
    )
