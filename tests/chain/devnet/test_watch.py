"""`author_submitAndWatchExtrinsic` through substrate-interface (waiting for inclusion and for
finality) and over a raw WebSocket, for every status a Substrate node sends."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from substrateinterface import SubstrateInterface

from app.chain.devnet.server import DevnetThread
from tests.chain.devnet.conftest import (
    ALICE,
    BOB,
    CHARLIE,
    fresh,
    include,
    producing,
    receipt,
    signed,
)


@pytest.fixture
def ws(dev: DevnetThread) -> Iterator[websocket.WebSocket]:
    conn = websocket.create_connection(dev.url, timeout=5)
    yield conn
    conn.close()


def watch(ws: websocket.WebSocket, xt: Any, request_id: int = 1) -> str:
    ws.send(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "author_submitAndWatchExtrinsic",
                "params": [str(xt.data)],
            }
        )
    )
    answer = json.loads(ws.recv())
    assert "result" in answer, answer
    return str(answer["result"])


_BUFFERED: dict[str, list[Any]] = {}


def statuses(ws: websocket.WebSocket, sub: str, until: str) -> list[Any]:
    """Notifications for `sub` until one of kind `until` (a string status or a dict key);
    other subscriptions' notifications are kept for later calls."""
    seen: list[Any] = []
    while True:
        queued = _BUFFERED.get(sub)
        if queued:
            result = queued.pop(0)
        else:
            message = json.loads(ws.recv())
            assert message.get("method") == "author_extrinsicUpdate", message
            if message["params"]["subscription"] != sub:
                _BUFFERED.setdefault(message["params"]["subscription"], []).append(
                    message["params"]["result"]
                )
                continue
            result = message["params"]["result"]
        seen.append(result)
        if result == until or (isinstance(result, dict) and until in result):
            return seen


def test_substrate_interface_waits_for_inclusion_and_finality(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    xt = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**9},
    )
    with producing(dev):
        rcpt = substrate.submit_extrinsic(xt, wait_for_finalization=True)
    assert rcpt.finalized and rcpt.is_success
    block_number = substrate.get_block_number(rcpt.block_hash)
    assert dev.chain.finalized.number >= block_number
    assert rcpt.get_extrinsic_identifier() == f"{block_number}-{rcpt.extrinsic_idx}"

    xt = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**9},
    )
    with producing(dev):
        rcpt = substrate.submit_extrinsic(xt, wait_for_inclusion=True)
    assert not rcpt.finalized and rcpt.is_success


def test_ready_in_block_finalized(
    dev: DevnetThread, substrate: SubstrateInterface, ws: websocket.WebSocket
) -> None:
    xt = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 1},
        era={"period": 32},
    )
    sub = watch(ws, xt)
    assert statuses(ws, sub, "ready") == ["ready"]
    block = dev.chain.produce_block()
    assert statuses(ws, sub, "inBlock") == [{"inBlock": block.hash}]
    dev.chain.produce_blocks(dev.chain.config.finality_lag)
    assert statuses(ws, sub, "finalized") == [{"finalized": block.hash}]
    assert receipt(substrate, block, xt).is_success
    ws.send(
        json.dumps(
            {"jsonrpc": "2.0", "id": 9, "method": "author_unwatchExtrinsic", "params": [sub]}
        )
    )
    assert json.loads(ws.recv())["result"] is False  # the subscription ended with finality


def test_future_then_ready_and_usurped(
    dev: DevnetThread, substrate: SubstrateInterface, ws: websocket.WebSocket
) -> None:
    sender = fresh("watch-future")
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": sender.ss58_address, "value": 10**10},
        ),
    )
    later = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 2},
        nonce=1,
    )
    sub_later = watch(ws, later, 1)
    assert statuses(ws, sub_later, "future") == ["future"]
    first = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 1},
        nonce=0,
    )
    sub_first = watch(ws, first, 2)
    assert statuses(ws, sub_later, "ready") == ["ready"]  # promoted: its nonce is next
    assert statuses(ws, sub_first, "ready") == ["ready"]

    richer = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 1},
        nonce=0,
        tip=5,
    )
    substrate.submit_extrinsic(richer)
    assert statuses(ws, sub_first, "usurped") == [{"usurped": "0x" + richer.extrinsic_hash.hex()}]
    block = dev.chain.produce_block()
    assert statuses(ws, sub_later, "inBlock") == [{"inBlock": block.hash}]


def test_invalid_when_an_era_ends_in_the_pool(
    dev: DevnetThread, substrate: SubstrateInterface, ws: websocket.WebSocket
) -> None:
    waiting = signed(
        substrate,
        CHARLIE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 1},
        nonce=substrate.rpc_request("system_accountNextIndex", [CHARLIE.ss58_address])["result"]
        + 1,
        era={"period": 4, "current": dev.chain.head.number},
    )
    sub = watch(ws, waiting)
    assert statuses(ws, sub, "future") == ["future"]
    dev.chain.produce_blocks(5)
    assert statuses(ws, sub, "invalid") == ["invalid"]
    assert str(waiting.data) not in substrate.rpc_request("author_pendingExtrinsics", [])["result"]


def test_dropped_when_the_future_queue_is_full(
    dev: DevnetThread, substrate: SubstrateInterface, ws: websocket.WebSocket
) -> None:
    sender = fresh("watch-dropped")
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": sender.ss58_address, "value": 10**10},
        ),
    )
    pool = dev.chain.pool
    limit, pool.future_limit = pool.future_limit, 1
    try:
        older = signed(
            substrate,
            sender,
            "Balances",
            "transfer_keep_alive",
            {"dest": BOB.ss58_address, "value": 1},
            nonce=5,
        )
        sub = watch(ws, older)
        assert statuses(ws, sub, "future") == ["future"]
        newer = signed(
            substrate,
            sender,
            "Balances",
            "transfer_keep_alive",
            {"dest": BOB.ss58_address, "value": 1},
            nonce=6,
        )
        substrate.submit_extrinsic(newer)
        assert statuses(ws, sub, "dropped") == ["dropped"]
        pool.future_limit = 0
        newest = signed(
            substrate,
            sender,
            "Balances",
            "transfer_keep_alive",
            {"dest": BOB.ss58_address, "value": 1},
            nonce=7,
        )
        ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "author_submitExtrinsic",
                    "params": [str(newest.data)],
                }
            )
        )
        error = json.loads(ws.recv())["error"]
        assert (error["code"], error["message"]) == (1016, "Immediately Dropped")
    finally:
        pool.future_limit = limit
