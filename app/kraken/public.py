"""Kraken's public market-data methods."""

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.kit.inputs import time_from_seconds
from app.kraken import marketdata
from app.kraken.context import Context
from app.kraken.errors import INVALID_PAIR, UNKNOWN_ASSET, KrakenError, invalid_arguments
from app.kraken.schemas import asset_pair, kraken_seconds, pair_id, units
from app.markets.fees import fee_tiers, tiers_of
from app.markets.rules import DELISTED
from app.models import Asset, Market

OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)


async def time(ctx: Context) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "unixtime": int(now.timestamp()),
        "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000"),
    }


async def system_status(ctx: Context) -> dict[str, str]:
    return {
        "status": "online" if ctx.view.running else "maintenance",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


async def assets(ctx: Context) -> dict[str, Any]:
    wanted = [a.upper() for a in ctx.params.values("asset")]
    aclass = ctx.params.text("aclass") or "currency"
    if aclass != "currency":
        raise invalid_arguments("aclass")
    rows = {a.code: a for a in await ctx.session.scalars(select(Asset).order_by(Asset.code))}
    if any(code not in rows for code in wanted):
        raise KrakenError(UNKNOWN_ASSET)
    return {
        code: {
            "aclass": "currency",
            "altname": code,
            "decimals": a.decimals,
            "display_decimals": min(a.decimals, 6),
            "status": "enabled" if a.status == "active" else "disabled",
        }
        for code, a in rows.items()
        if not wanted or code in wanted
    }


async def _markets(ctx: Context, pairs: list[str]) -> list[Market]:
    """The named pairs (any unknown one: EQuery:Invalid asset pair), or every listed one."""
    if pairs:
        return [await ctx.market(p) for p in pairs]
    rows = await ctx.session.scalars(
        select(Market).where(Market.state != DELISTED).order_by(Market.netuid)
    )
    return list(rows)


async def asset_pairs(ctx: Context) -> dict[str, Any]:
    info = ctx.params.text("info") or "info"
    if info not in ("info", "leverage", "fees", "margin"):
        raise invalid_arguments("info")
    markets = await _markets(ctx, ctx.params.values("pair"))
    tiers = await fee_tiers(ctx.session)
    return {pair_id(m.symbol): asset_pair(m, tiers_of(tiers, m.id)) for m in markets}


def _one_pair(ctx: Context) -> str:
    pairs = ctx.params.values("pair")
    if len(pairs) != 1:
        raise KrakenError(INVALID_PAIR) if len(pairs) > 1 else invalid_arguments("pair")
    return pairs[0]


async def ticker(ctx: Context) -> dict[str, Any]:
    markets = await _markets(ctx, ctx.params.values("pair"))
    out: dict[str, Any] = {}
    for m in markets:
        t = await marketdata.ticker(ctx.session, ctx.view, m)
        out[pair_id(m.symbol)] = t
    return out


async def ohlc(ctx: Context) -> dict[str, Any]:
    market = await ctx.market(_one_pair(ctx))
    interval = ctx.params.integer("interval", 1) or 1
    if interval not in OHLC_INTERVALS:
        raise invalid_arguments("interval")
    since = ctx.params.seconds("since")
    rows, last = await marketdata.ohlc(ctx.session, market, interval, since)
    return {pair_id(market.symbol): rows, "last": last}


async def depth(ctx: Context) -> dict[str, Any]:
    market = await ctx.market(_one_pair(ctx))
    count = ctx.params.integer("count", 100, minimum=1, maximum=500) or 100
    book = ctx.view.depth(market.id)
    now = int(datetime.now(UTC).timestamp())

    def levels(side: list[Any]) -> list[list[Any]]:
        return [[units(lv.price), units(lv.qty), now] for lv in side[:count]]

    return {
        pair_id(market.symbol): {
            "asks": levels(book.asks),
            "bids": levels(book.bids),
        }
    }


async def trades(ctx: Context) -> dict[str, Any]:
    market = await ctx.market(_one_pair(ctx))
    count = ctx.params.integer("count", 1000, minimum=1, maximum=1000) or 1000
    # `since`: our `last` (a fill id, below FILL_ID_BELOW), else a time (seconds or ns).
    since = ctx.params.text("since")
    after_id: int | None = None
    after_time: datetime | None = None
    if since is not None:
        if re.fullmatch(r"0|[1-9][0-9]{0,8}", since):
            after_id = int(since)
        else:
            seconds = kraken_seconds(since)
            if seconds is None or seconds < marketdata.FILL_ID_BELOW:
                raise invalid_arguments("since")
            after_time = time_from_seconds(seconds)
    rows, last = await marketdata.trades(ctx.session, market, after_id, after_time, count)
    return {pair_id(market.symbol): rows, "last": last}


async def spread(ctx: Context) -> dict[str, Any]:
    market = await ctx.market(_one_pair(ctx))
    rows, last = marketdata.spread(ctx.view, market)
    return {pair_id(market.symbol): rows, "last": last}
