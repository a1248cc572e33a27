"""Private WebSocket events: a deposit credited by the scanner and a withdrawal's states
reach their owner's `deposits` / `withdrawals` channels (and `balances`), nobody else's."""

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from substrateinterface import Keypair, SubstrateInterface

from app.chain.devnet.server import DevnetThread
from app.custody.runner import CustodyWorker
from tests.conftest import SignedFactory
from tests.custody.conftest import ALICE, TAO, finalize, send, settle_all
from tests.custody.test_deposits import deposit_address
from tests.marketdata.conftest import WsClient, connect, ws_url  # noqa: F401  (fixture)


async def until_message(ws: WsClient, check: Any) -> dict[str, Any]:
    """The first message `check` accepts (others are skipped), or a timeout."""
    for _ in range(100):
        message = await ws.recv(10.0)
        if check(message):
            return message
    raise AssertionError("no such message")


async def test_deposit_and_withdrawal_events(
    app: FastAPI,
    signed: SignedFactory,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    worker: CustodyWorker,
    db: AsyncEngine,
    ws_url: str,  # noqa: F811
) -> None:
    user, other = await signed("read,withdraw"), await signed("read")
    feeds = {}
    for name, who in (("user", user), ("other", other)):
        ws = await connect(ws_url)
        assert (await ws.auth(who))["event"] == "authenticated"
        for channel in ("deposits", "withdrawals", "balances"):
            ack = await ws.request({"op": "subscribe", "channel": channel})
            assert ack == {"event": "subscribed", "channel": channel}, ack
        feeds[name] = ws
    address = await deposit_address(user)
    await worker.scanner.scan()
    send(
        devnet,
        wallet,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": address, "value": 3 * TAO},
    )
    finalize(devnet)
    await worker.scanner.scan()

    feed = feeds["user"]
    deposit = await until_message(feed, lambda m: m.get("channel") == "deposits")
    assert deposit["data"]["state"] == "credited" and deposit["data"]["amount"] == str(3 * TAO)
    balance = await until_message(feed, lambda m: m.get("channel") == "balances")
    assert balance["data"][0]["asset"] == "TAO" and balance["data"][0]["available"] == str(3 * TAO)

    await settle_all(worker, devnet, db)  # swept to the omnibus
    destination = Keypair.create_from_uri("//Devnet//Tests//ws").ss58_address
    await user.post("/v1/withdrawal-addresses", {"name": "out", "address": destination})
    r = await user.post(
        "/v1/withdrawals",
        {"asset": "TAO", "amount": str(TAO), "address_name": "out", "idempotency_key": "ws1"},
    )
    assert r.status_code == 201, r.text

    async def next_state() -> str:
        m = await until_message(feed, lambda m: m.get("channel") == "withdrawals")
        assert m["data"]["id"] == r.json()["id"]
        return str(m["data"]["state"])

    # Each message carries the withdrawal as it is when sent (changes in between coalesce):
    # one step at a time, every state is seen.
    assert await next_state() == "queued"
    await worker.step()
    assert await next_state() == "sending"
    await settle_all(worker, devnet, db)
    assert await next_state() == "completed"

    # The other user subscribed to the same channels and heard nothing of it (everything
    # about it reached the owner already; the other's next message is the pong).
    await feeds["other"].nothing_more()
    for ws in feeds.values():
        await ws.conn.close()
