"""Acceptance, end to end over real JSON-RPC: `//Alice` (a substrate-interface Keypair,
outside the exchange's code) deposits TAO with `transfer_keep_alive` and alpha with
`transfer_stake` to a user's deposit address; the exchange credits each exactly once after
finality; the user trades; the user withdraws TAO and alpha through CCXT (unchanged but for
its base URL); the destination's balance and stake on the devnet grow by exactly the
amounts; `ledger check` and the custody reconciliation pass."""

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import ccxt
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from substrateinterface import Keypair, SubstrateInterface

from app.auth.scopes import Scope
from app.auth.service import create_api_key, create_user
from app.chain.devnet.chain import DevnetConfig
from app.chain.devnet.server import DevnetThread
from app.config import PROJECT_ROOT
from app.custody.keys import CustodySigner
from app.kit.crypto import SecretBox
from tests.conftest import SERVER_KEY
from tests.custody.conftest import ALICE, ALPHA, BOB, CONFIG, TAO, validator
from tests.custody.server import CustodyServer
from tests.kraken.conftest import client as kraken_client
from tests.signing import SignedClient

T = TypeVar("T")
DESTINATION = Keypair.create_from_uri("//Devnet//Tests//withdrawals")
OMNIBUS = CustodySigner("//Exchange").omnibus.ss58_address


def produce_until(dev: DevnetThread, check: Callable[[], T | None], what: str) -> T:
    """Produce blocks (the devnet makes none by itself) until `check` answers."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        dev.chain.produce_block()
        time.sleep(0.05)  # let the server's workers poll between blocks
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def devnet() -> Iterator[DevnetThread]:
    config = DevnetConfig(block_time=None, finality_lag=1, registration_interval=0, **CONFIG)
    with DevnetThread(config) as dev:
        dev.chain.produce_blocks(2)
        yield dev


@pytest.fixture
def server(
    database_url: str, devnet: DevnetThread, db: AsyncEngine, tmp_path: Path
) -> Iterator[CustodyServer]:
    s = CustodyServer(
        database_url,
        devnet.url,
        tmp_path / "server.log",
        EXCHANGE_CUSTODY_VALIDATOR_HOTKEY=validator(devnet, 1, uid=1),
    )
    s.start()
    yield s
    s.stop()


async def make_key(
    db: AsyncEngine, email: str, scopes: str, user_id: int | None = None
) -> tuple[str, str, int]:
    """A key (of a new user, or of `user_id`). A key's nonces must grow: CCXT's (ms) and
    the test client's (larger) never share one."""
    async with async_sessionmaker(db, expire_on_commit=False)() as session:
        if user_id is None:
            user_id = (await create_user(session, email)).id
        issued = await create_api_key(
            session, SecretBox(SERVER_KEY.encode()), user_id, [Scope(s) for s in scopes.split(",")]
        )
        await session.commit()
        return issued.key, issued.secret, user_id


@pytest.fixture
async def http(server: CustodyServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


def kraken(server: CustodyServer, key: str, secret: str) -> ccxt.kraken:
    return kraken_client(server.url, key, secret)


async def test_deposit_trade_withdraw_through_ccxt(
    server: CustodyServer,
    devnet: DevnetThread,
    http: httpx.AsyncClient,
    db: AsyncEngine,
    database_url: str,
) -> None:
    admin = SignedClient(http, *await make_key(db, "admin@custody.test", "read,admin"))
    user_key, user_secret, user_id = await make_key(db, "user@custody.test", "read,trade,withdraw")
    user = SignedClient(http, *await make_key(db, "", "read,trade,withdraw", user_id))
    maker_key, maker_secret, maker_id = await make_key(db, "maker@custody.test", "read,trade")
    maker = SignedClient(http, *await make_key(db, "", "read,trade", maker_id))

    # The indexer (inside the server) found the devnet's subnets: list netuid 1 as SN1/TAO.
    async def candidate() -> dict[str, Any] | None:
        r = await admin.get("/v1/admin/listings", {"state": "candidate"})
        return next((x for x in r.json() if x["netuid"] == 1), None)

    listing = None
    for _ in range(600):
        listing = await candidate()
        if listing:
            break
        devnet.chain.produce_block()
    assert listing is not None
    r = await admin.post(
        f"/v1/admin/listings/{listing['id']}/approve",
        {
            "tick_size": 1000,
            "lot_size": 1_000_000,
            "min_size": 1_000_000,
            "min_notional": 1,
            "price_band_bps": 10000,
            "maker_fee_bps": 0,
            "taker_fee_bps": 0,
        },
    )
    assert r.status_code == 200, r.text
    reference = int(r.json()["market"]["reference_price"])

    ex = kraken(server, user_key, user_secret)
    ex.load_markets()
    tao_address = ex.fetch_deposit_address("TAO")["address"]
    assert ex.fetch_deposit_address("SN1")["address"] == tao_address  # one address, all assets

    # Deposits from outside the exchange: //Alice's wallet (substrate-interface).
    with SubstrateInterface(url=devnet.url, ss58_format=42) as wallet:

        def sign_and_send(
            keypair: Keypair, module: str, function: str, params: dict[str, Any]
        ) -> None:
            call = wallet.compose_call(module, function, params)
            xt = wallet.create_signed_extrinsic(call, keypair, era={"period": 64})
            wallet.submit_extrinsic(xt)

        sign_and_send(
            ALICE, "Balances", "transfer_keep_alive", {"dest": tao_address, "value": 20 * TAO}
        )
        sign_and_send(
            ALICE,
            "SubtensorModule",
            "transfer_stake",
            {
                "destination_coldkey": tao_address,
                "hotkey": validator(devnet, 1),
                "origin_netuid": 1,
                "destination_netuid": 1,
                "alpha_amount": 30 * ALPHA,
            },
        )
        maker_address = (await maker.post("/v1/deposit-addresses", {})).json()["address"]
        sign_and_send(
            BOB, "Balances", "transfer_keep_alive", {"dest": maker_address, "value": 50 * TAO}
        )

    def credited() -> list[dict[str, Any]] | None:
        found = ex.fetch_deposits()
        return found if len(found) == 2 and all(d["status"] == "ok" for d in found) else None

    deposits = produce_until(devnet, credited, "the deposits")
    assert sorted((d["currency"], d["amount"]) for d in deposits) == [("SN1", 30.0), ("TAO", 20.0)]
    for _ in range(3):  # more blocks, more scans: nothing is credited twice
        devnet.chain.produce_block()
    balance = ex.fetch_balance()
    assert (balance["TAO"]["total"], balance["SN1"]["total"]) == (20.0, 30.0)
    assert len(ex.fetch_deposits()) == 2

    # The user trades: sells 5 SN1 into the maker's bid.
    price = reference // 1000 * 1000
    maker_ex = kraken(server, maker_key, maker_secret)

    def maker_funded() -> bool:
        return maker_ex.fetch_balance().get("TAO", {}).get("total") == 50.0

    produce_until(devnet, maker_funded, "the maker's deposit")
    bid = maker_ex.create_order("SN1/TAO", "limit", "buy", 5, price / 1e9)
    sold = ex.create_order("SN1/TAO", "market", "sell", 5)
    assert ex.fetch_order(sold["id"])["filled"] == 5
    assert maker_ex.fetch_order(bid["id"])["status"] == "closed"
    proceeds = 5 * price  # rao: 5 alpha at `price` rao per alpha, no fees on this market

    # Withdrawals through CCXT, to a named address of the user's book.
    r = await user.post(
        "/v1/withdrawal-addresses", {"name": "cold", "address": DESTINATION.ss58_address}
    )
    assert r.status_code == 201, r.text
    chain = devnet.chain
    hotkey_v = validator(devnet, 1, uid=1)

    def swept() -> bool:  # the omnibus holds what it must pay out
        return (
            chain.free_balance(OMNIBUS) > 3 * TAO
            and chain.stake_of(hotkey_v, OMNIBUS, 1) >= 4 * ALPHA
        )

    produce_until(devnet, swept, "the sweeps")
    tao_before = chain.free_balance(DESTINATION.ss58_address)
    stake_before = chain.stake_of(hotkey_v, DESTINATION.ss58_address, 1)
    sent_tao = ex.withdraw("TAO", 3, None, {"key": "cold"})
    sent_alpha = ex.withdraw("SN1", 4, None, {"key": "cold"})
    assert sent_tao["id"].startswith("W") and sent_alpha["id"].startswith("W")

    def withdrawn() -> list[dict[str, Any]] | None:
        found = ex.fetch_withdrawals()
        return found if len(found) == 2 and all(w["status"] == "ok" for w in found) else None

    done = produce_until(devnet, withdrawn, "the withdrawals")
    assert chain.free_balance(DESTINATION.ss58_address) - tao_before == 3 * TAO
    assert chain.stake_of(hotkey_v, DESTINATION.ss58_address, 1) - stake_before == 4 * ALPHA
    by_currency = {w["currency"]: w for w in done}
    assert (
        by_currency["TAO"]["txid"].startswith("0x")
        and by_currency["TAO"]["address"] == DESTINATION.ss58_address
    )
    fee = round(by_currency["TAO"]["fee"]["cost"] * 1e9)
    assert 0 < fee <= 1_000_000
    balance = ex.fetch_balance()
    assert round(balance["TAO"]["total"] * 1e9) == 20 * TAO + proceeds - 3 * TAO - fee
    assert round(balance["SN1"]["total"] * 1e9) == 30 * ALPHA - 5 * ALPHA - 4 * ALPHA

    # The ledger balances and custody equals the chain.
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "ledger",
        "check",
        env=server.env,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await check.communicate()
    assert check.returncode == 0, output.decode()
    assert b"OK" in output
    reconciliation = (await admin.get("/v1/admin/custody/reconciliation")).json()
    assert reconciliation["ok"] is True, reconciliation
    by_asset = {a["asset"]: a for a in reconciliation["assets"]}
    assert by_asset["TAO"]["difference"] == "0" and by_asset["SN1"]["difference"] == "0", by_asset
