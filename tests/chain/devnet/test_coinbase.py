"""The devnet's economics against the runtime's definitions, recomputed here independently
(Decimal arithmetic written from subtensor's source, June 2026, spec 425; not the devnet's
`coinbase.py`), block after block, from what the chain serves over JSON-RPC and the devnet's
pending amounts:

- block emission: `1 TAO / 2^floor(log2(1 / (1 - issuance / 21M TAO)))` (block_emission.rs);
- subnet shares: moving price / sum of moving prices (subnet_emissions.rs);
- injection: `alpha_in = tao / price` capped at `root_prop * alpha_emission`, the rest of the
  TAO bought into the pool without a fee (run_coinbase.rs `get_subnet_terms`);
- moving price: `a = 3e-6 * b / (b + 201,600)`, `m' = a * min(p, 1) + (1 - a) * m`
  (stake_utils.rs `update_moving_price`);
- the alpha emission's split and, at the epoch, the validator's take
  (run_coinbase.rs `emit_to_subnets`, `distribute_dividends_and_incentives`).
"""

from decimal import ROUND_FLOOR, Decimal, getcontext
from typing import Any

import pytest
from substrateinterface import SubstrateInterface

from app.chain.devnet.chain import DevnetChain, DevnetConfig
from app.chain.devnet.server import DevnetThread
from tests.chain.conftest import make_devnet

getcontext().prec = 80
D = Decimal
RAO = 10**9
I96F32_ONE = 2**32
TAO_WEIGHT = D(971_718_665_099_567_868) / D(2**64 - 1)


def floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def emission_for(issuance: int) -> int:
    """block_emission.rs: `floor(log2(1 / (1 - issuance / (2 * 10.5M TAO))))` halvings of
    1 TAO (floor(log2(r)) for r >= 1 is the bit length of floor(r), less one)."""
    if issuance >= 21_000_000 * RAO:
        return 0
    residual = 1 / (1 - D(issuance) / D(2 * 10_500_000 * RAO))
    halvings = int(residual).bit_length() - 1
    return RAO // 2**halvings


def read(substrate: SubstrateInterface, item: str, netuid: int, at: str) -> Any:
    return substrate.query("SubtensorModule", item, [netuid], block_hash=at).value


def pool_at(substrate: SubstrateInterface, netuid: int, at: str) -> dict[str, Any]:
    return {
        "tao": read(substrate, "SubnetTAO", netuid, at),
        "alpha_in": read(substrate, "SubnetAlphaIn", netuid, at),
        "alpha_out": read(substrate, "SubnetAlphaOut", netuid, at),
        "moving_bits": read(substrate, "SubnetMovingPrice", netuid, at)["bits"],
        "w2": substrate.query("Swap", "SwapBalancer", [netuid], block_hash=at).value["quote"],
        "tao_in_emission": read(substrate, "SubnetTaoInEmission", netuid, at),
        "alpha_in_emission": read(substrate, "SubnetAlphaInEmission", netuid, at),
        "alpha_out_emission": read(substrate, "SubnetAlphaOutEmission", netuid, at),
        "excess": read(substrate, "SubnetExcessTao", netuid, at),
    }


def price(p: dict[str, Any]) -> Decimal:
    w2 = D(p["w2"]) / D(10**18)
    return (1 - w2) * D(p["tao"]) / (w2 * D(p["alpha_in"]))


@pytest.mark.parametrize("issued", [0, 10_499_999, 10_500_000, 15_750_000, 18_375_000, 20_999_999])
def test_block_emission_halves_with_issuance(issued: int) -> None:
    from app.chain.devnet.coinbase import block_emission_for_issuance

    for delta in (-1, 0, 1, 12_345):
        issuance = max(issued * RAO + delta, 0)
        assert block_emission_for_issuance(issuance) == emission_for(issuance), issuance


@pytest.fixture(scope="module")
def dev() -> DevnetThread:
    # No simulated trades, so every reserve change is the coinbase's; a small root stake so
    # the root proportion caps the injection and the chain buys with the rest.
    with make_devnet(subnets=6, tempo=7, swaps_per_block=0, issued_elsewhere=10_600_000 * RAO) as d:
        yield d


def test_emissions_injections_chain_buys_and_moving_prices_over_many_blocks(
    dev: DevnetThread,
) -> None:
    chain = dev.chain
    netuids = [n for n in chain.subnets if n != 0]
    chain_buys = capped = 0
    with SubstrateInterface(url=dev.url, ss58_format=42) as substrate:
        for _ in range(40):
            parent = chain.head.hash
            before = {n: pool_at(substrate, n, parent) for n in netuids}
            root_tao = read(substrate, "SubnetTAO", 0, parent)
            issuance = substrate.query("Balances", "TotalIssuance", block_hash=parent).value
            block = chain.produce_block()
            after = {n: pool_at(substrate, n, block.hash) for n in netuids}

            # The issuance that sets the emission: every account plus what was issued outside.
            emission = emission_for(issuance + chain.config.issued_elsewhere)
            assert emission in (RAO // 2, RAO // 4)  # past 10.5M TAO: halved
            # What the subnets got adds up to the block emission (truncation dust recycled).
            emitted = sum(after[n]["tao_in_emission"] + after[n]["excess"] for n in netuids)
            assert emission - 2 * len(netuids) <= emitted <= emission
            moving = {n: D(before[n]["moving_bits"]) / I96F32_ONE for n in netuids}
            total_moving = sum(moving.values())
            for n in netuids:
                b, a = before[n], after[n]
                tao_emission = D(emission) * moving[n] / total_moving
                alpha_issuance = b["alpha_in"] + b["alpha_out"]
                alpha_emission = emission_for(alpha_issuance)
                p = price(b)
                root_prop = D(root_tao) * TAO_WEIGHT / (D(root_tao) * TAO_WEIGHT + alpha_issuance)
                alpha_in = tao_emission / p
                tao_in = tao_emission
                if alpha_in > root_prop * alpha_emission:
                    capped += 1
                    alpha_in = root_prop * alpha_emission
                    tao_in = alpha_in * p
                excess = floor(tao_emission - tao_in)
                assert abs(a["tao_in_emission"] - floor(tao_in)) <= 1, (block.number, n)
                assert abs(a["alpha_in_emission"] - floor(alpha_in)) <= 1, (block.number, n)
                assert a["alpha_out_emission"] == alpha_emission
                # The chain buy: the excess swapped in without a fee, out of the pool's alpha
                # at the weights re-set for the injection (x * (1 - (y / (y + dy))^(w2/w1))).
                assert abs(a["excess"] - excess) <= 1
                if excess:
                    chain_buys += 1
                w2 = D(a["w2"]) / D(10**18)
                bought = D(b["alpha_in"]) * (
                    1 - (D(b["tao"]) / (D(b["tao"]) + D(a["excess"]))) ** (w2 / (1 - w2))
                )
                assert (
                    abs(a["alpha_in"] - (b["alpha_in"] - floor(bought) + a["alpha_in_emission"]))
                    <= 1
                )
                assert a["tao"] == b["tao"] + a["excess"] + a["tao_in_emission"]
                # The moving price after the coinbase: a tiny step towards min(price, 1).
                blocks_since_start = block.number  # genesis subnets: start_call at block 0
                weight = D(3) / D(10**6) * D(blocks_since_start) / D(blocks_since_start + 201_600)
                m = D(b["moving_bits"]) / I96F32_ONE
                expected = weight * min(price(a), D(1)) + (1 - weight) * m
                assert abs(a["moving_bits"] - floor(expected * I96F32_ONE)) <= 1
                # About 6,700 times slower than the 1/50 a block the devnet used to take.
                assert (
                    abs(D(a["moving_bits"]) / I96F32_ONE - m)
                    <= D(3) / D(10**6) * abs(price(a) - m) + D(1) / I96F32_ONE
                )
    assert capped and chain_buys  # both regimes were exercised


def test_alpha_out_split_owner_cut_and_validator_take_at_the_epoch() -> None:
    """Pending amounts per `emit_to_subnets`; at the epoch the owner cut is staked to the
    owner, each validator keeps its take (staked to its coldkey) and the rest raises its
    nominators' shares."""
    chain = DevnetChain(
        DevnetConfig(seed=4, subnets=3, block_time=None, tempo=6, swaps_per_block=0)
    )
    netuid = 2
    s = chain.subnets[netuid]
    owner_cut = D(11_796) / D(65_535)
    total_split = D(0)
    for _ in range(30):
        pending = (s.pending_owner_cut, s.pending_server_alpha, s.pending_validator_alpha)
        roots = s.pending_root_alpha
        root_tao = chain.subnets[0].tao_in
        epoch = s.epoch_index
        # What each validator and nominator held before the block.
        pools = {
            h: (p.total_alpha, dict(p.shares), p.total_shares)
            for (h, n), p in chain.pools.items()
            if n == netuid
        }
        owner_pool = chain.pools.get((s.owner_hotkey, netuid))
        owner_stake = owner_pool.value(s.owner_coldkey) if owner_pool else 0
        issuance_before = s.alpha_in + s.alpha_out
        moving = [x.moving_price_bits for n, x in chain.subnets.items() if n != 0]
        sells = sum(D(m) / I96F32_ONE for m in moving) > 1  # `get_network_root_sell_flag`
        chain.produce_block()
        alpha_out = D(s.alpha_out_emission)
        # Root proportion after the block's injection and alpha emission (a chain buy moves
        # alpha from the pool to outstanding: the issuance does not change).
        issuance = issuance_before + s.alpha_in_emission + s.alpha_out_emission
        root_prop = D(root_tao) * TAO_WEIGHT / (D(root_tao) * TAO_WEIGHT + issuance)
        cut = alpha_out * owner_cut
        rest = alpha_out - cut
        server = rest / 2
        root = root_prop * rest / 2
        validator = rest - server - root
        added = (floor(cut), floor(server), floor(validator))
        if s.epoch_index == epoch:  # no epoch: pending grows by this block's split
            assert (
                s.pending_owner_cut - pending[0],
                s.pending_server_alpha - pending[1],
                s.pending_validator_alpha - pending[2],
            ) == added
            assert s.pending_root_alpha - roots == (floor(root) if sells else 0)  # or recycled
            total_split += alpha_out
            continue
        # The epoch ran: everything pending (with this block's part) was paid out.
        assert s.pending_owner_cut == s.pending_validator_alpha == s.pending_server_alpha == 0
        owner_cut_paid = pending[0] + added[0]
        assert chain.pools[(s.owner_hotkey, netuid)].value(s.owner_coldkey) >= (
            owner_stake + owner_cut_paid - 1
        )
        paid_to_validators = pending[2] + added[2]
        validators = [h for h, p in zip(s.uids, s.permits, strict=True) if p]
        total_stake = sum(pools[h][0] for h in validators)
        alpha_parts = {}
        for h in validators:
            a = D(pools[h][0])
            r = D(chain.state.root_stakes.get(h, 0)) * TAO_WEIGHT
            dividend = a / D(total_stake)
            alpha_parts[h] = dividend - dividend * (r / (a + r))
        total_parts = sum(alpha_parts.values())
        for h in validators:
            dividend = D(paid_to_validators) * alpha_parts[h] / total_parts
            take = D(chain.takes[h]) / D(65_535)
            kept = floor(dividend * take)
            to_nominators = floor(dividend - dividend * take)
            pool = chain.pools[(h, netuid)]
            before_total, before_shares, before_total_shares = pools[h]
            root_take = pool.total_alpha - before_total - kept - to_nominators
            assert 0 <= root_take <= floor(D(roots + floor(root)) * take) + 1
            # A nominator (not the validator's own coldkey) gains exactly its pro-rata part
            # of what the validator did not keep: the APR stakers see is net of the take.
            owner = chain.state.owners[h]
            nominator = next(c for c in before_shares if c != owner)
            held = before_total * before_shares[nominator] / before_total_shares
            gained = pool.total_alpha * pool.shares[nominator] / pool.total_shares - held
            # The take is staked first, at the share price of the moment (no dilution); the
            # rest then raises every share's value: the nominator's part of it is its share
            # of the pool after that mint.
            share_then = (
                before_shares[nominator]
                * before_total
                / (before_total_shares * (before_total + kept))
            )
            assert abs(gained - to_nominators * share_then) < 1
        return
    raise AssertionError("no epoch in 30 blocks")


def test_simulated_trades_pay_their_fee_to_the_block_author() -> None:
    quiet = DevnetChain(DevnetConfig(seed=9, subnets=4, block_time=None, swaps_per_block=0))
    busy = DevnetChain(DevnetConfig(seed=9, subnets=4, block_time=None, swaps_per_block=3))
    for chain in (quiet, busy):
        start = chain.free_balance(chain.author)
        chain.produce_blocks(10)
        chain.fees = chain.free_balance(chain.author) - start  # type: ignore[attr-defined]
    assert quiet.fees == 0 and busy.fees > 0  # type: ignore[attr-defined]
