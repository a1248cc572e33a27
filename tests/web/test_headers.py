"""The pages are served with a strict Content-Security-Policy and no framing; the console and
every private answer are never cached; public market data keeps its short public cache."""

import re

import httpx

from app.web.headers import content_security_policy
from tests.conftest import SignedFactory

SCRIPT = re.compile(r"<script[^>]*>")


async def test_the_pages_and_their_files(client: httpx.AsyncClient) -> None:
    for path, cache in (
        ("/", "no-cache"),
        ("/admin", "no-store"),
        ("/static/admin/console.js", "no-store"),
        ("/static/market/market.js", "no-cache"),
        ("/static/vendor/lightweight-charts.standalone.production.mjs", "no-cache"),
    ):
        r = await client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"  # no inline script, no eval
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["connect-src"] == "'self' ws://test"
        assert directives["base-uri"] == "'none'"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == cache, path
    page = (await client.get("/admin")).text
    for tag in SCRIPT.findall(page) + SCRIPT.findall((await client.get("/")).text):
        assert 'src="static/' in tag and 'type="module"' in tag  # files only, nothing inline
    js = await client.get("/static/admin/signing.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/static/nothing.js")).status_code == 404
    # The WebSocket's origin is the host the browser asked for (wss:// over TLS); a host
    # that is not a plain host name is left out ('self' covers it in current browsers).
    r = await client.get("/", headers={"host": "exchange.example:8443"})
    assert "connect-src 'self' ws://exchange.example:8443;" in r.headers["content-security-policy"]
    assert "wss://exchange.example;" in content_security_policy("https", "exchange.example")
    assert "connect-src 'self';" in content_security_policy("http", "a b; script-src *")


async def test_pages_are_not_part_of_the_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert (
        "/" not in paths
        and "/admin" not in paths
        and not any(p.startswith("/static") for p in paths)
    )


async def test_private_answers_are_never_cached(
    client: httpx.AsyncClient, signed: SignedFactory
) -> None:
    admin = await signed("read,admin")
    for r in (
        await admin.get("/v1/account"),
        await admin.get("/v1/admin/audit"),
        await client.get("/v1/admin/audit"),  # refused: still private
        await admin.get("/v1/markets"),  # public data, but asked with a key
    ):
        assert r.headers["cache-control"] == "no-store", r.request.url
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in r.headers  # JSON answers need none
    public = await client.get("/v1/markets")
    assert public.headers["cache-control"] == "public, max-age=1"
