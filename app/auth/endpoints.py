from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import select

from app.auth import service
from app.auth.dependencies import AdminPrincipal, AnyPrincipal, ReadPrincipal
from app.auth.schemas import (
    AccountOut,
    ApiKeyOut,
    IssuedKeyOut,
    KeyIssue,
    KeysOut,
    RevokeRequest,
    UserCreate,
    UserOut,
    UsersPage,
    WsTokenOut,
)
from app.auth.tokens import TokenIssuer
from app.kit.deps import Session
from app.kit.inputs import Canonical, PositiveInt
from app.models import User

router = APIRouter(prefix="/v1", tags=["account"])
admin = APIRouter(prefix="/v1/admin/keys", tags=["admin"])
users = APIRouter(prefix="/v1/admin/users", tags=["admin"])

KeyId = Annotated[PositiveInt, Path()]
UserId = Annotated[PositiveInt, Path()]


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


@router.post("/ws/token", response_model=WsTokenOut)
async def ws_token(principal: ReadPrincipal, request: Request) -> WsTokenOut:
    """A short-lived token for `{"op": "auth", "token": ...}` on `/v1/ws`, so that a browser
    gets the calling key's private channels without its secret. Use it before `expires_at`
    (any number of times); revoking the key makes its tokens worthless and closes the
    sessions they opened."""
    issuer: TokenIssuer = request.app.state.ws_tokens
    issued = issuer.issue(principal.api_key_id)
    return WsTokenOut(
        token=issued.token,
        expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
        expires_in=issuer.ttl_seconds,
    )


@users.get("", response_model=UsersPage)
async def list_users(
    _: AdminPrincipal,
    session: Session,
    cursor: Annotated[PositiveInt | None, Query()] = None,
    limit: Annotated[int, Canonical(1, 500), Query()] = 100,
    email: Annotated[str | None, Query(max_length=254, description="part of the email")] = None,
) -> UsersPage:
    """Newest first. Pass `next_cursor` back as `cursor` for the next page."""
    rows = await service.list_users(session, cursor, limit, email)
    return UsersPage(
        users=[UserOut.of(user, live) for user, live in rows],
        next_cursor=rows[-1][0].id if len(rows) == limit else None,
    )


@users.post("", response_model=UserOut, status_code=201)
async def create_user(body: UserCreate, principal: AdminPrincipal, session: Session) -> UserOut:
    """Audited as `user.create`; an email already used: 409 `user_exists`."""
    user = await service.create_user_as_admin(session, principal, body.email, body.name)
    return UserOut.of(user, 0)


@users.get("/{user_id}/keys", response_model=KeysOut)
async def list_keys(user_id: UserId, _: AdminPrincipal, session: Session) -> KeysOut:
    """The user's keys, newest first, revoked ones included; never their secrets."""
    return KeysOut(keys=[ApiKeyOut.of(k) for k in await service.list_keys(session, user_id)])


@users.post("/{user_id}/keys", response_model=IssuedKeyOut, status_code=201)
async def issue_key(
    user_id: UserId, body: KeyIssue, principal: AdminPrincipal, session: Session, request: Request
) -> IssuedKeyOut:
    """A new key for the user: its secret is in this answer only. Audited as
    `api_key.issue` (scopes and label, never the secret)."""
    box = request.app.state.secret_box
    issued = await service.issue_key_as_admin(
        session, box, principal, user_id, list(body.scopes), body.label
    )
    out = ApiKeyOut.of(issued.api_key)
    return IssuedKeyOut(**out.model_dump(), api_key=issued.key, api_secret=issued.secret)
