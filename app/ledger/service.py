"""The ledger core: assets, accounts, atomic transfer batches and holds.

Conventions (TigerBeetle's model, credit-normal balances):
- A transfer moves `amount` from its debit account to its credit account: the debit's
  balance decreases, the credit's increases. Per asset the sum of all balances is zero.
- Only system accounts (custody, rounding) may go negative; the database enforces it with
  `CHECK (allow_negative OR balance >= 0)`.
- Nothing here commits: the request or job boundary does, so a caller may apply many batches
  in one transaction (group commit).

`apply_batch` costs two round trips for a batch (lock + idempotency check in one statement,
then balances, transfers and hold counters in one statement), three when it consumes holds.
Every check that can fail (funds, holds, assets, unknown accounts, idempotency) happens
*before* the write statement, so a raised `AppError` leaves the transaction usable and
unchanged. Errors mapped from a database constraint (a bug caught by the safety net) leave
the transaction aborted: roll it back.
"""

import re
import uuid
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from app.db import driver as raw_connection
from app.kit.errors import AppError
from app.kit.sql import Part
from app.kit.units import MAX_AMOUNT, MIN_AMOUNT
from app.ledger.errors import (
    AmountTooLarge,
    AssetMismatch,
    HoldExceeded,
    HoldIdConflict,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    InvalidTransfer,
    NonPositiveAmount,
    TransferIdConflict,
    UnknownAccount,
    UnknownAsset,
    UserNotFound,
)
from app.models.ledger_account import SYSTEM_KINDS, USER_KINDS

MIN_BALANCE = MIN_AMOUNT
# Kinds of system accounts that may go negative: custody mirrors on-chain holdings, rounding
# absorbs remainders in both directions, network_fees is the chain fees the exchange paid.
NEGATIVE_KINDS = frozenset({"custody", "rounding", "network_fees"})
# Codes the hold functions write themselves; `apply_batch` refuses them.
RESERVED_CODES = frozenset({"hold", "release"})

# Canonical ASCII digits: "0" or no leading zero, and no "-0" (a sign only to say that the
# amount is negative, which is refused as such).
_AMOUNT_RE = re.compile(r"0|-?[1-9][0-9]*")
_ASSET_RE = re.compile(r"^[A-Z0-9]{1,16}$")


# --- amounts ------------------------------------------------------------------------------


def parse_amount(value: object) -> int:
    """A positive amount of base units from a JSON integer or a string of canonical ASCII
    digits (no space, "+", leading zero or "-0"; "1_000", "١" and "²" are not digits)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidAmount('amount must be a string of integer base units, e.g. "1500000000"')
    if isinstance(value, str):
        if len(value) > 40 or not _AMOUNT_RE.fullmatch(value):
            raise InvalidAmount(
                f"amount {value[:40]!r} is not an integer number of base units (1 TAO = 10^9)"
            )
        amount = int(value)
    else:
        amount = value
    if amount <= 0:
        raise NonPositiveAmount("amount must be greater than zero")
    if amount > MAX_AMOUNT:
        raise AmountTooLarge(f"amount must be at most {MAX_AMOUNT}")
    return amount


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("amount must be an int of base units")
    if amount <= 0:
        raise NonPositiveAmount("amount must be greater than zero")
    if amount > MAX_AMOUNT:
        raise AmountTooLarge(f"amount must be at most {MAX_AMOUNT}")


# --- value types --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """One leg: move `amount` from `debit_account_id` to `credit_account_id`.

    `id` is the idempotency key (at most 100 characters). `hold_id` marks a transfer that
    consumes a hold: its debit must be that hold's `held` account.
    """

    id: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    code: str
    reference: str | None = None
    hold_id: str | None = None

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 100:
            raise InvalidTransfer("transfer id must have 1 to 100 characters")
        _check_amount(self.amount)
        if self.debit_account_id == self.credit_account_id:
            raise InvalidTransfer(f"transfer {self.id}: debit and credit are the same account")
        if not self.code or len(self.code) > 32:
            raise InvalidTransfer("transfer code must have 1 to 32 characters")
        if self.reference is not None and len(self.reference) > 128:
            raise InvalidTransfer("reference must have at most 128 characters")
        if self.hold_id is not None and not 0 < len(self.hold_id) <= 64:
            raise InvalidTransfer("hold id must have 1 to 64 characters")


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_id: uuid.UUID
    transfer_ids: tuple[str, ...]
    # True when every transfer already existed with the same content: nothing changed.
    replayed: bool
    # Balance of every account the batch touched, after it (on a replay: as now).
    balances: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    user_id: int
    asset: str
    account_id: int
    available_account_id: int
    amount: int
    consumed: int
    released: int
    state: str
    reference: str | None

    @property
    def remaining(self) -> int:
        return self.amount - self.consumed - self.released


@dataclass(frozen=True, slots=True)
class NewHold:
    """A hold placed by a batch (see `hold_placement`); the same batch may also consume it,
    release from it and resolve it (an order that trades and ends at once)."""

    id: str
    user_id: int
    asset: str
    account_id: int
    available_account_id: int
    amount: int
    reference: str | None


# --- assets -------------------------------------------------------------------------------


async def ensure_asset(
    session: AsyncSession,
    code: str,
    name: str | None = None,
    *,
    netuid: int | None = None,
    decimals: int = 9,
) -> None:
    """Create the asset if it does not exist (idempotent; an existing row is left as is)."""
    if not _ASSET_RE.match(code):
        raise UnknownAsset(f"asset code {code!r} must be 1-16 upper-case letters or digits")
    await session.execute(
        text(
            "INSERT INTO assets (code, name, netuid, decimals) VALUES (:c, :n, :u, :d) "
            "ON CONFLICT (code) DO NOTHING"
        ),
        {"c": code, "n": name or code, "u": netuid, "d": decimals},
    )


async def asset_decimals(session: AsyncSession, code: str) -> int:
    decimals = await session.scalar(
        text("SELECT decimals FROM assets WHERE code = :c"), {"c": code}
    )
    if decimals is None:
        raise UnknownAsset(f"unknown asset {code!r}")
    return int(decimals)


# --- accounts and their cache -------------------------------------------------------------

AccountKey = tuple[int | None, str, str]  # (user_id or None for system, asset, kind)

# Per engine (so separate databases never share ids): committed account ids. Accounts are
# never deleted, so a committed id stays valid. Ids created by a transaction wait in its
# session's `info` and reach the cache only when it commits (a rollback drops them).
_CACHES: "weakref.WeakKeyDictionary[Any, dict[AccountKey, int]]" = weakref.WeakKeyDictionary()
_PENDING = "ledger.pending_accounts"


def _cache_for(bind: Any) -> dict[AccountKey, int]:
    cache = _CACHES.get(bind)
    if cache is None:
        cache = _CACHES[bind] = {}
    return cache


def clear_account_cache() -> None:
    """Forget every cached account id (tests that truncate tables call this)."""
    for cache in list(_CACHES.values()):
        cache.clear()


@event.listens_for(SyncSession, "after_commit")
def _promote_pending_accounts(session: SyncSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        _cache_for(session.get_bind()).update(pending)


@event.listens_for(SyncSession, "after_rollback")
def _drop_pending_accounts(session: SyncSession) -> None:
    session.info.pop(_PENDING, None)


async def get_account_id(session: AsyncSession, user_id: int | None, asset: str, kind: str) -> int:
    """The id of the account (user_id, asset, kind), created on first use.

    System kinds (custody, fees, rounding) take `user_id=None`.
    """
    key: AccountKey = (user_id, asset, kind)
    cache = _cache_for(session.sync_session.get_bind())
    found = cache.get(key)
    if found is not None:
        return found
    pending: dict[AccountKey, int] = session.info.setdefault(_PENDING, {})
    found = pending.get(key)
    if found is not None:
        return found
    if (user_id is None) != (kind in SYSTEM_KINDS) or kind not in USER_KINDS + SYSTEM_KINDS:
        raise InvalidTransfer(f"no account kind {kind!r} for user {user_id}")
    created = await session.scalar(
        text(
            "INSERT INTO ledger_accounts (user_id, asset, kind, allow_negative) "
            "SELECT CAST(:u AS bigint), a.code, :k, :n FROM assets a WHERE a.code = :a "
            "AND (CAST(:u AS bigint) IS NULL "
            "     OR EXISTS (SELECT 1 FROM users WHERE id = CAST(:u AS bigint))) "
            "ON CONFLICT DO NOTHING RETURNING id"
        ),
        {"u": user_id, "a": asset, "k": kind, "n": kind in NEGATIVE_KINDS},
    )
    if created is not None:
        pending[key] = int(created)
        return int(created)
    existing = await session.scalar(
        text(
            "SELECT id FROM ledger_accounts WHERE user_id IS NOT DISTINCT FROM CAST(:u AS bigint) "
            "AND asset = :a AND kind = :k"
        ),
        {"u": user_id, "a": asset, "k": kind},
    )
    if existing is None:
        if await session.scalar(text("SELECT 1 FROM assets WHERE code = :a"), {"a": asset}):
            raise UserNotFound(f"no user {user_id}")
        raise UnknownAsset(f"unknown asset {asset!r}")
    # Either committed by another transaction (ON CONFLICT waited for it) or created earlier
    # in this one before the cache knew it: only the first is safe to cache for everyone.
    pending[key] = int(existing)
    return int(existing)


async def user_account_ids(session: AsyncSession, user_id: int, asset: str) -> dict[str, int]:
    """{"available": id, "held": id, "staked": id} for the user and asset."""
    return {kind: await get_account_id(session, user_id, asset, kind) for kind in USER_KINDS}


async def system_account_id(session: AsyncSession, asset: str, kind: str) -> int:
    return await get_account_id(session, None, asset, kind)


async def balances_of(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, int]:
    rows = await session.execute(
        text("SELECT id, balance FROM ledger_accounts WHERE id = ANY(CAST(:ids AS bigint[]))"),
        {"ids": list(account_ids)},
    )
    return {int(r.id): int(r.balance) for r in rows}


# --- batches ------------------------------------------------------------------------------

# The hot path talks to asyncpg directly (inside the session's transaction): SQLAlchemy's
# per-statement overhead is about as large as a local round trip.
_LOCK_SQL = (
    "SELECT a.id, a.asset, a.balance, a.allow_negative, "
    "  (SELECT count(*) FROM ledger_transfers t WHERE t.id = ANY($2::text[])) AS existing "
    "FROM ledger_accounts a WHERE a.id = ANY($1::bigint[]) "
    "ORDER BY a.id FOR NO KEY UPDATE OF a"
)

_HOLDS_SQL = text(
    "SELECT id, user_id, asset, account_id, available_account_id, amount, consumed, released, "
    "state, reference FROM ledger_holds WHERE id = ANY(CAST(:ids AS text[]))"
)

_WRITE_CTES = """
    nh AS (
        INSERT INTO ledger_holds
            (id, user_id, asset, account_id, available_account_id, amount, reference,
             consumed, released, state, resolved_at)
        SELECT v.*, CASE WHEN v.state = 'pending' THEN NULL ELSE now() END
        FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                    $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::text[])
             AS v(id, user_id, asset, account_id, available_account_id, amount, reference,
                  consumed, released, state)
        RETURNING 1
    ), bal AS (
        UPDATE ledger_accounts a SET balance = a.balance + v.delta
        FROM unnest($11::bigint[], $12::bigint[]) AS v(id, delta)
        WHERE a.id = v.id
        RETURNING 1
    ), hl AS (
        UPDATE ledger_holds h SET
            amount = h.amount + v.a,
            consumed = h.consumed + v.c,
            released = h.released + v.r,
            state = COALESCE(v.st, h.state),
            resolved_at = CASE WHEN v.st IS NULL THEN h.resolved_at ELSE now() END
        FROM unnest($13::text[], $14::bigint[], $15::bigint[], $16::text[], $26::bigint[])
             AS v(id, c, r, st, a)
        WHERE h.id = v.id AND h.state = 'pending'
        RETURNING 1
    ), ins AS (
        INSERT INTO ledger_transfers
            (id, debit_account_id, credit_account_id, asset, amount, code, reference, hold_id,
             batch_id)
        SELECT v.*, $17::uuid FROM unnest($18::text[], $19::bigint[], $20::bigint[],
            $21::text[], $22::bigint[], $23::text[], $24::text[], $25::text[]) AS v
        RETURNING 1
    )
"""
_WRITE_SQL = f"""
    WITH {_WRITE_CTES}
    SELECT (SELECT count(*) FROM bal) AS bal, (SELECT count(*) FROM hl) AS hl,
           (SELECT count(*) FROM ins) AS ins, (SELECT count(*) FROM nh) AS nh
"""


@dataclass(frozen=True, slots=True)
class _Locked:
    id: int
    asset: str
    balance: int
    allow_negative: bool


async def _lock(
    driver: Any, account_ids: Sequence[int], transfer_ids: Sequence[str]
) -> tuple[list[_Locked], int]:
    """Lock the accounts in ascending id order; also count the transfers that exist."""
    records = await driver.fetch(_LOCK_SQL, list(account_ids), list(transfer_ids))
    rows = [_Locked(r[0], r[1], r[2], r[3]) for r in records]
    return rows, (int(records[0][4]) if records else 0)


async def fetch_writing(driver: Any, sql: str, *args: Any) -> Any:
    """The row a statement that writes ledger rows returns; a ledger constraint it violates
    raises its domain error (`_constraint_error`)."""
    try:
        return await driver.fetchrow(sql, *args)
    except Exception as exc:
        mapped = _constraint_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _constraint_error(exc: Exception) -> AppError | None:
    """Map a violated ledger constraint to its domain error (None: not ours)."""
    cause: Any = exc
    if isinstance(exc, DBAPIError):
        cause = getattr(exc.orig, "__cause__", None) or exc.orig
    name = getattr(cause, "constraint_name", None) or ""
    sqlstate = getattr(cause, "sqlstate", None)
    message = str(cause)
    if "ck_ledger_accounts_non_negative" in (name, message) or (
        "ck_ledger_accounts_non_negative" in message
    ):
        return InsufficientFunds("insufficient funds")
    if "not_over_consumed" in name or "not_over_consumed" in message:
        return HoldExceeded("transfers would consume more than the hold")
    if "resolved_once" in name or "resolved_once" in message:
        return InvalidState("the hold is already resolved")
    if name == "pk_ledger_transfers":
        return TransferIdConflict("a transfer with this id exists")
    if name == "pk_ledger_holds":
        return HoldIdConflict("a hold with this id exists")
    if sqlstate == "22003":  # numeric_value_out_of_range
        return AmountTooLarge("a balance would exceed 2^63-1")
    return None


async def apply_batch(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    *,
    batch_id: uuid.UUID | None = None,
) -> BatchResult:
    """Apply the transfers atomically, in the caller's transaction (no commit).

    Idempotent by transfer id: if every id exists with the same content, nothing changes and
    the original batch is reported (`replayed=True`); an id that exists with other content,
    or a batch that only partly exists, is `TransferIdConflict` (409). Insufficient funds,
    unknown accounts, mixed assets and hold problems raise before anything is written.
    """
    for spec in transfers:
        if spec.code in RESERVED_CODES:
            raise InvalidTransfer(f"code {spec.code!r} is reserved for holds")
    return await _apply(session, transfers, batch_id=batch_id)


async def _apply(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    *,
    batch_id: uuid.UUID | None = None,
    new_holds: Sequence[NewHold] = (),
    resolve: Mapping[str, str] | None = None,
    lock_ids: Iterable[int] = (),
) -> BatchResult:
    resolve = resolve or {}
    if not transfers and not resolve:
        raise InvalidTransfer("a batch needs at least one transfer")
    tids = [t.id for t in transfers]
    if len(set(tids)) != len(tids):
        raise InvalidTransfer("transfer ids in a batch must be distinct")
    account_ids = sorted(
        {t.debit_account_id for t in transfers}
        | {t.credit_account_id for t in transfers}
        | {h.account_id for h in new_holds}
        | {h.available_account_id for h in new_holds}
        | set(lock_ids)
    )

    # 1. Lock every touched account in ascending id order (no deadlocks) and learn whether
    #    the transfers exist already, in one round trip.
    driver = await raw_connection(session)
    rows, existing = await _lock(driver, account_ids, tids)
    if existing:
        return await _replay(session, transfers, rows)
    accounts = {r.id: r for r in rows}
    if len(accounts) != len(account_ids):
        missing = sorted(set(account_ids) - set(accounts))
        raise UnknownAccount(f"unknown ledger accounts {missing}")

    deltas: dict[int, int] = defaultdict(int)
    assets: list[str] = []
    for t in transfers:
        asset = accounts[t.debit_account_id].asset
        if accounts[t.credit_account_id].asset != asset:
            raise AssetMismatch(f"transfer {t.id} moves between two assets")
        assets.append(asset)
        deltas[t.debit_account_id] -= t.amount
        deltas[t.credit_account_id] += t.amount

    # 2. Holds the batch consumes, releases or resolves (read under the account locks: every
    #    change to a hold also locks its `held` account, so the counters are current).
    hold_updates, new_finals = await _check_holds(session, transfers, new_holds, resolve, accounts)

    for account_id, delta in deltas.items():
        row = accounts[account_id]
        after = row.balance + delta
        if after < 0 and not row.allow_negative:
            raise InsufficientFunds(
                f"insufficient funds in account {account_id}",
                details={"account_id": account_id, "balance": str(row.balance)},
            )
        if after > MAX_AMOUNT or after < MIN_BALANCE:
            raise AmountTooLarge(f"account {account_id} would exceed the 64-bit range")

    # 3. One statement writes new holds, balances, hold counters and the transfers.
    changed = [(a, d) for a, d in deltas.items() if d]
    batch = batch_id or uuid.uuid4()
    args = (
        [h.id for h in new_holds],
        [h.user_id for h in new_holds],
        [h.asset for h in new_holds],
        [h.account_id for h in new_holds],
        [h.available_account_id for h in new_holds],
        [new_finals[h.id][3] for h in new_holds],
        [h.reference for h in new_holds],
        [new_finals[h.id][0] for h in new_holds],
        [new_finals[h.id][1] for h in new_holds],
        [new_finals[h.id][2] for h in new_holds],
        [a for a, _ in changed],
        [d for _, d in changed],
        [h[0] for h in hold_updates],
        [h[1] for h in hold_updates],
        [h[2] for h in hold_updates],
        [h[3] for h in hold_updates],
        batch,
        tids,
        [t.debit_account_id for t in transfers],
        [t.credit_account_id for t in transfers],
        assets,
        [t.amount for t in transfers],
        [t.code for t in transfers],
        [t.reference for t in transfers],
        [t.hold_id for t in transfers],
        [h[4] for h in hold_updates],
    )
    counts = await fetch_writing(driver, _WRITE_SQL, *args)
    if counts["hl"] != len(hold_updates):  # pragma: no cover - guarded by the locks above
        raise InvalidState("a hold changed state concurrently; roll back")
    balances = {a: accounts[a].balance + deltas.get(a, 0) for a in account_ids}
    return BatchResult(batch, tuple(tids), False, balances)


async def _check_holds(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    new_holds: Sequence[NewHold],
    resolve: Mapping[str, str],
    accounts: Mapping[int, Any],
) -> tuple[list[tuple[str, int, int, str | None, int]], dict[str, tuple[int, int, str, int]]]:
    """Validate hold-referencing transfers.

    A hold's transfers: its placement (code `hold`, id `hold_transfer_id`), top-ups (code
    `hold`, other ids: available -> held, they raise its `amount`), consumptions (any other
    code: held -> anywhere) and releases (code `release`: held -> the owner's available;
    while pending too, e.g. when an order is reduced). Resolving accounts for all of it.

    Returns the updates of existing holds (id, +consumed, +released, new state, +amount) and
    the final (consumed, released, state, amount) of the holds this batch places.
    """
    placing = {h.id: h for h in new_holds}
    referenced = {t.hold_id for t in transfers if t.hold_id is not None} | set(resolve)
    existing_ids = sorted(referenced - set(placing))
    holds: dict[str, Any] = {}
    if existing_ids:
        holds = {r.id: r for r in await session.execute(_HOLDS_SQL, {"ids": existing_ids})}
    placed: set[str] = set()
    consumed: dict[str, int] = defaultdict(int)
    released: dict[str, int] = defaultdict(int)
    topped: dict[str, int] = defaultdict(int)
    for t in transfers:
        if t.hold_id is None:
            continue
        nh = placing.get(t.hold_id)
        if nh is not None and t.code == "hold" and t.id == hold_transfer_id(nh.id):
            if not (
                t.debit_account_id == nh.available_account_id
                and t.credit_account_id == nh.account_id
                and t.amount == nh.amount
                and nh.id not in placed
            ):
                raise InvalidTransfer(f"transfer {t.id} does not place hold {nh.id}")
            placed.add(nh.id)
            continue
        if nh is not None:
            if nh.id not in placed:
                raise InvalidTransfer(f"transfer {t.id} uses hold {nh.id} before placing it")
            held_id, available_id = nh.account_id, nh.available_account_id
        else:
            h = holds.get(t.hold_id)
            if h is None:
                raise HoldNotFound(f"no hold {t.hold_id!r}")
            if h.state != "pending":
                raise InvalidState(f"hold {h.id} is {h.state}")
            held_id, available_id = h.account_id, h.available_account_id
        if t.code == "hold":  # a top-up: more of the owner's available into the hold
            if t.debit_account_id != available_id or t.credit_account_id != held_id:
                raise InvalidTransfer(f"top-up {t.id} must move available to held")
            topped[t.hold_id] += t.amount
            continue
        if t.debit_account_id != held_id:
            raise InvalidTransfer(f"transfer {t.id} must debit the held account of {t.hold_id}")
        if t.code == "release":
            if t.credit_account_id != available_id:
                raise InvalidTransfer(f"release {t.id} must credit the owner's available")
            released[t.hold_id] += t.amount
        else:
            consumed[t.hold_id] += t.amount
    if placed != set(placing):
        raise InvalidTransfer(f"holds {sorted(set(placing) - placed)} are never placed")

    def settle(hold_id: str, amount: int, used_before: int) -> str | None:
        used = used_before + consumed.get(hold_id, 0) + released.get(hold_id, 0)
        if used > amount:
            raise HoldExceeded(
                f"hold {hold_id} has {amount - used_before} left", details={"hold_id": hold_id}
            )
        state = resolve.get(hold_id)
        if state is not None and used != amount:
            raise InvalidTransfer(f"resolving hold {hold_id} must account for all of it")
        return state

    updates: list[tuple[str, int, int, str | None, int]] = []
    for hold_id in existing_ids:
        h = holds.get(hold_id)
        if h is None:
            raise HoldNotFound(f"no hold {hold_id!r}")
        if h.state != "pending":
            raise InvalidState(f"hold {h.id} is {h.state}")
        amount = int(h.amount) + topped.get(hold_id, 0)
        state = settle(hold_id, amount, int(h.consumed) + int(h.released))
        updates.append(
            (
                hold_id,
                consumed.get(hold_id, 0),
                released.get(hold_id, 0),
                state,
                topped.get(hold_id, 0),
            )
        )
    finals = {
        h.id: (
            consumed.get(h.id, 0),
            released.get(h.id, 0),
            settle(h.id, h.amount + topped.get(h.id, 0), 0) or "pending",
            h.amount + topped.get(h.id, 0),
        )
        for h in new_holds
    }
    return updates, finals


async def _replay(
    session: AsyncSession, transfers: Sequence[TransferSpec], locked: Sequence[_Locked]
) -> BatchResult:
    rows = await session.execute(
        text(
            "SELECT id, debit_account_id, credit_account_id, amount, code, reference, hold_id, "
            "batch_id FROM ledger_transfers WHERE id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": [t.id for t in transfers]},
    )
    found = {r.id: r for r in rows}
    differing = [
        t.id
        for t in transfers
        if (r := found.get(t.id)) is None
        or (r.debit_account_id, r.credit_account_id, r.amount, r.code, r.reference, r.hold_id)
        != (t.debit_account_id, t.credit_account_id, t.amount, t.code, t.reference, t.hold_id)
    ]
    if differing:
        raise TransferIdConflict(
            "transfer ids already used with other content (or only part of this batch exists)",
            details={"transfer_ids": differing[:20]},
        )
    batch_ids = {r.batch_id for r in found.values()}
    batch = batch_ids.pop() if len(batch_ids) == 1 else uuid.UUID(int=0)
    balances = {r.id: r.balance for r in locked}
    return BatchResult(batch, tuple(t.id for t in transfers), True, balances)


# --- holds --------------------------------------------------------------------------------


def _hold_from(row: Any) -> Hold:
    return Hold(
        id=row.id,
        user_id=int(row.user_id),
        asset=row.asset,
        account_id=int(row.account_id),
        available_account_id=int(row.available_account_id),
        amount=int(row.amount),
        consumed=int(row.consumed),
        released=int(row.released),
        state=row.state,
        reference=row.reference,
    )


def hold_placement(
    hold_id: str,
    user_id: int,
    asset: str,
    amount: int,
    available_account_id: int,
    held_account_id: int,
    reference: str | None = None,
) -> tuple[TransferSpec, NewHold]:
    """The transfer (available -> held) and hold record that reserve `amount`, for
    `apply_group`."""
    spec = TransferSpec(
        hold_transfer_id(hold_id),
        available_account_id,
        held_account_id,
        amount,
        "hold",
        reference,
        hold_id,
    )
    hold = NewHold(
        hold_id, user_id, asset, held_account_id, available_account_id, amount, reference
    )
    return spec, hold


async def apply_group(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    *,
    new_holds: Sequence[NewHold] = (),
    resolve: Mapping[str, str] | None = None,
    batch_id: uuid.UUID | None = None,
) -> BatchResult:
    """`apply_batch` for many commands at once (the order sequencer's group commit): it may
    also place holds (`hold_placement`), consume them, release what is left (code `release`)
    and resolve them (`resolve={hold_id: "posted" | "voided"}`), all in one batch, in two or
    three round trips whatever its size."""
    return await _apply(session, transfers, batch_id=batch_id, new_holds=new_holds, resolve=resolve)


class SequencedTransfer(NamedTuple):
    """One leg of an order-sequencer group, accounts resolved (see `sequenced_write`)."""

    id: str
    debit_account_id: int
    credit_account_id: int
    asset: str
    amount: int
    code: str
    reference: str | None
    hold_id: str | None


class SequencedHold(NamedTuple):
    """A hold an order-sequencer group places (its `hold` transfer is among the group's)."""

    id: str
    user_id: int
    asset: str
    account_id: int  # held
    available_account_id: int
    amount: int
    reference: str | None


@dataclass(frozen=True, slots=True)
class SequencedWrite:
    """A sequenced group's ledger writes as a part of the group's one statement
    (`app.kit.sql`): run it with `fetch_writing`, then `check` its result row."""

    part: Part
    holds: int  # existing holds it changes: each must have been pending
    transfers: int

    def check(self, row: Mapping[str, Any]) -> None:
        if row["ledger_hl"] != self.holds or row["ledger_ins"] != self.transfers:
            raise InvalidState("a hold of the group was not pending; roll back")


def sequenced_write(
    transfers: Sequence[SequencedTransfer],
    *,
    new_holds: Sequence[SequencedHold] = (),
    resolve: Mapping[str, str] | None = None,
    batch_id: uuid.UUID | None = None,
) -> SequencedWrite:
    """`apply_group` for the order sequencer, as part of ONE statement: the sequencer has
    decided every leg against balances it locked and holds it tracks, so nothing is read
    first (no account lock, no idempotency count, no hold read: its transfer and hold ids are
    new by construction; a hold is placed by a transfer with code `hold` and the hold's id).
    The database stays the safety net: positive amounts, non-negative balances, holds never
    over-consumed and resolved exactly once, unique ids: a violation raises (the group fails
    and the sequencer restores its books)."""
    resolve = resolve or {}
    placing = {h.id for h in new_holds}
    consumed: dict[str, int] = defaultdict(int)
    released: dict[str, int] = defaultdict(int)
    topped: dict[str, int] = defaultdict(int)  # top-ups: code `hold`, not the placement
    deltas: dict[int, int] = defaultdict(int)
    for t in transfers:
        deltas[t.debit_account_id] -= t.amount
        deltas[t.credit_account_id] += t.amount
        if t.hold_id is None:
            continue
        if t.code == "hold":
            if not (t.hold_id in placing and t.id == hold_transfer_id(t.hold_id)):
                topped[t.hold_id] += t.amount
        elif t.code == "release":
            released[t.hold_id] += t.amount
        else:
            consumed[t.hold_id] += t.amount
    existing = sorted((set(consumed) | set(released) | set(topped) | set(resolve)) - placing)
    changed = sorted((a, d) for a, d in deltas.items() if d)
    columns: list[Sequence[Any]] = list(zip(*transfers, strict=True)) if transfers else [()] * 8
    args = (
        [h.id for h in new_holds],
        [h.user_id for h in new_holds],
        [h.asset for h in new_holds],
        [h.account_id for h in new_holds],
        [h.available_account_id for h in new_holds],
        [h.amount + topped.get(h.id, 0) for h in new_holds],
        [h.reference for h in new_holds],
        [consumed.get(h.id, 0) for h in new_holds],
        [released.get(h.id, 0) for h in new_holds],
        [resolve.get(h.id, "pending") for h in new_holds],
        [a for a, _ in changed],
        [d for _, d in changed],
        existing,
        [consumed.get(h, 0) for h in existing],
        [released.get(h, 0) for h in existing],
        [resolve.get(h) for h in existing],
        batch_id or uuid.uuid4(),
        *(list(c) for c in columns),  # id, debit, credit, asset, amount, code, ref, hold
        [topped.get(h, 0) for h in existing],
    )
    select = "(SELECT count(*) FROM hl) AS ledger_hl, (SELECT count(*) FROM ins) AS ledger_ins"
    return SequencedWrite(Part(_WRITE_CTES, args, select), len(existing), len(transfers))


async def get_hold(session: AsyncSession, hold_id: str) -> Hold:
    row = (await session.execute(_HOLDS_SQL, {"ids": [hold_id]})).first()
    if row is None:
        raise HoldNotFound(f"no hold {hold_id!r}")
    return _hold_from(row)


def hold_transfer_id(hold_id: str) -> str:
    """The id of the transfer that places the hold (available -> held)."""
    return f"hold:{hold_id}"


def hold_top_up(
    transfer_id: str,
    hold_id: str,
    amount: int,
    available_account_id: int,
    held_account_id: int,
    reference: str | None = None,
) -> TransferSpec:
    """A transfer that adds `amount` of the owner's available to a pending hold (an order
    amended up), for `apply_group`: it raises the hold's `amount`."""
    if transfer_id == hold_transfer_id(hold_id):
        raise InvalidTransfer("a top-up needs an id of its own")
    return TransferSpec(
        transfer_id, available_account_id, held_account_id, amount, "hold", reference, hold_id
    )


async def place_hold(
    session: AsyncSession,
    hold_id: str,
    user_id: int,
    asset: str,
    amount: int,
    *,
    reference: str | None = None,
) -> BatchResult:
    """Reserve `amount`: move it from the user's `available` to `held` and record the hold.

    Idempotent on `hold_id` (same content: `replayed=True`; other content: 409).
    """
    if not 0 < len(hold_id) <= 64:
        raise InvalidTransfer("hold id must have 1 to 64 characters")
    _check_amount(amount)
    available = await get_account_id(session, user_id, asset, "available")
    held = await get_account_id(session, user_id, asset, "held")
    spec = TransferSpec(
        hold_transfer_id(hold_id), available, held, amount, "hold", reference, hold_id
    )
    new = NewHold(hold_id, user_id, asset, held, available, amount, reference)
    try:
        return await _apply(session, [spec], new_holds=[new])
    except TransferIdConflict as exc:
        raise HoldIdConflict(f"hold {hold_id} exists with other content") from exc


async def post_hold(
    session: AsyncSession,
    hold_id: str,
    *,
    credit_account_id: int | None = None,
    amount: int | None = None,
    code: str = "settle",
    transfer_id: str | None = None,
    reference: str | None = None,
) -> BatchResult:
    """Resolve the hold as posted, exactly once.

    With `credit_account_id`, first move `amount` (default: all that is left) from the hold to
    that account. Whatever is then left returns to the owner's `available`. Fills consumed
    earlier with `apply_batch(... hold_id=...)` stay consumed.
    """
    return await _resolve(
        session, hold_id, "posted", credit_account_id, amount, code, transfer_id, reference
    )


async def void_hold(session: AsyncSession, hold_id: str) -> BatchResult:
    """Resolve the hold as voided, exactly once: all that is left returns to `available`."""
    return await _resolve(session, hold_id, "voided", None, None, "release", None, None)


async def _resolve(
    session: AsyncSession,
    hold_id: str,
    state: str,
    credit_account_id: int | None,
    amount: int | None,
    code: str,
    transfer_id: str | None,
    reference: str | None,
) -> BatchResult:
    hold = await get_hold(session, hold_id)
    lock = [hold.account_id, hold.available_account_id]
    if credit_account_id is not None:
        lock.append(credit_account_id)
    await _lock(await raw_connection(session), sorted(set(lock)), [])
    hold = await get_hold(session, hold_id)  # current, now that its accounts are locked
    if hold.state != "pending":
        raise InvalidState(f"hold {hold_id} is already {hold.state}")
    specs: list[TransferSpec] = []
    remaining = hold.remaining
    if credit_account_id is not None:
        final = remaining if amount is None else amount
        if final > remaining:
            raise HoldExceeded(f"hold {hold_id} has {remaining} left, not {final}")
        if final > 0:
            specs.append(
                TransferSpec(
                    transfer_id or f"hold:{hold_id}:post",
                    hold.account_id,
                    credit_account_id,
                    final,
                    code,
                    reference or hold.reference,
                    hold_id,
                )
            )
            remaining -= final
    if remaining > 0:
        specs.append(
            TransferSpec(
                f"hold:{hold_id}:release",
                hold.account_id,
                hold.available_account_id,
                remaining,
                "release",
                hold.reference,
                hold_id,
            )
        )
    return await _apply(session, specs, resolve={hold_id: state}, lock_ids=lock)


# --- loading (the sequencer's mirror at start-up) ------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountBalance:
    id: int
    user_id: int | None
    asset: str
    kind: str
    balance: int
    allow_negative: bool


async def load_accounts(session: AsyncSession) -> list[AccountBalance]:
    """Every account with its balance (ordered by id); warms the id cache with them, which is
    safe because they are committed rows."""
    rows = await session.execute(
        text(
            "SELECT id, user_id, asset, kind, balance, allow_negative FROM ledger_accounts "
            "ORDER BY id"
        )
    )
    accounts = [
        AccountBalance(
            int(r.id),
            None if r.user_id is None else int(r.user_id),
            r.asset,
            r.kind,
            int(r.balance),
            bool(r.allow_negative),
        )
        for r in rows
    ]
    if not session.info.get(_PENDING):
        cache = _cache_for(session.sync_session.get_bind())
        for a in accounts:
            cache[(a.user_id, a.asset, a.kind)] = a.id
    return accounts


async def pending_holds(session: AsyncSession) -> list[Hold]:
    rows = await session.execute(
        text(
            "SELECT id, user_id, asset, account_id, available_account_id, amount, consumed, "
            "released, state, reference FROM ledger_holds WHERE state = 'pending' ORDER BY id"
        )
    )
    return [_hold_from(r) for r in rows]
