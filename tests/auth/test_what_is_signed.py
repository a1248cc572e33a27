"""What is signed is what is acted on: unsigned query parameters next to a signed body, and
paths that route differently from how they are signed, are refused before anything is done
(orders stay open, balances and the ledger unchanged, the nonce unused), on the native and
the Kraken surfaces."""

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from app.kraken.txid import order_txid
from tests.conftest import SignedFactory
from tests.orders.conftest import (
    ALPHA,
    PRICE,
    Market,
    balances,
    counts,
    ledger_ok,
)
from tests.signing import SignedClient, next_nonce


def limit(side: str, price: int, qty: int, client_order_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "market": "SN1/TAO",
        "side": side,
        "type": "limit",
        "price": str(price),
        "qty": str(qty),
    }
    if client_order_id:
        body["client_order_id"] = client_order_id
    return body


def json_request(
    user: SignedClient, path: str, fields: dict[str, Any], nonce: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A JSON body signed over `path`, as a correct client sends it."""
    nonce = nonce or next_nonce()
    body = json.dumps({**fields, "nonce": nonce}).encode()
    return body, {**user.headers(path, nonce, body), "Content-Type": "application/json"}


def form_request(
    user: SignedClient, path: str, fields: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    nonce = next_nonce()
    body = urlencode({"nonce": nonce, **fields}).encode()
    headers = {
        **user.headers(path, nonce, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


class Snapshot:
    """Everything a refused request must leave as it was."""

    def __init__(self, db: AsyncEngine, users: list[SignedClient]) -> None:
        self.db, self.users = db, users

    async def take(self) -> dict[str, Any]:
        async with self.db.connect() as conn:
            orders = (
                await conn.execute(
                    text("SELECT id, status, qty, price, filled_qty FROM orders ORDER BY id")
                )
            ).all()
            nonces = (
                await conn.execute(
                    text("SELECT api_key_id, max(nonce), count(*) FROM api_key_nonces GROUP BY 1")
                )
            ).all()
            audit = await conn.scalar(text("SELECT count(*) FROM audit_log"))
            markets = (await conn.execute(text("SELECT symbol, state FROM markets"))).all()
        return {
            "counts": await counts(self.db),
            "orders": [tuple(r) for r in orders],
            "nonces": sorted(tuple(r) for r in nonces),
            "audit": audit,
            "markets": sorted(tuple(r) for r in markets),
            "balances": [await _balances_sql(self.db, u.user_id) for u in self.users],
        }


async def _balances_sql(db: AsyncEngine, user_id: int) -> list[tuple[Any, ...]]:
    # Read straight from the ledger: a signed GET would itself move the caller's nonce.
    async with db.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT a.asset, a.kind, a.balance FROM ledger_accounts a "
                "WHERE a.user_id = :u ORDER BY a.asset, a.kind"
            ),
            {"u": user_id},
        )
        return [tuple(r) for r in rows]


@pytest.fixture
async def book(market: Market, signed: SignedFactory) -> tuple[SignedClient, list[dict[str, Any]]]:
    """A trader with two open orders (client order ids `keep` and `other`)."""
    trader = await market.trader(signed)
    placed = []
    for cid, price in (("keep", PRICE - 10_000), ("other", PRICE - 20_000)):
        r = await trader.post("/v1/orders", limit("buy", price, 2 * ALPHA, cid))
        assert r.status_code == 201, r.text
        placed.append(r.json())
    return trader, placed


# ---------------------------------------------------------------- native surface


async def test_a_query_string_next_to_a_signed_body_is_refused_and_nothing_happens(
    client: httpx.AsyncClient, db: AsyncEngine, book: tuple[SignedClient, list[dict[str, Any]]]
) -> None:
    trader, (keep, other) = book
    held = (await balances(trader))["TAO"]["held"]
    assert held > 0
    state = Snapshot(db, [trader])
    before = await state.take()

    # The bug: the signed body says nothing about which order; the unsigned query picked it.
    body, headers = json_request(trader, "/v1/orders", {})
    r = await client.request(
        "DELETE", "/v1/orders?client_order_id=keep", content=body, headers=headers
    )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "unsigned_parameters"
    # A body-carrying write with a query string beside it: refused too, nothing placed.
    for method, path, fields in (
        ("POST", "/v1/orders", limit("buy", PRICE - 30_000, ALPHA)),
        ("PATCH", f"/v1/orders/{other['id']}", {"qty": str(ALPHA)}),
        ("POST", "/v1/withdrawals", {"asset": "TAO", "amount": "1"}),
    ):
        body, headers = json_request(trader, path, fields)
        r = await client.request(method, f"{path}?market=SN1-TAO", content=body, headers=headers)
        assert (r.status_code, r.json()["code"]) == (400, "unsigned_parameters"), (method, path)
    # Even an empty-looking query string counts ("?&" is not nothing).
    body, headers = json_request(trader, "/v1/orders", {})
    r = await client.request("DELETE", "/v1/orders?&", content=body, headers=headers)
    assert r.json()["code"] == "unsigned_parameters"

    assert await state.take() == before  # orders open, balances, nonces, ledger as they were
    await ledger_ok(db)

    # The refused request did not use its nonce up: sent as signed, it works and does what
    # its signed bytes say (this body carries no client order id: cancel all).
    r = await client.request("DELETE", "/v1/orders", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert {o["id"] for o in r.json()["cancelled"]} == {keep["id"], other["id"]}
    await ledger_ok(db)


async def test_signed_query_strings_and_signed_bodies_still_work(
    client: httpx.AsyncClient, book: tuple[SignedClient, list[dict[str, Any]]]
) -> None:
    trader, (keep, other) = book
    # No body: the query string is the signed payload and is acted on.
    r = await trader.delete("/v1/orders", {"client_order_id": "keep"})
    assert r.status_code == 200, r.text
    assert [o["id"] for o in r.json()["cancelled"]] == [keep["id"]]
    # A body and a bare "?" (an empty query string): nothing unsigned, accepted.
    body, headers = json_request(trader, f"/v1/orders/{other['id']}", {"qty": str(ALPHA)})
    r = await client.patch(f"/v1/orders/{other['id']}?", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["qty"] == str(ALPHA)


async def test_admin_routes_refuse_unsigned_parameters(
    client: httpx.AsyncClient, db: AsyncEngine, market: Market
) -> None:
    admin = market.admin
    state = Snapshot(db, [admin])
    before = await state.take()
    body, headers = json_request(admin, "/v1/admin/markets/SN1-TAO/state", {"state": "halted"})
    r = await client.post("/v1/admin/markets/SN1-TAO/state?reason=x", content=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (400, "unsigned_parameters")
    body, headers = json_request(admin, "/v1/admin/listings", {})
    r = await client.request(
        "GET", "/v1/admin/listings?state=approved", content=body, headers=headers
    )
    assert (r.status_code, r.json()["code"]) == (400, "unsigned_parameters")
    assert await state.take() == before  # still trading, no audit entry, nonce unused


async def test_percent_escaped_paths_are_refused(
    client: httpx.AsyncClient, db: AsyncEngine, book: tuple[SignedClient, list[dict[str, Any]]]
) -> None:
    trader, (keep, _) = book
    state = Snapshot(db, [trader])
    before = await state.take()
    oid = str(keep["id"])
    escaped = "".join(f"%{ord(c):02X}" for c in oid)
    for signed_over in (f"/v1/orders/{oid}", f"/v1/orders/{escaped}"):
        nonce = next_nonce()
        query = f"nonce={nonce}"
        r = await client.delete(
            f"/v1/orders/{escaped}?{query}", headers=trader.headers(signed_over, nonce, query)
        )
        assert (r.status_code, r.json()["code"]) == (400, "non_canonical_path"), signed_over
    # "?" and "#" escaped in a path segment: Starlette's request.url.path spells "%3F"
    # whether the client sent "%3F" (routed as "?") or "%253F" (routed as "%3F"): one
    # signature, two routed paths. Both are refused.
    for raw in ("/v1/admin/staking/settings/SN1-TAO%3F", "/v1/admin/staking/settings/SN1-TAO%253F"):
        nonce = next_nonce()
        query = f"nonce={nonce}"
        r = await client.get(
            f"{raw}?{query}",
            headers=trader.headers("/v1/admin/staking/settings/SN1-TAO%3F", nonce, query),
        )
        assert (r.status_code, r.json()["code"]) == (400, "non_canonical_path"), raw
    assert await state.take() == before
    await ledger_ok(db)


async def test_a_trailing_slash_redirects_and_only_the_signed_path_acts(
    client: httpx.AsyncClient, db: AsyncEngine, book: tuple[SignedClient, list[dict[str, Any]]]
) -> None:
    trader, placed = book
    state = Snapshot(db, [trader])
    before = await state.take()
    nonce = next_nonce()
    query = f"nonce={nonce}"
    headers = trader.headers("/v1/orders/", nonce, query)
    r = await client.delete(f"/v1/orders/?{query}", headers=headers)
    assert r.status_code == 307 and r.headers["location"].endswith(f"/v1/orders?{query}")
    # Following the redirect: the path is no longer the signed one.
    r = await client.delete(f"/v1/orders?{query}", headers=headers)
    assert (r.status_code, r.json()["code"]) == (401, "invalid_signature")
    assert await state.take() == before
    # Signed over the path that routing reaches: the redirect leads to exactly that.
    nonce = next_nonce()
    query = f"nonce={nonce}"
    headers = trader.headers("/v1/orders", nonce, query)
    assert (await client.delete(f"/v1/orders/?{query}", headers=headers)).status_code == 307
    r = await client.delete(f"/v1/orders?{query}", headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["cancelled"]) == len(placed)
    await ledger_ok(db)


def _under_root_path(app: FastAPI, root_path: str) -> Any:
    """The app as `uvicorn --root-path` serves it: path and raw_path carry the prefix."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {
                **scope,
                "root_path": root_path,
                "path": root_path + scope["path"],
                "raw_path": root_path.encode() + scope["raw_path"],
            }
        await app(scope, receive, send)

    return asgi


async def test_behind_a_root_path_the_prefix_is_signed(app: FastAPI, signed: SignedFactory) -> None:
    alice = await signed("read")
    transport = httpx.ASGITransport(app=_under_root_path(app, "/api"))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for signed_over, status in (("/v1/account", 401), ("/api/v1/account", 200)):
            nonce = next_nonce()
            query = f"nonce={nonce}"
            r = await http.get(
                f"/v1/account?{query}", headers=alice.headers(signed_over, nonce, query)
            )
            assert r.status_code == status, (signed_over, r.text)
    assert r.json()["user_id"] == alice.user_id


# ---------------------------------------------------------------- Kraken surface


async def test_kraken_private_methods_refuse_unsigned_parameters(
    client: httpx.AsyncClient, db: AsyncEngine, book: tuple[SignedClient, list[dict[str, Any]]]
) -> None:
    trader, (keep, other) = book
    state = Snapshot(db, [trader])
    before = await state.take()
    keep_txid, other_txid = order_txid(keep["id"]), order_txid(other["id"])
    cases = [
        ("CancelOrder", {"txid": other_txid}, {"txid": keep_txid}),
        ("CancelAll", {}, {"pair": "SN1TAO"}),
        ("AddOrder", {"pair": "SN1TAO", "type": "buy", "ordertype": "limit",
                      "volume": "1", "price": "0.05"}, {"volume": "2"}),
    ]  # fmt: skip
    for method, fields, unsigned in cases:
        path = f"/0/private/{method}"
        body, headers = form_request(trader, path, fields)
        r = await client.post(f"{path}?{urlencode(unsigned)}", content=body, headers=headers)
        assert (r.status_code, r.json()) == (200, {"error": ["EGeneral:Invalid arguments"]})
    # JSON bodies too.
    body, headers = json_request(trader, "/0/private/CancelAll", {})
    r = await client.post("/0/private/CancelAll?x=1", content=body, headers=headers)
    assert r.json() == {"error": ["EGeneral:Invalid arguments"]}
    # A percent-escaped method name routes like the plain one: refused.
    body, headers = form_request(trader, "/0/private/CancelAll", {})
    r = await client.post("/0/private/Cancel%41ll", content=body, headers=headers)
    assert r.json() == {"error": ["EGeneral:Invalid arguments"]}

    assert await state.take() == before  # both orders open, nothing placed, nonce unused
    await ledger_ok(db)

    # The same signed request without the unsigned part does what it says, and only that.
    body, headers = form_request(trader, "/0/private/CancelOrder", {"txid": other_txid})
    r = await client.post("/0/private/CancelOrder", content=body, headers=headers)
    assert r.json() == {"error": [], "result": {"count": 1, "pending": False}}
    async with db.connect() as conn:
        statuses = dict(
            (await conn.execute(text("SELECT id, status FROM orders ORDER BY id"))).all()
        )
    assert statuses == {keep["id"]: "open", other["id"]: "cancelled"}
    await ledger_ok(db)


async def test_a_signed_body_on_a_route_that_reads_none_is_refused_and_nothing_happens(
    client: httpx.AsyncClient, db: AsyncEngine, book: tuple[SignedClient, list[dict[str, Any]]]
) -> None:
    """`DELETE /v1/orders` reads its selectors from the query string: a body that names one
    would be signed and ignored (and the route would cancel every order)."""
    trader, placed = book
    snapshot = Snapshot(db, [trader])
    before = await snapshot.take()
    body, headers = json_request(trader, "/v1/orders", {"client_order_id": "keep"})
    r = await client.request("DELETE", "/v1/orders", content=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (400, "unexpected_body")
    assert await snapshot.take() == before
    # A body with the nonce alone is what it says: no selector, every order.
    body, headers = json_request(trader, "/v1/orders", {})
    r = await client.request("DELETE", "/v1/orders", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert {o["id"] for o in r.json()["cancelled"]} == {o["id"] for o in placed}
    await ledger_ok(db)


@pytest.mark.parametrize(
    ("path", "raw", "refused"),
    [
        ("/v1/orders/12", b"/v1/orders/12", False),
        ("/base/v1/markets/SN1-TAO", b"/base/v1/markets/SN1-TAO", False),  # under a root_path
        ("/v1/orders/12", None, False),  # a server that gives no raw path
        ("/v1/orders/12", b"/v1/orders/%312", True),  # escaped: two spellings
        ("/v1/orders/1\\2", b"/v1/orders/1\\2", True),  # read back as %5C
        ("/v1/orders/1#2", b"/v1/orders/1#2", True),  # read back as %23
        ("/v1/orders/1\t2", b"/v1/orders/1\t2", True),  # dropped when read back as a URL
        ("/v1/orders/1 2", b"/v1/orders/1 2", True),
        ("/v1/orders/%", b"/v1/orders/%", True),
        ("/v1/orders/\u00e9", "/v1/orders/\u00e9".encode(), True),
    ],
)
def test_the_signed_path_is_the_routed_one_spelled_one_way(
    path: str, raw: bytes | None, refused: bool
) -> None:
    from starlette.requests import Request

    from app.auth.dependencies import signed_path
    from app.auth.errors import NonCanonicalPath

    scope: dict[str, Any] = {"type": "http", "path": path, "headers": [(b"host", b"x")]}
    if raw is not None:
        scope["raw_path"] = raw
    request = Request(scope)
    if refused:
        with pytest.raises(NonCanonicalPath):
            signed_path(request)
    else:
        assert signed_path(request) == path == request.url.path
