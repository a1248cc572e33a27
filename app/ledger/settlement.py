"""Settlement as data: the ledger legs of holds, fills and releases, and the fee schedule.

Pure (no I/O): the order core (`app.orders.core`) decides with these, and the order store
(`app.orders.store`) turns the legs into ledger transfers once it has resolved the accounts.
Accounts are named, not numbered: `(user id, asset, kind)`, with `None` as the user of the
exchange's own accounts (`fees`).

A fill moves exactly three amounts, all out of the parties' holds:
- quote: buyer `held` TAO -> seller `available` TAO, the fill's quote less the seller's fee;
- fee:   buyer `held` TAO -> exchange `fees` TAO, the buyer's and the seller's fee together;
- base:  seller `held` alpha -> buyer `available` alpha, the fill's quantity.
The buyer's hold pays the quote and both fees (the seller's fee is withheld from what the
seller receives), so no rao is created or destroyed and every fee lands in one account.
"""

from dataclasses import dataclass

AccountRef = tuple[int | None, str, str]  # (user id, or None for the exchange; asset; kind)
BPS = 10_000  # basis points in one


def available(user_id: int, asset: str) -> AccountRef:
    return (user_id, asset, "available")


def held(user_id: int, asset: str) -> AccountRef:
    return (user_id, asset, "held")


def fees(asset: str) -> AccountRef:
    return (None, asset, "fees")


@dataclass(slots=True)
class Leg:
    """One ledger transfer, its accounts named. `hold_id`: the hold it consumes."""

    id: str
    debit: AccountRef
    credit: AccountRef
    amount: int
    code: str
    reference: str | None = None
    hold_id: str | None = None


@dataclass(slots=True)
class HoldSpec:
    """A hold to place: `amount` of `asset` moves from the user's available to held."""

    id: str
    user_id: int
    asset: str
    amount: int
    reference: str | None


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A market's fees in basis points of the quote. A fill pays its fee rounded down (so the
    sum over an order's fills never exceeds what its hold was sized for); a hold is sized with
    the larger rate, rounded up (an order may end up maker or taker)."""

    maker_bps: int
    taker_bps: int

    def fill_fee(self, quote: int, *, maker: bool) -> int:
        return quote * (self.maker_bps if maker else self.taker_bps) // BPS

    def hold_fee(self, notional: int) -> int:
        return -(-notional * max(self.maker_bps, self.taker_bps) // BPS)

    def with_fee(self, notional: int) -> int:
        """What a buy of `notional` rao holds: the notional and the most fee it can pay."""
        return notional + self.hold_fee(notional)


def fill_legs(
    ref: str,
    *,
    buyer: tuple[int, str],  # (user id, hold id)
    seller: tuple[int, str],
    base: str,
    quote_asset: str,
    qty: int,
    quote: int,
    buyer_fee: int,
    seller_fee: int,
) -> list[Leg]:
    """The legs of one fill (zero amounts left out); see the module docstring."""
    (buyer_id, buyer_hold), (seller_id, seller_hold) = buyer, seller
    legs = [
        Leg(
            f"{ref}:quote",
            held(buyer_id, quote_asset),
            available(seller_id, quote_asset),
            quote - seller_fee,
            "trade",
            ref,
            buyer_hold,
        ),
        Leg(
            f"{ref}:fee",
            held(buyer_id, quote_asset),
            fees(quote_asset),
            seller_fee + buyer_fee,
            "trade",
            ref,
            buyer_hold,
        ),
        Leg(
            f"{ref}:base",
            held(seller_id, base),
            available(buyer_id, base),
            qty,
            "trade",
            ref,
            seller_hold,
        ),
    ]
    return [leg for leg in legs if leg.amount > 0]


def release_leg(hold_id: str, user_id: int, asset: str, amount: int) -> Leg:
    """What an ended order's hold has left goes back to the user's available balance."""
    return Leg(
        f"{hold_id}:release",
        held(user_id, asset),
        available(user_id, asset),
        amount,
        "release",
        hold_id,
        hold_id,
    )
