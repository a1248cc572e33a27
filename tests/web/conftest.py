"""Browser tests: Debian's chromium driven by Playwright (never a browser Playwright would
download), against a real `python -m app serve` process whose indexer follows a devnet.

Chromium is required: without it these tests fail (`.ci/run` installs it with apt-get).
`EXCHANGE_CHROMIUM` points at another binary. Screenshots go to `.data/screenshots/` (or
`EXCHANGE_SCREENSHOTS_DIR`) and their paths are listed at the end of the run.
"""

import asyncio
import json
import os
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth.scopes import Scope
from app.auth.service import create_api_key, create_user
from app.auth.signing import sign
from app.chain.devnet.server import DevnetThread
from app.config import PROJECT_ROOT
from app.kit.crypto import SecretBox
from tests.conftest import SERVER_KEY, fast_devnet, truncate_all
from tests.orders.test_crash import Server, _free_port
from tests.signing import next_nonce

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS: list[Path] = []

# Records what the page's Content-Security-Policy refused (injected by the browser driver,
# which the policy does not govern).
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def chromium() -> str:
    path = os.environ.get("EXCHANGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            f"chromium not found ({path}): the browser tests need Debian's chromium "
            "(apt-get install -y chromium; .ci/run installs it), or EXCHANGE_CHROMIUM=/path",
            pytrace=False,
        )
    return path


def screenshots_dir() -> Path:
    folder = Path(
        os.environ.get("EXCHANGE_SCREENSHOTS_DIR") or PROJECT_ROOT / ".data" / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot(page: Page, name: str, full_page: bool = False) -> Path:
    path = screenshots_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    SCREENSHOTS.append(path)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watched:
    """A page, and what went wrong in it: script errors, console errors, CSP refusals."""

    page: Page
    errors: list[str]

    async def problems(self) -> list[str]:
        refused: list[str] = await self.page.evaluate("window.__csp || []")
        return self.errors + [f"CSP refused: {r}" for r in refused]


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    new = await context.new_page()
    new.set_default_timeout(20_000)
    await new.add_init_script(WATCH_CSP)
    errors: list[str] = []
    new.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    # Console errors, but the browser's own note of each refused request ("Failed to load
    # resource: ... 401"): the pages show those refusals, and tests expect some.
    new.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    try:
        yield Watched(new, errors)
    finally:
        await context.close()


# ---------------------------------------------------------------------------- the server


@dataclass
class Key:
    key: str
    secret: str
    user_id: int


@dataclass
class Exchange:
    url: str
    devnet: DevnetThread
    console: Key  # the admin the browser signs in as
    admin: Key  # the test's own admin key (nonces are per key)
    other_origin: "OtherOrigin"


class OtherOrigin:
    """A page on another origin (another port): `http://localhost:<port>` is allowed by the
    server's CORS settings, `http://127.0.0.1:<port>` is not."""

    def __init__(self) -> None:
        class Blank(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"<!doctype html><title>another app</title><p>another origin</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Blank)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def allowed(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def refused(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def make_key(engine: AsyncEngine, email: str, scopes: list[Scope]) -> Key:
    box = SecretBox(SERVER_KEY.encode())
    async with async_sessionmaker(engine, expire_on_commit=False)() as s:
        user = await create_user(s, email)
        issued = await create_api_key(s, box, user.id, scopes)
        await s.commit()
        return Key(issued.key, issued.secret, user.id)


@pytest.fixture(scope="module")
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(seed=11, subnets=4)


@pytest.fixture(scope="module")
async def exchange(
    engine: AsyncEngine, database_url: str, devnet: DevnetThread
) -> AsyncIterator[Exchange]:
    """A server process whose in-process indexer follows the devnet (so listing candidates
    come from the chain), allowing CORS from one other origin."""
    await truncate_all(engine)
    console = await make_key(engine, "console@example.com", [Scope.READ, Scope.ADMIN])
    admin = await make_key(engine, "ops@example.com", [Scope.READ, Scope.ADMIN])
    other = OtherOrigin()
    server = Server(database_url)
    server.port = _free_port()
    server.env.update(
        {
            "EXCHANGE_INDEXER_ENABLED": "true",
            "CHAIN_URL": devnet.url,
            "EXCHANGE_INDEXER_POLL_SECONDS": "0.2",
            "EXCHANGE_CORS_ORIGINS": json.dumps([other.allowed]),
        }
    )
    server.start()
    try:
        yield Exchange(server.url, devnet, console, admin, other)
    finally:
        server.stop()
        other.stop()
        await truncate_all(engine)


async def until(condition: Callable[[], Awaitable[Any]], what: str, within: float = 30.0) -> Any:
    """Poll `condition()` until it returns something truthy (then return it)."""
    try:
        async with asyncio.timeout(within):
            while True:
                value = await condition()
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Api:
    """Signed requests of the test's own admin key to the server."""

    def __init__(self, url: str, key: Key) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=10)
        self.key = key

    async def get(self, path: str, **params: Any) -> Any:
        nonce = next_nonce()
        query = urlencode({**params, "nonce": nonce})
        headers = {
            "API-Key": self.key.key,
            "API-Sign": sign(self.key.secret, path, str(nonce), query),
        }
        r = await self.http.get(f"{path}?{query}", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def public(self, path: str, **params: Any) -> Any:
        r = await self.http.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def post(self, path: str, body: dict[str, Any], key: Key | None = None) -> Any:
        key = key or self.key
        nonce = next_nonce()
        raw = json.dumps({**body, "nonce": nonce})
        headers = {
            "API-Key": key.key,
            "API-Sign": sign(key.secret, path, str(nonce), raw),
            "Content-Type": "application/json",
        }
        r = await self.http.post(path, content=raw, headers=headers)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def close(self) -> None:
        await self.http.aclose()
