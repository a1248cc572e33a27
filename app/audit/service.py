"""The append-only audit log of admin and automatic actions."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.models import AuditEntry


async def record(
    session: AsyncSession,
    actor: Principal | None,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_user_id=actor.user_id if actor else None,
        actor_key_id=actor.api_key_id if actor else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        reason=reason,
    )
    session.add(entry)
    await session.flush()
    return entry


async def page(
    session: AsyncSession, before_id: int | None, limit: int, action: str | None
) -> list[AuditEntry]:
    """Newest first; `before_id` is the cursor (the last id of the previous page)."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(await session.scalars(stmt))
