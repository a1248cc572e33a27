"""Revocations announced across processes (`app.kit.notify`).

`notify_revoked` is called by `revoke_api_key` inside the revoking transaction, so the
notice is delivered only if (and when) that transaction commits, from whichever process
revoked (the API, the CLI). `subscribe_revocations` hands each committed revocation to a
subscriber (the authenticator's key cache, the WebSocket hub) as a key id; after every
(re)connection of the listener, `on_connect` re-checks what the subscriber holds against
the `api_keys` table (notices sent while disconnected are lost).
"""

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.notify import Listener, OnConnect, notify

log = logging.getLogger("app.auth.revocation")

CHANNEL = "api_key_revoked"

OnRevoked = Callable[[int], None]


async def notify_revoked(session: AsyncSession, key_id: int) -> None:
    """Announce a revocation; Postgres delivers it when the caller's transaction commits."""
    await notify(session, CHANNEL, str(key_id))


def subscribe_revocations(
    listener: Listener, on_revoked: OnRevoked, on_connect: OnConnect | None = None
) -> None:
    def on_notice(payload: str) -> None:
        try:
            key_id = int(payload)
        except ValueError:
            log.warning("ignoring a malformed revocation notice", extra={"payload": payload})
            return
        on_revoked(key_id)

    listener.subscribe(CHANNEL, on_notice, on_connect)
