"""The devnet's simulation and storage encoding."""

from substrateinterface.storage import StorageKey

from app.chain.client import ChainClient
from app.chain.codec import storage_prefix
from app.chain.devnet.chain import DEV_ACCOUNTS, DevnetChain, DevnetConfig, ss58
from app.chain.devnet.metadata import STORAGE, metadata_hex
from app.chain.devnet.server import DevnetThread
from app.chain.devnet.state import subnet_account
from app.chain.types import PERQUINTILL, RAO_PER_TAO

CONFIG = DevnetConfig(seed=11, subnets=16, block_time=None, tempo=4, registration_interval=5)


def test_same_seed_same_chain() -> None:
    a, b = DevnetChain(CONFIG), DevnetChain(CONFIG)
    a.produce_blocks(30)
    b.produce_blocks(30)
    assert a.head.hash == b.head.hash
    assert a.head.storage == b.head.storage
    assert a.head.view == b.head.view
    c = DevnetChain(DevnetConfig(seed=12, subnets=16, block_time=None))
    assert c.head.view.subnets[1] != DevnetChain(CONFIG).head.view.subnets[1]


def test_realistic_genesis() -> None:
    chain = DevnetChain(DevnetConfig(seed=5, subnets=128, block_time=None))
    dynamic = [s for n, s in chain.head.view.subnets.items() if n != 0]
    assert len(dynamic) == 128
    prices = sorted(float(s.price) for s in dynamic)
    assert 0.002 < prices[len(prices) // 2] < 0.6
    assert sum(0.003 <= p <= 0.5 for p in prices) > 0.8 * len(prices)
    reserves = [s.tao_in / RAO_PER_TAO for s in dynamic]
    assert min(reserves) >= 300 and max(reserves) <= 510_000
    assert any(s.quote_weight != PERQUINTILL // 2 for s in dynamic)
    assert all(s.symbol for s in dynamic)


def test_registrations_fill_up_then_replace_the_cheapest() -> None:
    chain = DevnetChain(
        DevnetConfig(
            seed=1, subnets=126, block_time=None, registration_interval=2, immunity_period=1
        )
    )
    chain.produce_blocks(8)
    view = chain.head.view
    assert len(view.subnets) == 129  # full: 128 dynamic + root
    reused = [s for s in view.subnets.values() if s.netuid != 0 and s.registered_at > 4]
    assert reused, "at the limit a registration replaces a subnet on its netuid"


def test_epochs_grow_validator_stake_and_keep_shares() -> None:
    """Nominators' shares stay; their value grows. New shares only go to the validator's own
    coldkey: its take is staked to it (as `distribute_dividends_and_incentives` does)."""
    chain = DevnetChain(CONFIG)
    hotkey, pool = next((h, p) for (h, n), p in chain.pools.items() if n == 1)
    owner = chain.state.owners[hotkey]
    alpha, before = pool.total_alpha, dict(pool.shares)
    values = {c: pool.value(c) for c in before if c != owner}
    chain.produce_blocks(CONFIG.tempo * 3)
    assert pool.total_alpha > alpha
    assert {c: s for c, s in pool.shares.items() if c != owner} == {
        c: s for c, s in before.items() if c != owner
    }
    assert all(pool.value(c) > v for c, v in values.items())


def test_storage_keys_match_substrate_interface(devnet: DevnetThread) -> None:
    with ChainClient(devnet.url) as client:
        client.finalized_head()
        substrate = client._connect()
        substrate.init_runtime(block_hash=devnet.chain.head.hash)
        view = devnet.chain.head.view
        legacy = {(ss58(h), n) for (h, n), p in devnet.chain.pools.items() if not p.v2}
        position = next(p for p in view.positions if (p.hotkey, p.netuid) in legacy)
        cases = [
            ("SubtensorModule", "SubnetTAO", [3]),
            ("SubtensorModule", "SubnetIdentitiesV3", [2]),
            ("SubtensorModule", "Keys", [1, 0]),
            ("SubtensorModule", "TotalHotkeyAlpha", [position.hotkey, position.netuid]),
            ("SubtensorModule", "Alpha", [position.hotkey, position.coldkey, position.netuid]),
            ("Swap", "FeeRate", [1]),
        ]
        for pallet, item, params in cases:
            key = StorageKey.create_from_storage_function(
                pallet, item, params, runtime_config=substrate.runtime_config,
                metadata=substrate.metadata,
            )  # fmt: skip
            assert bytes(key.data) in devnet.chain.head.storage or item == "SubnetIdentitiesV3"


def test_paged_keys_and_history(devnet: DevnetThread) -> None:
    with ChainClient(devnet.url) as client:
        head = devnet.chain.head
        prefix = "0x" + storage_prefix("SubtensorModule", "SubnetTAO").hex()
        first = client.rpc("state_getKeysPaged", [prefix, 3, None, head.hash])
        rest = client.rpc("state_getKeysPaged", [prefix, 1000, first[-1], head.hash])
        everything = client.rpc("state_getKeys", [prefix, head.hash])
        assert first + rest == everything and len(first) == 3
        assert client.rpc("state_getMetadata") == metadata_hex()
        assert client.rpc("chain_getBlockHash", [head.number]) == head.hash
        assert client.rpc("chain_getBlockHash", [10**6]) is None
        version = client.rpc("state_getRuntimeVersion")
        assert version == client.rpc("chain_getRuntimeVersion")
        assert client.rpc("system_properties")["ss58Format"] == 42


def test_history_is_bounded() -> None:
    chain = DevnetChain(DevnetConfig(subnets=2, block_time=None, history=5))
    genesis = chain.head.hash
    chain.produce_blocks(10)
    assert chain.block_by_number(0) is None
    assert len({b for b in range(11) if chain.block_by_number(b)}) == 5
    try:
        chain.block(genesis)
    except LookupError:
        pass
    else:
        raise AssertionError("pruned blocks are not served")


def test_metadata_describes_every_served_item() -> None:
    chain = DevnetChain(DevnetConfig(subnets=4, block_time=None))
    prefixes = {storage_prefix(s.pallet, s.name) for s in STORAGE}
    assert all(key[:32] in prefixes for key in chain.head.storage)
    assert ss58(bytes(32)).startswith("5C4hrfjw")


def test_extrinsics_keep_the_chain_deterministic() -> None:
    """Two chains of one seed given the same extrinsic bytes produce the same blocks."""
    from substrateinterface import Keypair

    from app.chain.devnet.extrinsics import decode
    from app.chain.devnet.metadata import call_decoder

    config = DevnetConfig(seed=4, subnets=3, block_time=None, registration_interval=0)
    a, b = DevnetChain(config), DevnetChain(config)
    a.produce_blocks(2)
    b.produce_blocks(2)
    data = _signed_transfer(a, Keypair.create_from_uri("//Alice"), DEV_ACCOUNTS["Bob"], 10**9)
    assert decode(data, call_decoder()).function == "transfer_keep_alive"
    for chain in (a, b):
        chain.submit_extrinsic(data)
        chain.produce_blocks(3)
    assert a.head.hash == b.head.hash and a.head.storage == b.head.storage
    assert a.block_by_number(3) is not None and len(a.block_by_number(3).extrinsics) == 2


def test_deregistration_pays_stakers_from_the_subnet_account(devnet: DevnetThread) -> None:
    """A dissolved subnet's TAO goes to its stakers by `Balances.Transfer` from the subnet
    account, in the next block's Initialization phase, with NetworkRemoved/NetworkAdded."""
    from substrateinterface import SubstrateInterface

    chain = devnet.chain
    netuid = 6
    tao_in = chain.subnets[netuid].tao_in
    alice_before = chain.free_balance(DEV_ACCOUNTS["Alice"])
    chain.deregister_and_reuse(netuid)
    block = chain.produce_block()
    with SubstrateInterface(url=devnet.url, ss58_format=42) as substrate:
        records = [r.value for r in substrate.get_events(block.hash)]
    init = [r for r in records if r["phase"] == "Initialization"]
    assert [r["event_id"] for r in init[-2:]] == ["NetworkRemoved", "NetworkAdded"]
    payouts = [r["attributes"] for r in init if r["event_id"] == "Transfer"]
    assert payouts and all(p["from"] == ss58(subnet_account(netuid)) for p in payouts)
    assert sum(p["amount"] for p in payouts) <= tao_in
    alice = next(p["amount"] for p in payouts if p["to"] == ss58(DEV_ACCOUNTS["Alice"]))
    assert chain.free_balance(DEV_ACCOUNTS["Alice"]) == alice_before + alice


def test_deregistration_payouts_follow_the_runtime_definition(devnet: DevnetThread) -> None:
    """`destroy_alpha_in_out_stakes`, recomputed here from its definition: the pool's TAO
    (`SubnetTAO`) is shared by every stake position (hotkey, coldkey) pro rata to the alpha
    it is worth, the pool's own alpha (`SubnetAlphaIn`) counting as one more holder whose
    part is recycled; each position gets the floor of its exact share, and what the floors
    leave (beyond the pool's part) goes one rao each to the largest remainders."""
    from fractions import Fraction
    from random import Random

    from substrateinterface import SubstrateInterface

    chain = devnet.chain
    netuid = max(n for n in chain.subnets if n != 6)  # a dynamic subnet the others leave
    rng = Random(9)
    hotkeys = [bytes([200 + i]) * 32 for i in range(3)]
    coldkeys = [bytes([100 + i]) * 32 for i in range(5)]
    for cold in coldkeys:
        for hot in rng.sample(hotkeys, 2):
            chain.seed_stake(cold, hot, netuid, rng.randint(10**9, 10**12))
    # The positions as the chain's storage has them: shares of each hotkey's alpha.
    subnet = chain.subnets[netuid]
    tao_in, alpha_in = subnet.tao_in, subnet.alpha_in
    positions = [
        (cold, pool.total_alpha * Fraction(shares) / pool.total_shares)
        for (_, n), pool in chain.pools.items()
        if n == netuid
        for cold, shares in pool.shares.items()
    ]
    worth = [(cold, int(alpha)) for cold, alpha in positions]  # alpha-rao, rounded down
    total = sum(v for _, v in worth) + alpha_in
    exact = [(cold, Fraction(tao_in * v, total)) for cold, v in worth]
    floors = [int(x) for _, x in exact]
    left = tao_in - sum(floors) - tao_in * alpha_in // total
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i][1] - floors[i], reverse=True)
    for i in by_remainder[:left]:
        floors[i] += 1
    expected: dict[str, int] = {}
    for (cold, _), amount in zip(exact, floors, strict=True):
        expected[ss58(cold)] = expected.get(ss58(cold), 0) + amount

    chain.deregister_and_reuse(netuid)
    block = chain.produce_block()
    with SubstrateInterface(url=devnet.url, ss58_format=42) as substrate:
        records = [r.value for r in substrate.get_events(block.hash)]
    paid: dict[str, int] = {}
    for r in records:
        if r["event_id"] == "Transfer" and r["attributes"]["from"] == ss58(subnet_account(netuid)):
            to = r["attributes"]["to"]
            paid[to] = paid.get(to, 0) + r["attributes"]["amount"]
    ours = {ss58(c) for c in coldkeys}
    assert {k: v for k, v in paid.items() if k in ours} == {
        k: v for k, v in expected.items() if k in ours
    }
    assert paid == {k: v for k, v in expected.items() if v}


def test_headers_and_bodies_outlive_pruned_state() -> None:
    config = DevnetConfig(subnets=2, block_time=None, history=4, registration_interval=0)
    with DevnetThread(config) as dev, ChainClient(dev.url) as client:
        dev.chain.produce_blocks(10)
        old = dev.chain.block_hash_at(2)
        assert old is not None and dev.chain.block_by_number(2) is None
        body = client.rpc("chain_getBlock", [old])
        assert int(body["block"]["header"]["number"], 16) == 2
        assert len(body["block"]["extrinsics"]) == 1  # the timestamp inherent
        assert client.rpc("chain_getBlockHash", [2]) == old
        assert client.rpc("chain_getHeader", [old])["parentHash"] == dev.chain.block_hash_at(1)


def _signed_transfer(chain: DevnetChain, keypair: object, dest: bytes, value: int) -> bytes:
    """A transfer signed for `chain`'s genesis (immortal), built by hand."""
    from app.chain import codec
    from app.chain.devnet.metadata import SPEC_VERSION, TRANSACTION_VERSION, call_index

    call = call_index("Balances", "transfer_keep_alive") + b"\x00" + dest + codec.compact(value)
    extra = b"\x00" + codec.compact(0) + codec.compact(0) + b"\x00"  # era, nonce, tip, mode
    genesis = bytes.fromhex(chain.block_hash_at(0)[2:])  # type: ignore[index]
    payload = call + extra + codec.u32(SPEC_VERSION) + codec.u32(TRANSACTION_VERSION)
    payload += genesis + genesis + b"\x00"
    signature = keypair.sign(payload)  # type: ignore[attr-defined]
    body = b"\x84\x00" + keypair.public_key + b"\x01" + signature + extra + call  # type: ignore[attr-defined]
    return codec.compact(len(body)) + body
