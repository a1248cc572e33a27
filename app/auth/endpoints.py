from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from app.auth import service
from app.auth.dependencies import AdminPrincipal, AnyPrincipal, ReadPrincipal
from app.auth.schemas import AccountOut, ApiKeyOut, RevokeRequest
from app.kit.deps import Session
from app.kit.inputs import PositiveInt
from app.models import User

router = APIRouter(prefix="/v1", tags=["account"])
admin = APIRouter(prefix="/v1/admin/keys", tags=["admin"])

KeyId = Annotated[PositiveInt, Path()]


@router.get("/account", response_model=AccountOut)
async def get_account(principal: ReadPrincipal, session: Session) -> AccountOut:
    email = await session.scalar(select(User.email).where(User.id == principal.user_id))
    return AccountOut(
        user_id=principal.user_id,
        email=email or "",
        api_key_id=principal.api_key_id,
        scopes=sorted(principal.scopes),
    )


@router.delete("/account/key", response_model=ApiKeyOut)
async def revoke_own_key(principal: AnyPrincipal, session: Session) -> ApiKeyOut:
    """Revoke the key that signs this request (any scope may): every later request with it
    is refused and its WebSocket sessions are closed (code 4001)."""
    api_key = await service.get_api_key(session, principal.api_key_id)
    return ApiKeyOut.of(await service.revoke(session, api_key))


@admin.post("/{key_id}/revoke", response_model=ApiKeyOut)
async def revoke_key(
    key_id: KeyId, body: RevokeRequest, principal: AdminPrincipal, session: Session
) -> ApiKeyOut:
    """Revoke any user's key, with a reason (audited as `api_key.revoke`)."""
    return ApiKeyOut.of(await service.revoke_as_admin(session, principal, key_id, body.reason))
