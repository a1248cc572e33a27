"""Authenticated WebSocket sessions: which connections act for which user and API key.

The WebSocket hubs (the native feed, the Kraken feed) keep their signed-in connections here:
private messages go to a user's connections, and a revoked key's connections are closed,
including keys revoked while a revocation notice could not arrive (`dead_keys`, run on every
reconnection of the notice listener).
"""

from collections import defaultdict
from typing import Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.principal import Principal
from app.models import ApiKey


class SignedIn(Protocol):
    user_id: int | None
    key_id: int | None


C = TypeVar("C", bound=SignedIn)


class Sessions(Generic[C]):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self.users: dict[int, set[C]] = defaultdict(set)
        self.keys: dict[int, set[C]] = defaultdict(set)

    def bind(self, conn: C, principal: Principal) -> None:
        """`conn` now acts with this key (the caller dropped another user's state first)."""
        self.unbind_key(conn)
        conn.user_id, conn.key_id = principal.user_id, principal.api_key_id
        self.users[principal.user_id].add(conn)
        self.keys[principal.api_key_id].add(conn)

    def unbind_key(self, conn: C) -> None:
        if conn.key_id is not None:
            _discard(self.keys, conn.key_id, conn)
            conn.key_id = None

    def unbind(self, conn: C) -> None:
        """`conn` acts for nobody any more."""
        self.unbind_key(conn)
        if conn.user_id is not None:
            _discard(self.users, conn.user_id, conn)
            conn.user_id = None

    def revoked(self, key_id: int) -> list[C]:
        """The connections of a revoked key (forgotten here: the caller closes them)."""
        return list(self.keys.pop(key_id, ()))

    async def dead_keys(self) -> list[int]:
        """The keys held here that are no longer live (revoked or gone)."""
        held = list(self.keys)
        if not held:
            return []
        live = await self.live(held)
        return [k for k in held if k not in live]

    async def live(self, key_ids: list[int]) -> set[int]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(ApiKey.id).where(ApiKey.id.in_(key_ids), ApiKey.revoked_at.is_(None))
            )
            return set(rows)


def _discard(table: dict[int, set[C]], key: int, conn: C) -> None:
    conns = table.get(key)
    if conns is not None:
        conns.discard(conn)
        if not conns:
            del table[key]
