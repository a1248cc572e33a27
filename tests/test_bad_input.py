"""Bad input on every route of both surfaces: a 4xx with a stable code (on the Kraken
surface: an error in Kraken's envelope), never a 5xx, and nothing written.

The routes are enumerated from the app itself (its OpenAPI for the native surface, its
method tables for Kraken's), so a new route is swept without anyone adding it here. Requests
are signed with a key that has every scope, so that they get past authentication to the
validation under test; its user owns nothing, so that no request could succeed in writing.
"""

import inspect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.kraken import endpoints as kraken
from app.kraken.errors import INTERNAL
from app.kraken.txid import order_txid
from app.ledger.check import check_ledger
from app.ledger.service import user_account_ids
from tests.conftest import SignedFactory
from tests.indexer.snapshots import snapshot, subnet
from tests.listings.helpers import index
from tests.signing import SignedClient, next_nonce

ALL_SCOPES = "read,trade,withdraw,admin"
HOTKEY = "5FFApaS75bv5pJHfAp2FVLBj9ZaXuFDjEypsaBNc1wCfe52v"
ADDRESS = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
TAO = ALPHA = 10**9
WRITE = {"post", "put", "patch", "delete"}
SNAKE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Raw:
    """A JSON token written verbatim (json.dumps cannot write 1e400 or 10,000 digits)."""

    token: str


@dataclass(frozen=True)
class Encoded:
    """A query or path value already percent-encoded (e.g. invalid UTF-8)."""

    text: str


def dumps(value: Any) -> bytes:
    raws: list[str] = []

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.token)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    out = json.dumps(swap(value))
    for i, token in enumerate(raws):
        out = out.replace(f'"@@raw{i}@@"', token)
    return out.encode()


def encode(value: Any) -> str:
    if isinstance(value, Encoded):
        return value.text
    return quote(str(value), safe="", errors="surrogatepass")  # a lone surrogate: %ED%A0%80


# ---------------------------------------------------------------------------- bad values

NUL, SURROGATE = "a\x00b", "\ud800"
# Integers, sent in a JSON body: lax spellings, Unicode digits, too long, too large, floats.
BAD_INTS: list[Any] = [
    True,
    " 1",
    "+1",
    "01",
    "１",  # fullwidth
    "١",  # Arabic-Indic
    "²",  # str.isdigit() says yes, int() raises
    "-²",
    1.0,
    "9" * 10_000,
    Raw("9" * 10_000),  # past Python's 4,300-digit int() limit
    Raw("1e400"),  # inf
    2**64,
    NUL,
    SURROGATE,
]
# The same in a query string or path segment.
BAD_INT_TEXT: list[Any] = [
    Encoded("%201"),
    Encoded("%2B1"),
    "01",
    "１",
    "٢",
    "²",
    "-²",
    "1.0",
    "true",
    "1e400",
    "9" * 1000,
    str(2**64),
    Encoded("%00"),
    Encoded("%ED%A0%80"),  # a lone surrogate, UTF-8 encoded
]
BAD_TIMES: list[Any] = [
    Encoded("0001-01-01T00:00:00%2B05:00"),  # astimezone(UTC): OverflowError
    "9999-12-31T23:59:59-05:00",
    "99999999999999999999",
    "1e400",
    "x" * 100,
    Encoded("%00"),
]
# Whole JSON bodies. Those that are JSON but not an object carry no nonce: the answer is
# then 401 invalid_nonce (authentication reads the nonce before anything else).
BAD_BODIES: list[Callable[[int], bytes]] = [
    lambda n: b'{"nonce": %d, "a": %s}' % (n, b"[" * 1000 + b"]" * 1000),
    lambda n: b"[" * 100_000 + b"]" * 100_000,
    lambda n: b'{"nonce": %d, "\\ud800": 1}' % n,
    lambda n: b'{"nonce": %d, "a": "\\u0000"}' % n,
    lambda n: b'{"nonce": %d' % n,
    lambda n: b"9" * 10_000,
    lambda n: b'"\\ud800"',
    lambda n: b"\xff\xfe",
]
NO_NONCE_BODIES: list[Callable[[int], bytes]] = [lambda n: b"1e400", lambda n: b"[]"]


# ---------------------------------------------------------------------------- the world


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    admin: SignedClient  # every scope, no funds
    candidate: int  # a listing still pending (approve checks its parameters)
    sent: int = 0
    refusals: list[tuple[str, int, str]] = field(default_factory=list)

    async def send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        raw: Callable[[int], bytes] | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        nonce = next_nonce()
        headers: dict[str, str] = {}
        signed_path = unquote(path, errors="replace")  # what the server reads
        if raw is not None or body is not None:
            content = raw(nonce) if raw is not None else dumps({**body, "nonce": nonce})
            headers = {
                **self.admin.headers(signed_path, nonce, content),
                "Content-Type": content_type,
            }
            url = path + (
                "?" + "&".join(f"{k}={encode(v)}" for k, v in query.items()) if query else ""
            )
            r = await self.client.request(method, url, content=content, headers=headers)
        else:
            qs = "&".join(f"{k}={encode(v)}" for k, v in {**(query or {}), "nonce": nonce}.items())
            headers = self.admin.headers(signed_path, nonce, qs)
            r = await self.client.request(method, f"{path}?{qs}", headers=headers)
        self.sent += 1
        return r


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, signed: SignedFactory) -> World:
    admin = await signed(ALL_SCOPES)
    deep = {"registered_at": 1, "tao_in": 50_000 * TAO, "alpha_in": 1_000_000 * ALPHA}
    await index(app, snapshot(60_000, [subnet(1, **deep), subnet(2, **deep)]))
    listings = {x["netuid"]: x["id"] for x in (await admin.get("/v1/admin/listings")).json()}
    r = await admin.post(f"/v1/admin/listings/{listings[1]}/approve", {"tick_size": 1000})
    assert r.status_code == 200, r.text
    # The user's (empty) ledger accounts, as any first use creates them: the order sequencer
    # creates them for an order it then refuses (harmless: no balance moves), which would
    # otherwise count as a row written.
    async with app.state.sessionmaker() as session:
        for asset in ("TAO", "SN1"):
            await user_account_ids(session, admin.user_id, asset)
        await session.commit()
    return World(app, client, admin, listings[2])


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    # The nonces a signed request uses up are authentication's, not a write.
                    "AND tablename NOT IN ('alembic_version', 'api_key_nonces') "
                    "ORDER BY tablename"
                )
            )
        ).scalars()
        return {t: int(await conn.scalar(text(f'SELECT count(*) FROM "{t}"')) or 0) for t in tables}


async def assert_nothing_written(engine: AsyncEngine, before: dict[str, int]) -> None:
    assert await row_counts(engine) == before
    async with async_sessionmaker(engine)() as session:
        report = await check_ledger(session)
    assert report.ok, report.render()


# ---------------------------------------------------------------------------- native surface


@dataclass
class Operation:
    method: str
    path: str
    parameters: list[dict[str, Any]]
    body: dict[str, Any] | None  # the resolved JSON schema of the body


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def variants(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (anyOf / $ref resolved)."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        out = []
        for s in schema["anyOf"]:
            out += variants(spec, s)
        return out
    return [] if schema.get("type") == "null" else [schema]


def operations(app: FastAPI) -> list[Operation]:
    spec = app.openapi()
    out = []
    for path, item in spec["paths"].items():
        if path.startswith("/0/"):  # Kraken's surface: swept by its method tables below
            continue
        for method, op in item.items():
            body = None
            if "requestBody" in op:
                body = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
            out.append(Operation(method, path, op.get("parameters", []), body))
    return out


EXAMPLES: dict[str, Any] = {
    "market": "SN1/TAO",
    "hotkey": HOTKEY,
    "asset": "TAO",
    "destination": ADDRESS,
    "side": "buy",
    "type": "limit",
    "price": "50000000",
    "qty": "1000000",
    "amount": "1",
    "block": 1,
    "reason": "why",
    "external_ref": "ref-1",
    "external_tx_ref": "tx-1",
}


def example(spec: dict[str, Any], name: str, schema: dict[str, Any]) -> Any:
    if name in EXAMPLES:
        return EXAMPLES[name]
    s = variants(spec, schema)[0]
    if "enum" in s:
        return s["enum"][0]
    kind = s.get("type")
    if kind == "integer":
        return max(s.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [base_body(spec, resolve(spec, s["items"]))]
    if kind == "object":
        return base_body(spec, s)
    return "x"


def base_body(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {n: example(spec, n, props[n]) for n in schema.get("required", [])}


def bad_values(spec: dict[str, Any], schema: dict[str, Any], *, in_json: bool) -> list[Any]:
    """Values no field of this schema may accept."""
    found = variants(spec, schema)
    kinds = {s.get("type") for s in found}
    out: list[Any] = []
    if "integer" in kinds:
        out += BAD_INTS if in_json else BAD_INT_TEXT
    elif any(s.get("format") == "date-time" for s in found):
        out += BAD_TIMES
    elif any("enum" in s for s in found):
        out += ["nope", "BUY ", NUL, SURROGATE] if in_json else ["nope", Encoded("%00")]
    elif "string" in kinds:
        longest = max(s.get("maxLength", 0) for s in found)
        out += ["x" * (longest + 1), NUL, SURROGATE]
        if in_json:
            out += [1, True, Raw("1e400")]
        else:
            out += [Encoded("%00"), Encoded("%ED%A0%80")]
    elif "boolean" in kinds:
        out += ["yes", "true", 1, 0.0, NUL]
    elif "array" in kinds:
        item = resolve(spec, found[0]["items"])
        out += ["orders", {"a": 1}, [base_body(spec, item)] * (found[0].get("maxItems", 100) + 1)]
    return out


PATH_EXAMPLES: dict[str, Any] = {"symbol": "SN1-TAO", "netuid": 1}


def sweep(world: World, op: Operation) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, request) pairs: every parameter and body field with each of its bad values."""
    spec = world.app.openapi()
    path_values = {
        p["name"]: PATH_EXAMPLES.get(p["name"], world.candidate if "listing" in p["name"] else 1)
        for p in op.parameters
        if p["in"] == "path"
    }
    query = {
        p["name"]: example(spec, p["name"], p["schema"])
        for p in op.parameters
        if p["in"] == "query" and p.get("required")
    }
    if op.path == "/v1/staking/validators":
        query["market"] = "SN1-TAO"

    def url(values: dict[str, Any]) -> str:
        out = op.path
        for name, value in values.items():
            out = out.replace("{" + name + "}", encode(value))
        return out

    body = base_body(spec, op.body) if op.body is not None else None
    for bad in (Encoded("%00"), Encoded("%ED%A0%80"), Encoded("%FF")):  # every route, any name
        what = f"{op.method.upper()} {op.path} query stray={bad!r}"
        yield what, {"path": url(path_values), "query": {**query, "stray": bad}, "body": body}
    for p in op.parameters:
        if p["in"] not in ("path", "query"):
            continue
        for bad in bad_values(spec, p["schema"], in_json=False):
            what = f"{op.method.upper()} {op.path} {p['in']} {p['name']}={bad!r:.40}"
            if p["in"] == "path":
                yield (
                    what,
                    {"path": url({**path_values, p["name"]: bad}), "query": query, "body": body},
                )
            else:
                yield (
                    what,
                    {"path": url(path_values), "query": {**query, p["name"]: bad}, "body": body},
                )
    if op.body is None:
        return
    fields = op.body.get("properties", {})
    for name, schema in fields.items():
        for bad in bad_values(spec, schema, in_json=True):
            yield (
                f"{op.method.upper()} {op.path} body {name}={bad!r:.40}",
                {"path": url(path_values), "query": query, "body": {**(body or {}), name: bad}},
            )
        # One level down: the fields of a list's items (an order of a batch).
        for s in variants(spec, schema):
            if s.get("type") == "array" and "properties" in resolve(spec, s["items"]):
                item_schema = resolve(spec, s["items"])
                item = base_body(spec, item_schema)
                for sub, sub_schema in item_schema["properties"].items():
                    for bad in bad_values(spec, sub_schema, in_json=True):
                        yield (
                            f"{op.method.upper()} {op.path} body {name}[0].{sub}={bad!r:.40}",
                            {
                                "path": url(path_values),
                                "query": query,
                                "body": {**(body or {}), name: [{**item, sub: bad}]},
                            },
                        )
    for i, raw in enumerate(BAD_BODIES):
        yield (
            f"{op.method.upper()} {op.path} raw body #{i}",
            {"path": url(path_values), "query": query, "raw": raw},
        )
    for i, raw in enumerate(NO_NONCE_BODIES):
        yield (
            f"{op.method.upper()} {op.path} no-nonce body #{i}",
            {"path": url(path_values), "query": query, "raw": raw},
        )


# Codes an authenticated request with bad input may get: never an authentication failure
# (the key is good and the nonce is read before anything else), never a 5xx.
REFUSALS = {400, 404, 409, 413, 415, 422}


async def test_bad_input_on_every_native_route_is_a_4xx_and_writes_nothing(
    world: World, db: AsyncEngine
) -> None:
    before = await row_counts(db)
    ops = operations(world.app)
    assert {op.method for op in ops} >= WRITE  # the enumeration found the write routes
    failures: list[str] = []
    swept_writes = set()
    for op in ops:
        for what, request in sweep(world, op):
            r = await world.send(op.method.upper(), **request)
            try:
                body = r.json()
            except ValueError:
                body = None
            code = body.get("code") if isinstance(body, dict) else None
            refusals = REFUSALS | ({401} if "no-nonce" in what else set())
            if (
                r.status_code not in refusals
                or not isinstance(code, str)
                or not SNAKE.fullmatch(code)
            ):
                failures.append(f"{what}: {r.status_code} {r.text[:200]}")
            if op.method in WRITE:
                swept_writes.add((op.method, op.path))
    assert not failures, "\n".join(failures[:50])
    assert world.sent > 1000
    write_routes = {
        (m.lower(), route.path)
        for route in world.app.routes
        if not getattr(route, "path", "/0/").startswith("/0/")
        for m in getattr(route, "methods", set()) or set()
        if m.lower() in WRITE
    }
    assert write_routes <= swept_writes, write_routes - swept_writes
    await assert_nothing_written(db, before)


async def test_reported_native_cases(world: World, db: AsyncEngine) -> None:
    """The bad-input sweep's findings, one by one with the exact answer."""
    before = await row_counts(db)
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("PATCH", "/v1/admin/markets/SN1-TAO", {"tick_size": "²"}, 400, "invalid_tick_size"),
        ("PATCH", "/v1/admin/markets/SN1-TAO", {"lot_size": "9" * 10_000}, 400, "invalid_lot_size"),
        ("PATCH", "/v1/admin/markets/SN1-TAO", {"maker_fee_bps": "-²"}, 400, "invalid_fee"),
        ("PATCH", "/v1/admin/markets/SN1-TAO", {"taker_fee_bps": True}, 422, "validation_error"),
        ("PATCH", "/v1/admin/markets/SN1-TAO", {"min_notional": 0}, 400, "invalid_min_notional"),
        (
            "POST",
            "/v1/admin/deposits",
            {"user_id": True, "asset": "TAO", "amount": "1", "external_ref": "r"},
            422,
            "validation_error",
        ),
        (
            "POST",
            "/v1/admin/deposits",
            {"user_id": "1.0", "asset": "TAO", "amount": "1", "external_ref": "r"},
            422,
            "validation_error",
        ),
        (
            "POST",
            "/v1/admin/deposits",
            {"user_id": 1, "asset": "TAO", "amount": "01", "external_ref": "r"},
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "/v1/admin/deposits",
            {"user_id": 1, "asset": "TAO", "amount": "-0", "external_ref": "r"},
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "/v1/admin/deposits",
            {"user_id": 1, "asset": "TAO", "amount": "１", "external_ref": "r"},
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "/v1/orders",
            {"market": "SN1/TAO", "side": "buy", "price": "+50000000", "qty": "1000000"},
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "/v1/orders",
            {
                "market": "SN1/TAO",
                "side": "buy",
                "price": "50000000",
                "qty": "1000000",
                "post_only": "yes",
            },
            422,
            "validation_error",
        ),
        (
            "POST",
            "/v1/admin/staking/flows",
            {"market": "SN1/TAO", "hotkey": HOTKEY, "amount": "-01", "block": 1, "reason": "r"},
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "/v1/admin/staking/flows",
            {"market": "SN1/TAO", "hotkey": HOTKEY, "amount": "5", "block": True, "reason": "r"},
            422,
            "validation_error",
        ),
    ]
    for method, path, body, status, code in cases:
        r = await world.send(method, path, body=body)
        assert (r.status_code, r.json()["code"]) == (status, code), (path, body, r.text)
    queries = [
        ("/v1/markets/SN1-TAO/candles", {"to": Encoded("0001-01-02T00:00:00Z"), "interval": "1d"}),
        ("/v1/markets/SN1-TAO/candles", {"from": Encoded("0001-01-01T00:00:00%2B05:00")}),
        ("/v1/subnets/1/history", {"from": Encoded("0001-01-01T00:00:00%2B05:00")}),
        ("/v1/fills", {"from": "9999-12-31T23:59:59-05:00"}),
        ("/v1/ledger/entries", {"to": "99999999999999999999"}),
        ("/v1/ledger/entries", {"cursor": "99999999999999999999.0"}),  # was a bigint overflow
        ("/v1/markets/SN1-TAO/pool-quote", {"side": "buy", "amount": "²"}),  # was a 500
        ("/v1/admin/listings/%C2%B2", {}),
        ("/v1/orders", {"limit": "+5"}),
        ("/v1/orders", {"cursor": "true"}),
    ]
    for path, query in queries:
        method = "POST" if path.endswith("/executed") else "GET"
        r = await world.send(method, path, query=query, body={} if method == "POST" else None)
        assert 400 <= r.status_code < 500, (path, query, r.text)
        # A percent-escaped path is refused before its parameter is read (tests/auth).
        expected = {"validation_error", "invalid_cursor", "non_canonical_path"}
        assert r.json()["code"] in expected, (path, query, r.text)
    await assert_nothing_written(db, before)


# ---------------------------------------------------------------------------- Kraken surface

_READS = re.compile(r"\.(?:text|integer|flag|seconds|values|required)\(\s*\"(\w+)\"")


def params_read(handler: Callable[..., Any]) -> set[str]:
    """The request parameters a Kraken handler reads, found in its source and in the source
    of the module's functions it calls (so that a new parameter is swept too)."""
    module = inspect.getmodule(handler)
    names: set[str] = set()
    todo, seen = [handler], {handler}
    while todo:
        fn = todo.pop()
        source = inspect.getsource(fn)
        names |= set(_READS.findall(source))
        names |= {"userref"} if ".userref()" in source else set()
        for callee in re.findall(r"\b([A-Za-z_]\w*)\(", source):
            obj = getattr(module, callee, None)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and obj not in seen:
                seen.add(obj)
                todo.append(obj)
    return names


BAD_KRAKEN: list[str] = [
    "²",
    "-²",
    "１",
    "٣",
    " 1",
    "+1",
    "01",
    "-0",
    "1e400",
    "NaN",
    "9" * 5000,
    "99999999999999999999999",
    "0.0000000001",
    "a\x00b",
]


def kraken_bases(order: str) -> dict[str, dict[str, str]]:
    """Otherwise valid parameters per method, so that each bad one is the problem."""
    limit_order = {"type": "buy", "ordertype": "limit", "volume": "1", "price": "0.05"}
    strategy = {"strategy_id": f"SN1-{HOTKEY}", "amount": "1"}
    return {
        "AddOrder": {"pair": "SN1TAO", **limit_order},
        "AddOrderBatch": {
            "pair": "SN1TAO",
            **{f"orders[0][{k}]": v for k, v in limit_order.items()},
        },
        "EditOrder": {"txid": order, "pair": "SN1TAO", "volume": "1"},
        "AmendOrder": {"txid": order, "order_qty": "1"},
        "CancelOrder": {"txid": order},
        "QueryOrders": {"txid": order},
        "Earn/Allocate": strategy,
        "Earn/Deallocate": strategy,
        "Earn/AllocateStatus": strategy,
        "Earn/DeallocateStatus": strategy,
        **{m: {"pair": "SN1TAO"} for m in ("Ticker", "OHLC", "Depth", "Trades", "Spread")},
    }


async def kraken_send(
    world: World, method: str, params: dict[str, str], *, private: bool, as_json: bool = False
) -> httpx.Response:
    path = f"/0/{'private' if private else 'public'}/{method}"
    nonce = next_nonce()
    if as_json:
        content = dumps({**params, "nonce": nonce})
        content_type = "application/json"
    else:
        fields = {**params, "nonce": str(nonce)} if private else params
        content = "&".join(
            f"{quote(k, safe='[]')}={quote(v, safe='', errors='surrogatepass')}"
            for k, v in fields.items()
        ).encode()
        content_type = "application/x-www-form-urlencoded"
    headers = {"Content-Type": content_type}
    if private:
        headers.update(world.admin.headers(path, nonce, content))
    world.sent += 1
    return await world.client.post(path, content=content, headers=headers)


def kraken_ok(r: httpx.Response) -> str | None:
    """Why this answer is not a clean Kraken refusal or result, or None."""
    if r.status_code >= 500:
        return f"{r.status_code} {r.text[:200]}"
    body = r.json()
    if not isinstance(body.get("error"), list) or INTERNAL in body["error"]:
        return r.text[:200]
    return None


async def test_bad_input_on_every_kraken_method_is_refused_and_writes_nothing(
    world: World, db: AsyncEngine
) -> None:
    before = await row_counts(db)
    bases = kraken_bases(order_txid(1))
    methods = [(m, h, False) for m, h in kraken.PUBLIC.items()]
    methods += [(m, spec.handler, True) for m, spec in kraken.PRIVATE.items()]
    failures: list[str] = []
    swept = 0
    for method, handler, private in methods:
        base = bases.get(method, {})
        names = params_read(handler)
        if method == "AddOrderBatch":  # its orders' fields are inside `orders[0][...]`
            names = {f"orders[0][{n}]" for n in names - {"pair", "orders", "validate"}} | {"pair"}
        for name in sorted(names):
            for bad in BAD_KRAKEN:
                r = await kraken_send(world, method, {**base, name: bad}, private=private)
                swept += 1
                if (why := kraken_ok(r)) is not None:
                    failures.append(f"{method} {name}={bad!r:.30}: {why}")
        # JSON bodies: values of every type, and structure a form cannot carry.
        for bad_json in (True, 1.0, -1, 2**64, [1, [2]], {"a": {"b": 1}}, None, Raw("1e400")):
            for name in sorted(names)[:8]:
                r = await kraken_send(
                    world, method, {**base, name: bad_json}, private=private, as_json=True
                )
                if (why := kraken_ok(r)) is not None:
                    failures.append(f"{method} json {name}={bad_json!r:.30}: {why}")
    assert not failures, "\n".join(failures[:50])
    assert swept > 500
    await assert_nothing_written(db, before)


async def test_reported_kraken_cases(world: World, db: AsyncEngine) -> None:
    before = await row_counts(db)
    # A nonce of "²" or "-²" was a 500 (str.isdigit() then int()).
    for nonce in ("²", "-²", "１", "01", "+5", " 5", "9" * 10_000):
        body = f"nonce={quote(nonce)}".encode()
        path = "/0/private/Balance"
        headers = {
            **world.admin.headers(path, nonce, body),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        r = await world.client.post(path, content=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (200, ["EAPI:Invalid nonce"]), nonce
    cases: list[tuple[str, dict[str, str], bool, str]] = [
        ("Trades", {"pair": "SN1TAO", "since": "9" * 21}, False, "since"),  # ns past MAX_TIME
        ("Trades", {"pair": "SN1TAO", "since": "５"}, False, "since"),
        ("Trades", {"pair": "SN1TAO", "since": "500000000000.5"}, False, "since"),
        ("OHLC", {"pair": "SN1TAO", "since": "9" * 30}, False, "since"),
        ("OHLC", {"pair": "SN1TAO", "since": "1e400"}, False, "since"),
        ("OHLC", {"pair": "SN1TAO", "interval": "+5"}, False, "interval"),
        ("Depth", {"pair": "SN1TAO", "count": "0"}, False, "count"),
        ("Depth", {"pair": "SN1TAO", "count": "01"}, False, "count"),
        ("ClosedOrders", {"start": "1" * 25}, True, "start"),
        ("ClosedOrders", {"ofs": "-1"}, True, "ofs"),
        ("TradesHistory", {"end": "Infinity"}, True, "end"),
        ("QueryOrders", {"txid": order_txid(1), "userref": "2147483648"}, True, "userref"),
        (
            "AddOrder",
            {
                "pair": "SN1TAO",
                "type": "buy",
                "ordertype": "limit",
                "volume": "１",
                "price": "0.05",
            },
            True,
            "volume",
        ),
        (
            "AddOrder",
            {
                "pair": "SN1TAO",
                "type": "buy",
                "ordertype": "limit",
                "volume": "1\n",
                "price": "0.05",
            },
            True,
            "volume",
        ),
        (
            "AddOrder",
            {
                "pair": "SN1TAO",
                "type": "buy",
                "ordertype": "limit",
                "volume": "1",
                "price": "0.05",
                "userref": "01",
            },
            True,
            "userref",
        ),
        ("CancelOrder", {"txid": "-" + "9" * 10_000}, True, "txid"),
        ("CancelOrder", {"txid": "2147483648"}, True, "txid"),
        ("Earn/Strategies", {"limit": "0"}, True, "limit"),
    ]
    for method, params, private, name in cases:
        r = await kraken_send(world, method, params, private=private)
        assert r.json()["error"] == [f"EGeneral:Invalid arguments:{name}"], (method, params, r.text)
    # "-²" and "²" in CancelOrder were int() of what str.isdigit() accepted: a 500.
    for txid in ("²", "-²", "--5"):
        r = await kraken_send(world, "CancelOrder", {"txid": txid}, private=True)
        assert r.json()["error"] == ["EOrder:Unknown order"], txid
    # Form keys as deep as a JSON body may be, and list indexes in ASCII digits only.
    deep = "a" + "[b]" * 5000
    for params in ({deep: "1"}, {"orders[²][type]": "buy", "pair": "SN1TAO"}):
        r = await kraken_send(world, "AddOrderBatch", params, private=True)
        assert r.status_code == 200 and r.json()["error"][0].startswith(
            "EGeneral:Invalid arguments"
        ), r.text
    await assert_nothing_written(db, before)
