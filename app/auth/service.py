"""Users and API keys: creation, revocation and verification of signed requests."""

import asyncio
import base64
import heapq
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.errors import (
    InvalidEmail,
    InvalidKey,
    InvalidNonce,
    InvalidSignature,
    KeyNotFound,
    KeyRevoked,
    PermissionDenied,
    UserExists,
    UserNotFound,
)
from app.auth.principal import NonceClaim
from app.auth.principal import Principal as Principal  # re-exported
from app.auth.revocation import notify_revoked
from app.auth.scopes import Scope
from app.auth.signing import signature_matches
from app.db import autocommit_driver, create_sessionmaker
from app.kit.crypto import SecretBox
from app.kit.errors import AppError, RateLimited
from app.kit.inputs import MAX_INT, canonical_int
from app.kit.ratelimit import TokenBucketLimiter
from app.models import ApiKey, User

MAX_NONCE = MAX_INT
# How far below the highest nonce used with a key a nonce may still arrive (each is
# accepted once), in milliseconds: concurrent requests of one key need not arrive in order.
DEFAULT_NONCE_WINDOW_MS = 10_000
MAX_NONCE_WINDOW_MS = 86_400_000
# How many accepted nonces per key are remembered in memory (a replay of one is refused
# without a database round trip); older ones are refused by the database, which keeps every
# nonce within the window.
REMEMBERED_NONCES = 4096


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    secret: str
    api_key: ApiKey


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL = 254


async def create_user(session: AsyncSession, email: str, name: str | None = None) -> User:
    email = email.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise InvalidEmail(f"not an email address: {email[:MAX_EMAIL]!r}")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists(f"a user with email {email} exists")
    user = User(email=email, name=name)
    session.add(user)
    await session.flush()
    return user


async def get_user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise UserNotFound(f"no user with email {email}")
    return user


async def create_api_key(
    session: AsyncSession,
    box: SecretBox,
    user_id: int,
    scopes: list[Scope],
    label: str | None = None,
    nonce_window_ms: int = DEFAULT_NONCE_WINDOW_MS,
) -> IssuedKey:
    key = secrets.token_urlsafe(42)
    secret = base64.b64encode(secrets.token_bytes(64)).decode()
    api_key = ApiKey(
        user_id=user_id,
        key=key,
        secret_encrypted=box.seal(secret.encode()),
        scopes=sorted({s.value for s in scopes}),
        label=label,
        nonce_window_ms=nonce_window_ms,
    )
    session.add(api_key)
    await session.flush()
    return IssuedKey(key=key, secret=secret, api_key=api_key)


async def revoke_api_key(session: AsyncSession, key: str) -> ApiKey:
    """Revoke by the key itself (the CLI). See `revoke`."""
    api_key = await session.scalar(select(ApiKey).where(ApiKey.key == key).with_for_update())
    if api_key is None:
        raise KeyNotFound("unknown API key")
    return await revoke(session, api_key)


async def get_api_key(session: AsyncSession, key_id: int) -> ApiKey:
    """A key by id, locked for update."""
    api_key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id).with_for_update())
    if api_key is None:
        raise KeyNotFound("unknown API key")
    return api_key


async def revoke(session: AsyncSession, api_key: ApiKey) -> ApiKey:
    """Revoke a key for good (idempotent). Signed requests with it are refused from the
    commit on; the revocation is announced to every process (`pg_notify`, delivered on
    commit), which end the key's WebSocket sessions and forget its cached secret."""
    if api_key.revoked_at is None:
        api_key.revoked_at = datetime.now(UTC)
        await session.flush()
    await notify_revoked(session, api_key.id)  # again if already revoked: harmless
    return api_key


async def list_users(
    session: AsyncSession, before_id: int | None, limit: int, email: str | None
) -> list[tuple[User, int]]:
    """Users newest first with their number of live keys; `email` filters by substring."""
    live = (
        select(func.count(ApiKey.id))
        .where(ApiKey.user_id == User.id, ApiKey.revoked_at.is_(None))
        .scalar_subquery()
    )
    stmt = select(User, live).order_by(User.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(User.id < before_id)
    if email:
        stmt = stmt.where(User.email.contains(email.strip().lower(), autoescape=True))
    return [(user, int(count)) for user, count in (await session.execute(stmt)).all()]


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"no user {user_id}")
    return user


async def list_keys(session: AsyncSession, user_id: int) -> list[ApiKey]:
    """A user's keys, newest first, revoked ones too (never their secrets)."""
    await get_user(session, user_id)
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id.desc())
    )
    return list(rows)


async def create_user_as_admin(
    session: AsyncSession, actor: Principal, email: str, name: str | None
) -> User:
    """Audited as `user.create`."""
    from app.audit.service import record  # app.audit imports this module

    user = await create_user(session, email, name)
    await record(
        session, actor, "user.create", "user", user.id, None, {"email": user.email, "name": name}
    )
    return user


async def issue_key_as_admin(
    session: AsyncSession,
    box: SecretBox,
    actor: Principal,
    user_id: int,
    scopes: list[Scope],
    label: str | None,
) -> IssuedKey:
    """A new key for any user; the secret is in the answer only. Audited as `api_key.issue`
    (scopes and label, never the secret)."""
    from app.audit.service import record  # app.audit imports this module

    await get_user(session, user_id)
    issued = await create_api_key(session, box, user_id, scopes, label)
    after = {"user_id": user_id, "scopes": list(issued.api_key.scopes), "label": label}
    await record(session, actor, "api_key.issue", "api_key", issued.api_key.id, None, after)
    return issued


async def revoke_as_admin(
    session: AsyncSession, actor: Principal, key_id: int, reason: str
) -> ApiKey:
    """An admin revokes any key; audited (`api_key.revoke`) with before and after."""
    from app.audit.service import record  # app.audit imports this module

    api_key = await get_api_key(session, key_id)
    before = {"revoked_at": _iso(api_key.revoked_at)}
    await revoke(session, api_key)
    after = {"revoked_at": _iso(api_key.revoked_at)}
    await record(session, actor, "api_key.revoke", "api_key", api_key.id, before, after, reason)
    return api_key


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class _CachedKey:
    id: int
    user_id: int
    scopes: frozenset[str]
    secret: bytes  # decoded HMAC key
    nonce_window_ms: int


class Authenticator:
    """Verifies Kraken-style signed requests.

    Decrypted secrets are cached in memory (keys are immutable but for revocation); a
    request's nonce is recorded (`NonceWrite`) before its answer leaves, in its own
    committed transaction or in that of what the request does (an order's group), and the
    write refuses revoked keys, so a revocation takes effect on the very next request. Revoked
    keys are also dropped from the cache when their revocation is announced (`forget`), and
    a key read as revoked is refused at once and never cached.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        box: SecretBox,
        limiter: TokenBucketLimiter,
        remembered_nonces: int = REMEMBERED_NONCES,
    ) -> None:
        self._engine = engine
        self._remembered = remembered_nonces
        self._sessionmaker = create_sessionmaker(engine)
        self._box = box
        self._limiter = limiter
        self._cache: dict[str, _CachedKey] = {}
        self._cached_ids: dict[int, str] = {}  # key id -> key, to forget by id
        # Per key: the highest nonce accepted (or being persisted), the ones accepted within
        # its window (as times: `nonce_time`), and the pending writes.
        self._highest: dict[int, int] = {}
        self._seen: dict[int, set[int]] = {}
        self._pending: list[tuple[NonceClaim, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def _lookup(self, key: str) -> _CachedKey:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        async with self._sessionmaker() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.key == key))
        if row is None:
            raise InvalidKey("unknown API key")
        if row.revoked_at is not None:  # never cached again once forgotten
            raise KeyRevoked("this API key has been revoked")
        secret = base64.b64decode(self._box.open(row.secret_encrypted))
        cached = _CachedKey(row.id, row.user_id, frozenset(row.scopes), secret, row.nonce_window_ms)
        if len(self._cache) > 100_000:
            self.forget_all()
        self._cache[key] = cached
        self._cached_ids[cached.id] = key
        return cached

    def forget(self, key_id: int) -> None:
        """Drop a (revoked) key's cached secret. Safe to call for keys never cached."""
        key = self._cached_ids.pop(key_id, None)
        if key is not None:
            self._cache.pop(key, None)

    def is_cached(self, key_id: int) -> bool:
        return key_id in self._cached_ids

    def forget_all(self) -> None:
        """Drop every cached secret (e.g. when revocation notices may have been missed)."""
        self._cache.clear()
        self._cached_ids.clear()

    async def authenticate(
        self,
        key: str,
        signature: str,
        path: str,
        nonce: str | None,
        payload: bytes,
        required: Scope | None,
        *,
        defer_nonce: bool = False,
    ) -> Principal:
        """The request's principal, once its nonce is recorded; with `defer_nonce`, at once,
        its nonce still to be recorded (`Principal.nonce`): the caller records it with what
        the request does, or `settle`s it, before answering."""
        if len(key) > 128:
            raise InvalidKey("unknown API key")
        entry = await self._lookup(key)
        try:
            value = canonical_int(nonce, 1, MAX_NONCE)
        except ValueError:
            raise InvalidNonce(
                "nonce missing or not a positive integer below 2^63 in ASCII digits"
            ) from None
        # Canonical: the digits signed are exactly str(value).
        if not signature_matches(entry.secret, path, str(value), payload, signature):
            raise InvalidSignature("signature does not match")
        claim = self._claim(entry.id, entry.nonce_window_ms, value)
        try:
            if required is not None and required.value not in entry.scopes:
                raise PermissionDenied(f"this API key lacks the '{required.value}' scope")
            retry_after = self._limiter.acquire(entry.id)
            if retry_after is not None:
                raise RateLimited("rate limit exceeded for this API key", retry_after=retry_after)
        except AppError:
            await self.settle(claim)  # a refused request's nonce is used up all the same
            raise
        if not defer_nonce:
            await self.settle(claim)
        return Principal(entry.user_id, entry.id, entry.scopes, claim if defer_nonce else None)

    def _claim(self, key_id: int, window_ms: int, nonce: int) -> NonceClaim:
        """Accept `nonce` at most once, and only within the key's window below the highest
        nonce seen (`nonce_window_ms`, on the time line of `nonce_time`), as far as this
        process knows; the database decides when it is recorded (so a replay is refused
        after a restart, and by every process: the accepted nonces within the window are
        rows)."""
        value = nonce_time(nonce)
        if value is None:
            raise InvalidNonce(f"nonce too large: at most {MAX_NONCE_MS} in milliseconds")
        window = window_ms * 1_000_000
        seen = self._seen.setdefault(key_id, set())
        highest = self._highest.get(key_id, 0)
        if value <= highest - window or value in seen:
            raise InvalidNonce(_NONCE_RULE)
        seen.add(value)
        if len(seen) > 2 * self._remembered:  # once per `_remembered` nonces: amortized
            self._seen[key_id] = set(heapq.nlargest(self._remembered, seen))
        self._highest[key_id] = max(highest, value)
        return NonceClaim(key_id, value)

    async def settle(self, claim: NonceClaim) -> None:
        """Record a claimed nonce unless that is done: refused (`InvalidNonce`,
        `KeyRevoked`) if the database knows it, or its key is revoked. Concurrent requests
        share one statement: the writes are group-committed like orders are."""
        if claim.recorded:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((claim, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_nonces())
        await future

    def remembered(self, key_id: int) -> int:
        """How many of a key's nonces this process remembers (at most twice
        `remembered_nonces`)."""
        return len(self._seen.get(key_id, ()))

    def _relearn(self, key_id: int) -> None:
        """Forget what this process knows of a key's nonces: the database decides."""
        self._highest.pop(key_id, None)
        self._seen.pop(key_id, None)

    async def _write_nonces(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            write = NonceWrite([claim for claim, _ in batch])
            try:  # one autocommitted statement for the whole batch
                async with autocommit_driver(self._engine) as conn:
                    write.learn(await conn.fetch(_NONCE_SQL, *write.args))
            except Exception as exc:  # the database is down: nobody gets in
                for claim, future in batch:
                    self._relearn(claim.key_id)
                    future.set_exception(exc)
                continue
            write.committed()
            for claim, future in batch:
                error = write.refusal(claim)
                if error is None:
                    future.set_result(None)
                else:
                    self._relearn(claim.key_id)
                    future.set_exception(error)


_NONCE_RULE = (
    "nonce already used, or older than this key's nonce window below the highest nonce used with it"
)

# Nonces below 10^11 are counters; above, times since the epoch in ms, then us, then ns.
_MS_FROM, _US_FROM, _NS_FROM = 10**11, 10**14, 10**17
MAX_NONCE_MS = MAX_NONCE // 10**6


def nonce_time(nonce: int) -> int | None:
    """A nonce on one time line, in nanoseconds, whatever unit the client counts in: a
    millisecond clock (CCXT), a microsecond one or a nanosecond one (`date +%s%N`) are all
    compared as times, so a key used with nanoseconds still works with milliseconds later.
    Below 10^11 a nonce is a plain counter (compared as it is, below every time). None:
    beyond 2^63-1 nanoseconds (the year 2262)."""
    if nonce < _MS_FROM or nonce >= _NS_FROM:
        value = nonce
    elif nonce < _US_FROM:
        value = nonce * 1_000_000
    else:
        value = nonce * 1_000
    return value if value <= MAX_NONCE else None


_NONCE_CTES = """
    n_v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS v(id, nonce)),
    n_k AS MATERIALIZED (  -- each key: revoked?, and the nonces its window still admits
        SELECT k.id, k.revoked_at, coalesce((SELECT n.nonce FROM api_key_nonces n
            WHERE n.api_key_id = k.id ORDER BY n.nonce DESC LIMIT 1), 0)  -- the highest
            - k.nonce_window_ms * CAST(1000000 AS bigint) AS floor
        FROM api_keys k WHERE k.id = ANY($1::bigint[])
    ),
    n_ins AS (
        INSERT INTO api_key_nonces (api_key_id, nonce)
        SELECT v.id, v.nonce FROM n_v v JOIN n_k k ON k.id = v.id
        WHERE k.revoked_at IS NULL AND v.nonce > k.floor
        ON CONFLICT DO NOTHING RETURNING api_key_id, nonce
    ),
    n_pruned AS (
        DELETE FROM api_key_nonces n USING n_k k
        WHERE n.api_key_id = k.id AND n.nonce <= k.floor RETURNING 1
    )
"""
_NONCE_REFUSED = """
    SELECT v.id AS key_id, v.nonce,
           NOT EXISTS (SELECT 1 FROM n_k k WHERE k.id = v.id AND k.revoked_at IS NULL) AS revoked
    FROM n_v v
    WHERE NOT EXISTS (SELECT 1 FROM n_ins i WHERE i.api_key_id = v.id AND i.nonce = v.nonce)
"""
# The authenticator's own statement (see `NonceWrite`).
_NONCE_SQL = f"WITH {_NONCE_CTES}{_NONCE_REFUSED}"


class NonceWrite:
    """Claimed nonces recorded by one statement, in whichever transaction (the order
    sequencer's group, whose read statement carries them, or the authenticator's own): its
    data-modifying `CTES` (parameters $1, $2: `args`) record each nonce of a live key,
    within its window below the key's highest nonce and not used before (`api_key_nonces`,
    unique per key: two writers of the same nonce, in any transactions, record it once),
    and prune those the window has passed (never the highest); `REFUSED` selects the
    claims it did not record (key_id, nonce, revoked). It locks no key: a revocation is
    seen from the next statement on."""

    CTES = _NONCE_CTES
    REFUSED = _NONCE_REFUSED

    def __init__(self, claims: Sequence[NonceClaim]) -> None:
        self.claims = claims
        self.args = [[c.key_id for c in claims], [c.value for c in claims]]
        self.refusals: dict[tuple[int, int], AppError] = {}

    def learn(self, refused: Iterable[Sequence[Any]]) -> dict[tuple[int, int], AppError]:
        """The claims the statement did not record (its `REFUSED` rows), and why."""
        self.refusals = {
            (key_id, value): KeyRevoked("this API key has been revoked")
            if revoked
            else InvalidNonce(_NONCE_RULE)
            for key_id, value, revoked in refused
        }
        return self.refusals

    def refusal(self, claim: NonceClaim) -> AppError | None:
        """Why the statement refused this claim (None: recorded once the caller commits)."""
        return self.refusals.get((claim.key_id, claim.value))

    def committed(self) -> None:
        """The caller's transaction committed: the claims not refused are recorded."""
        for claim in self.claims:
            if (claim.key_id, claim.value) not in self.refusals:
                claim.recorded = True
