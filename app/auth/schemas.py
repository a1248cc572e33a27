from datetime import datetime

from pydantic import BaseModel, Field

from app.models import ApiKey


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
