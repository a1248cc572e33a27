"""The admin console and the market page in a real browser (Debian's chromium), against a
server process whose indexer follows a devnet.

- The console: a wrong secret is refused and the API's words are shown; an admin signs in,
  reviews a candidate the indexer found on the devnet (due diligence, price history,
  identity), approves it with a ticker and market parameters, halts and resumes the market
  (each after a confirmation) and finds each action in the audit log; creates a user, issues
  a key (its secret shown once) and revokes it. (The Funding page: test_funding.py.)
- The market page: the book, the trades and a candle that test orders create appear live,
  without a reload, beside the on-chain pool price.
- CORS: a browser app on an allowed origin reads the API; on another it cannot.
- The console's Staking page: a user's allocation, what the chain holds there, the
  difference.

Screenshots of each step are saved (see conftest.py). Nothing here sleeps: every step waits
for what it expects to see.
"""

import re
from typing import Any

from playwright.async_api import expect

from app.auth.signing import sign
from app.kit.units import RAO_PER_TAO
from tests.web.conftest import Api, Exchange, Key, Watched, screenshot, until

TAO = ALPHA = RAO_PER_TAO


async def indexed(api: Api, block: int) -> bool:
    ready = await api.public("/ready")
    return bool(ready["checks"]["indexer"]["last_block"] >= block)


async def candidates(api: Api, n: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await api.get("/v1/admin/listings", state="candidate")
    return found if len(found) >= n else []


async def test_console_review_approve_halt_resume_audit(exchange: Exchange, page: Watched) -> None:
    api = Api(exchange.url, exchange.admin)
    devnet = exchange.devnet
    # A few blocks, so that the candidates have a price history.
    for _ in range(3):
        head = devnet.chain.produce_blocks(1).number - 1  # finalized: one block behind
        await until(lambda b=head: indexed(api, b), f"block {head} indexed")
    dynamic = len(devnet.chain.finalized.view.subnets) - 1  # root is not a token
    listed = {c["netuid"]: c for c in await until(lambda: candidates(api, dynamic), "candidates")}
    netuid = min(listed)
    truth = listed[netuid]
    p = page.page

    # A wrong secret (well-formed) is refused by the API, and shown as the API words it.
    await p.goto(f"{exchange.url}/admin")
    await p.fill("#signin-key", exchange.console.key)
    await p.fill("#signin-secret", "A" * 86 + "==")
    await p.click("#signin-submit")
    await expect(p.locator("#signin-error")).to_have_text(
        "signature does not match (invalid_signature)"
    )
    await expect(p.locator("#app")).to_be_hidden()
    await screenshot(p, "console-1-wrong-secret")

    # Signed in: the candidates the indexer found on the devnet.
    await p.fill("#signin-secret", exchange.console.secret)
    await p.click("#signin-submit")
    await expect(p.locator("#whoami")).to_contain_text("console@example.com")
    assert await p.input_value("#signin-secret") == ""  # the secret left the form
    rows = p.locator("#listings tbody tr.link")
    await expect(rows).to_have_count(len(listed))
    await screenshot(p, "console-2-candidates")

    # Due diligence of one candidate, as the API has it.
    await p.click(f'#listings tr[data-netuid="{netuid}"]')
    dd = truth["due_diligence"]
    facts = p.locator("#due-diligence")
    await expect(facts.locator('[data-fact="age"]')).to_contain_text(f"{dd['age_blocks']} blocks")
    pool_tao = f"{int(dd['pool_tao']) // TAO:,}"
    await expect(facts.locator('[data-fact="pool"]')).to_contain_text(pool_tao)
    await expect(facts.locator('[data-fact="owner"]')).to_contain_text(dd["owner_coldkey"])
    await expect(facts.locator('[data-fact="flags"]')).to_contain_text("too_young")
    identity = truth["subnet"]["identity"] or {}
    if identity.get("github_repo"):
        await expect(p.get_by_text(identity["github_repo"])).to_be_visible()
    history = p.locator("#price-history")
    await expect(history).to_have_attribute("data-points", re.compile(r"^[1-9][0-9]*$"))
    await expect(history.locator("canvas").first).to_be_visible()
    await screenshot(p, "console-3-due-diligence", full_page=True)

    # A refusal is shown as the API words it (and nothing is approved).
    dialog = p.locator("dialog#confirm")
    await p.fill('#approve-form [name="ticker"]', "TAO")
    await p.click("#approve")
    await dialog.locator("button.confirm").click()
    await expect(p.locator("#messages .error")).to_have_text(
        "TAO is the quote asset (invalid_ticker)"
    )
    await expect(p.locator("#listing-state")).to_have_text("candidate")

    # Approve with a ticker and market parameters, after a confirmation.
    await p.fill('#approve-form [name="ticker"]', "ALPHA")
    await p.fill('#approve-form [name="taker_fee_bps"]', "25")
    await p.fill('#approve-form [name="override_reason"]', "devnet: young on purpose")
    await p.click("#approve")
    await expect(dialog).to_contain_text("Approve SN")
    await dialog.locator("button.confirm").click()
    await expect(p.locator("#messages")).to_contain_text("Approved: market ALPHA/TAO (trading)")
    await expect(p.locator("#listing-state")).to_have_text("approved")
    market = await api.public("/v1/markets/ALPHA-TAO")
    assert (market["netuid"], market["taker_fee_bps"], market["state"]) == (netuid, 25, "trading")

    # Halt, then resume, each confirmed, with a reason.
    await p.click('#nav a[data-page="markets"]')
    row = p.locator('#markets tr[data-symbol="ALPHA/TAO"]')
    for action, state, reason in (("halted", "halted", "maintenance"), ("trading", "trading", "")):
        await row.locator(f'button[data-action="{action}"]').click()
        await expect(dialog).to_be_visible()
        if reason:
            await dialog.locator('input[name="reason"]').fill(reason)
        await dialog.locator("button.confirm").click()
        await expect(p.locator("#messages")).to_contain_text(f"ALPHA/TAO is {state}")
        await expect(row.locator("[data-state]")).to_have_text(state)
        assert (await api.public("/v1/markets/ALPHA-TAO"))["state"] == state
        if state == "halted":
            await screenshot(p, "console-4-halted")

    # A cancelled confirmation does nothing.
    await row.locator('button[data-action="delisted"]').click()
    await dialog.locator("button.cancel").click()
    await expect(dialog).to_be_hidden()
    assert (await api.public("/v1/markets/ALPHA-TAO"))["state"] == "trading"

    # Each action in the audit log, newest first, by the console's key.
    await p.click('#nav a[data-page="audit"]')
    entries = p.locator("#audit tbody tr")
    await expect(entries).to_have_count(3)
    actions = [await entries.nth(i).get_attribute("data-action") for i in range(3)]
    assert actions == ["market.state", "market.state", "listing.approve"]
    await expect(entries.nth(1)).to_contain_text("maintenance")
    await expect(entries.nth(0)).to_contain_text(f"key {await key_id(api, exchange.console)}")
    await screenshot(p, "console-5-audit")
    audit = (await api.get("/v1/admin/audit"))["entries"]
    assert [e["action"] for e in audit] == actions
    assert {e["actor_user_id"] for e in audit} == {exchange.console.user_id}
    assert await page.problems() == []
    await api.close()


async def key_id(api: Api, key: Key) -> int:
    keys = (await api.get(f"/v1/admin/users/{key.user_id}/keys"))["keys"]
    return int(keys[0]["id"])


def shown(price: int, tick: int) -> str:
    """A price as the pages show it: TAO with the tick's decimals (at least two)."""
    decimals = 9
    while tick % 10 == 0 and decimals > 0:
        tick //= 10
        decimals -= 1
    text = f"{price / TAO:.{decimals}f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}.{fraction.ljust(2, '0')}"


async def trader(api: Api, email: str, base: str) -> Key:
    """A user with a read/trade key and plenty of TAO and alpha, made through the admin API."""
    user = await api.post("/v1/admin/users", {"email": email})
    issued = await api.post(f"/v1/admin/users/{user['id']}/keys", {"scopes": ["read", "trade"]})
    for asset in ("TAO", base):
        deposit = {"user_id": user["id"], "asset": asset, "amount": str(10**15)}
        await api.post("/v1/admin/deposits", {**deposit, "external_ref": f"{email}-{asset}"})
    return Key(issued["api_key"], issued["api_secret"], user["id"])


async def test_market_page_shows_orders_trades_and_candles_live(
    exchange: Exchange, page: Watched
) -> None:
    api = Api(exchange.url, exchange.admin)
    found = await until(lambda: candidates(api, 1), "a listing candidate")
    listing = max(found, key=lambda c: c["netuid"])  # not the one the console test approves
    approved = await api.post(
        f"/v1/admin/listings/{listing['id']}/approve",
        {"ticker": "BETA", "override_reason": "devnet: young on purpose"},
    )
    market = approved["market"]
    tick, lot = int(market["tick_size"]), int(market["lot_size"])
    price = int(market["reference_price"]) // tick * tick  # on the tick, inside the band
    # Enough alpha for a notional of twice the minimum, on the lot.
    qty = max(int(market["min_size"]), 2 * int(market["min_notional"]) * ALPHA // price + 1)
    qty = -(-qty // lot) * lot
    alice = await trader(api, "alice@example.com", market["base"])
    bob = await trader(api, "bob@example.com", market["base"])
    p = page.page

    await p.goto(f"{exchange.url}/#BETA-TAO")
    await expect(p.locator("#feed-status")).to_have_attribute("data-state", "live")
    await expect(p.locator("#market-symbol")).to_have_text("BETA/TAO")
    await expect(p.locator("#book-price")).to_have_text("no orders")
    ticker = await api.public("/v1/markets/BETA-TAO/ticker")
    await expect(p.locator("#pool-price")).to_have_attribute("data-price", ticker["pool_price"])
    await expect(p.locator("#pool-price")).to_have_text(shown(int(ticker["pool_price"]), tick))
    # The subnet as the chain has it: the next epoch as the indexer read it.
    await expect(p.locator("#subnet-facts")).to_have_attribute(
        "data-epoch-in", re.compile(r"^\d+$")
    )
    await expect(p.locator("#subnet-cap")).to_contain_text("TAO cap")
    await p.evaluate("window.marker = 'no reload'")  # gone if the page reloaded

    # A resting sell: the book shows it.
    order = {"market": "BETA/TAO", "type": "limit", "price": str(price)}
    await api.post("/v1/orders", {**order, "side": "sell", "qty": str(3 * qty)}, key=alice)
    ask = p.locator(f'#book tr.ask[data-price="{price}"]')
    await expect(ask).to_have_attribute("data-qty", str(3 * qty))
    await expect(p.locator("#book-price")).to_have_text(shown(price, tick))

    # A buy that takes part of it: a trade, the smaller ask and a candle, all live.
    await api.post("/v1/orders", {**order, "side": "buy", "qty": str(qty)}, key=bob)
    trade = p.locator("#trades tbody tr[data-match-id]")
    await expect(trade).to_have_count(1)
    await expect(trade).to_have_attribute("data-price", str(price))
    await expect(trade).to_have_attribute("data-qty", str(qty))
    await expect(ask).to_have_attribute("data-qty", str(2 * qty))
    legend = p.locator("#candle-legend")
    await expect(legend).to_have_attribute("data-close", str(price))
    await expect(legend).to_have_attribute("data-trades", "1")
    await expect(p.locator("#last-price")).to_have_text(shown(price, tick))
    await expect(p.locator('#markets tr[data-symbol="BETA/TAO"]')).to_contain_text(
        shown(price, tick)
    )
    await expect(p.locator("#candles canvas").first).to_be_visible()
    await expect(p.locator("#depth canvas").first).to_be_visible()
    assert await p.evaluate("window.marker") == "no reload"
    await screenshot(p, "market-live")

    # What the page drew is what the API says.
    candles = (await api.public("/v1/markets/BETA-TAO/candles", interval="1m"))["candles"]
    assert [(c["close"], c["volume"], c["trades"]) for c in candles] == [(str(price), str(qty), 1)]
    assert await page.problems() == []
    await api.close()


async def test_cors_and_a_websocket_token_from_another_origin(
    exchange: Exchange, page: Watched
) -> None:
    """A browser app on an allowed origin reads the API (its preflight is granted) and
    opens the private feed with a token its server got (no secret in the page); on an origin
    that is not allowed, the browser keeps the answer from it."""
    api = Api(exchange.url, exchange.admin)
    p = page.page
    ask = """async (url) => {
        try {
            const r = await fetch(url, {headers: {"API-Key": "nobody", "API-Sign": "x"}});
            return {status: r.status, code: (await r.json()).code};
        } catch (e) {
            return {refused: String(e)};
        }
    }"""
    await p.goto(f"{exchange.other_origin.allowed}/")
    granted = await p.evaluate(ask, f"{exchange.url}/v1/account")
    assert granted == {"status": 401, "code": "invalid_key"}  # read across origins

    token = (await api.post("/v1/ws/token", {}))["token"]
    feed = f"{exchange.url.replace('http', 'ws', 1)}/v1/ws"
    authenticated = await p.evaluate(
        """([url, token]) => new Promise((resolve) => {
            const ws = new WebSocket(url);
            ws.onopen = () => ws.send(JSON.stringify({op: "auth", token}));
            ws.onmessage = (e) => {
                const m = JSON.parse(e.data);
                if (m.event === "authenticated" || m.event === "error") { ws.close(); resolve(m); }
            };
        })""",
        [feed, token],
    )
    assert authenticated == {"event": "authenticated", "user_id": exchange.admin.user_id}

    await p.goto(f"{exchange.other_origin.refused}/")
    refused = await p.evaluate(ask, f"{exchange.url}/v1/account")
    assert "refused" in refused, refused
    await api.close()


async def sign_in(p: Any, exchange: Exchange) -> None:
    await p.goto(f"{exchange.url}/admin")
    await p.fill("#signin-key", exchange.console.key)
    await p.fill("#signin-secret", exchange.console.secret)
    await p.click("#signin-submit")
    await expect(p.locator("#whoami")).to_contain_text("console@example.com")


async def test_console_users_and_keys(exchange: Exchange, page: Watched) -> None:
    """A user created, a key issued (its secret shown once, and it works), the key revoked:
    all from the console. (The Funding page: test_funding.py, with custody on a devnet.)"""
    api = Api(exchange.url, exchange.admin)
    p = page.page
    dialog = p.locator("dialog#confirm")
    await sign_in(p, exchange)

    await p.click('#nav a[data-page="users"]')
    await p.fill('#create-user [name="email"]', "carol@example.com")
    await p.click("#create-user button")
    await expect(p.locator("#messages")).to_contain_text("Created user carol@example.com")
    await p.check('#issue-key input[value="withdraw"]')
    await p.fill('#issue-key [name="label"]', "carol's wallet")
    await p.click("#issue-key button")
    issued = p.locator("#issued-key")
    await expect(issued).to_contain_text("copy the secret now")
    key, secret = (await issued.locator(".mono").all_inner_texts())[:2]
    carol_id = int(p.url.rsplit("/", 1)[1])
    carol = Key(key, secret, carol_id)
    me = await Api(exchange.url, carol).get("/v1/account")  # the shown secret signs
    assert (me["email"], me["scopes"]) == ("carol@example.com", ["read", "withdraw"])
    await expect(p.locator("#keys tbody tr")).to_have_count(1)
    await screenshot(p, "console-6-users-keys")

    # Revoke Carol's key, with a reason: it no longer signs.
    await p.click('#nav a[data-page="users"]')
    await p.click('#users tr[data-email="carol@example.com"]')
    await p.click("#keys button[data-revoke]")
    await dialog.locator('input[name="reason"]').fill("lost laptop")
    await dialog.locator("button.confirm").click()
    await expect(p.locator("#messages")).to_contain_text("Revoked key")
    r = await api.http.get("/v1/balances", headers={"API-Key": carol.key, "API-Sign": "x"})
    assert r.json()["code"] == "key_revoked"
    actions = [e["action"] for e in (await api.get("/v1/admin/audit"))["entries"]]
    assert actions[:3] == ["api_key.revoke", "api_key.issue", "user.create"]
    assert await page.problems() == []
    await api.close()


async def test_the_pages_sign_and_count_as_the_api_does(exchange: Exchange, page: Watched) -> None:
    """The console's WebCrypto signature is byte for byte the server's (a JSON body with
    non-ASCII text, a query string), and amounts are formatted and parsed exactly."""
    p = page.page
    await p.goto(f"{exchange.url}/admin")
    secret = exchange.console.secret
    cases = [
        (
            "/v1/admin/listings/3/reject",
            "1764043200000000001",
            '{"reason": "naïve € 🚀", "nonce": "1764043200000000001"}',
        ),
        ("/v1/admin/audit", "42", "limit=50&action=market.state&nonce=42"),
    ]
    for path, nonce, payload in cases:
        signed = await p.evaluate(
            """async ([secret, path, nonce, payload]) => {
                const s = await import("./static/admin/signing.js");
                return s.sign(await s.importSecret(secret), path, nonce, payload);
            }""",
            [secret, path, nonce, payload],
        )
        assert signed == sign(secret, path, nonce, payload.encode())
    formatted = await p.evaluate(
        """async () => {
            const f = await import("./static/common/format.js");
            return [
                f.units("1500000000"), f.units("-1"), f.units("123456789012345678901"),
                f.units("1999999999", {maxFraction: 2}), f.units("50000000", {minFraction: 2}),
                f.parseUnits("1.5"), f.parseUnits("0.000000001"), f.tickDecimals("1000"),
            ];
        }"""
    )
    assert formatted == [
        "1.5",
        "-0.000000001",
        "123,456,789,012.345678901",
        "2",
        "0.05",
        "1500000000",
        "1",
        6,
    ]
    refused = await p.evaluate(
        """async () => {
            const f = await import("./static/common/format.js");
            return ["1.0000000001", "-1", "1e3", ""].map((t) => {
                try { f.parseUnits(t); return "accepted"; } catch (e) { return "refused"; }
            });
        }"""
    )
    assert refused == ["refused"] * 4


async def test_console_staking_page_shows_positions_and_differences(
    exchange: Exchange, page: Watched
) -> None:
    """A user allocates to one of a listed subnet's validators: the Staking page shows the
    position with its allocation, what the chain holds there (nothing: this server's custody
    has no float hotkey, so no stake manager moves it) and the difference; no moves."""
    api = Api(exchange.url, exchange.admin)
    found = await until(lambda: candidates(api, 1), "a listing candidate")
    listing = min(found, key=lambda c: c["netuid"])
    approved = await api.post(
        f"/v1/admin/listings/{listing['id']}/approve",
        {"ticker": "GAMMA", "override_reason": "devnet: young on purpose"},
    )
    base = approved["market"]["base"]
    validators = (await api.public("/v1/staking/validators", market="GAMMA-TAO"))["validators"]
    hotkey = next(v["hotkey"] for v in validators if v["validator_permit"])
    dana = await trader(api, "dana@example.com", base)
    allocated = await Api(exchange.url, dana).post(
        "/v1/staking/allocations",
        {"market": "GAMMA-TAO", "hotkey": hotkey, "amount": str(25 * ALPHA)},
    )
    assert allocated["amount"] == str(25 * ALPHA)
    p = page.page
    await sign_in(p, exchange)

    await p.click('#nav a[data-page="staking"]')
    row = p.locator(f'#staking-positions tr[data-hotkey="{hotkey}"]')
    await expect(row).to_have_attribute("data-market", "GAMMA/TAO")
    await expect(row).to_have_attribute("data-difference", str(-25 * ALPHA))
    await expect(row).to_contain_text("-25")  # the difference, in alpha
    await expect(row).to_have_attribute("data-alert", "false")
    await expect(p.locator("#staking-moves")).to_contain_text("no moves planned")
    await screenshot(p, "console-10-staking", full_page=True)
    assert await page.problems() == []
    await api.close()
