"""SubtensorModule staking calls on the devnet, through substrate-interface: exact amounts from
the pool's state before the extrinsic (the parent block's reserves plus this block's
emission), events in subtensor's order, fees (in TAO or in alpha) and dispatch errors."""

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from substrateinterface import Keypair, SubstrateInterface

from app.chain.devnet.chain import DEV_STAKE, Block, ss58
from app.chain.devnet.runtime import CALL_WEIGHTS, EXTRINSIC_BASE_WEIGHT
from app.chain.devnet.server import DevnetThread
from app.chain.devnet.staking import DEFAULT_MIN_STAKE
from app.chain.devnet.state import subnet_account
from app.chain.pool import quote_buy_alpha, quote_sell_alpha, swap_fee
from app.chain.types import RAO_PER_TAO, spot_price
from tests.chain.devnet.conftest import (
    ALICE,
    BOB,
    events,
    free,
    fresh,
    include,
    receipt,
    signed,
    stake,
    storage,
)

M = "SubtensorModule"
ALPHA = RAO_PER_TAO


@dataclass
class PoolBefore:
    tao_in: int
    alpha_in: int
    fee_rate: int
    quote_weight: int

    @property
    def price(self) -> Fraction:
        return spot_price(self.tao_in, self.alpha_in, self.quote_weight)


def pool_before(substrate: SubstrateInterface, netuid: int, block: Block) -> PoolBefore:
    """The pool as the block's extrinsics found it: parent reserves plus this block's emission."""
    parent = block.parent_hash
    tao = storage(substrate, "SubnetTAO", netuid, parent)
    tao += storage(substrate, "SubnetTaoInEmission", netuid, block.hash)
    tao += storage(substrate, "SubnetExcessTao", netuid, block.hash)  # the chain buy
    alpha = storage(substrate, "SubnetAlphaIn", netuid, parent)
    alpha += storage(substrate, "SubnetAlphaInEmission", netuid, block.hash)
    bought = storage(substrate, "SubnetProtocolAlpha", netuid, block.hash)
    alpha -= bought - storage(substrate, "SubnetProtocolAlpha", netuid, parent)
    fee_rate = substrate.query("Swap", "FeeRate", [netuid], block_hash=parent).value
    # The injection re-weights the pool to keep its price (`adjust_protocol_liquidity`),
    # before the extrinsics, which do not change the weights.
    weight = substrate.query("Swap", "SwapBalancer", [netuid], block_hash=block.hash)
    weight = weight.value["quote"]
    return PoolBefore(tao, alpha, fee_rate, weight)


def validator(substrate: SubstrateInterface, netuid: int, uid: int = 0) -> str:
    """A validator's hotkey; uid 0 is the one the development accounts stake with."""
    return str(substrate.query(M, "Keys", [netuid, uid]).value)


def call_fee(xt: Any, call: str) -> int:
    return EXTRINSIC_BASE_WEIGHT // 2000 + len(xt.data) + CALL_WEIGHTS[(M, call)][0] // 2000


def named(rcpt: Any) -> list[str]:
    return [f"{m}.{e}" for m, e, _ in events(rcpt)]


def attributes(rcpt: Any, event: str) -> list[Any]:
    return [a for m, e, a in events(rcpt) if f"{m}.{e}" == event]


def test_add_stake(dev: DevnetThread, substrate: SubstrateInterface) -> None:
    netuid, amount = 1, 25 * RAO_PER_TAO
    hot = validator(substrate, netuid)
    xt = signed(
        substrate, ALICE, M, "add_stake", {"hotkey": hot, "netuid": netuid, "amount_staked": amount}
    )
    parent = dev.chain.head.hash
    alice_free = free(substrate, ALICE.ss58_address, parent)
    alice_stake = stake(substrate, hot, ALICE.ss58_address, netuid, parent)
    author = ss58(dev.chain.author)
    author_free = free(substrate, author, parent)

    block = include(dev, substrate, xt)

    before = pool_before(substrate, netuid, block)
    alpha, swap = quote_buy_alpha(before, amount)
    assert swap == swap_fee(amount, 33)
    fee = call_fee(xt, "add_stake")
    rcpt = receipt(substrate, block, xt)
    assert rcpt.is_success and rcpt.total_fee_amount == fee
    subnet = ss58(subnet_account(netuid))
    assert events(rcpt) == [
        ("Balances", "Withdraw", {"who": ALICE.ss58_address, "amount": fee}),
        ("Balances", "Transfer", {"from": ALICE.ss58_address, "to": subnet, "amount": amount}),
        ("Balances", "Transfer", {"from": subnet, "to": author, "amount": swap}),
        ("SubtensorModule", "StakeAdded", (ALICE.ss58_address, hot, amount, alpha, netuid, swap)),
        ("Balances", "Deposit", {"who": author, "amount": fee}),
        (
            "TransactionPayment",
            "TransactionFeePaid",
            {"who": ALICE.ss58_address, "actual_fee": fee, "tip": 0},
        ),
        ("System", "ExtrinsicSuccess", events(rcpt)[-1][2]),
    ]
    assert stake(substrate, hot, ALICE.ss58_address, netuid, block.hash) == alice_stake + alpha
    assert free(substrate, ALICE.ss58_address, block.hash) == alice_free - amount - fee
    assert free(substrate, author, block.hash) == author_free + swap + fee
    assert storage(substrate, "SubnetTAO", netuid, block.hash) == before.tao_in + amount - swap
    assert storage(substrate, "SubnetAlphaIn", netuid, block.hash) == before.alpha_in - alpha
    assert free(substrate, subnet, block.hash) == storage(
        substrate, "SubnetTAO", netuid, block.hash
    )


def test_remove_stake_and_its_cap(dev: DevnetThread, substrate: SubstrateInterface) -> None:
    netuid, amount = 2, 40 * ALPHA
    hot = validator(substrate, netuid)
    xt = signed(
        substrate,
        ALICE,
        M,
        "remove_stake",
        {"hotkey": hot, "netuid": netuid, "amount_unstaked": amount},
    )
    parent = dev.chain.head.hash
    alice_free = free(substrate, ALICE.ss58_address, parent)
    alice_stake = stake(substrate, hot, ALICE.ss58_address, netuid, parent)

    block = include(dev, substrate, xt)

    before = pool_before(substrate, netuid, block)
    tao, alpha_fee = quote_sell_alpha(before, amount)
    fee = call_fee(xt, "remove_stake")
    rcpt = receipt(substrate, block, xt)
    assert rcpt.is_success
    subnet, author = ss58(subnet_account(netuid)), ss58(dev.chain.author)
    assert named(rcpt) == [
        "Balances.Withdraw",
        "Balances.Transfer",  # the proceeds, from the subnet account
        "Balances.Transfer",  # the swap fee, sold for TAO, to the block author
        "SubtensorModule.StakeRemoved",
        "Balances.Deposit",
        "TransactionPayment.TransactionFeePaid",
        "System.ExtrinsicSuccess",
    ]
    proceeds, author_cut = attributes(rcpt, "Balances.Transfer")
    assert proceeds == {"from": subnet, "to": ALICE.ss58_address, "amount": tao}
    assert author_cut["from"] == subnet and author_cut["to"] == author
    assert attributes(rcpt, "SubtensorModule.StakeRemoved") == [
        (ALICE.ss58_address, hot, tao, amount - alpha_fee, netuid, alpha_fee)
    ]
    assert stake(substrate, hot, ALICE.ss58_address, netuid, block.hash) == alice_stake - amount
    assert free(substrate, ALICE.ss58_address, block.hash) == alice_free + tao - fee
    assert storage(substrate, "SubnetTAO", netuid, block.hash) == (
        before.tao_in - tao - author_cut["amount"]
    )

    # More than the stake held: capped at it, everything is unstaked.
    holder = fresh("remove-all")
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": holder.ss58_address, "value": 10 * RAO_PER_TAO},
        ),
    )
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            M,
            "transfer_stake",
            {
                "destination_coldkey": holder.ss58_address,
                "hotkey": hot,
                "origin_netuid": netuid,
                "destination_netuid": netuid,
                "alpha_amount": 3 * ALPHA,
            },
        ),
    )
    everything = signed(
        substrate,
        holder,
        M,
        "remove_stake",
        {"hotkey": hot, "netuid": netuid, "amount_unstaked": 2**64 - 1},
    )
    block = include(dev, substrate, everything)
    removed = attributes(receipt(substrate, block, everything), "SubtensorModule.StakeRemoved")[0]
    assert removed[3] + removed[5] == 3 * ALPHA  # alpha sold + fee in alpha: all of it
    assert stake(substrate, hot, holder.ss58_address, netuid, block.hash) == 0


def test_transfer_stake_to_another_coldkey(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    netuid, amount = 3, 123 * ALPHA + 456
    hot = validator(substrate, netuid)
    to = fresh("stake-recipient")
    xt = signed(
        substrate,
        ALICE,
        M,
        "transfer_stake",
        {
            "destination_coldkey": to.ss58_address,
            "hotkey": hot,
            "origin_netuid": netuid,
            "destination_netuid": netuid,
            "alpha_amount": amount,
        },
    )
    parent = dev.chain.head.hash
    alice_stake = stake(substrate, hot, ALICE.ss58_address, netuid, parent)

    block = include(dev, substrate, xt)

    before = pool_before(substrate, netuid, block)
    tao_equivalent = int(before.price * amount)
    rcpt = receipt(substrate, block, xt)
    assert rcpt.is_success
    assert named(rcpt)[1:4] == [
        "SubtensorModule.StakeRemoved",
        "SubtensorModule.StakeAdded",
        "SubtensorModule.StakeTransferred",
    ]
    assert attributes(rcpt, "SubtensorModule.StakeAdded") == [
        (to.ss58_address, hot, tao_equivalent, amount, netuid, 0)
    ]
    assert attributes(rcpt, "SubtensorModule.StakeRemoved") == [
        (ALICE.ss58_address, hot, tao_equivalent, amount, netuid, 0)
    ]
    assert attributes(rcpt, "SubtensorModule.StakeTransferred") == [
        (ALICE.ss58_address, to.ss58_address, hot, netuid, netuid, tao_equivalent)
    ]
    assert stake(substrate, hot, to.ss58_address, netuid, block.hash) == amount
    assert stake(substrate, hot, ALICE.ss58_address, netuid, block.hash) == alice_stake - amount
    assert substrate.query(M, "StakingHotkeys", [to.ss58_address], block_hash=block.hash).value == [
        hot
    ]
    assert (
        substrate.query("System", "Account", [to.ss58_address], block_hash=block.hash).value[
            "providers"
        ]
        == 0
    )

    # transfer_stake caps at what the sender holds: Bob holds DEV_STAKE, sends more.
    capped = signed(
        substrate,
        BOB,
        M,
        "transfer_stake",
        {
            "destination_coldkey": to.ss58_address,
            "hotkey": hot,
            "origin_netuid": netuid,
            "destination_netuid": netuid,
            "alpha_amount": 10 * DEV_STAKE,
        },
    )
    bob_stake = stake(substrate, hot, BOB.ss58_address, netuid, block.hash)
    block = include(dev, substrate, capped)
    added = attributes(receipt(substrate, block, capped), "SubtensorModule.StakeAdded")[0]
    assert added[3] == bob_stake
    assert stake(substrate, hot, BOB.ss58_address, netuid, block.hash) == 0
    assert stake(substrate, hot, to.ss58_address, netuid, block.hash) == amount + bob_stake


def test_stake_operations_below_the_minimum_fail_and_keep_the_fee(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    netuid = 1
    hot = validator(substrate, netuid)
    price = pool_before(substrate, netuid, dev.chain.head).price  # about; the check is far off
    tiny_alpha = int(Fraction(DEFAULT_MIN_STAKE // 4) / price)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "AmountTooLow",
            "add_stake",
            {"hotkey": hot, "netuid": netuid, "amount_staked": DEFAULT_MIN_STAKE},
        ),
        (
            "NotEnoughBalanceToStake",
            "add_stake",
            {"hotkey": hot, "netuid": netuid, "amount_staked": 200_000 * RAO_PER_TAO},
        ),
        (
            "HotKeyAccountNotExists",
            "add_stake",
            {
                "hotkey": fresh("no-hotkey").ss58_address,
                "netuid": netuid,
                "amount_staked": RAO_PER_TAO,
            },
        ),
        (
            "SubnetNotExists",
            "add_stake",
            {"hotkey": hot, "netuid": 99, "amount_staked": RAO_PER_TAO},
        ),
        (
            "NotEnoughStakeToWithdraw",
            "remove_stake_limit",
            {
                "hotkey": hot,
                "netuid": netuid,
                "amount_unstaked": 10**6 * ALPHA,
                "limit_price": 0,
                "allow_partial": True,
            },
        ),
        (
            "AmountTooLow",
            "transfer_stake",
            {
                "destination_coldkey": BOB.ss58_address,
                "hotkey": hot,
                "origin_netuid": netuid,
                "destination_netuid": netuid,
                "alpha_amount": tiny_alpha,
            },
        ),
    ]
    nonce = substrate.rpc_request("system_accountNextIndex", [ALICE.ss58_address])["result"]
    xts = [
        signed(substrate, ALICE, M, function, params, nonce=nonce + i)
        for i, (_, function, params) in enumerate(cases)
    ]
    parent = dev.chain.head.hash
    alice_free = free(substrate, ALICE.ss58_address, parent)
    alice_stake = stake(substrate, hot, ALICE.ss58_address, netuid, parent)
    block = include(dev, substrate, *xts)
    fees = 0
    for (name, _, _), xt in zip(cases, xts, strict=True):
        rcpt = receipt(substrate, block, xt)
        assert not rcpt.is_success
        assert rcpt.error_message is not None and rcpt.error_message["name"] == name
        assert named(rcpt) == [
            "Balances.Withdraw",
            "Balances.Deposit",
            "TransactionPayment.TransactionFeePaid",
            "System.ExtrinsicFailed",
        ]
        fees += rcpt.total_fee_amount
    assert free(substrate, ALICE.ss58_address, block.hash) == alice_free - fees
    assert stake(substrate, hot, ALICE.ss58_address, netuid, block.hash) == alice_stake


def test_move_stake_between_hotkeys_and_subnets(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    hot1, hot1b, hot2 = validator(substrate, 1), validator(substrate, 1, 1), validator(substrate, 2)
    same = signed(
        substrate,
        ALICE,
        M,
        "move_stake",
        {
            "origin_hotkey": hot1,
            "destination_hotkey": hot1b,
            "origin_netuid": 1,
            "destination_netuid": 1,
            "alpha_amount": 5 * ALPHA,
        },
    )
    parent = dev.chain.head.hash
    on_b = stake(substrate, hot1b, ALICE.ss58_address, 1, parent)
    block = include(dev, substrate, same)
    rcpt = receipt(substrate, block, same)
    tao_equivalent = int(pool_before(substrate, 1, block).price * 5 * ALPHA)
    assert attributes(rcpt, "SubtensorModule.StakeMoved") == [
        (ALICE.ss58_address, hot1, 1, hot1b, 1, tao_equivalent)
    ]
    assert stake(substrate, hot1b, ALICE.ss58_address, 1, block.hash) == on_b + 5 * ALPHA

    across = signed(
        substrate,
        ALICE,
        M,
        "move_stake",
        {
            "origin_hotkey": hot1,
            "destination_hotkey": hot2,
            "origin_netuid": 1,
            "destination_netuid": 2,
            "alpha_amount": 20 * ALPHA,
        },
    )
    parent = dev.chain.head.hash
    on_2 = stake(substrate, hot2, ALICE.ss58_address, 2, parent)
    block = include(dev, substrate, across)
    rcpt = receipt(substrate, block, across)
    assert rcpt.is_success
    origin, destination = pool_before(substrate, 1, block), pool_before(substrate, 2, block)
    tao, _ = quote_sell_alpha(origin, 20 * ALPHA)
    destination.fee_rate = 0  # the destination's swap fee is dropped: one fee per move
    alpha, _ = quote_buy_alpha(destination, tao)
    assert attributes(rcpt, "SubtensorModule.StakeRemoved")[0][2] == tao
    assert attributes(rcpt, "SubtensorModule.StakeAdded") == [
        (ALICE.ss58_address, hot2, tao, alpha, 2, 0)
    ]
    assert attributes(rcpt, "SubtensorModule.StakeMoved") == [
        (ALICE.ss58_address, hot1, 1, hot2, 2, tao)
    ]
    assert stake(substrate, hot2, ALICE.ss58_address, 2, block.hash) == on_2 + alpha

    swap = signed(
        substrate,
        ALICE,
        M,
        "swap_stake",
        {"hotkey": hot2, "origin_netuid": 2, "destination_netuid": 2, "alpha_amount": ALPHA},
    )
    block = include(dev, substrate, swap)
    assert receipt(substrate, block, swap).error_message["name"] == "SameNetuid"


def test_limit_prices(dev: DevnetThread, substrate: SubstrateInterface) -> None:
    netuid = 4
    hot = validator(substrate, netuid)
    before = pool_before(substrate, netuid, dev.chain.head)
    limit = int(before.price * RAO_PER_TAO * Fraction(1005, 1000))  # 0.5% above the price
    amount = min(before.tao_in // 100, 50_000 * RAO_PER_TAO)  # would move it about 2%
    partial = signed(
        substrate,
        ALICE,
        M,
        "add_stake_limit",
        {
            "hotkey": hot,
            "netuid": netuid,
            "amount_staked": amount,
            "limit_price": limit,
            "allow_partial": True,
        },
    )
    block = include(dev, substrate, partial)
    rcpt = receipt(substrate, block, partial)
    assert rcpt.is_success, rcpt.error_message
    added = attributes(rcpt, "SubtensorModule.StakeAdded")[0]
    assert 0 < added[2] < amount  # only what the limit allows was spent
    after = spot_price(
        storage(substrate, "SubnetTAO", netuid, block.hash),
        storage(substrate, "SubnetAlphaIn", netuid, block.hash),
        substrate.query("Swap", "SwapBalancer", [netuid], block_hash=block.hash).value["quote"],
    )
    assert abs(after * RAO_PER_TAO - limit) <= 1

    # The next block's chain buy (excess TAO swapped in) nudges the price up first: a limit
    # 0.1% above leaves room for it (about 0.05% a block here), not for the order.
    strict = signed(
        substrate,
        ALICE,
        M,
        "add_stake_limit",
        {
            "hotkey": hot,
            "netuid": netuid,
            "amount_staked": amount,
            "limit_price": int(after * RAO_PER_TAO * Fraction(1001, 1000)),
            "allow_partial": False,
        },
    )
    block = include(dev, substrate, strict)
    assert receipt(substrate, block, strict).error_message["name"] == "SlippageTooHigh"

    now = pool_before(substrate, netuid, dev.chain.head).price  # chain buys moved it on
    low = int(now * RAO_PER_TAO * Fraction(997, 1000))  # part of the way back
    bought = added[3]
    sell = signed(
        substrate,
        ALICE,
        M,
        "remove_stake_limit",
        {
            "hotkey": hot,
            "netuid": netuid,
            "amount_unstaked": bought,
            "limit_price": low,
            "allow_partial": True,
        },
    )
    held = stake(substrate, hot, ALICE.ss58_address, netuid, block.hash)
    block = include(dev, substrate, sell)
    rcpt = receipt(substrate, block, sell)
    assert rcpt.is_success, rcpt.error_message
    removed = attributes(rcpt, "SubtensorModule.StakeRemoved")[0]
    sold = removed[3] + removed[5]
    assert 0 < sold < bought
    assert stake(substrate, hot, ALICE.ss58_address, netuid, block.hash) == held - sold


def test_fees_in_alpha_when_free_tao_is_short(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    netuid = 2
    hot = validator(substrate, netuid)
    payer = fresh("alpha-payer")
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": payer.ss58_address, "value": 1_000},
        ),
    )
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            M,
            "transfer_stake",
            {
                "destination_coldkey": payer.ss58_address,
                "hotkey": hot,
                "origin_netuid": netuid,
                "destination_netuid": netuid,
                "alpha_amount": 50 * ALPHA,
            },
        ),
    )

    # A call that does not sell alpha cannot pay in alpha.
    refused = signed(
        substrate,
        payer,
        M,
        "add_stake",
        {"hotkey": hot, "netuid": netuid, "amount_staked": RAO_PER_TAO},
    )
    with pytest.raises(Exception) as exc:
        substrate.submit_extrinsic(refused)
    assert exc.value.args[0]["data"] == "Inability to pay some fees (e.g. account balance too low)"

    xt = signed(
        substrate,
        payer,
        M,
        "remove_stake",
        {"hotkey": hot, "netuid": netuid, "amount_unstaked": 10 * ALPHA},
    )
    held = stake(substrate, hot, payer.ss58_address, netuid, dev.chain.head.hash)
    block = include(dev, substrate, xt)
    rcpt = receipt(substrate, block, xt)
    assert rcpt.is_success, rcpt.error_message
    fee = call_fee(xt, "remove_stake")
    before = pool_before(substrate, netuid, block)
    alpha_fee = int(Fraction(fee) / before.price)
    fee_tao = quote_sell_alpha(
        PoolBefore(before.tao_in, before.alpha_in, 0, before.quote_weight), alpha_fee
    )[0]
    author = ss58(dev.chain.author)
    # Before the call: the fee's alpha is sold (no swap fee) and its TAO paid to the author.
    assert named(rcpt)[:2] == ["Balances.Transfer", "SubtensorModule.StakeRemoved"]
    assert events(rcpt)[0][2] == {
        "from": ss58(subnet_account(netuid)),
        "to": author,
        "amount": fee_tao,
    }
    assert events(rcpt)[1][2] == (payer.ss58_address, hot, fee_tao, alpha_fee, netuid, 0)
    assert named(rcpt)[-3:] == [
        "SubtensorModule.TransactionFeePaidWithAlpha",
        "TransactionPayment.TransactionFeePaid",
        "System.ExtrinsicSuccess",
    ]
    assert attributes(rcpt, "SubtensorModule.TransactionFeePaidWithAlpha") == [
        {"who": payer.ss58_address, "netuid": netuid, "alpha_fee": alpha_fee, "tao_amount": fee_tao}
    ]
    assert rcpt.total_fee_amount == fee
    assert "Balances.Withdraw" not in named(rcpt)
    left = stake(substrate, hot, payer.ss58_address, netuid, block.hash)
    assert left == held - alpha_fee - 10 * ALPHA


def test_staking_hotkeys_of_the_development_accounts(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    head = dev.chain.head.hash
    hotkeys = substrate.query(
        M, "StakingHotkeys", [Keypair.create_from_uri("//Eve").ss58_address], block_hash=head
    ).value
    assert set(hotkeys) == {validator(substrate, n) for n in (1, 2, 3, 4)}
    for netuid in (1, 2, 3, 4):
        assert (
            stake(
                substrate,
                validator(substrate, netuid),
                Keypair.create_from_uri("//Ferdie").ss58_address,
                netuid,
                head,
            )
            == DEV_STAKE
        )
        assert substrate.query(M, "SubtokenEnabled", [netuid], block_hash=head).value is True
        assert substrate.query(
            M, "Owner", [validator(substrate, netuid)], block_hash=head
        ).value != ss58(bytes(32))
