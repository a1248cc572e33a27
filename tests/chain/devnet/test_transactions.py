"""Transfers, fees, nonces, eras and refusals on the devnet, through substrate-interface only."""

import pytest
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from app.chain.devnet.chain import DEV_ACCOUNTS, DEV_FREE, ss58
from app.chain.devnet.metadata import EXISTENTIAL_DEPOSIT
from app.chain.devnet.runtime import CALL_WEIGHTS, EXTRINSIC_BASE_WEIGHT
from app.chain.devnet.server import DevnetThread
from app.chain.devnet.state import subnet_account
from tests.chain.devnet.conftest import (
    ALICE,
    BOB,
    events,
    free,
    fresh,
    include,
    nonce,
    receipt,
    rpc_error,
    signed,
)

BASE_FEE = EXTRINSIC_BASE_WEIGHT // 2000  # 54_078 rao
KEEP_ALIVE_FEE = CALL_WEIGHTS[("Balances", "transfer_keep_alive")][0] // 2000  # 81_500 rao


def expected_fee(xt: object, weight_fee: int = KEEP_ALIVE_FEE) -> int:
    return BASE_FEE + len(xt.data) + weight_fee  # type: ignore[attr-defined]


def test_development_accounts_are_substrates_well_known_keys(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    head = dev.chain.head.hash
    for name, public in DEV_ACCOUNTS.items():
        keypair = Keypair.create_from_uri(f"//{name}")
        assert keypair.public_key == public
        if name != "Alice":  # Alice pays for other tests of this module
            assert free(substrate, keypair.ss58_address, head) >= DEV_FREE - 10**9
    assert substrate.get_constant("Balances", "ExistentialDeposit").value == 500


def test_transfer_keep_alive_to_a_fresh_account(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    to = fresh("transfer-target")
    amount = 12_345_678_901
    xt = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": to.ss58_address, "value": amount},
        era={"period": 64},
    )
    parent = dev.chain.head.hash
    alice_before = free(substrate, ALICE.ss58_address, parent)
    author = ss58(dev.chain.author)
    author_before = free(substrate, author, parent)
    quoted = substrate.rpc_request("payment_queryInfo", [str(xt.data)])["result"]

    block = include(dev, substrate, xt)

    fee = expected_fee(xt)
    assert int(quoted["partialFee"]) == fee
    assert quoted["weight"]["ref_time"] == CALL_WEIGHTS[("Balances", "transfer_keep_alive")][0]
    details = substrate.rpc_request("payment_queryFeeDetails", [str(xt.data)])["result"]
    assert details["inclusionFee"] == {
        "baseFee": BASE_FEE,
        "lenFee": len(xt.data),
        "adjustedWeightFee": KEEP_ALIVE_FEE,
    }
    assert free(substrate, to.ss58_address, block.hash) == amount
    assert free(substrate, ALICE.ss58_address, block.hash) == alice_before - amount - fee
    assert free(substrate, author, block.hash) == author_before + fee

    rcpt = receipt(substrate, block, xt)
    assert rcpt.is_success and rcpt.error_message is None
    assert rcpt.total_fee_amount == fee
    assert rcpt.extrinsic_idx == 1  # 0 is the timestamp inherent
    assert events(rcpt) == [
        ("Balances", "Withdraw", {"who": ALICE.ss58_address, "amount": fee}),
        ("System", "NewAccount", {"account": to.ss58_address}),
        ("Balances", "Endowed", {"account": to.ss58_address, "free_balance": amount}),
        (
            "Balances",
            "Transfer",
            {"from": ALICE.ss58_address, "to": to.ss58_address, "amount": amount},
        ),
        ("Balances", "Deposit", {"who": author, "amount": fee}),
        (
            "TransactionPayment",
            "TransactionFeePaid",
            {"who": ALICE.ss58_address, "actual_fee": fee, "tip": 0},
        ),
        (
            "System",
            "ExtrinsicSuccess",
            {
                "dispatch_info": {
                    "weight": {
                        "ref_time": CALL_WEIGHTS[("Balances", "transfer_keep_alive")][0]
                        + EXTRINSIC_BASE_WEIGHT,
                        "proof_size": 3593,
                    },
                    "class": "Normal",
                    "pays_fee": "Yes",
                }
            },
        ),
    ]
    # The same receipt by on-chain identifier, and the block as a client reads it.
    again = substrate.retrieve_extrinsic_by_identifier(f"{block.number}-1")
    assert again.extrinsic.value["extrinsic_hash"] == "0x" + xt.extrinsic_hash.hex()
    assert again.total_fee_amount == fee
    fetched = substrate.get_block(block.hash)
    calls = [x.value["call"]["call_function"] for x in fetched["extrinsics"]]
    assert calls == ["set", "transfer_keep_alive"]
    assert fetched["extrinsics"][1].value["address"] == ALICE.ss58_address
    assert fetched["extrinsics"][1].value["era"] == (64, xt.value["era"]["current"] % 64)
    now = substrate.query("Timestamp", "Now", block_hash=block.hash).value
    assert now == fetched["extrinsics"][0].value["call"]["call_args"][0]["value"]


def test_phases_of_a_block(dev: DevnetThread, substrate: SubstrateInterface) -> None:
    block = dev.chain.produce_block()
    records = substrate.get_events(block.hash)
    assert [(r.value["phase"], r.value["extrinsic_idx"], r.value["event_id"]) for r in records] == [
        ("ApplyExtrinsic", 0, "ExtrinsicSuccess")  # the timestamp inherent
    ]
    assert records[0].value["attributes"]["dispatch_info"]["class"] == "Mandatory"
    assert substrate.query("System", "EventCount", block_hash=block.hash).value == 1
    parent = substrate.query("System", "ParentHash", block_hash=block.hash).value
    assert parent == block.parent_hash
    number = dev.chain.head.number - 1
    assert substrate.query(
        "System", "BlockHash", [number], block_hash=block.hash
    ).value == dev.chain.block_hash_at(number)


def test_transfers_below_the_existential_deposit_fail_and_pay_the_fee(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    poor = fresh("below-ed")
    fund = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": poor.ss58_address, "value": 10**7},
    )
    include(dev, substrate, fund)

    too_small = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": fresh("never-created").ss58_address, "value": EXISTENTIAL_DEPOSIT - 1},
    )
    # Leaving less than the existential deposit with keep-alive (the fee is taken first).
    draft = signed(
        substrate,
        poor,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**6},
    )
    drain = signed(
        substrate,
        poor,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**7 - expected_fee(draft) - 100},
    )
    assert len(drain.data) == len(draft.data)
    parent = dev.chain.head.hash
    alice_before = free(substrate, ALICE.ss58_address, parent)
    block = include(dev, substrate, too_small, drain)

    failed = receipt(substrate, block, too_small)
    assert not failed.is_success
    assert failed.total_fee_amount == expected_fee(too_small)
    error = next(a for m, e, a in events(failed) if e == "ExtrinsicFailed")["dispatch_error"]
    assert error == {"Token": "BelowMinimum"}
    assert [e for _, e, _ in events(failed)] == [
        "Withdraw",
        "Deposit",
        "TransactionFeePaid",
        "ExtrinsicFailed",
    ]
    assert free(substrate, ALICE.ss58_address, block.hash) == alice_before - expected_fee(too_small)
    assert (
        substrate.query(
            "System", "Account", [fresh("never-created").ss58_address], block_hash=block.hash
        ).value["providers"]
        == 0
    )

    kept = receipt(substrate, block, drain)
    assert not kept.is_success
    error = next(a for m, e, a in events(kept) if e == "ExtrinsicFailed")["dispatch_error"]
    assert error == {"Token": "NotExpendable"}
    assert free(substrate, poor.ss58_address, block.hash) == 10**7 - expected_fee(drain)

    # transfer_allow_death may empty the account: it is reaped, its dust lost.
    rest = free(substrate, poor.ss58_address, block.hash)
    reap = signed(
        substrate, poor, "Balances", "transfer_allow_death", {"dest": BOB.ss58_address, "value": 0}
    )
    fee = expected_fee(reap, CALL_WEIGHTS[("Balances", "transfer_allow_death")][0] // 2000)
    reap = signed(
        substrate,
        poor,
        "Balances",
        "transfer_allow_death",
        {"dest": BOB.ss58_address, "value": rest - fee - 100},
    )
    block = include(dev, substrate, reap)
    names = [e for _, e, _ in events(receipt(substrate, block, reap))]
    assert names == [
        "Withdraw",
        "KilledAccount",
        "DustLost",
        "Transfer",
        "Deposit",
        "TransactionFeePaid",
        "ExtrinsicSuccess",
    ]
    account = substrate.query("System", "Account", [poor.ss58_address], block_hash=block.hash)
    assert account.value["data"]["free"] == 0 and account.value["nonce"] == 0  # reaped


def test_two_transactions_in_one_block_then_replays_are_refused(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    sender = fresh("nonces")
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
    first = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**8},
    )
    assert first.value["nonce"] == 0
    substrate.submit_extrinsic(first)
    # The pool counts the pending one: the next nonce is 1.
    assert substrate.rpc_request("system_accountNextIndex", [sender.ss58_address])["result"] == 1
    second = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 2 * 10**8},
        nonce=1,
    )
    substrate.submit_extrinsic(second)
    pending = substrate.rpc_request("author_pendingExtrinsics", [])["result"]
    assert str(first.data) in pending and str(second.data) in pending

    # The very same bytes again while pooled: already imported.
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(first)
    assert rpc_error(exc) == {
        "code": 1013,
        "message": "Transaction Already Imported",
        "data": "0x" + first.extrinsic_hash.hex(),
    }

    block = dev.chain.produce_block()
    assert receipt(substrate, block, first).extrinsic_idx == 1
    assert receipt(substrate, block, second).extrinsic_idx == 2
    assert nonce(substrate, sender.ss58_address, block.hash) == 2

    # Included: the same bytes are banned for a while ...
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(second)
    assert rpc_error(exc) == {"code": 1012, "message": "Transaction is temporarily banned"}
    # ... and a new transaction with a used nonce is outdated.
    replay = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 3},
        nonce=1,
    )
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(replay)
    assert rpc_error(exc) == {
        "code": 1010,
        "message": "Invalid Transaction",
        "data": "Transaction is outdated",
    }


def test_a_tampered_signature_is_a_bad_proof(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    xt = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**9},
    )
    raw = bytearray(xt.data.data)
    raw[-1] ^= 0x01  # the amount's compact encoding ends the extrinsic: another amount
    tampered = "0x" + raw.hex()
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.rpc_request("author_submitExtrinsic", [tampered])
    error = rpc_error(exc)
    assert (error["code"], error["data"]) == (1010, "Transaction has a bad signature")
    # Refused as invalid: banned, not re-validated.
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.rpc_request("author_submitExtrinsic", [tampered])
    assert rpc_error(exc)["code"] == 1012
    # Another signer's signature on the same payload is no better.
    stolen = bytearray(xt.data.data)
    other = signed(
        substrate,
        BOB,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**9},
    )
    start = 2 + 1 + 1 + 32 + 1  # compact length (2 bytes), version, address kind, account, kind
    stolen[start : start + 64] = bytes(other.data.data)[start : start + 64]
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.rpc_request("author_submitExtrinsic", ["0x" + stolen.hex()])
    assert rpc_error(exc)["data"] == "Transaction has a bad signature"


def test_eras(dev: DevnetThread, substrate: SubstrateInterface) -> None:
    current = dev.chain.head.number
    # An era born in the future has no known birth block (no client can sign for its hash:
    # the node refuses before it looks at the signature).
    future = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**9},
        era={"period": 64, "current": current + 20},
        signature="0x" + "00" * 64,
    )
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(future)
    assert rpc_error(exc)["data"] == "Transaction has an ancient birth block"

    # An expired era: the birth block recomputed now is another block, so the signed payload
    # no longer matches (Substrate answers the same).
    short = signed(
        substrate,
        ALICE,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 10**9},
        era={"period": 4, "current": current},
    )
    dev.chain.produce_blocks(5)
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(short)
    error = rpc_error(exc)
    assert (error["code"], error["data"]) == (1010, "Transaction has a bad signature")

    # Immortal transactions are allowed; mortal ones within their era too.
    immortal = signed(
        substrate, ALICE, "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 1}
    )
    assert immortal.value["era"] == "00"
    block = include(dev, substrate, immortal)
    assert receipt(substrate, block, immortal).is_success


def test_fees_that_cannot_be_paid_are_refused(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    nobody = fresh("no-account")
    xt = signed(
        substrate,
        nobody,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 1},
        nonce=0,
    )
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(xt)
    assert rpc_error(exc) == {
        "code": 1010,
        "message": "Invalid Transaction",
        "data": "Inability to pay some fees (e.g. account balance too low)",
    }
    # An account that exists but whose fee would take it below the existential deposit.
    thin = fresh("thin")
    include(
        dev,
        substrate,
        signed(
            substrate,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": thin.ss58_address, "value": 100_000},
        ),
    )
    xt = signed(
        substrate, thin, "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 1}
    )
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(xt)
    assert rpc_error(exc)["data"] == "Inability to pay some fees (e.g. account balance too low)"


def test_malformed_and_unsigned_extrinsics(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.rpc_request("author_submitExtrinsic", ["0x1234"])
    assert rpc_error(exc)["code"] == 1001
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 1}
    )
    unsigned = substrate.create_unsigned_extrinsic(call)
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(unsigned)
    assert rpc_error(exc) == {
        "code": 1011,
        "message": "Unknown Transaction Validity",
        "data": "NoUnsignedValidator",
    }
    # The connection is still there.
    assert substrate.rpc_request("system_chain", [])["result"] == "Bittensor Devnet"


def test_future_nonces_wait_and_tips_replace(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    sender = fresh("future")
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
        {"dest": BOB.ss58_address, "value": 7},
        nonce=1,
    )
    substrate.submit_extrinsic(later)
    block = dev.chain.produce_block()
    assert len(block.extrinsics) == 1  # waiting for nonce 0
    assert substrate.rpc_request("system_accountNextIndex", [sender.ss58_address])["result"] == 0

    first = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 5},
        nonce=0,
    )
    substrate.submit_extrinsic(first)
    same_nonce = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 6},
        nonce=0,
    )
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.submit_extrinsic(same_nonce)
    assert rpc_error(exc)["code"] == 1014
    assert rpc_error(exc)["message"] == "Priority is too low: (0 vs 0)"
    tipped = signed(
        substrate,
        sender,
        "Balances",
        "transfer_keep_alive",
        {"dest": BOB.ss58_address, "value": 6},
        nonce=0,
        tip=1000,
    )
    substrate.submit_extrinsic(tipped)  # replaces `first`
    block = dev.chain.produce_block()
    assert [receipt(substrate, block, x).extrinsic_idx for x in (tipped, later)] == [1, 2]
    tip_events = events(receipt(substrate, block, tipped))
    paid = next(a for _, e, a in tip_events if e == "TransactionFeePaid")
    assert paid["tip"] == 1000 and paid["actual_fee"] == expected_fee(tipped) + 1000
    assert str(first.data) not in substrate.rpc_request("author_pendingExtrinsics", [])["result"]


def test_subnet_accounts_hold_the_pools_tao(
    dev: DevnetThread, substrate: SubstrateInterface
) -> None:
    head = dev.chain.head.hash
    for netuid in (1, 2):
        account = ss58(subnet_account(netuid))
        tao = substrate.query("SubtensorModule", "SubnetTAO", [netuid], block_hash=head).value
        assert free(substrate, account, head) == tao
    issuance = substrate.query("Balances", "TotalIssuance", block_hash=head).value
    assert issuance > len(DEV_ACCOUNTS) * DEV_FREE // 2
    # TAO sent to a subnet account outside staking stays there, beside the pool.
    account = ss58(subnet_account(3))
    xt = signed(
        substrate, ALICE, "Balances", "transfer_keep_alive", {"dest": account, "value": 10**9}
    )
    block = include(dev, substrate, xt)
    tao = substrate.query("SubtensorModule", "SubnetTAO", [3], block_hash=block.hash).value
    injected = sum(
        substrate.query("SubtensorModule", item, [3], block_hash=block.hash).value
        for item in ("SubnetTaoInEmission", "SubnetExcessTao")  # liquidity and the chain buy
    )
    assert tao == substrate.query("SubtensorModule", "SubnetTAO", [3], block_hash=head).value + (
        injected
    )
    assert free(substrate, account, block.hash) == tao + 10**9


def test_runtime_apis_answer_state_call(dev: DevnetThread, substrate: SubstrateInterface) -> None:
    """Not listed in `rpc_methods` (substrate-interface keeps to the RPCs above), but answered
    for clients that call runtime APIs directly, as on finney."""
    assert "state_call" not in substrate.rpc_request("rpc_methods", [])["result"]["methods"]
    head = dev.chain.head.hash
    account = "0x" + ALICE.public_key.hex()
    pending = signed(
        substrate, ALICE, "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": 1}
    )
    substrate.submit_extrinsic(pending)
    answer = substrate.rpc_request("state_call", ["AccountNonceApi_account_nonce", account, head])
    state_nonce = int.from_bytes(bytes.fromhex(answer["result"][2:]), "little")
    assert state_nonce == nonce(substrate, ALICE.ss58_address, head)  # the pool is not counted
    assert (
        substrate.rpc_request("system_accountNextIndex", [ALICE.ss58_address])["result"]
        == state_nonce + 1
    )

    length = len(pending.data).to_bytes(4, "little").hex()
    info = substrate.rpc_request(
        "state_call", ["TransactionPaymentApi_query_info", str(pending.data) + length]
    )
    raw = bytes.fromhex(info["result"][2:])
    assert int.from_bytes(raw[-8:], "little") == int(
        substrate.rpc_request("payment_queryInfo", [str(pending.data)])["result"]["partialFee"]
    )
    at_14 = substrate.rpc_request("state_call", ["Metadata_metadata_at_version", "0x0e000000"])
    assert at_14["result"].endswith(substrate.rpc_request("state_getMetadata", [])["result"][2:])
    with pytest.raises(SubstrateRequestException) as exc:
        substrate.rpc_request("state_call", ["SubnetInfoRuntimeApi_get_subnets_info", "0x"])
    assert rpc_error(exc)["code"] == 4003
    dev.chain.produce_block()
