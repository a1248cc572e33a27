"""Shared endpoint dependencies."""

from typing import Annotated

from fastapi import Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_session

# `scope="function"`: the session commits when the endpoint returns, before the response
# is sent, so a client never sees success for a transaction that did not commit.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def public_cache(response: Response) -> None:
    """Public market data may be cached for a second: enough to spare the service from
    frontends that poll, short enough to stay live (the WebSocket feed is the live path)."""
    response.headers["Cache-Control"] = "public, max-age=1"


PublicCache = Depends(public_cache)
