from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.audit.service import page
from app.auth.dependencies import AdminPrincipal
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt

router = APIRouter(prefix="/v1/admin/audit", tags=["admin"])


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_user_id: int | None
    actor_key_id: int | None
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: int | None


@router.get("", response_model=AuditPage)
async def list_audit(
    _: AdminPrincipal,
    session: Session,
    cursor: Annotated[PositiveInt | None, Query()] = None,
    limit: Annotated[int, Canonical(1, 500), Query()] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """Newest first. Pass `next_cursor` back as `cursor` for the next page."""
    rows = await page(session, cursor, limit, action)
    return AuditPage(
        entries=[
            AuditEntryOut(
                id=e.id,
                at=e.created_at,
                actor_user_id=e.actor_user_id,
                actor_key_id=e.actor_key_id,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                before=e.before,
                after=e.after,
                reason=e.reason,
            )
            for e in rows
        ],
        next_cursor=rows[-1].id if len(rows) == limit else None,
    )
