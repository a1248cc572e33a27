"""CORS: browser apps on the configured origins may call the API (a preflight gets the
grant, answers carry it); other origins get none; with no origins configured (the default)
nothing changes."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.main import create_app

ALLOWED = "https://trade.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "api-key,api-sign,content-type",
}


@pytest.fixture
async def cors(
    settings: Settings, database_url: str, db: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(update={"cors_origins": [ALLOWED, "http://localhost:5173"]})
    application: FastAPI = create_app(configured, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_a_preflight_from_an_allowed_origin_is_granted(cors: httpx.AsyncClient) -> None:
    r = await cors.options("/v1/orders", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"api-key", "api-sign", "content-type"} <= allowed
    assert "access-control-allow-credentials" not in r.headers  # auth is by headers
    assert r.headers["vary"] == "Origin"


async def test_another_origin_gets_no_grant(cors: httpx.AsyncClient) -> None:
    for origin in ("https://evil.example.com", "https://trade.example.com.evil.com", "null"):
        r = await cors.options("/v1/orders", headers={"Origin": origin, **PREFLIGHT})
        assert r.status_code == 405, origin
        assert "access-control-allow-origin" not in r.headers
        r = await cors.get("/v1/markets", headers={"Origin": origin})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        assert "Origin" in r.headers["vary"]  # a cache keeps answers per origin


async def test_answers_to_an_allowed_origin_carry_the_grant(cors: httpx.AsyncClient) -> None:
    r = await cors.get("/v1/markets", headers={"Origin": ALLOWED})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "X-Request-ID" in r.headers["access-control-expose-headers"]
    assert r.headers["cache-control"] == "public, max-age=1" and r.headers["vary"] == "Origin"
    # Refusals too, the request middleware's own included: the app can read why.
    r = await cors.get("/v1/account", headers={"Origin": ALLOWED})
    assert (r.status_code, r.json()["code"]) == (401, "missing_credentials")
    assert r.headers["access-control-allow-origin"] == ALLOWED
    r = await cors.get("/v1/markets?x=%00", headers={"Origin": ALLOWED})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_text")
    assert r.headers["access-control-allow-origin"] == ALLOWED


async def test_no_origins_by_default(client: httpx.AsyncClient) -> None:
    r = await client.options("/v1/orders", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert "access-control-allow-origin" not in r.headers
    r = await client.get("/v1/markets", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in r.headers and "vary" not in r.headers


def test_origins_are_checked_and_normalized() -> None:
    settings = Settings(cors_origins=["HTTPS://Trade.Example.com/", "http://127.0.0.1:5173", "*"])
    assert settings.cors_origins == ["https://trade.example.com", "http://127.0.0.1:5173", "*"]
    for bad in ("trade.example.com", "https://example.com/app", "ftp://example.com", ""):
        with pytest.raises(ValidationError):
            Settings(cors_origins=[bad])


def test_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_CORS_ORIGINS", '["https://a.example", "https://b.example:8443"]')
    assert Settings().cors_origins == ["https://a.example", "https://b.example:8443"]
