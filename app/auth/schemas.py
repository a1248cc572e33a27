from datetime import datetime

from pydantic import BaseModel, Field

from app.auth.scopes import Scope
from app.models import ApiKey, User


class AccountOut(BaseModel):
    user_id: int
    email: str
    api_key_id: int
    scopes: list[str]


class ApiKeyOut(BaseModel):
    id: int
    user_id: int
    scopes: list[str]
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> "ApiKeyOut":
        return cls(
            id=key.id,
            user_id=key.user_id,
            scopes=list(key.scopes),
            label=key.label,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class UserOut(BaseModel):
    id: int
    email: str
    name: str | None
    created_at: datetime
    live_keys: int  # keys not revoked

    @classmethod
    def of(cls, user: User, live_keys: int) -> "UserOut":
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            created_at=user.created_at,
            live_keys=live_keys,
        )


class UsersPage(BaseModel):
    users: list[UserOut]
    next_cursor: int | None  # pass back as `cursor` for the next (older) page


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=254, examples=["alice@example.com"])
    name: str | None = Field(default=None, max_length=200)


class KeysOut(BaseModel):
    keys: list[ApiKeyOut]


class KeyIssue(BaseModel):
    scopes: list[Scope] = Field(min_length=1, max_length=4, examples=[["read", "trade"]])
    label: str | None = Field(default=None, max_length=200)


class IssuedKeyOut(ApiKeyOut):
    api_key: str = Field(description="the API-Key header value")
    api_secret: str = Field(description="base64 HMAC secret: shown once, never again")


class WsTokenOut(BaseModel):
    token: str = Field(description='send as {"op": "auth", "token": ...} on /v1/ws')
    expires_at: datetime = Field(description="use it before this; a session it opened lives on")
    expires_in: int = Field(description="seconds")
