"""Every private method refuses unsigned, mis-signed and replayed requests, with Kraken's
error strings in Kraken's envelope (HTTP 200); public methods need no signature."""

from urllib.parse import urlencode

import httpx
import pytest

from app.auth.signing import sign
from app.kraken.endpoints import PRIVATE, PUBLIC
from tests.conftest import SignedFactory
from tests.signing import next_nonce

METHODS = sorted(PRIVATE)


def _form(
    path: str, key: str, secret: str, nonce: int, **fields: str
) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"nonce": nonce, **fields}).encode()
    headers = {
        "API-Key": key,
        "API-Sign": sign(secret, path, str(nonce), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


@pytest.mark.parametrize("method", METHODS)
async def test_private_methods_refuse_bad_requests(
    method: str, client: httpx.AsyncClient, signed: SignedFactory
) -> None:
    user = await signed("read,trade")
    path = f"/0/private/{method}"

    r = await client.post(path, content=b"nonce=1", headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert (r.status_code, r.json()) == (200, {"error": ["EAPI:Invalid key"]})

    body, headers = _form(path, user.key, user.secret, next_nonce())
    headers["API-Sign"] = sign(user.secret, "/0/private/Other", "1", body)
    r = await client.post(path, content=body, headers=headers)
    assert r.json() == {"error": ["EAPI:Invalid signature"]}

    body, headers = _form(path, "unknown-key", user.secret, next_nonce())
    r = await client.post(path, content=body, headers=headers)
    assert r.json() == {"error": ["EAPI:Invalid key"]}

    body, headers = _form(path, user.key, user.secret, next_nonce())
    first = await client.post(path, content=body, headers=headers)
    assert "EAPI:Invalid" not in str(first.json()["error"])
    replay = await client.post(path, content=body, headers=headers)
    assert replay.json() == {"error": ["EAPI:Invalid nonce"]}


@pytest.mark.parametrize("method", ["AddOrder", "CancelAll", "Earn/Allocate"])
async def test_trading_needs_the_trade_scope(
    method: str, client: httpx.AsyncClient, signed: SignedFactory
) -> None:
    user = await signed("read")
    path = f"/0/private/{method}"
    body, headers = _form(path, user.key, user.secret, next_nonce())
    r = await client.post(path, content=body, headers=headers)
    assert r.json() == {"error": ["EGeneral:Permission denied"]}


async def test_json_bodies_are_signed_too(client: httpx.AsyncClient, signed: SignedFactory) -> None:
    import json

    user = await signed("read")
    nonce = next_nonce()
    body = json.dumps({"nonce": nonce}).encode()
    headers = {
        "API-Key": user.key,
        "API-Sign": sign(user.secret, "/0/private/Balance", str(nonce), body),
        "Content-Type": "application/json",
    }
    r = await client.post("/0/private/Balance", content=body, headers=headers)
    assert r.json() == {"error": [], "result": {}}


async def test_unknown_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/0/public/Nope")).json() == {"error": ["EGeneral:Unknown method"]}
    r = await client.post("/0/private/Nope", content=b"nonce=1")
    assert r.json() == {"error": ["EGeneral:Unknown method"]}


@pytest.mark.parametrize("method", sorted(set(PUBLIC) - {"OHLC", "Depth", "Trades", "Spread"}))
async def test_public_methods_answer_unsigned(method: str, client: httpx.AsyncClient) -> None:
    for r in (await client.get(f"/0/public/{method}"), await client.post(f"/0/public/{method}")):
        assert r.status_code == 200 and r.json()["error"] == [], r.text


@pytest.mark.parametrize("method", ["OHLC", "Depth", "Trades", "Spread"])
async def test_public_pair_methods_check_the_pair(method: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"/0/public/{method}", params={"pair": "SN404TAO"})
    assert r.json() == {"error": ["EQuery:Invalid asset pair"]}


async def test_public_lookups_refuse_unknown_names(client: httpx.AsyncClient) -> None:
    r = await client.get("/0/public/Assets", params={"asset": "TAO,SN404"})
    assert r.json() == {"error": ["EQuery:Unknown asset"]}
    r = await client.get("/0/public/AssetPairs", params={"pair": "SN404TAO"})
    assert r.json() == {"error": ["EQuery:Invalid asset pair"]}
    r = await client.get("/0/public/Assets", params={"asset": "TAO"})
    assert r.json()["result"] == {
        "TAO": {"aclass": "currency", "altname": "TAO", "decimals": 9, "display_decimals": 6,
                "status": "enabled"}
    }  # fmt: skip


async def test_a_get_on_a_private_method_gets_krakens_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/0/private/Balance")
    assert r.status_code == 200 and r.json() == {"error": ["EGeneral:Invalid arguments"]}
    r = await client.get("/0/private/NoSuchMethod")
    assert r.json() == {"error": ["EGeneral:Unknown method"]}
