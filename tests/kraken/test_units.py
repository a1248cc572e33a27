"""Exact conversions between Kraken's decimal strings and base units, and the ids."""

import pytest

from app.kraken.errors import KrakenError
from app.kraken.schemas import decimals_of, descr_number, parse_body, to_units, units
from app.kraken.txid import fill_of, order_id_of, order_txid, trade_txid


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 10**9), ("1.25", 1_250_000_000), ("0.000000001", 1), (".5", 500_000_000),
     ("0.05000000000", 50_000_000), ("9223372036.854775807", 2**63 - 1)],
)  # fmt: skip
def test_to_units_is_exact(text: str, expected: int) -> None:
    assert to_units("volume", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0.0000000001",
        "1e3",
        "-1",
        "+1",
        "0",
        "",
        "abc",
        "1.2.3",
        "NaN",
        "9223372036.854775808",
        "5%",
    ],
)
def test_to_units_refuses(text: str) -> None:
    with pytest.raises(KrakenError) as info:
        to_units("volume", text)
    assert info.value.error == "EGeneral:Invalid arguments:volume"


def test_formats() -> None:
    assert units(1_250_000_000) == "1.250000000"
    assert descr_number(1_250_000_000) == "1.25000000"
    assert descr_number(1_250_000_001) == "1.250000001"
    assert [decimals_of(s) for s in (1, 10, 1000, 5000, 10**9)] == [9, 8, 6, 6, 0]


@pytest.mark.parametrize("order_id", [1, 2, 12345, 2**40 + 7, 2**63 - 1])
def test_order_txids_round_trip(order_id: int) -> None:
    txid = order_txid(order_id)
    assert len(txid) == 19 and txid[0] == "O" and txid[6] == "-" and txid[12] == "-"
    assert order_id_of(txid) == order_id
    assert order_id_of(txid.lower()) == order_id


def test_txids_refuse_strangers() -> None:
    txid = order_txid(77)
    tampered = txid[:-1] + ("A" if txid[-1] != "A" else "B")
    assert order_id_of(tampered) is None
    assert order_id_of("OQCLML-BW3P3-BUCMWZ") is None  # a real Kraken id
    assert order_id_of(trade_txid(77, True)) is None
    assert fill_of(trade_txid(77, True)) == (77, True)
    assert fill_of(trade_txid(77, False)) == (77, False)
    assert order_txid(1) != order_txid(2)


def test_form_bodies_nest_like_ccxt() -> None:
    body = b"pair=SN1TAO&orders[0][type]=buy&orders[1][type]=sell&validate=true"
    parsed = parse_body(body, "application/x-www-form-urlencoded")
    assert parsed == {
        "pair": "SN1TAO",
        "orders": [{"type": "buy"}, {"type": "sell"}],
        "validate": "true",
    }


def test_every_native_error_code_has_its_kraken_string() -> None:
    """A new code must be given its Kraken string on purpose (and none is left stale)."""
    import app.cli
    import app.main
    from app.kit.errors import all_codes
    from app.kraken.errors import NATIVE_TO_KRAKEN

    assert app.cli is not None
    codes = set(all_codes()) - {"error"}  # AppError itself is never raised
    assert sorted(codes - set(NATIVE_TO_KRAKEN)) == []
    assert sorted(set(NATIVE_TO_KRAKEN) - codes) == []


def test_the_order_errors_map_to_krakens_strings() -> None:
    from app.auth.errors import InvalidNonce
    from app.kraken.errors import kraken_error
    from app.ledger.errors import InsufficientFunds
    from app.orders.errors import (
        EngineRefused,
        InvalidOrder,
        MarketPostOnly,
        OrderNotFound,
        OrderTooSmall,
    )

    assert kraken_error(InsufficientFunds("x")) == "EOrder:Insufficient funds"
    assert kraken_error(InvalidNonce("x")) == "EAPI:Invalid nonce"
    assert kraken_error(OrderNotFound("x")) == "EOrder:Unknown order"
    assert kraken_error(OrderTooSmall("x")) == "EOrder:Order minimum not met"
    assert kraken_error(InvalidOrder("x")) == "EOrder:Invalid order"
    assert kraken_error(EngineRefused("x")) == "EGeneral:Internal error"
    assert kraken_error(MarketPostOnly("x")) == "EService:Market in post_only mode"
