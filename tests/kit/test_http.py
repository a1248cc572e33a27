"""Error bodies, validation errors, body limit, request ids."""

import httpx
from fastapi import FastAPI


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    r = await client.get("/health")
    assert len(r.headers["x-request-id"]) == 32


async def test_oversized_body_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.settings.max_body_bytes
    r = await client.post("/v1/account", content=b"x" * (limit + 1))
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.settings.max_body_bytes

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 1000 + 2):
            yield b"y" * 1000

    r = await client.request(
        "GET", "/v1/account", content=chunks(), headers={"API-Key": "k", "API-Sign": "s"}
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_public_market_data_is_cacheable_for_a_second(client: httpx.AsyncClient) -> None:
    for path in ("/v1/subnets", "/v1/markets", "/v1/assets"):
        r = await client.get(path)
        assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=1"
    # Errors and private data are not.
    assert "cache-control" not in (await client.get("/v1/subnets/99")).headers
    assert "cache-control" not in (await client.get("/v1/account")).headers
