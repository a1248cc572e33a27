"""Kraken's request parameters and the shapes of its answers, built from native values.

Native amounts are integers of base units (prices in rao per whole alpha, quantities in
alpha-rao, 9 decimals); Kraken's are decimal strings (price in TAO per alpha, volume in
alpha). Conversions are exact: a value with more than 9 significant decimals is refused.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from app.kit.errors import AppError
from app.kit.inputs import MAX_INT, MAX_JSON_DEPTH, MAX_SECONDS, canonical_int, parse_json
from app.kit.units import DECIMALS, format_units
from app.kraken.errors import invalid_arguments
from app.kraken.txid import order_txid
from app.models import Market
from app.orders.schemas import OrderOut

UNIT = 10**DECIMALS
# ASCII digits only (`\d` would match "١" and "１" too). No sign: Kraken reads a leading "+"
# or "-" as an offset from the last price (unsupported).
_DECIMAL = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")
MAX_DECIMAL_TEXT = 40
# Kraken's times: unix seconds with up to 9 decimals, or (above NANOSECONDS_FROM) nanoseconds.
_SECONDS = re.compile(r"(0|[1-9][0-9]{0,20})(\.[0-9]{1,9})?")
NANOSECONDS_FROM = 10**12
MAX_UNITS = MAX_INT
INT32 = 2**31  # Kraken's `userref`: a signed 32-bit integer
_INDEX = re.compile(r"0|[1-9][0-9]{0,5}")  # `orders[0]`: a list index


# ---------------------------------------------------------------------------- parameters


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """A form-encoded or JSON body (or query string) as a flat dict. Form keys such as
    `orders[0][type]` become nested lists/dicts, as CCXT and krakenex encode them."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        try:
            data = parse_json(body)
        except AppError:  # malformed, too deep or unclean
            raise invalid_arguments() from None
        if not isinstance(data, dict):
            raise invalid_arguments()
        return data
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key) or [key]
        if len(parts) > MAX_JSON_DEPTH:  # as deep as a JSON body may be
            raise invalid_arguments(parts[0][:64])
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid_arguments(parts[0])
            node = child
        node[parts[-1]] = value
    listed = _lists(out)
    if not isinstance(listed, dict):
        raise invalid_arguments()
    return listed


def _lists(value: Any) -> Any:
    """Dicts keyed "0", "1", ... (from `orders[0][type]=...`) become lists."""
    if not isinstance(value, dict):
        return value
    items = {k: _lists(v) for k, v in value.items()}
    if items and all(_INDEX.fullmatch(k) for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


@dataclass
class Params:
    data: dict[str, Any]

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise invalid_arguments(name)
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise invalid_arguments(name)

    def required(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if isinstance(value, bool):
            return value
        if value is None or value == "":
            return False
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise invalid_arguments(name)

    def integer(
        self, name: str, default: int | None = None, *, minimum: int = 0, maximum: int = MAX_INT
    ) -> int | None:
        """A JSON integer or canonical ASCII digits (a "-" only if `minimum` < 0) within
        [minimum, maximum]; absent: `default`."""
        value = self.data.get(name)
        if value is None or value == "":
            return default
        try:
            return canonical_int(value, minimum, maximum)
        except ValueError:
            raise invalid_arguments(name) from None

    def userref(self) -> int | None:
        """Kraken's `userref`: a signed 32-bit integer."""
        return self.integer("userref", minimum=-INT32, maximum=INT32 - 1)

    def seconds(self, name: str) -> float | None:
        """Kraken's `since`/`start`/`end`: unix seconds (up to 9 decimals) or nanoseconds,
        within the times a client may send (`app.kit.inputs.MAX_TIME`)."""
        value = self.text(name)
        if value is None:
            return None
        number = kraken_seconds(value)
        if number is None:
            raise invalid_arguments(name)
        return number

    def values(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [v.strip() for v in str(value).split(",") if v.strip()]


def kraken_seconds(text: str) -> float | None:
    """Unix seconds from Kraken's time text (seconds with up to 9 decimals, or nanoseconds
    above 10^12), or None if it is not one or lies outside the times a client may send."""
    if not _SECONDS.fullmatch(text):
        return None
    number = Decimal(text)
    if number > NANOSECONDS_FROM:  # nanoseconds (Kraken's `last` cursors)
        number = number / UNIT
    if number >= MAX_SECONDS:
        return None
    return float(number)


def to_units(field: str, text: str | None, *, positive: bool = True) -> int:
    """'1.25' -> 1250000000. More than 9 significant decimals, signs, exponents, spaces,
    digits other than ASCII: refused."""
    if text is None or len(text) > MAX_DECIMAL_TEXT or not _DECIMAL.fullmatch(text):
        raise invalid_arguments(field)
    try:
        scaled = Decimal(text) * UNIT
    except InvalidOperation:
        raise invalid_arguments(field) from None
    if scaled != scaled.to_integral_value():
        raise invalid_arguments(field)
    units = int(scaled)
    if (positive and units <= 0) or units > MAX_UNITS:
        raise invalid_arguments(field)
    return units


def units(amount: int | None) -> str:
    """Base units as Kraken's decimal string (9 decimals, exact)."""
    return format_units(amount or 0)


def signed_units(amount: int) -> str:
    """Like `units`, with a "-" for a negative amount (ledger entries)."""
    return ("-" if amount < 0 else "") + format_units(abs(amount))


def descr_number(amount: int) -> str:
    """Numbers in `descr.order`: 8 decimals as Kraken writes them, 9 when the 9th is used."""
    text = format_units(amount)
    return text[:-1] if text.endswith("0") else text


def timestamp(value: datetime | None) -> float | None:
    return None if value is None else round(value.timestamp(), 4)


# ---------------------------------------------------------------------------- ids


def pair_id(symbol: str) -> str:
    """'SN64/TAO' -> 'SN64TAO'."""
    return symbol.replace("/", "")


def ws_name(symbol: str) -> str:
    return symbol


def decimals_of(step: int) -> int:
    """Decimals a step in base units needs: 1000 rao -> 6, 5000 rao -> 6, 1 -> 9."""
    digits = DECIMALS
    while digits > 0 and step % 10 == 0:
        step //= 10
        digits -= 1
    return digits


# ---------------------------------------------------------------------------- markets

PAIR_STATUS = {
    "trading": "online",
    "post_only": "post_only",
    "cancel_only": "cancel_only",
    "halted": "maintenance",
    "delisted": "delisted",
}


def asset_pair(m: Market, tiers: tuple[tuple[int, int, int], ...] = ()) -> dict[str, Any]:
    """A pair as Kraken describes it. Fee tiers: [30-day volume in TAO, percent], the
    market's own fees first (volume 0)."""
    schedule = [(0, m.maker_fee_bps, m.taker_fee_bps), *tiers]
    return {
        "altname": pair_id(m.symbol),
        "wsname": ws_name(m.symbol),
        "aclass_base": "currency",
        "base": m.base_asset,
        "aclass_quote": "currency",
        "quote": m.quote_asset,
        "lot": "unit",
        "cost_decimals": DECIMALS,
        "pair_decimals": decimals_of(m.tick_size),
        "lot_decimals": decimals_of(m.lot_size),
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[_volume(v), _percent(taker)] for v, _, taker in schedule],
        "fees_maker": [[_volume(v), _percent(maker)] for v, maker, _ in schedule],
        "fee_volume_currency": m.quote_asset,
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": units(m.min_size),
        "costmin": units(m.min_notional),
        "tick_size": units(m.tick_size),
        "status": PAIR_STATUS.get(m.state, m.state),
    }


def _volume(rao: int) -> int | float:
    """A tier's volume in TAO, as Kraken's JSON number (whole TAO as an integer)."""
    return rao // UNIT if rao % UNIT == 0 else float(Decimal(rao) / UNIT)


def fee_percent(bps: int) -> str:
    """Basis points as Kraken's percentage string: 20 -> '0.2000'."""
    return f"{Decimal(bps) / 100:.4f}"


def _percent(bps: int) -> float:
    # Kraken sends fee percentages as JSON numbers; bps / 100 is exact in two decimals.
    return float(Decimal(bps) / 100)


# ---------------------------------------------------------------------------- orders

STATUS = {
    "open": "open",
    "untriggered": "open",  # Kraken lists a waiting stop order as open
    "filled": "closed",
    "cancelled": "canceled",
    "validated": "pending",
}

# Kraken's order types of stop orders: (native trigger, native type) <-> Kraken ordertype.
STOP_TYPES = {
    ("stop_loss", "market"): "stop-loss",
    ("stop_loss", "limit"): "stop-loss-limit",
    ("take_profit", "market"): "take-profit",
    ("take_profit", "limit"): "take-profit-limit",
    ("trailing_stop", "market"): "trailing-stop",
}
ORDER_TYPES = {kraken: native for native, kraken in STOP_TYPES.items()}


def trail_text(o: OrderOut) -> str:
    """A trailing stop's distance as Kraken writes it: "+0.001000000" or "+2.5%"."""
    if o.trail_bps is not None:
        return f"+{Decimal(o.trail_bps) / 100:f}%"
    return "+" + units(int(o.trail_offset or 0))


def parse_trail(text: str | None) -> tuple[int | None, int | None]:
    """Kraken's trailing distance: "+0.001" (TAO per alpha) or "+2.5%" -> (offset rao, bps)."""
    if text is None or not text.startswith("+"):
        raise invalid_arguments("price")
    body = text[1:]
    if body.endswith("%"):
        if not _DECIMAL.fullmatch(body[:-1]) or len(body) > MAX_DECIMAL_TEXT:
            raise invalid_arguments("price")
        bps = Decimal(body[:-1]) * 100
        if bps != bps.to_integral_value() or not 0 < bps < 10_000:
            raise invalid_arguments("price")
        return None, int(bps)
    return to_units("price", body), None


def kraken_ordertype(o: OrderOut) -> str:
    return STOP_TYPES.get((o.trigger, o.type), o.type) if o.trigger else o.type


USERREF_PREFIX = "kr.u"


def userref_client_id(userref: int, suffix: str) -> str:
    """A Kraken `userref` without `cl_ord_id` travels in the native client order id."""
    return f"{userref_prefix(userref)}{suffix}"


def userref_prefix(userref: int) -> str:
    """What the client order ids of a userref's orders begin with."""
    return f"{USERREF_PREFIX}{userref}."


def split_client_id(client_order_id: str | None) -> tuple[int | None, str | None]:
    """Native client order id -> (userref, cl_ord_id)."""
    if client_order_id is None:
        return None, None
    match = re.fullmatch(
        rf"{re.escape(USERREF_PREFIX)}(0|-?[1-9][0-9]{{0,9}})\.[A-Za-z0-9]+", client_order_id
    )
    if match:
        return int(match.group(1)), None
    return None, client_order_id


def order_descr(o: OrderOut) -> str:
    """`descr.order` exactly as Kraken writes it, e.g. 'buy 1.25000000 SN64TAO @ limit 0.05000000'.
    A market buy sized in TAO (viqc) shows its budget as the volume."""
    volume = o.qty if o.qty is not None else o.quote_budget
    text = f"{o.side} {descr_number(int(volume or 0))} {pair_id(o.market)} @ "
    if o.trigger == "trailing_stop":
        return text + f"trailing stop {trail_text(o)}"
    if o.trigger and o.trigger_price is not None:
        text += f"{o.trigger.replace('_', ' ')} {descr_number(int(o.trigger_price))}"
        if o.type == "limit" and o.price is not None:
            text += f" -> limit {descr_number(int(o.price))}"
        return text
    text += o.type
    if o.type == "limit" and o.price is not None:
        text += f" {descr_number(int(o.price))}"
    return text


def order_flags(o: OrderOut) -> str:
    flags = ["fciq"]  # fees are charged in the asset received; Kraken's closest flag
    if o.post_only:
        flags.append("post")
    if o.qty is None and o.quote_budget is not None:
        flags.append("viqc")
    return ",".join(flags)


def order_info(o: OrderOut, trades: list[str] | None = None) -> dict[str, Any]:
    """One order as OpenOrders / ClosedOrders / QueryOrders describe it."""
    userref, cl_ord_id = split_client_id(o.client_order_id)
    filled, quote = int(o.filled_qty), int(o.filled_quote)
    average = quote * UNIT // filled if filled else 0
    volume = o.qty if o.qty is not None else o.quote_budget
    limit_price = units(int(o.price)) if o.price is not None else units(0)
    if o.trigger == "trailing_stop":  # Kraken: price = the trail ("+0.001", "+2%")
        price, price2 = trail_text(o), units(0)
    elif o.trigger and o.trigger_price is not None:  # Kraken: price = trigger, price2 = limit
        price, price2 = units(int(o.trigger_price)), limit_price if o.type == "limit" else units(0)
    else:
        price, price2 = limit_price, units(0)
    info: dict[str, Any] = {
        "refid": None,
        "userref": userref if userref is not None else 0,
        "cl_ord_id": cl_ord_id,
        "status": STATUS.get(o.status, o.status),
        "opentm": timestamp(o.created_at),
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": pair_id(o.market),
            "type": o.side,
            "ordertype": kraken_ordertype(o),
            "price": price,
            "price2": price2,
            "leverage": "none",
            "order": order_descr(o),
            "close": "",
        },
        "vol": units(int(volume or 0)),
        "vol_exec": units(filled),
        "cost": units(quote),
        "fee": units(int(o.fee)),
        "price": units(average),
        "stopprice": units(int(o.trigger_price)) if o.trigger_price else units(0),
        "limitprice": limit_price if o.trigger and o.type == "limit" else units(0),
        "misc": "",
        "oflags": order_flags(o),
        "timeinforce": o.time_in_force.upper(),
    }
    if o.status != "open":
        info["closetm"] = timestamp(o.closed_at)
        info["reason"] = o.cancel_reason
    if trades is not None:
        info["trades"] = trades
    return info


def add_order_result(o: OrderOut) -> dict[str, Any]:
    result: dict[str, Any] = {"descr": {"order": order_descr(o)}}
    if o.status != "validated":
        result["txid"] = [order_txid(o.id)]
    _, cl_ord_id = split_client_id(o.client_order_id)
    if cl_ord_id is not None:
        result["cl_ord_id"] = cl_ord_id
    return result
