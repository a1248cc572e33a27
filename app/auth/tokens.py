"""Short-lived tokens that stand for an API key, for clients that must not hold its secret
(a browser's WebSocket feed).

A server that holds the key's secret signs `POST /v1/ws/token` and hands the token to the
browser, which sends `{"op": "auth", "token": ...}` on `/v1/ws`. A token:

- is bound to one API key and carries nothing else: the user and scopes are read from
  `api_keys` when it is used, so a key revoked after the token was issued makes its tokens
  worthless at once (and the hub closes the sessions they opened, as for signed auth);
- must be used within its lifetime (`EXCHANGE_WS_TOKEN_TTL_SECONDS`, 5 minutes by default),
  any number of times (reconnections); a session it opened lives on past that, as long as
  the connection and the key do (Kraken's `GetWebSocketsToken` works the same way);
- is stateless: `v1.<key id>.<expiry>.<random>.<MAC>`, the MAC an HMAC-SHA256 under a key
  derived from the server key (`EXCHANGE_SECRET_KEY`), so every process of a deployment
  accepts the tokens any of them issued, with no table and no write per token.

`TokenIssuer.issue` / `TokenIssuer.verify` are what another surface (Kraken's
`GetWebSocketsToken`) would reuse; `principal_of` turns a verified token's key into a
`Principal`.
"""

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.errors import InvalidKey, InvalidToken, KeyRevoked, TokenExpired
from app.auth.service import Principal
from app.models import ApiKey

VERSION = "v1"
# v1.<key id>.<expiry, unix seconds>.<random>.<MAC>
_SHAPE = re.compile(
    r"v1\.([1-9][0-9]{0,18})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})"
)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    key_id: int
    expires_at: int  # unix seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenIssuer:
    """Issues and verifies tokens; `server_key` is the deployment's secret (the Fernet key
    that encrypts API secrets), from which the MAC key is derived for this purpose only."""

    def __init__(self, server_key: bytes, ttl_seconds: int) -> None:
        self._mac_key = hmac.new(server_key, b"dtao-exchange websocket token v1", "sha256").digest()
        self.ttl_seconds = ttl_seconds

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._mac_key, body.encode(), hashlib.sha256).digest())

    def issue(self, key_id: int, now: float | None = None) -> IssuedToken:
        expires_at = int(now if now is not None else time.time()) + self.ttl_seconds
        body = f"{VERSION}.{key_id}.{expires_at}.{_b64(secrets.token_bytes(16))}"
        return IssuedToken(f"{body}.{self._mac(body)}", key_id, expires_at)

    def verify(self, token: object, now: float | None = None) -> int:
        """The API key id a genuine, unexpired token stands for; else InvalidToken or
        TokenExpired. Says nothing of the key's state: see `principal_of`."""
        match = _SHAPE.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise InvalidToken("not a WebSocket token: get one from POST /v1/ws/token")
        body, mac = match.group(0).rsplit(".", 1)
        if not hmac.compare_digest(self._mac(body), mac):
            raise InvalidToken("not a WebSocket token: get one from POST /v1/ws/token")
        if int(match.group(2)) <= (now if now is not None else time.time()):
            raise TokenExpired("this token has expired: get a new one from POST /v1/ws/token")
        return int(match.group(1))


async def principal_of(session: AsyncSession, key_id: int) -> Principal:
    """The principal of a live key, read now (a revoked key: KeyRevoked)."""
    row = (
        await session.execute(
            select(ApiKey.user_id, ApiKey.scopes, ApiKey.revoked_at).where(ApiKey.id == key_id)
        )
    ).first()
    if row is None:
        raise InvalidKey("unknown API key")
    if row.revoked_at is not None:
        raise KeyRevoked("this API key has been revoked")
    return Principal(row.user_id, key_id, frozenset(row.scopes))
