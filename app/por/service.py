"""Proof-of-reserves audits: liabilities from the ledger and reserves from the chain, both at
the block the custody scanner last processed, the custody keys' signatures, and the users'
inclusion proofs.

The ledger is read in ONE snapshot (REPEATABLE READ) together with the scanner's state: the
scanner writes a block's deposits, settled withdrawals and its own state in one transaction,
so the snapshot's balances are exactly those of block B, whose chain state the reserves are
read at. What users are owed is their `available + held + staked` (held: open orders and
pending withdrawals), one leaf per user. The document is checked by the standalone verifier
before it is stored: the exchange never publishes what its own verifier would refuse.
"""

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chain.custody import AsyncCustodyChain
from app.custody.errors import CustodyNotConfigured
from app.custody.policy import TAO, Policy
from app.kit.units import format_units
from app.models import (
    Asset,
    CustodyScanState,
    DepositAddress,
    LedgerAccount,
    LedgerHold,
    Market,
    PorAudit,
    PorNode,
    Subnet,
    Withdrawal,
)
from app.models.withdrawal import OPEN_STATES
from app.por import tree, verifier
from app.por.errors import AuditNotFound, LeafNotFound, NothingToProve
from app.por.schemas import (
    AccountOut,
    AuditOut,
    BlockOut,
    BreakdownOut,
    CoverageOut,
    InclusionProofOut,
    LeafOut,
    LiabilitiesOut,
    OwnershipOut,
    PathStepOut,
    PositionOut,
    ReservesOut,
    SignatureOut,
    StorageEntryOut,
)

M = "SubtensorModule"
USER_KINDS = ("available", "held", "staked")
NODE_ROWS_PER_INSERT = 5000


@dataclass
class LedgerSnapshot:
    """The ledger at the scanner's block B."""

    block_number: int
    block_hash: str
    assets: list[str]
    users: dict[int, dict[str, dict[str, int]]]  # user -> asset -> kind -> balance
    pending_withdrawals: dict[tuple[int, str], int]
    custody: dict[str, int]  # what the ledger's custody account mirrors (its balance negated)
    exchange: dict[str, int]  # the exchange's own accounts (fees, rounding, network fees)
    deposit_addresses: dict[str, tuple[int, int]]  # address -> (user id, index)
    listed: dict[tuple[int, int], str]  # (netuid, registered_at) -> asset


@dataclass
class Reserves:
    accounts: list[AccountOut] = field(default_factory=list)
    positions: list[PositionOut] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    storage: list[StorageEntryOut] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)
    read_proof: list[str] | None = None


# ---------------------------------------------------------------------------- the ledger


async def snapshot_ledger(session: AsyncSession, chain: AsyncCustodyChain) -> LedgerSnapshot:
    """Everything the audit reads from Postgres, in the session's (repeatable read) snapshot."""
    state = await session.get(CustodyScanState, 1)
    if state is not None:
        number, block_hash = state.last_block, state.last_block_hash
    else:  # nothing scanned yet: no chain movement is in the ledger
        head = await chain.finalized_head()
        number, block_hash = head.number, head.hash
    codes = sorted(await session.scalars(select(Asset.code)))
    assets = [TAO, *(c for c in codes if c != TAO)]
    users: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    custody: dict[str, int] = defaultdict(int)
    exchange: dict[str, int] = defaultdict(int)
    rows = await session.execute(
        select(
            LedgerAccount.user_id, LedgerAccount.asset, LedgerAccount.kind, LedgerAccount.balance
        )
    )
    for user_id, asset, kind, balance in rows:
        if user_id is not None:
            users[user_id][asset][kind] = int(balance)
        elif kind == "custody":
            custody[asset] -= int(balance)
        else:
            exchange[asset] += int(balance)
    pending = await session.execute(
        select(
            Withdrawal.user_id,
            Withdrawal.asset,
            func.sum(LedgerHold.amount - LedgerHold.consumed - LedgerHold.released),
        )
        .join(LedgerHold, LedgerHold.id == Withdrawal.hold_id)
        .where(Withdrawal.state.in_(OPEN_STATES), LedgerHold.state == "pending")
        .group_by(Withdrawal.user_id, Withdrawal.asset)
    )
    addresses = await session.execute(
        select(DepositAddress.address, DepositAddress.user_id, DepositAddress.index)
    )
    listed = await session.execute(
        select(Market.netuid, Subnet.registered_at, Market.base_asset).join(
            Subnet, Subnet.id == Market.subnet_id
        )
    )
    return LedgerSnapshot(
        block_number=number,
        block_hash=block_hash,
        assets=assets,
        users={u: dict(a) for u, a in users.items()},
        pending_withdrawals={(u, a): int(v or 0) for u, a, v in pending},
        custody=dict(custody),
        exchange=dict(exchange),
        deposit_addresses={a: (u, i) for a, u, i in addresses},
        listed={(int(n), int(r)): code for n, r, code in listed},
    )


def leaves_of(snapshot: LedgerSnapshot) -> list[tuple[tree.Leaf, dict[str, Any]]]:
    """One leaf per user (fresh salt), with the balance's breakdown for its owner."""
    out = []
    for user_id in sorted(snapshot.users):
        held = snapshot.users[user_id]
        balances = []
        breakdown: dict[str, Any] = {}
        for asset in snapshot.assets:
            kinds = held.get(asset, {})
            balances.append(sum(kinds.get(k, 0) for k in USER_KINDS))
            breakdown[asset] = {
                **{k: str(kinds.get(k, 0)) for k in USER_KINDS},
                "pending_withdrawals": str(snapshot.pending_withdrawals.get((user_id, asset), 0)),
            }
        out.append((tree.Leaf(user_id, tree.new_salt(), tuple(balances)), breakdown))
    return out


# ---------------------------------------------------------------------------- the chain


async def read_reserves(
    chain: AsyncCustodyChain, policy: Policy, snapshot: LedgerSnapshot
) -> Reserves:
    """Free TAO and stake of every custody coldkey at block B, with the storage they come
    from (and its read proof where the node serves one)."""
    block_hash = snapshot.block_hash
    coldkeys = [policy.keys.omnibus, *sorted(snapshot.deposit_addresses)]
    holdings = await chain.holdings(coldkeys, block_hash)
    staked = {(c, h, n): v for (c, h, n), v in holdings.stake.items() if v > 0}
    netuids = sorted({n for _, _, n in staked})
    registered_keys = {n: verifier.storage_key(M, "NetworkRegisteredAt", n) for n in netuids}
    values = await chain.storage_values(list(registered_keys.values()), block_hash)
    registered = {n: _u64(values[k]) for n, k in registered_keys.items()}
    positions = []
    for (c, h, n), alpha in sorted(staked.items()):
        asset = snapshot.listed.get((n, registered[n]))
        if asset is None:  # alpha of an unlisted subnet (or of a netuid's earlier token)
            continue
        positions.append(
            PositionOut(
                coldkey=c,
                hotkey=h,
                netuid=n,
                asset=asset,
                registered_at=registered[n],
                alpha=str(alpha),
            )
        )
    holders = {p.coldkey for p in positions}
    accounts = [
        AccountOut(
            address=c,
            role="omnibus" if c == policy.keys.omnibus else "deposit",
            free=str(holdings.free.get(c, 0)),
        )
        for c in coldkeys
        if c == policy.keys.omnibus or holdings.free.get(c, 0) > 0 or c in holders
    ]
    keys: list[bytes] = [
        verifier.storage_key("System", "Account", verifier.ss58_decode(a.address)) for a in accounts
    ]
    for p in positions:
        hot, cold = verifier.ss58_decode(p.hotkey), verifier.ss58_decode(p.coldkey)
        keys += [
            verifier.storage_key(M, "TotalHotkeyAlpha", hot, p.netuid),
            verifier.storage_key(M, "TotalHotkeySharesV2", hot, p.netuid),
            verifier.storage_key(M, "TotalHotkeyShares", hot, p.netuid),
            verifier.storage_key(M, "AlphaV2", hot, cold, p.netuid),
            verifier.storage_key(M, "Alpha", hot, cold, p.netuid),
            verifier.storage_key(M, "NetworkRegisteredAt", p.netuid),
        ]
    keys = list(dict.fromkeys(keys))
    evidence = await chain.storage_evidence(keys, block_hash)
    totals = {a: 0 for a in snapshot.assets}
    totals[TAO] = sum(int(a.free) for a in accounts)
    for p in positions:
        totals[p.asset] += int(p.alpha)
    return Reserves(
        accounts=accounts,
        positions=positions,
        totals=totals,
        storage=[
            StorageEntryOut(key=_hex(k), value=None if v is None else _hex(v))
            for k, v in ((k, evidence.values[k]) for k in keys)
        ],
        header=evidence.header,
        read_proof=None if evidence.proof is None else [_hex(n) for n in evidence.proof],
    )


def _u64(value: bytes | None) -> int:
    return 0 if value is None else int.from_bytes(value[:8], "little")


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


# ---------------------------------------------------------------------------- coverage


def coverage(
    snapshot: LedgerSnapshot, liabilities: dict[str, int], reserves: dict[str, int]
) -> list[CoverageOut]:
    """Per asset. Since the ledger sums to zero, custody = users + the exchange's own
    accounts, so reserves - liabilities = (reserves - ledger custody) + exchange accounts:
    a shortfall is one or both of these, and the reason says which."""
    rows = []
    for asset in snapshot.assets:
        owed, held = liabilities[asset], reserves[asset]
        mirror, own = snapshot.custody.get(asset, 0), snapshot.exchange.get(asset, 0)
        reason = None
        if held < owed:
            parts = []
            if held < mirror:
                parts.append(
                    f"the chain holds {_amount(mirror - held, asset)} less than the ledger's "
                    f"custody account ({_amount(mirror, asset)}): funds left custody without "
                    "a ledger entry, or were credited without reaching custody"
                )
            if own < 0:
                parts.append(
                    f"the exchange's own accounts (fees, rounding, network fees) are "
                    f"{_amount(-own, asset)} below zero: it spent more of the users' funds "
                    "than it earned"
                )
            reason = f"short by {_amount(owed - held, asset)}: " + "; ".join(parts)
        rows.append(
            CoverageOut(
                asset=asset,
                liabilities=str(owed),
                reserves=str(held),
                ratio=verifier.ratio_text(held, owed),
                covered=held >= owed,
                shortfall=str(max(0, owed - held)),
                surplus=str(max(0, held - owed)),
                ledger_custody=str(mirror),
                exchange_accounts=str(own),
                reason=reason,
            )
        )
    return rows


def _amount(value: int, asset: str) -> str:
    return f"{format_units(value)} {asset}"


# ---------------------------------------------------------------------------- the audit


async def create_audit(session: AsyncSession, chain: AsyncCustodyChain, policy: Policy) -> PorAudit:
    """Run an audit now: in the session's transaction, which must not have started (the
    ledger is read in one repeatable-read snapshot). Flushes; the caller commits."""
    signer = policy.signer
    if signer is None:
        raise CustodyNotConfigured(
            "proof of reserves needs the custody secret: every custody account signs the audit"
        )
    if session.in_transaction():
        raise RuntimeError("create_audit needs a session whose transaction has not begun")
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    snapshot = await snapshot_ledger(session, chain)
    leaves = leaves_of(snapshot)
    if not leaves:
        raise NothingToProve("no user has an account yet: there is nothing to prove")
    reserves = await read_reserves(chain, policy, snapshot)
    built = await asyncio.to_thread(tree.build, [leaf for leaf, _ in leaves])
    breakdowns = {leaf.user_id: b for leaf, b in leaves}
    assets = snapshot.assets
    liabilities = dict(zip(assets, built.root.sums, strict=True))

    audit = PorAudit(
        block_number=snapshot.block_number,
        block_hash=snapshot.block_hash,
        root=_hex(built.root.hash),
        leaf_count=len(built.leaves),
        document={},
    )
    session.add(audit)
    await session.flush()
    document = AuditOut(
        audit_id=audit.id,
        created_at=datetime.now(UTC),
        block=BlockOut(number=snapshot.block_number, hash=snapshot.block_hash),
        assets=assets,
        liabilities=LiabilitiesOut(
            root=audit.root,
            leaf_count=audit.leaf_count,
            totals={a: str(v) for a, v in liabilities.items()},
        ),
        reserves=ReservesOut(
            header=reserves.header,
            read_proof=reserves.read_proof,
            storage=reserves.storage,
            accounts=reserves.accounts,
            positions=reserves.positions,
            totals={a: str(reserves.totals[a]) for a in assets},
        ),
        coverage=coverage(snapshot, liabilities, reserves.totals),
        ownership=OwnershipOut(signatures=[]),
    ).model_dump(mode="json")
    signatures = []
    for account in reserves.accounts:
        where = snapshot.deposit_addresses.get(account.address, (None, None))
        keypair = signer.keypair_for(account.address, *where)
        message = verifier.ownership_message(document, account.address)
        signatures.append(
            SignatureOut(
                address=account.address,
                message=message,
                signature=_hex(bytes(keypair.sign(message.encode()))),
            )
        )
    document["ownership"] = OwnershipOut(signatures=signatures).model_dump(mode="json")
    verifier.verify_document(document)  # what we publish, our own verifier accepts
    audit.document = document

    rows: list[dict[str, Any]] = []
    for position, leaf in enumerate(built.leaves):
        rows.append(
            {
                "audit_id": audit.id,
                "level": 0,
                "position": position,
                "hash": leaf.hash,
                "sums": tree.encode_sums(leaf.balances),
                "user_id": leaf.user_id,
                "salt": leaf.salt,
                "breakdown": breakdowns[leaf.user_id],
            }
        )
    for level, nodes in enumerate(built.levels[1:], start=1):
        for position, node in enumerate(nodes):
            rows.append(
                {
                    "audit_id": audit.id,
                    "level": level,
                    "position": position,
                    "hash": node.hash,
                    "sums": tree.encode_sums(node.sums),
                    "user_id": None,
                    "salt": None,
                    "breakdown": None,
                }
            )
    for i in range(0, len(rows), NODE_ROWS_PER_INSERT):
        await session.execute(insert(PorNode), rows[i : i + NODE_ROWS_PER_INSERT])
    await session.flush()
    return audit


# ---------------------------------------------------------------------------- reading


async def get_audit(session: AsyncSession, audit_id: int | None = None) -> PorAudit:
    """The audit `audit_id`, or the latest."""
    if audit_id is None:
        found = await session.scalar(select(PorAudit).order_by(PorAudit.id.desc()).limit(1))
        if found is None:
            raise AuditNotFound("no proof-of-reserves audit has been published yet")
        return found
    audit = await session.get(PorAudit, audit_id)
    if audit is None:
        raise AuditNotFound(f"no audit {audit_id}")
    return audit


async def latest_audit_time(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(PorAudit.created_at)))


async def inclusion_proof(
    session: AsyncSession, user_id: int, audit_id: int | None = None
) -> InclusionProofOut:
    """The user's leaf and its path to the root of the audit (default: the latest)."""
    audit = await get_audit(session, audit_id)
    leaf = await session.scalar(
        select(PorNode).where(PorNode.audit_id == audit.id, PorNode.user_id == user_id)
    )
    if leaf is None or leaf.salt is None:
        raise LeafNotFound(f"you had no account at audit {audit.id} (block {audit.block_number})")
    places = tree.path_positions(leaf.position, audit.leaf_count)
    nodes: dict[tuple[int, int], PorNode] = {}
    if places:
        found = await session.scalars(
            select(PorNode).where(
                PorNode.audit_id == audit.id,
                PorNode.level.in_({level for level, _, _ in places}),
                PorNode.position.in_({position for _, position, _ in places}),
            )
        )
        nodes = {(n.level, n.position): n for n in found}
    assets: list[str] = list(audit.document["assets"])

    def per_asset(raw: bytes) -> dict[str, str]:
        return {a: str(v) for a, v in zip(assets, tree.decode_sums(raw), strict=True)}

    path = []
    for level, position, side in places:
        node = nodes[(level, position)]
        path.append(PathStepOut(side=side, hash=_hex(node.hash), sums=per_asset(node.sums)))
    return InclusionProofOut(
        audit_id=audit.id,
        block=BlockOut(number=audit.block_number, hash=audit.block_hash),
        root=audit.root,
        assets=assets,
        leaf_count=audit.leaf_count,
        leaf=LeafOut(
            index=leaf.position,
            user_id=user_id,
            salt=_hex(leaf.salt),
            balances=per_asset(leaf.sums),
            hash=_hex(leaf.hash),
        ),
        path=path,
        breakdown={a: BreakdownOut(**v) for a, v in (leaf.breakdown or {}).items()},
    )
