"""Shared endpoint dependencies."""

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_session

# `scope="function"`: the session commits when the endpoint returns, before the response
# is sent, so a client never sees success for a transaction that did not commit.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
