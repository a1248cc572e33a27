"""The real client against a devnet over WebSocket JSON-RPC: no mocks."""

import asyncio
import json
import time
from fractions import Fraction

import pytest
import websocket

from app.chain.client import AsyncChainClient, ChainClient
from app.chain.devnet.chain import account, ss58
from app.chain.devnet.server import DevnetThread, run_devnet
from app.chain.errors import ChainRequestError, ChainUnavailable
from app.chain.types import ChainSnapshot, spot_price
from tests.chain.conftest import make_devnet

CUSTODY = ss58(account(99, "custody"))


def by_key(snap: ChainSnapshot) -> list[tuple[int, str, str, Fraction, Fraction, int]]:
    return sorted(
        (p.netuid, p.hotkey, p.coldkey, p.shares, p.total_shares, p.total_alpha)
        for p in snap.positions
    )


def assert_matches_devnet(snap: ChainSnapshot, devnet: DevnetThread, coldkeys: set[str]) -> None:
    view = devnet.chain.block(snap.block_hash).view
    assert snap.block_number == view.block_number
    assert snap.timestamp_ms == view.timestamp_ms > 0  # Timestamp.Now: 12 s a block
    assert snap.block_time is not None and snap.block_time.timestamp() * 1000 == view.timestamp_ms
    assert snap.subnets == view.subnets
    assert snap.validators == [v for v in view.validators if v.validator_permit]
    expected = ChainSnapshot(
        0, "", {}, positions=[p for p in view.positions if p.coldkey in coldkeys]
    )
    assert by_key(snap) == by_key(expected)


def test_snapshot_matches_devnet_state_exactly(devnet: DevnetThread, client: ChainClient) -> None:
    chain = devnet.chain
    legacy = next(v for v in chain.head.view.validators if v.validator_permit and v.netuid == 1)
    pools = chain.pools
    v2_hot, v2_net = next((h, n) for (h, n), p in pools.items() if p.v2 and n != 0)
    chain.seed_stake(CUSTODY, legacy.hotkey, 1, 123_456_789_012)
    chain.seed_stake(CUSTODY, v2_hot, v2_net, 5 * 10**9)
    chain.set_swap_params(2, fee_rate=655, quote_weight=4 * 10**17)
    chain.subnets[4].moving_price_bits = -(3 << 32) - 5  # I96F32 is signed
    chain.produce_blocks(3)

    snap = client.snapshot(coldkeys=[CUSTODY])
    assert snap.block_hash == chain.finalized.hash
    assert_matches_devnet(snap, devnet, {CUSTODY})

    # Spot checks of the decoding, independent of the devnet's own view.
    assert len(snap.subnets) == 9 and snap.subnets[0].mechanism == 0
    root = snap.subnets[0]  # not dynamic: 1.0 whatever its reserves (Swap::current_price)
    assert root.price == 1 and root.price_rao == 10**9
    assert spot_price(root.tao_in, root.alpha_in, root.quote_weight) != 1
    heavy = snap.subnets[2]  # quote (TAO) weight w2 about 0.4: p = (1 - w2) * y / (w2 * x)
    w2 = Fraction(heavy.quote_weight, 10**18)  # injections re-weight it a little every block
    assert abs(w2 - Fraction(4, 10)) < Fraction(1, 10**6)
    assert heavy.price == (1 - w2) / w2 * Fraction(heavy.tao_in, heavy.alpha_in)
    assert snap.subnets[1].symbol == "\u03b1" and snap.subnets[2].symbol == "\u03b2"  # alpha, beta
    assert snap.subnets[4].moving_price_bits < 0 and snap.subnets[4].moving_price < 0
    assert snap.subnets[2].fee_rate == 655
    bad = snap.subnets[3].identity
    assert bad is not None and "\ufffd" in bad.subnet_name and bad.subnet_name.startswith("Bad ")
    assert snap.subnets[7].identity is None
    assert snap.subnets[1].identity is not None
    assert snap.subnets[1].identity.github_repo.startswith("https://github.com/")
    stakes = {(p.hotkey, p.netuid): p.stake for p in snap.positions}
    assert stakes[(legacy.hotkey, 1)] >= 123_456_789_012 - 1  # grows with emissions, never less
    v2 = next(p for p in snap.positions if p.hotkey == ss58(v2_hot) and p.netuid == v2_net)
    assert v2.shares.denominator in (1, 10**9) or 10**9 % v2.shares.denominator == 0
    assert v2.stake >= 5 * 10**9 - 1


def test_stake_grows_with_emissions(devnet: DevnetThread, client: ChainClient) -> None:
    hot = next(v for v in devnet.chain.head.view.validators if v.validator_permit and v.netuid == 5)
    devnet.chain.seed_stake(CUSTODY, hot.hotkey, 5, 10**12)
    devnet.chain.produce_blocks(2)
    before = next(p for p in client.snapshot(coldkeys=[CUSTODY]).positions if p.netuid == 5)
    devnet.chain.produce_blocks(devnet.chain.config.tempo + 2)  # at least one epoch
    after = next(p for p in client.snapshot(coldkeys=[CUSTODY]).positions if p.netuid == 5)
    assert after.shares == before.shares
    assert after.stake > before.stake


def test_pinned_hash_stays_consistent_while_blocks_advance(
    devnet: DevnetThread, client: ChainClient
) -> None:
    pinned = client.finalized_head()
    first = client.snapshot(pinned.hash, coldkeys=[CUSTODY])
    devnet.chain.produce_blocks(5)
    again = client.snapshot(pinned.hash, coldkeys=[CUSTODY])
    assert again.block_number == pinned.number == first.block_number
    assert again.subnets == first.subnets
    assert again.validators == first.validators
    assert by_key(again) == by_key(first)
    latest = client.snapshot(coldkeys=[CUSTODY])
    assert latest.block_number == pinned.number + 5
    assert latest.subnets != first.subnets  # pools moved meanwhile


def test_round_trips_do_not_grow_with_subnets() -> None:
    counts = {}
    for n in (8, 128):
        with make_devnet(subnets=n) as dev, ChainClient(dev.url) as c:
            dev.chain.produce_blocks(2)
            c.snapshot()  # connects and loads metadata
            dev.chain.produce_block()
            snap = c.snapshot(coldkeys=[CUSTODY])
            assert len(snap.subnets) == n + 1
            assert_matches_devnet(snap, dev, {CUSTODY})
            counts[n] = snap.rpc_round_trips
    assert counts[8] == counts[128] <= 10


def test_unknown_method_and_bad_params(client: ChainClient) -> None:
    with pytest.raises(ChainRequestError) as info:
        client.rpc("state_noSuchMethod", [])
    assert info.value.rpc_code == -32601
    with pytest.raises(ChainRequestError) as info:
        client.rpc("state_getStorage", ["not-hex"])
    assert info.value.rpc_code == -32602
    assert client.rpc("system_chain") == "Bittensor Devnet"


def test_old_state_is_reported(client: ChainClient) -> None:
    with pytest.raises(ChainRequestError):
        client.snapshot("0x" + "ab" * 32)


def test_reconnects_after_the_devnet_drops_the_connection(
    devnet: DevnetThread, client: ChainClient
) -> None:
    client.snapshot()
    metadata_fetches = devnet.server.requests["state_getMetadata"]
    devnet.server.drop_connections()
    time.sleep(0.2)
    devnet.chain.produce_block()
    snap = client.snapshot(coldkeys=[CUSTODY])
    assert_matches_devnet(snap, devnet, {CUSTODY})
    assert client.reconnects == 1
    assert devnet.server.requests["state_getMetadata"] == metadata_fetches  # kept decoded


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_shape"])
def test_garbage_raises_chain_unavailable_without_hanging(
    devnet: DevnetThread, client: ChainClient, kind: str
) -> None:
    client.finalized_head()
    devnet.server.inject_garbage(1000, kind)
    started = time.monotonic()
    with pytest.raises(ChainUnavailable):
        client.snapshot()
    assert time.monotonic() - started < 10
    devnet.server.clear_faults()
    assert client.snapshot().subnets  # and it recovers once the node behaves


def test_a_single_garbage_answer_is_retried(devnet: DevnetThread, client: ChainClient) -> None:
    client.finalized_head()
    devnet.server.inject_garbage(1, "invalid_json")
    assert client.snapshot().subnets


def test_a_stalled_node_times_out(devnet: DevnetThread) -> None:
    with ChainClient(devnet.url, timeout=0.5, max_attempts=2, backoff=0.05) as c:
        c.finalized_head()
        devnet.server.stall(100)
        started = time.monotonic()
        with pytest.raises(ChainUnavailable):
            c.finalized_head()
        assert time.monotonic() - started < 5
        devnet.server.clear_faults()


def test_unreachable_endpoint() -> None:
    client = ChainClient("ws://127.0.0.1:9", timeout=1, max_attempts=2, backoff=0.01)
    with client, pytest.raises(ChainUnavailable) as info:
        client.finalized_head()
    assert info.value.status_code == 503


def test_netuid_reuse_changes_registered_at(devnet: DevnetThread, client: ChainClient) -> None:
    devnet.chain.produce_block()
    before = client.snapshot().subnets[6]
    devnet.chain.deregister_and_reuse(6)
    devnet.chain.produce_blocks(2)
    after = client.snapshot().subnets[6]
    assert after.registered_at > before.registered_at
    assert after.owner_coldkey != before.owner_coldkey


def test_new_subnet_registration_is_seen(devnet: DevnetThread, client: ChainClient) -> None:
    netuid = devnet.chain.register_subnet(tao_in=500 * 10**9, price=Fraction(1, 100))
    devnet.chain.produce_blocks(2)
    snap = client.snapshot()
    assert netuid in snap.subnets
    assert snap.subnets[netuid].tao_in >= 500 * 10**9 - 10**9


def test_follow_finalized_yields_new_heads(devnet: DevnetThread, client: ChainClient) -> None:
    heads = client.follow_finalized(poll_interval=0.01)
    first = next(heads)
    devnet.chain.produce_block()
    second = next(heads)
    assert second.number == first.number + 1
    assert client.block_hash(second.number) == second.hash


def test_head_subscription(devnet: DevnetThread) -> None:
    ws = websocket.create_connection(devnet.url, timeout=5)
    try:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "chain_subscribeNewHeads"}))
        sub = json.loads(ws.recv())["result"]
        assert json.loads(ws.recv())["params"]["subscription"] == sub  # the current head
        block = devnet.chain.produce_block()
        note = json.loads(ws.recv())
        assert note["method"] == "chain_newHead"
        assert int(note["params"]["result"]["number"], 16) == block.number
        ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 2, "method": "chain_unsubscribeNewHeads", "params": [sub]}
            )
        )
        assert json.loads(ws.recv())["result"] is True
    finally:
        ws.close()


async def test_async_client_with_an_in_loop_devnet() -> None:
    from app.chain.devnet.chain import DevnetConfig

    config = DevnetConfig(seed=3, subnets=4, block_time=0.05, finality_lag=0)
    async with run_devnet(config) as dev:
        client = AsyncChainClient(dev.url, timeout=2)
        try:
            heads = client.follow_finalized(poll_interval=0.02)
            first = await anext(heads)
            second = await asyncio.wait_for(anext(heads), 5)
            assert second.number > first.number
            snap = await client.snapshot()
            assert set(snap.subnets) == {0, 1, 2, 3, 4}
            assert snap.block_number >= second.number
        finally:
            await client.close()


def test_raw_json_rpc_errors(devnet: DevnetThread) -> None:
    ws = websocket.create_connection(devnet.url, timeout=5)
    try:
        ws.send("{not json")
        assert json.loads(ws.recv())["error"]["code"] == -32700
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "nope_nope", "params": []}))
        assert json.loads(ws.recv())["error"]["code"] == -32601
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "chain_getHeader", "params": 5}))
        assert json.loads(ws.recv())["error"]["code"] == -32602
        batch = [
            {"jsonrpc": "2.0", "id": 3, "method": "system_name"},
            {"jsonrpc": "2.0", "id": 4, "method": "chain_getFinalizedHead"},
        ]
        ws.send(json.dumps(batch))
        answers = json.loads(ws.recv())
        assert [a["id"] for a in answers] == [3, 4]
        assert answers[1]["result"] == devnet.chain.finalized.hash
    finally:
        ws.close()


def test_trader_fields_and_nominator_counts_match_the_devnet(
    devnet: DevnetThread, client: ChainClient
) -> None:
    chain = devnet.chain
    chain.produce_blocks(chain.config.tempo + 1)  # an epoch: dividends per validator
    head = chain.head
    snap = client.snapshot(block_hash=head.hash, include_nominators=True)
    view = head.view
    assert snap.tao_weight == view.tao_weight == 971_718_665_099_567_868
    for netuid, s in snap.subnets.items():
        truth = view.subnets[netuid]
        assert (s.registration_cost, s.subtoken_enabled, s.transfer_enabled) == (
            truth.registration_cost,
            truth.subtoken_enabled,
            truth.transfer_enabled,
        )
    assert any(not s.transfer_enabled for s in snap.subnets.values() if s.netuid)
    by_key = {(v.netuid, v.hotkey): v for v in view.validators}
    paid = 0
    for v in snap.validators:
        truth = by_key[(v.netuid, v.hotkey)]
        assert (v.childkey_take, v.alpha_dividends, v.total_alpha_last_epoch) == (
            truth.childkey_take,
            truth.alpha_dividends,
            truth.total_alpha_last_epoch,
        )
        pool = chain.pools[(account_of(v.hotkey), v.netuid)]
        assert v.nominators == sum(1 for shares in pool.shares.values() if shares)
        paid += v.alpha_dividends > 0
    assert paid and any(v.childkey_take for v in snap.validators)


def account_of(address: str) -> bytes:
    from app.chain.devnet.chain import to_account

    return to_account(address)
