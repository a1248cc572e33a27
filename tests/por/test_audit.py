"""Proof of reserves against the devnet: many users deposit TAO and alpha from a wallet outside
the exchange, the custody worker credits and sweeps them, then an audit: every user's proof
verifies against the published root, the reserves are the chain's custody (proven by read
proofs against the header's state root, and again against the node), every custody key
signed, and a ledger that owes more than the chain holds shows it, with the reason."""

import copy
import dataclasses
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from substrateinterface import Keypair, SubstrateInterface

from app.chain.custody import AsyncCustodyChain
from app.chain.devnet.encoding import ss58
from app.chain.devnet.server import DevnetThread
from app.custody.errors import CustodyNotConfigured
from app.custody.runner import CustodyWorker
from app.kit.units import format_units
from app.models import PorAudit
from app.por.errors import NothingToProve
from app.por.service import create_audit
from app.por.verifier import (
    VerificationError,
    ownership_message,
    ratio_text,
    ss58_decode,
    storage_key,
    verify_document,
    verify_inclusion,
    verify_on_chain,
)
from tests.conftest import SignedFactory
from tests.custody.conftest import (
    ALICE,
    ALPHA,
    SIGNER,
    TAO,
    finalize,
    make_worker,
    send,
    settle_all,
    validator,
)
from tests.custody.test_deposits import deposit_address
from tests.orders.conftest import balances
from tests.signing import SignedClient

USERS = 10
OMNIBUS = SIGNER.omnibus.ss58_address


async def audit_now(app: FastAPI, chain: AsyncCustodyChain) -> dict[str, Any]:
    async with app.state.sessionmaker() as session:
        audit = await create_audit(session, chain, app.state.custody_policy)
        await session.commit()
    document: dict[str, Any] = audit.document
    return document


async def published(client: httpx.AsyncClient, audit_id: int | None = None) -> dict[str, Any]:
    params = {} if audit_id is None else {"audit_id": str(audit_id)}
    r = await client.get("/v1/proof-of-reserves", params=params)
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


async def my_proof(user: SignedClient, audit_id: int | None = None) -> dict[str, Any]:
    r = await user.get(
        "/v1/proof-of-reserves/proof", {} if audit_id is None else {"audit_id": audit_id}
    )
    assert r.status_code == 200, r.text
    proof: dict[str, Any] = r.json()
    return proof


def deposit(
    devnet: DevnetThread, wallet: SubstrateInterface, address: str, tao: int, alpha: int
) -> None:
    if tao:
        send(
            devnet,
            wallet,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": address, "value": tao},
        )
    if alpha:
        params = {
            "destination_coldkey": address,
            "hotkey": validator(devnet, 1),
            "origin_netuid": 1,
            "destination_netuid": 1,
            "alpha_amount": alpha,
        }
        send(devnet, wallet, ALICE, "SubtensorModule", "transfer_stake", params)


async def many_users(
    app: FastAPI,
    signed: SignedFactory,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    chain: AsyncCustodyChain,
    db: AsyncEngine,
    *,
    own_tao: int,
) -> tuple[CustodyWorker, list[SignedClient], SignedClient]:
    """USERS users with TAO and/or alpha on chain, credited and swept to the omnibus; two of
    them deposit again (credited, not swept yet: reserves at deposit addresses too); one has
    a withdrawal pending; one more user never deposits. `own_tao`: the exchange's own TAO
    sent to the omnibus (for the fees it pays)."""
    worker = make_worker(app, chain)
    await worker.scanner.scan()
    if own_tao:
        send(
            devnet,
            wallet,
            ALICE,
            "Balances",
            "transfer_keep_alive",
            {"dest": OMNIBUS, "value": own_tao},
        )
    users = [await signed("read,trade,withdraw") for _ in range(USERS)]
    for i, user in enumerate(users):
        address = await deposit_address(user)
        deposit(
            devnet,
            wallet,
            address,
            (i + 1) * TAO if i % 3 != 2 else 0,
            (2 * i + 1) * ALPHA if i % 2 == 0 or i % 3 == 2 else 0,
        )
    finalize(devnet)
    await settle_all(worker, devnet, db)
    for user in users[:2]:
        deposit(devnet, wallet, await deposit_address(user), 3 * TAO, 4 * ALPHA)
    finalize(devnet)
    await worker.scanner.scan()  # credited; the sweeper has not moved them yet
    r = await users[0].post(
        "/v1/withdrawal-addresses", {"name": "out", "address": ss58(bytes(range(32)))}
    )
    assert r.status_code == 201, r.text
    r = await users[0].post(
        "/v1/withdrawals",
        {"asset": "TAO", "amount": str(TAO), "address_name": "out", "idempotency_key": "w1"},
    )
    assert r.status_code == 201, r.text
    bystander = await signed("read")
    return worker, users, bystander


async def test_every_users_proof_verifies_and_the_reserves_are_the_chains(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    client: httpx.AsyncClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    _, users, bystander = await many_users(
        app, signed, devnet, wallet, custody_chain, db, own_tao=10 * TAO
    )
    made = await audit_now(app, custody_chain)
    document = await published(client)  # public: no key needed
    assert document == made
    assert document["assets"] == ["TAO", "SN1"]
    verify_document(document)  # header, read proof, recomputed reserves, coverage, signatures
    assert document["reserves"]["read_proof"], "the devnet serves read proofs"

    # Every user's leaf is in the tree with what the ledger owes them.
    owed = {"TAO": 0, "SN1": 0}
    for user in users:
        proof = await my_proof(user)
        shown = verify_inclusion(document, proof)
        mine = await balances(user)
        expected = {a: mine.get(a, {"total": 0})["total"] for a in ("TAO", "SN1")}
        assert shown == {"user_id": user.user_id, "balances": expected}
        for a in owed:
            owed[a] += expected[a]
            b = proof["breakdown"][a]
            assert int(b["available"]) + int(b["held"]) + int(b["staked"]) == expected[a]
    assert {a: int(v) for a, v in document["liabilities"]["totals"].items()} == owed
    assert document["liabilities"]["leaf_count"] == USERS  # the bystander has no account
    pending = (await my_proof(users[0]))["breakdown"]["TAO"]
    assert int(pending["pending_withdrawals"]) == TAO + 1_000_000  # amount + fee reserve, held
    r = await bystander.get("/v1/proof-of-reserves/proof")
    assert (r.status_code, r.json()["code"]) == (404, "por_leaf_not_found")

    # The reserves are the chain's custody: the omnibus and the unswept deposit addresses.
    reserves = document["reserves"]
    accounts = {a["address"]: a for a in reserves["accounts"]}
    # (swept addresses keep what is left of a sweep top-up: custody's too)
    assert accounts[OMNIBUS]["role"] == "omnibus" and len(accounts) >= 3
    for address, account in accounts.items():
        assert int(account["free"]) == devnet.chain.free_balance(address)
    block = devnet.chain.block(document["block"]["hash"])
    custody = set(accounts)
    stake = sum(
        int(p.total_alpha * p.shares / p.total_shares)
        for p in block.view.positions
        if p.coldkey in custody and p.netuid == 1
    )
    assert int(reserves["totals"]["SN1"]) == stake
    assert int(reserves["totals"]["TAO"]) == sum(devnet.chain.free_balance(a) for a in custody)
    r = await admin.get("/v1/admin/custody/reconciliation")
    on_chain = {a["asset"]: a["on_chain"] for a in r.json()["assets"]}
    assert reserves["totals"] == {"TAO": on_chain["TAO"], "SN1": on_chain["SN1"]}

    # Covered: alpha exactly, TAO with the exchange's own TAO on top (less the fees it paid).
    coverage = {c["asset"]: c for c in document["coverage"]}
    assert coverage["SN1"]["ratio"] == "1.000000" and coverage["SN1"]["covered"]
    assert coverage["TAO"]["covered"] and coverage["TAO"]["reason"] is None
    assert int(coverage["TAO"]["surplus"]) > 0

    # Every custody account holding reserves signed this audit.
    signers = {s["address"] for s in document["ownership"]["signatures"]}
    assert signers == custody
    # And a node agrees: the block is finalized, its header and every value are the chain's.
    verify_on_chain(document, devnet.url)


async def test_changing_the_published_reserves_breaks_verification(
    app: FastAPI,
    signed: SignedFactory,
    client: httpx.AsyncClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    await many_users(app, signed, devnet, wallet, custody_chain, db, own_tao=10 * TAO)
    document = await audit_now(app, custody_chain)
    verify_document(document)

    def changed(edit: Any) -> dict[str, Any]:
        other = copy.deepcopy(document)
        edit(other)
        return other

    def bump(entry: dict[str, Any], name: str) -> None:
        entry[name] = str(int(entry[name]) + 1)

    def flip(value: str) -> str:
        raw = bytearray.fromhex(value[2:])
        raw[-1] ^= 1
        return "0x" + raw.hex()

    def first_value(d: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = next(e for e in d["reserves"]["storage"] if e["value"])
        return entry

    edits = {
        "free": lambda d: bump(d["reserves"]["accounts"][0], "free"),
        "alpha": lambda d: bump(d["reserves"]["positions"][0], "alpha"),
        "total": lambda d: bump(d["reserves"]["totals"], "TAO"),
        "storage value": lambda d: first_value(d).update(value=flip(first_value(d)["value"])),
        "proof node": lambda d: d["reserves"]["read_proof"].pop(),
        "header": lambda d: d["reserves"]["header"].update(
            stateRoot=flip(d["reserves"]["header"]["stateRoot"])
        ),
        "coverage": lambda d: d["coverage"][0].update(covered=not d["coverage"][0]["covered"]),
        "signature": lambda d: d["ownership"]["signatures"][0].update(
            signature=flip(d["ownership"]["signatures"][0]["signature"])
        ),
        "missing signature": lambda d: d["ownership"]["signatures"].pop(),
        "another audit's message": lambda d: d.update(audit_id=d["audit_id"] + 1),
    }
    for name, edit in edits.items():
        with pytest.raises(VerificationError):
            verify_document(changed(edit))
        assert name  # (the name says which edit failed, in pytest's report)

    # A signature by a key that is not the account's proves nothing.
    stranger = Keypair.create_from_uri("//Mallory")
    forged = copy.deepcopy(document)
    entry = forged["ownership"]["signatures"][0]
    entry["signature"] = (
        "0x" + stranger.sign(ownership_message(forged, entry["address"]).encode()).hex()
    )
    with pytest.raises(VerificationError):
        verify_document(forged)


async def test_a_ledger_that_owes_more_than_the_chain_holds_shows_it_and_why(
    app: FastAPI,
    signed: SignedFactory,
    admin: SignedClient,
    client: httpx.AsyncClient,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    # No TAO of the exchange's own: the fees it paid for sweeps came out of the users' TAO.
    _, users, _ = await many_users(app, signed, devnet, wallet, custody_chain, db, own_tao=0)
    document = await audit_now(app, custody_chain)
    verify_document(document)
    tao = {c["asset"]: c for c in document["coverage"]}["TAO"]
    assert not tao["covered"] and tao["ratio"] < "1.000000"
    assert int(tao["shortfall"]) == -int(tao["exchange_accounts"]) > 0
    assert "exchange's own accounts" in tao["reason"]
    assert "custody account" not in tao["reason"]  # the chain holds what the ledger says

    # Credited without reaching custody: the ledger owes 1,000 TAO the chain never got.
    r = await admin.post(
        "/v1/admin/deposits",
        {
            "user_id": users[3].user_id,
            "asset": "TAO",
            "amount": str(1000 * TAO),
            "external_ref": "x",
        },
    )
    assert r.status_code == 201, r.text
    document = await audit_now(app, custody_chain)
    verify_document(document)  # honest about the shortfall: it verifies
    rows = {c["asset"]: c for c in document["coverage"]}
    tao, alpha = rows["TAO"], rows["SN1"]
    liabilities, reserves = int(tao["liabilities"]), int(tao["reserves"])
    assert reserves < liabilities and tao["shortfall"] == str(liabilities - reserves)
    assert tao["ratio"] == f"0.{reserves * 10**6 // liabilities:06d}"
    assert tao["reason"].startswith(f"short by {format_units(liabilities - reserves)} TAO: ")
    assert "less than the ledger's custody account" in tao["reason"]
    assert "exchange's own accounts" in tao["reason"]
    assert alpha["covered"] and alpha["reason"] is None
    assert (await published(client))["coverage"] == document["coverage"]
    shown = verify_inclusion(document, await my_proof(users[3]))
    assert shown["balances"]["TAO"] >= 1000 * TAO


async def test_without_read_proofs_the_values_are_checked_against_a_node(
    app: FastAPI,
    signed: SignedFactory,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    """A node that does not serve `state_getReadProof`: the audit carries the values alone; a
    consistent lie in them passes the document's own checks but not the node's."""
    await many_users(app, signed, devnet, wallet, custody_chain, db, own_tao=10 * TAO)
    devnet.server.withhold("state_getReadProof")
    document = await audit_now(app, custody_chain)
    assert document["reserves"]["read_proof"] is None
    verify_document(document)
    verify_on_chain(document, devnet.url)

    # The omnibus's free TAO, 5 TAO larger in its AccountInfo, its account line, the total
    # and the coverage: every figure agrees with every other.
    lie = copy.deepcopy(document)
    extra = 5 * TAO
    key = "0x" + storage_key("System", "Account", ss58_decode(OMNIBUS)).hex()
    entry = next(e for e in lie["reserves"]["storage"] if e["key"] == key)
    raw = bytearray.fromhex(entry["value"][2:])
    free = int.from_bytes(raw[16:24], "little")
    raw[16:24] = (free + extra).to_bytes(8, "little")
    entry["value"] = "0x" + raw.hex()
    next(a for a in lie["reserves"]["accounts"] if a["address"] == OMNIBUS)["free"] = str(
        free + extra
    )
    held = int(lie["reserves"]["totals"]["TAO"]) + extra
    lie["reserves"]["totals"]["TAO"] = str(held)
    row = next(c for c in lie["coverage"] if c["asset"] == "TAO")
    owed = int(row["liabilities"])
    row.update(
        reserves=str(held),
        ratio=ratio_text(held, owed),
        covered=held >= owed,
        shortfall=str(max(0, owed - held)),
    )
    verify_document(lie)  # nothing in the document itself contradicts it
    with pytest.raises(VerificationError, match="differs from the published one"):
        verify_on_chain(lie, devnet.url)


async def test_the_custody_worker_publishes_on_schedule(
    app: FastAPI,
    signed: SignedFactory,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    listed: str,
    db: AsyncEngine,
) -> None:
    user = await signed("read")
    worker = make_worker(app, custody_chain)
    await worker.scanner.scan()
    deposit(devnet, wallet, await deposit_address(user), 2 * TAO, 0)
    finalize(devnet)
    scheduled = CustodyWorker(
        custody_chain,
        app.state.engine,
        app.state.custody_policy,
        label="devnet",
        por_interval_seconds=3600,
    )
    await scheduled.step()  # scans the deposit, then audits (none yet: due)
    await scheduled.step()  # not due again for an hour
    async with app.state.sessionmaker() as session:
        audits = list(await session.scalars(select(PorAudit)))
        assert await session.scalar(select(func.count()).select_from(PorAudit)) == 1
    document = audits[0].document
    verify_document(document)
    assert document["liabilities"]["totals"]["TAO"] == str(2 * TAO)
    verify_inclusion(document, await my_proof(user))


async def test_routes_answer_with_stable_codes(
    client: httpx.AsyncClient, signed: SignedFactory
) -> None:
    r = await client.get("/v1/proof-of-reserves")
    assert (r.status_code, r.json()["code"]) == (404, "por_audit_not_found")
    user = await signed("read")
    r = await user.get("/v1/proof-of-reserves/proof")
    assert (r.status_code, r.json()["code"]) == (404, "por_audit_not_found")
    r = await client.get("/v1/proof-of-reserves", params={"audit_id": "0"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.get("/v1/proof-of-reserves/proof")
    assert r.status_code == 401


async def test_an_audit_needs_a_user_and_the_custody_secret(
    app: FastAPI, policy: Any, custody_chain: AsyncCustodyChain, db: AsyncEngine
) -> None:
    async with app.state.sessionmaker() as session:
        with pytest.raises(NothingToProve):
            await create_audit(session, custody_chain, policy)
    without_secret = dataclasses.replace(policy, signer=None)
    async with app.state.sessionmaker() as session:
        with pytest.raises(CustodyNotConfigured):
            await create_audit(session, custody_chain, without_secret)
