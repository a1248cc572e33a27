"""The console's Funding page in a real browser, against a server process whose custody
worker scans and signs on a devnet the test drives block by block (its own server and
devnet: the reconciliation must see custody alone, without the other browser tests' admin
credits).

A user deposits on chain from //Alice's wallet: 20 TAO (credited by the scanner) and 2 TAO
below the minimum (held); //Alice also sends 1.5 TAO straight to the omnibus. The console:
- shows the held deposit and the reconciliation's surplus of 3.5 TAO; credits the held deposit
  (with a reason) and the omnibus transfer as an admin credit: the reconciliation is balanced;
- shows the user's three withdrawals above the approval threshold; another admin rejects
  one meanwhile, so approving it shows the API's refusal in its words; approves one and
  rejects one with a reason, each after a confirmation: the rejected one's funds are
  available again;
- after the blocks that carry it, shows the approved withdrawal completed with its
  transaction hash; it reached the destination on chain; the reconciliation is balanced.

Every wait is for a condition (a DOM state, a scanned block); screenshots as conftest.py says.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from substrateinterface import Keypair, SubstrateInterface

from app.auth.scopes import Scope
from app.chain.devnet.server import DevnetThread
from app.kit.units import RAO_PER_TAO
from tests.conftest import fast_devnet, truncate_all
from tests.custody.conftest import ALICE, CONFIG, SIGNER, send
from tests.custody.server import CustodyServer
from tests.web.conftest import Api, Key, Watched, make_key, screenshot, until

TAO = RAO_PER_TAO
THRESHOLD = 5 * TAO  # larger withdrawals wait for an admin
MIN_DEPOSIT = 3 * TAO  # smaller deposits are held
OMNIBUS = SIGNER.omnibus.ss58_address
DESTINATION = Keypair.create_from_uri("//Devnet//Tests//console").ss58_address
BLOCKS = 200  # at most this many blocks for the chain to do what a step waits for
T = TypeVar("T")


@dataclass
class Custody:
    url: str
    devnet: DevnetThread
    console: Key  # the admin the browser signs in as
    admin: Key  # another admin (the test's own requests)


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(**CONFIG)


@pytest.fixture
async def custody(
    engine: AsyncEngine, database_url: str, devnet: DevnetThread, tmp_path: Path
) -> AsyncIterator[Custody]:
    await truncate_all(engine)
    console = await make_key(engine, "console@example.com", [Scope.READ, Scope.ADMIN])
    admin = await make_key(engine, "ops@example.com", [Scope.READ, Scope.ADMIN])
    server = CustodyServer(
        database_url,
        devnet.url,
        tmp_path / "server.log",
        EXCHANGE_INDEXER_ENABLED="false",
        EXCHANGE_CUSTODY_APPROVAL_THRESHOLD=json.dumps({"TAO": THRESHOLD}),
        EXCHANGE_CUSTODY_MIN_DEPOSIT=json.dumps({"TAO": MIN_DEPOSIT}),
    )
    await asyncio.to_thread(server.start)
    try:
        yield Custody(server.url, devnet, console, admin)
    finally:
        server.stop()
        await truncate_all(engine)


async def scanned(api: Api, block: int) -> bool:
    """Whether the server's custody worker has scanned `block`."""
    ready = (await api.http.get("/ready")).json()
    last = ready["checks"]["custody"]["last_block"]
    return last is not None and last >= block


async def produce_until(
    api: Api, devnet: DevnetThread, check: Callable[[], Awaitable[T | None]], what: str
) -> T:
    """Produce blocks one at a time, each scanned by the server before `check` asks again."""
    for _ in range(BLOCKS):
        found = await check()
        if found:
            return found
        devnet.chain.produce_block()
        final = devnet.chain.finalized.number
        await until(lambda b=final: scanned(api, b), f"block {final} scanned")
    raise AssertionError(f"{what}: not within {BLOCKS} blocks")


async def new_user(api: Api, email: str, scopes: list[str]) -> Key:
    user = await api.post("/v1/admin/users", {"email": email})
    issued = await api.post(f"/v1/admin/users/{user['id']}/keys", {"scopes": scopes})
    return Key(issued["api_key"], issued["api_secret"], user["id"])


async def balance(api: Api) -> dict[str, str]:
    found = (await api.get("/v1/balances"))["balances"]
    return next(b for b in found if b["asset"] == "TAO")


async def sign_in(p: Page, custody: Custody) -> None:
    await p.goto(f"{custody.url}/admin")
    await p.fill("#signin-key", custody.console.key)
    await p.fill("#signin-secret", custody.console.secret)
    await p.click("#signin-submit")
    await expect(p.locator("#whoami")).to_contain_text("console@example.com")


async def test_console_funding_on_chain(custody: Custody, page: Watched) -> None:
    api = Api(custody.url, custody.admin)
    devnet = custody.devnet
    carol = await new_user(api, "carol@example.com", ["read", "withdraw"])
    as_carol = Api(custody.url, carol)
    address = (await as_carol.post("/v1/deposit-addresses", {}))["address"]

    # From //Alice's wallet (outside the exchange): 1.5 TAO to the omnibus (no deposit
    # address: nobody is credited), then 20 TAO and 2 TAO (below the minimum) to Carol's.
    with SubstrateInterface(url=devnet.url, ss58_format=42) as wallet:

        def transfer(dest: str, value: int) -> int:
            params = {"dest": dest, "value": value}
            return send(devnet, wallet, ALICE, "Balances", "transfer_keep_alive", params).number

        omnibus_block = transfer(OMNIBUS, 3 * TAO // 2)
        transfer(address, 20 * TAO)
        transfer(address, 2 * TAO)

    async def deposits() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = (await api.get("/v1/admin/custody/deposits"))["deposits"]
        return found if len(found) == 2 else None

    seen = {d["state"]: d for d in await produce_until(api, devnet, deposits, "the deposits")}
    assert set(seen) == {"credited", "below_minimum"}
    held = seen["below_minimum"]
    assert (held["amount"], held["user_id"]) == (str(2 * TAO), carol.user_id)

    p = page.page
    dialog = p.locator("dialog#confirm")
    messages = p.locator("#messages")
    refresh = p.locator("#funding-refresh")
    tao = p.locator('#reconciliation tr[data-asset="TAO"]')
    await sign_in(p, custody)
    await p.click('#nav a[data-page="funding"]')

    # The held deposit, and the reconciliation's surplus: what is on chain and not credited.
    held_row = p.locator(f'#held-deposits tr[data-id="{held["id"]}"]')
    await expect(held_row).to_have_attribute("data-state", "below_minimum")
    await expect(held_row).to_contain_text("2 TAO")
    credited_row = p.locator(f'#chain-deposits tr[data-id="{seen["credited"]["id"]}"]')
    await expect(credited_row).to_contain_text("20 TAO")
    await expect(tao).to_have_attribute("data-difference", str(7 * TAO // 2))
    await expect(tao).to_contain_text("surplus")
    await screenshot(p, "console-7-funding-held-and-surplus", full_page=True)

    # Credit it, with a reason, after a confirmation.
    await held_row.locator("button[data-credit]").click()
    await expect(dialog).to_contain_text(f"Credit deposit #{held['id']}?")
    await dialog.locator('input[name="reason"]').fill("below the minimum; the user asked")
    await dialog.locator("button.confirm").click()
    await expect(messages).to_contain_text(f"Deposit #{held['id']} credited: 2 TAO")
    await expect(p.locator("#held-deposits tbody")).to_contain_text("no deposits are held")
    credited_held = p.locator(f'#chain-deposits tr[data-id="{held["id"]}"]')
    await expect(credited_held).to_contain_text(f"by user {custody.console.user_id}")

    # The omnibus transfer, as an admin credit (a correction): the reconciliation balances.
    form = p.locator("#deposit-form")
    ref = f"omnibus-block-{omnibus_block}"
    for name, value in (
        ("user_id", str(carol.user_id)),
        ("asset", "TAO"),
        ("amount", "1.5"),
        ("external_ref", ref),
        ("reason", "sent to the omnibus directly"),
    ):
        await form.locator(f'[name="{name}"]').fill(value)
    await form.locator("button").click()
    await expect(dialog).to_contain_text("1.5 TAO to user")
    await dialog.locator("button.confirm").click()
    await expect(messages).to_contain_text(f"1.5 TAO to user {carol.user_id}")
    await expect(p.locator("#deposits tbody")).to_contain_text(ref)
    await expect(tao).to_have_attribute("data-difference", "0")
    await expect(p.locator("#reconciliation-ok")).to_have_text("ok")
    assert (await balance(as_carol))["available"] == str(47 * TAO // 2)  # 20 + 2 + 1.5

    # Three withdrawals above the threshold wait for an admin.
    await as_carol.post("/v1/withdrawal-addresses", {"name": "cold", "address": DESTINATION})
    approve, reject, stale = [
        await as_carol.post(
            "/v1/withdrawals",
            {"asset": "TAO", "amount": str(amount), "address_name": "cold", "idempotency_key": key},
        )
        for key, amount in (("w1", 6 * TAO), ("w2", 11 * TAO // 2), ("w3", 26 * TAO // 5))
    ]
    assert {w["state"] for w in (approve, reject, stale)} == {"pending_approval"}
    await refresh.click()
    queue = p.locator("#approvals tbody tr")
    await expect(queue).to_have_count(3)
    await expect(queue.nth(0)).to_contain_text(DESTINATION)
    await screenshot(p, "console-8-funding-approvals", full_page=True)

    # Another admin rejects one meanwhile: approving it is refused, in the API's words.
    await api.post(f"/v1/admin/custody/withdrawals/{stale['id']}/reject", {"reason": "duplicate"})
    await p.locator(f'#approvals tr[data-id="{stale["id"]}"] button[data-approve]').click()
    await dialog.locator("button.confirm").click()
    await expect(p.locator("#messages .error")).to_have_text(
        f"withdrawal {stale['id']} is rejected, not pending_approval (invalid_state)"
    )

    # Approve one, reject another with a reason: each after a confirmation.
    await p.locator(f'#approvals tr[data-id="{approve["id"]}"] button[data-approve]').click()
    await expect(dialog).to_contain_text(f"Approve withdrawal #{approve['id']}?")
    await expect(dialog).to_contain_text(DESTINATION)
    await dialog.locator("button.confirm").click()
    await expect(messages).to_contain_text(f"Withdrawal #{approve['id']} approved")
    await p.locator(f'#approvals tr[data-id="{reject["id"]}"] button[data-reject]').click()
    await expect(dialog).to_contain_text(f"Reject withdrawal #{reject['id']}?")
    await dialog.locator('input[name="reason"]').fill("destination not verified")
    await dialog.locator("button.confirm").click()
    await expect(messages).to_contain_text(f"Withdrawal #{reject['id']} rejected")
    await expect(p.locator("#approvals tbody")).to_contain_text("no withdrawals await approval")
    recent = p.locator("#withdrawals")
    rejected_row = recent.locator(f'tr[data-id="{reject["id"]}"]')
    await expect(rejected_row).to_have_attribute("data-state", "rejected")
    await expect(rejected_row).to_contain_text("destination not verified")
    await expect(recent.locator(f'tr[data-id="{stale["id"]}"]')).to_contain_text("duplicate")
    # The rejected ones' funds are available again; only the approved one is held.
    held_now = 6 * TAO + int(approve["fee_reserve"])
    assert await balance(as_carol) == {
        "asset": "TAO",
        "decimals": 9,
        "available": str(47 * TAO // 2 - held_now),
        "held": str(held_now),
        "staked": "0",
        "total": str(47 * TAO // 2),
    }
    states = {w["id"]: w["state"] for w in (await as_carol.get("/v1/withdrawals"))["withdrawals"]}
    assert states[reject["id"]] == states[stale["id"]] == "rejected"
    assert states[approve["id"]] in ("queued", "sending")

    # The approved one goes out on chain as the blocks come; the console shows it completed.
    async def completed() -> dict[str, Any] | None:
        w: dict[str, Any] = await as_carol.get(f"/v1/withdrawals/{approve['id']}")
        return w if w["state"] == "completed" else None

    done = await produce_until(api, devnet, completed, "the approved withdrawal")
    assert devnet.chain.free_balance(DESTINATION) == 6 * TAO
    await refresh.click()
    approved_row = recent.locator(f'tr[data-id="{approve["id"]}"]')
    await expect(approved_row).to_have_attribute("data-state", "completed")
    await expect(approved_row.locator("[data-txid]")).to_have_attribute("data-txid", done["txid"])
    await expect(approved_row.locator("[data-txid]")).to_have_text(done["txid"])
    await expect(tao).to_have_attribute("data-difference", "0")
    await expect(p.locator("#reconciliation-ok")).to_have_text("ok")
    await screenshot(p, "console-9-funding-completed", full_page=True)

    # What the page showed is what the API says; every action is in the audit log.
    reconciliation = await api.get("/v1/admin/custody/reconciliation")
    assert [(a["asset"], a["difference"]) for a in reconciliation["assets"]] == [("TAO", "0")]
    fee = int(done["fee"])
    after = await balance(as_carol)
    assert (after["held"], after["total"]) == ("0", str(47 * TAO // 2 - 6 * TAO - fee))
    audit = (await api.get("/v1/admin/audit", limit=10))["entries"]
    assert [(e["action"], e["actor_user_id"]) for e in audit] == [
        ("withdrawal.reject", custody.console.user_id),
        ("withdrawal.approve", custody.console.user_id),
        ("withdrawal.reject", custody.admin.user_id),
        ("deposit.admin", custody.console.user_id),
        ("deposit.credit", custody.console.user_id),
        ("api_key.issue", custody.admin.user_id),
        ("user.create", custody.admin.user_id),
    ]
    assert await page.problems() == []
    await as_carol.close()
    await api.close()
