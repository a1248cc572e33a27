from fastapi import APIRouter
from sqlalchemy import select

from app.auth.dependencies import ReadPrincipal
from app.auth.schemas import AccountOut
from app.kit.deps import Session
from app.models import User

router = APIRouter(prefix="/v1", tags=["account"])


@router.get("/account", response_model=AccountOut)
async def get_account(principal: ReadPrincipal, session: Session) -> AccountOut:
    email = await session.scalar(select(User.email).where(User.id == principal.user_id))
    return AccountOut(
        user_id=principal.user_id,
        email=email or "",
        api_key_id=principal.api_key_id,
        scopes=sorted(principal.scopes),
    )
