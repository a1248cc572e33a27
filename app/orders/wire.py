"""Sequencer commands and their answers on the wire (JSON), for order services in other
processes: an API node sends a command to the sequencer over NATS and gets its answer.

An answer is what `Sequencer.submit` returns: orders (`LiveOrder`, lists of them), a market
(sent by symbol: the receiver reads it back, committed), symbols; or the `AppError` that
refused the command, rebuilt on the receiving side as the same class (by its stable code).
"""

import dataclasses
from typing import Any

from app.auth.principal import Principal
from app.kit.errors import AppError, InternalError, all_codes
from app.models import Market
from app.orders.commands import (
    AmendOrder,
    CancelOrders,
    HaltRetiredMarkets,
    LiveOrder,
    OrderRequest,
    PlaceOrders,
    SequencerCommand,
    SetMarketState,
)
from app.orders.events import order_from_json, order_json

_KINDS: dict[str, type[Any]] = {
    c.__name__: c
    for c in (PlaceOrders, CancelOrders, AmendOrder, SetMarketState, HaltRetiredMarkets)
}


def command_json(command: SequencerCommand) -> dict[str, Any]:
    args = dataclasses.asdict(command)
    args.pop("nonce", None)  # recorded where the request was verified, before it is sent
    if isinstance(command, SetMarketState):
        args["actor"]["scopes"] = sorted(command.actor.scopes)
    return {"kind": type(command).__name__, "args": args}


def command_from_json(raw: dict[str, Any]) -> SequencerCommand:
    kind = _KINDS[raw["kind"]]
    args = dict(raw["args"])
    if kind is PlaceOrders:
        args["orders"] = [OrderRequest(**o) for o in args["orders"]]
    if kind is SetMarketState:
        actor = args["actor"]
        args["actor"] = Principal(actor["user_id"], actor["api_key_id"], frozenset(actor["scopes"]))
    command: SequencerCommand = kind(**args)
    return command


def answer_json(result: Any) -> dict[str, Any]:
    if isinstance(result, AppError):
        return {
            "error": {"code": result.code, "message": result.message, "details": result.details}
        }
    if isinstance(result, LiveOrder):
        return {"order": order_json(result)}
    if isinstance(result, Market):
        return {"market": result.symbol}
    if isinstance(result, list):
        return {"list": [answer_json(r) for r in result]}
    if isinstance(result, str):
        return {"str": result}
    raise TypeError(f"not an answer: {result!r}")


def answer_from_json(raw: dict[str, Any]) -> Any:
    """The answer; a market as `("market", symbol)` (the caller reads it back). Errors are
    returned, not raised (a list may hold some)."""
    if "error" in raw:
        return error_from_json(raw["error"])
    if "order" in raw:
        return order_from_json(raw["order"])
    if "market" in raw:
        return ("market", raw["market"])
    if "list" in raw:
        return [answer_from_json(r) for r in raw["list"]]
    return raw["str"]


def error_from_json(raw: dict[str, Any]) -> AppError:
    cls = all_codes().get(raw["code"], InternalError)
    error = cls.__new__(cls)
    AppError.__init__(error, raw["message"], details=raw.get("details") or {})
    if "retry_after" in error.details:
        error.retry_after = error.details["retry_after"]  # type: ignore[attr-defined]
    return error
